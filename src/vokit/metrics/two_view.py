"""Two-view relative pose errors and their AUC (METHODS.md section 9.5).

Rotation error: the angle of ``R_gt^T R`` (degrees). Translation error: the angle between the translation
directions (degrees); with ``essential_ambiguity`` (poses from an essential matrix, whose translation sign is
unknown) ``min(theta, 180 - theta)`` as magicleap/SuperGluePretrainedNetwork ``models/utils.py``. DRO's ``t_cm`` is
``100 ||t_gt - a t||`` with the least-squares scale ``a = <t_gt, t> / ||t||^2`` (metres to centimetres).
The pose AUC integrates the recall curve of ``max(rotation, translation)`` errors up to each threshold.
"""

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from vokit.errors import VokitError
from vokit.geometry.lie import quat_conjugate, quat_multiply, se3_compose, se3_inverse


@dataclass(frozen=True)
class TwoViewErrors:
    """Per-pair relative pose errors.

    Attributes:
        rot_err_deg: rotation error, degrees.
        t_err_deg: translation direction error, degrees.
        pose_err_deg: ``max(rot_err_deg, t_err_deg)``, degrees (what the AUC integrates).
        t_cm: DRO's scale-corrected translation error, centimetres (assumes metres in the inputs).
        essential_ambiguity: whether ``min(theta, 180 - theta)`` was applied to the translation angle.
    """

    rot_err_deg: Float[Tensor, " N"]
    t_err_deg: Float[Tensor, " N"]
    pose_err_deg: Float[Tensor, " N"]
    t_cm: Float[Tensor, " N"]
    essential_ambiguity: bool


def relative_pose_errors(
    gt_b_from_a: Float[Tensor, "N 7"],
    est_b_from_a: Float[Tensor, "N 7"],
    essential_ambiguity: bool = False,
    min_gt_translation_m: float = 0.0,
) -> TwoViewErrors:
    """Rotation and translation-direction errors of estimated relative poses.

    A zero estimated translation has no direction and gets the largest error (180 deg, 90 deg with the
    ambiguity); a ground-truth translation not longer than ``min_gt_translation_m`` (by default: exactly zero,
    a pure rotation) gets translation error 0 (SuperGlue's ``ignore_gt_t_thr``).

    Args:
        gt_b_from_a: ground-truth relative poses ``[t, q_xyzw]`` (``cam_b_from_cam_a``).
        est_b_from_a: estimated relative poses; the translation scale is irrelevant.
        essential_ambiguity: fold translation angles into [0, 90] deg.
        min_gt_translation_m: ignore the direction of shorter ground-truth translations.

    Returns:
        Per-pair rotation, translation and pose errors (degrees) and ``t_cm``.
    """
    gt = gt_b_from_a.detach().to(torch.float64)
    est = est_b_from_a.detach().to(torch.float64)
    q = quat_multiply(quat_conjugate(gt[:, 3:]), est[:, 3:])
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    rot = torch.rad2deg(2.0 * torch.atan2(torch.linalg.vector_norm(q[:, :3], dim=-1), q[:, 3].abs()))
    t_gt, t = gt[:, :3], est[:, :3]
    n_gt = torch.linalg.vector_norm(t_gt, dim=-1)
    n_est = torch.linalg.vector_norm(t, dim=-1)
    cos = ((t_gt * t).sum(-1) / (n_gt * n_est)).clamp(-1.0, 1.0)
    t_err = torch.rad2deg(torch.arccos(cos))
    t_err = torch.where(n_est > 0, t_err, torch.full_like(t_err, 180.0))
    if essential_ambiguity:
        t_err = torch.minimum(t_err, 180.0 - t_err)
    t_err = torch.where(n_gt <= min_gt_translation_m, torch.zeros_like(t_err), t_err)
    scale = torch.where(n_est > 0, (t_gt * t).sum(-1) / n_est.square().clamp_min(1e-300), torch.zeros_like(n_est))
    t_cm = 100.0 * torch.linalg.vector_norm(t_gt - scale.unsqueeze(-1) * t, dim=-1)
    return TwoViewErrors(
        rot_err_deg=rot, t_err_deg=t_err, pose_err_deg=torch.maximum(rot, t_err), t_cm=t_cm,
        essential_ambiguity=essential_ambiguity,
    )


def pose_auc(
    errors_deg: Float[Tensor, " N"], thresholds_deg: tuple[float, ...] = (5.0, 10.0, 20.0)
) -> tuple[float, ...]:
    """Area under the recall curve of pose errors up to each threshold, divided by the threshold.

    The errors are sorted and the recall ``k / N`` curve starts at (0, 0); it is integrated with the trapezoid
    rule up to the threshold (held flat after the last error below it), as SuperGlue's ``pose_auc``.

    Args:
        errors_deg: per-pair pose errors (usually ``TwoViewErrors.pose_err_deg``), degrees.
        thresholds_deg: thresholds, degrees.

    Returns:
        One AUC in [0, 1] per threshold.

    Example:
        >>> pose_auc(torch.tensor([1.0, 2.0, 3.0]), (5.0,))
        (0.7,)
    """
    e = np.sort(errors_deg.detach().cpu().to(torch.float64).numpy())
    if e.size == 0:
        raise VokitError("pose_auc needs at least one error")
    recall = np.concatenate([[0.0], np.arange(1, e.size + 1) / e.size])
    e = np.concatenate([[0.0], e])
    aucs = []
    for thr in thresholds_deg:
        last = int(np.searchsorted(e, thr))
        r = np.concatenate([recall[:last], [recall[last - 1]]])
        x = np.concatenate([e[:last], [thr]])
        area = float(np.sum((x[1:] - x[:-1]) * (r[1:] + r[:-1]) / 2.0))
        aucs.append(area / thr)
    return tuple(aucs)


def trajectory_pairs(world_from_cam: Float[Tensor, "N 7"], delta: int = 1) -> Float[Tensor, "M 7"]:
    """``cam_{k+delta}_from_cam_k`` for k = 0 .. N - 1 - delta: the relative poses of a trajectory's frame pairs.

    Args:
        world_from_cam: poses ``[t, q_xyzw]``.
        delta: frame gap of each pair (>= 1).

    Returns:
        The M = N - delta relative poses, in float64.

    Raises:
        VokitError: ``delta`` < 1 or not smaller than N.
    """
    n = world_from_cam.shape[0]
    if delta < 1 or delta >= n:
        raise VokitError(f"pairs need 1 <= delta < {n} poses, got delta {delta}")
    poses = world_from_cam.detach().to(torch.float64)
    return se3_compose(se3_inverse(poses[delta:]), poses[:-delta])


@dataclass(frozen=True)
class TwoViewSummary:
    """Means, medians and AUCs of :class:`TwoViewErrors` over pairs (DRO's table: ``rot_ang``, ``t_ang``, ``t_cm``).

    Attributes:
        n_pairs: number of pairs.
        rot_err_deg: (mean, median) rotation error, degrees.
        t_err_deg: (mean, median) translation-direction error, degrees.
        t_cm: (mean, median) scale-corrected translation error, centimetres.
        auc: pose AUC at 5, 10 and 20 degrees.
    """

    n_pairs: int
    rot_err_deg: tuple[float, float]
    t_err_deg: tuple[float, float]
    t_cm: tuple[float, float]
    auc: tuple[float, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"n_pairs": self.n_pairs, "rot_err_deg": {"mean": self.rot_err_deg[0], "median": self.rot_err_deg[1]},
                "t_err_deg": {"mean": self.t_err_deg[0], "median": self.t_err_deg[1]},
                "t_cm": {"mean": self.t_cm[0], "median": self.t_cm[1]},
                "auc": dict(zip(("5deg", "10deg", "20deg"), self.auc, strict=True))}


def summarize_two_view(errors: TwoViewErrors) -> TwoViewSummary:
    """Mean and median of each error and the pose AUC at 5 / 10 / 20 degrees."""

    def stats(values: Tensor) -> tuple[float, float]:
        return float(values.mean()), float(values.median())

    return TwoViewSummary(n_pairs=int(errors.rot_err_deg.numel()), rot_err_deg=stats(errors.rot_err_deg),
                          t_err_deg=stats(errors.t_err_deg), t_cm=stats(errors.t_cm),
                          auc=pose_auc(errors.pose_err_deg))
