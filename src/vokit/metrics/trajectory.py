"""Trajectory metrics: alignment, absolute trajectory error (ATE/APE) and relative pose error (RPE).

METHODS.md section 9.2. Poses are ``world_from_cam`` SE(3) ``[t, q_xyzw]`` (the translation is the camera centre,
metres); ``ref`` is the ground truth Q, ``est`` the estimate P, already associated one-to-one (see
`vokit.metrics.association`). Everything is computed in float64 and nothing is modified in place; results carry
the alignment and pair selection they used.

Semantics follow MichaelGrupp/evo (``evo/core/metrics.py``, ``evo/core/filters.py``, ``evo/main_ape.py``):

- alignment (``"se3"``, ``"sim3"``, ``"scale"``, ``"none"``) is the Umeyama fit of the estimated positions to the
  reference positions, optionally over the first ``n_align`` poses only, applied to the whole estimate as
  ``P' = [R_a R_p | s R_a t_p + t_a]``; ``"scale"`` is evo's ``correct_only_scale`` (Umeyama scale, no rotation);
- the kitti-odom-eval modes (``kitti_scale``, ``scale_7dof``, ``6dof``, ``7dof``) and rpg's ``posyaw`` are also
  expressed as one similarity ``ref_from_est`` applied the same way, see `align_trajectory`;
- APE per pose ``E = P'^-1 Q``: translation error ``||t_q - t_p'||``, rotation angle of ``R_E`` and evo's "full
  transformation" ``||E - I||_F``;
- RPE per pair (i, j): ``E = (Q_i^-1 Q_j)^-1 (P_i^-1 P_j)``; pairs come from a frame delta or a path-length delta
  (evo's ``filter_pairs_by_path``: consecutive pairs restart the path sum at every accepted pose, all-pairs
  mode takes for each i the j whose path distance is closest to delta within ``rel_delta_tol * delta``); by
  default, as in evo, the pairs are chosen on the (aligned) *estimate*.

Poses may also be given as (N, 3, 4) or (N, 4, 4) ``world_from_cam`` matrices as read from a file: the metrics
work on 4x4 matrices internally with evo's rigid inverse ``[R^T | -R^T t]``, so that rotations stored with
limited precision (KITTI rows are only orthonormal to about 1e-7) give evo's numbers to the last printed digit.
Rotation angles come from the (re-normalised) quaternion of the error rotation, like evo's
``scipy``-based ``so3_log``.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from vokit.errors import VokitError
from vokit.geometry.align import umeyama
from vokit.geometry.lie import matrix_to_quat, quat_to_matrix, se3_to_matrix
from vokit.metrics.stats import ErrorStats, error_stats

AlignMode = Literal["se3", "sim3", "scale", "none", "kitti_scale", "scale_7dof", "6dof", "7dof", "posyaw"]
DeltaUnit = Literal["frames", "m"]
PairsFrom = Literal["estimate", "reference"]

ALIGN_MODES: tuple[str, ...] = ("se3", "sim3", "scale", "none", "kitti_scale", "scale_7dof", "6dof", "7dof", "posyaw")
"""evo's modes (``se3``, ``sim3``, ``scale``, ``none``), Huangying-Zhan/kitti-odom-eval's (``kitti_scale`` = its
``scale``, ``scale_7dof``, ``6dof``, ``7dof``) and uzh-rpg/rpg_trajectory_evaluation's ``posyaw``."""

KITTI_ALIGN_MODES: tuple[str, ...] = ("kitti_scale", "scale_7dof", "6dof", "7dof")
"""kitti-odom-eval's modes, as `align_trajectory` names them (its ``scale`` is ``kitti_scale`` here)."""

PoseInput = Float[Tensor, "N 7"] | Float[Tensor, "N R 4"]
"""``world_from_cam`` poses: SE(3) ``[t, q_xyzw]`` (N, 7), or matrices (N, 3, 4) / (N, 4, 4) as read from files."""


@dataclass(frozen=True)
class Alignment:
    """The similarity applied to the estimate before measuring errors.

    Attributes:
        mode: ``"se3"``, ``"sim3"``, ``"scale"`` or ``"none"``.
        ref_from_est: Sim(3) ``[t, q_xyzw, s]`` mapping estimate-world coordinates to reference-world ones
            (identity for ``"none"``).
        n_used: number of leading poses the fit used (0 for ``"none"``).
    """

    mode: str
    ref_from_est: Float[Tensor, "8"]
    n_used: int

    @property
    def scale(self) -> float:
        """The scale factor s."""
        return float(self.ref_from_est[7])

    def as_dict(self) -> dict:
        """JSON-ready description (translation, quaternion xyzw, scale, mode, poses used)."""
        return {
            "mode": self.mode,
            "translation_m": [float(v) for v in self.ref_from_est[:3]],
            "quaternion_xyzw": [float(v) for v in self.ref_from_est[3:7]],
            "scale": self.scale,
            "n_used": self.n_used,
        }


@dataclass(frozen=True)
class PoseErrors:
    """Per-pose (or per-pair) errors of an error pose E, with their statistics.

    Attributes:
        trans_m: translation error, metres (APE: ``||t_q - t_p'||``; RPE: ``||t_E||``).
        rot_deg: rotation angle of ``R_E``, degrees.
        full: evo's "full transformation" error ``||E - I_4||_F`` (unit-less).
        trans: statistics of ``trans_m``.
        rot: statistics of ``rot_deg``.
        full_stats: statistics of ``full``.
    """

    trans_m: Float[Tensor, " K"]
    rot_deg: Float[Tensor, " K"]
    full: Float[Tensor, " K"]
    trans: ErrorStats
    rot: ErrorStats
    full_stats: ErrorStats


@dataclass(frozen=True)
class AteResult:
    """Absolute trajectory error after alignment.

    Attributes:
        errors: per-pose errors and statistics (``errors.trans.rmse`` is the usual ATE).
        alignment: the alignment applied to the estimate.
        est_aligned: the aligned estimate, ``world_from_cam`` in the reference world (a new tensor).
    """

    errors: PoseErrors
    alignment: Alignment
    est_aligned: Float[Tensor, "N 7"]


@dataclass(frozen=True)
class RpeResult:
    """Relative pose error over pose pairs.

    Attributes:
        errors: per-pair errors and statistics.
        pairs: index pairs (i, j) into the associated trajectories.
        delta: the delta, in ``delta_unit``.
        delta_unit: ``"frames"`` or ``"m"``.
        all_pairs: whether all pairs (rather than consecutive ones) were used.
        pairs_from: the trajectory the pairs were selected on, ``"estimate"`` (evo's default) or ``"reference"``.
        alignment: the alignment applied to the estimate first (matters for the scale only).
    """

    errors: PoseErrors
    pairs: Int[Tensor, "K 2"]
    delta: float
    delta_unit: str
    all_pairs: bool
    pairs_from: str
    alignment: Alignment


def pose_matrices(poses: PoseInput, who: str = "poses") -> Float[Tensor, "N 4 4"]:
    """float64 4x4 ``world_from_cam`` matrices of SE(3) poses (quaternions re-normalised) or of 3x4/4x4 matrices.

    Args:
        poses: (N, 7) ``[t, q_xyzw]`` or (N, 3, 4) / (N, 4, 4) matrices (used as they are).
        who: name for error messages.

    Returns:
        (N, 4, 4) float64 matrices (a new tensor).

    Raises:
        VokitError: unsupported shape or non-finite values.
    """
    p = poses.detach().to(torch.float64)
    if p.ndim == 2 and p.shape[1] == 7:
        q = p[:, 3:] / torch.linalg.vector_norm(p[:, 3:], dim=-1, keepdim=True)
        out = se3_to_matrix(torch.cat([p[:, :3], q], dim=-1))
    elif p.ndim == 3 and p.shape[1] in (3, 4) and p.shape[2] == 4:
        out = torch.zeros(p.shape[0], 4, 4, dtype=torch.float64, device=p.device)
        out[:, :3] = p[:, :3]
        out[:, 3, 3] = 1.0
    else:
        raise VokitError(f"{who}: expected (N, 7) poses or (N, 3|4, 4) matrices, got shape {tuple(p.shape)}")
    if not bool(torch.isfinite(out).all()):
        raise VokitError(f"{who}: poses contain NaN or infinite values")
    return out


def rigid_inverse(T: Float[Tensor, "*batch 4 4"]) -> Float[Tensor, "*batch 4 4"]:
    """``[R^T | -R^T t]`` of 4x4 pose matrices (evo's ``se3_inverse``; exact for orthonormal R)."""
    Rt = T[..., :3, :3].transpose(-1, -2)
    out = torch.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ T[..., :3, 3:]).squeeze(-1)
    out[..., 3, 3] = 1.0
    return out


def rotation_angle_rad(R: Float[Tensor, "*batch 3 3"]) -> Float[Tensor, "*batch"]:
    """Rotation angle in ``[0, pi]`` of (nearly orthonormal) rotation matrices, via the normalised quaternion."""
    q = matrix_to_quat(R)
    return quat_angle_rad(q / torch.linalg.vector_norm(q, dim=-1, keepdim=True))


def _check_pair(ref: PoseInput, est: PoseInput, who: str) -> tuple[Tensor, Tensor]:
    if ref.shape[0] != est.shape[0]:
        raise VokitError(f"{who}: reference and estimate need the same number of poses, got {ref.shape[0]} and "
                         f"{est.shape[0]} (associate them first)")
    return pose_matrices(ref, who), pose_matrices(est, who)


def quat_angle_rad(q: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch"]:
    """Rotation angle in ``[0, pi]`` of an xyzw quaternion (need not be normalised), ``2 atan2(|v|, |w|)``."""
    return 2.0 * torch.atan2(torch.linalg.vector_norm(q[..., :3], dim=-1), q[..., 3].abs())


def _errors_from(trans_m: Tensor, E: Tensor) -> PoseErrors:
    """Errors of 4x4 error poses E given their translation errors: rotation angle and ``||E - I||_F``."""
    rot_deg = torch.rad2deg(rotation_angle_rad(E[:, :3, :3]))
    eye = torch.eye(4, dtype=E.dtype, device=E.device)
    full = torch.linalg.matrix_norm(E - eye)
    return PoseErrors(
        trans_m=trans_m, rot_deg=rot_deg, full=full,
        trans=error_stats(trans_m), rot=error_stats(rot_deg), full_stats=error_stats(full),
    )


def apply_sim3_to_matrices(ref_from_est: Float[Tensor, "8"], est: Float[Tensor, "N 4 4"]) -> Float[Tensor, "N 4 4"]:
    """``[R_a R_p | s R_a t_p + t_a]`` on float64 4x4 ``world_from_cam`` matrices (a new tensor)."""
    R_a = quat_to_matrix_unit(ref_from_est[3:7])
    out = est.clone()
    out[:, :3, :3] = R_a @ est[:, :3, :3]
    out[:, :3, 3] = (ref_from_est[7] * est[:, :3, 3]) @ R_a.T + ref_from_est[:3]
    return out


def quat_to_matrix_unit(q: Float[Tensor, "4"]) -> Float[Tensor, "3 3"]:
    """Rotation matrix of a (re-normalised) xyzw quaternion."""
    return quat_to_matrix(q / torch.linalg.vector_norm(q))


def matrices_to_se3(T: Float[Tensor, "N 4 4"]) -> Float[Tensor, "N 7"]:
    """``[t, q_xyzw]`` of 4x4 matrices (quaternions re-normalised)."""
    q = matrix_to_quat(T[:, :3, :3])
    return torch.cat([T[:, :3, 3], q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)], dim=-1)


def apply_sim3_to_poses(ref_from_est: Float[Tensor, "8"], est_world_from_cam: PoseInput) -> Float[Tensor, "N 7"]:
    """Move a trajectory into another world frame with a similarity, as evo does.

    ``P' = [R_a R_p | s R_a t_p + t_a]``: the camera centres transform as points, the orientations rotate, and
    the camera frames keep unit scale (so the result is again SE(3)).

    Args:
        ref_from_est: Sim(3) ``[t, q_xyzw, s]``.
        est_world_from_cam: poses ``[t, q_xyzw]`` or matrices.

    Returns:
        New poses ``[t, q_xyzw]`` (float64) in the target world.
    """
    sim3 = ref_from_est.detach().to(torch.float64)
    return matrices_to_se3(apply_sim3_to_matrices(sim3, pose_matrices(est_world_from_cam)))


def align_trajectory(
    ref_world_from_cam: PoseInput,
    est_world_from_cam: PoseInput,
    mode: AlignMode = "se3",
    n_align: int | None = None,
) -> Alignment:
    """Umeyama alignment of the estimated camera centres to the reference ones (METHODS.md section 9.2).

    Args:
        ref_world_from_cam: associated reference poses ``[t, q_xyzw]``.
        est_world_from_cam: associated estimated poses.
        mode: ``"se3"`` (rotation + translation), ``"sim3"`` (+ scale, for monocular methods), ``"scale"`` (scale
            only, evo's ``correct_only_scale``) or ``"none"``; kitti-odom-eval's modes (its poses re-anchored at
            the first frame): ``"kitti_scale"`` (its ``scale``: least squares ``s = sum x.y / sum x.x`` on the
            anchored centres, applied about the first camera), ``"scale_7dof"`` (the Umeyama Sim(3) scale alone,
            applied likewise), ``"6dof"`` and ``"7dof"`` (Umeyama SE(3) / Sim(3): the same fit as ``"se3"`` /
            ``"sim3"``, since Umeyama commutes with the re-anchoring); ``"posyaw"``: rpg_trajectory_evaluation's
            4-DoF fit (translation and yaw about the world z axis, which must be gravity in both worlds).
        n_align: fit on the first ``n_align`` poses only (``None``: all), like evo's ``--n_to_align``.

    Returns:
        The alignment ``ref_from_est`` (float64) and how many poses it used.

    Raises:
        VokitError: unknown mode, bad ``n_align`` or a degenerate configuration (e.g. collinear centres).
    """
    ref, est = _check_pair(ref_world_from_cam, est_world_from_cam, "align_trajectory")
    if mode not in ALIGN_MODES:
        raise VokitError(f"unknown alignment {mode!r} (use one of {', '.join(ALIGN_MODES)})")
    if mode == "none":
        identity = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
        return Alignment(mode="none", ref_from_est=identity, n_used=0)
    n_poses = ref.shape[0]
    n = n_poses if n_align is None or n_align < 0 else int(n_align)
    if n_poses < 3:
        raise VokitError(f"{mode} alignment needs between 3 and all of the associated poses, but only {n_poses} "
                         "are associated (align 'none' works with fewer)")
    if n < 3 or n > n_poses:
        raise VokitError(f"n_align must be between 3 and the {n_poses} associated poses, got n_align={n_align}")
    try:
        if mode in ("kitti_scale", "scale_7dof"):
            sim3 = _first_frame_scale(ref[:n], est[:n], mode)
        elif mode == "posyaw":
            sim3 = _position_yaw(est[:n, :3, 3], ref[:n, :3, 3])
        else:
            umeyama_mode = {"6dof": "se3", "7dof": "sim3"}.get(mode, mode)
            sim3 = umeyama(est[:n, :3, 3], ref[:n, :3, 3], mode=umeyama_mode)  # type: ignore[arg-type]
    except ValueError as err:
        raise VokitError(f"cannot align the trajectories ({mode}): {err}") from err
    return Alignment(mode=mode, ref_from_est=sim3, n_used=n)


def _first_frame_scale(ref: Tensor, est: Tensor, mode: str) -> Tensor:
    """kitti-odom-eval's ``scale`` / ``scale_7dof`` as one similarity ``ref_from_est`` in the original worlds.

    The tool re-anchors both trajectories at their first pose (``T <- T_0^-1 T``) and scales the anchored
    estimate's centres by s about its first camera. Mapped back into the reference world this is
    ``R_a = R_g0 R_e0^T``, ``t_a = t_g0 - s R_a t_e0`` (Huangying-Zhan/kitti-odom-eval ``kitti_odometry.py``:
    ``scale_lse_solver``, ``umeyama_alignment``).
    """
    inv = torch.linalg.inv
    ref_a, est_a = inv(ref[0]) @ ref, inv(est[0]) @ est
    x, y = est_a[:, :3, 3], ref_a[:, :3, 3]
    if mode == "kitti_scale":
        denom = float(x.square().sum())
        if denom <= 1e-24 * max(float(y.square().sum()), 1.0):
            raise ValueError("the estimated centres all coincide with the first one; no scale is defined")
        scale = (x * y).sum() / denom
    else:
        scale = umeyama(x, y, mode="sim3")[7]
    R_a = ref[0, :3, :3] @ est[0, :3, :3].T
    t_a = ref[0, :3, 3] - scale * (R_a @ est[0, :3, 3])
    return torch.cat([t_a, matrix_to_quat(R_a), scale.reshape(1)])


def _position_yaw(src: Tensor, dst: Tensor) -> Tensor:
    """rpg_trajectory_evaluation's ``posyaw``: the rotation about the world z axis and the translation (4 DoF).

    Minimises ``sum ||dst_i - (R_z(theta) src_i + t)||^2``: with centred points and ``C = sum src_i dst_i^T``,
    ``theta = atan2(C_01 - C_10, C_00 + C_11)`` maximises ``tr(R_z C)``, and ``t = mu_dst - R_z mu_src``
    (uzh-rpg/rpg_trajectory_evaluation ``align_trajectory.py``: ``align_umeyama(..., known_scale=True,
    yaw_only=True)``, ``get_best_yaw``). The z axis must be the gravity axis of both worlds, as for VIO.
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    C = (src - mu_s).T @ (dst - mu_d)
    theta = torch.atan2(C[0, 1] - C[1, 0], C[0, 0] + C[1, 1])
    c, s = torch.cos(theta), torch.sin(theta)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    R = torch.stack([torch.stack([c, -s, zero]), torch.stack([s, c, zero]), torch.stack([zero, zero, one])])
    t = mu_d - R @ mu_s
    return torch.cat([t, matrix_to_quat(R), one.reshape(1)])


def absolute_trajectory_error(
    ref_world_from_cam: PoseInput,
    est_world_from_cam: PoseInput,
    align: AlignMode = "se3",
    n_align: int | None = None,
) -> AteResult:
    """ATE / APE of an associated estimate after alignment (evo ``evo_ape`` semantics).

    Args:
        ref_world_from_cam: reference poses Q ``[t, q_xyzw]`` (or matrices, see `PoseInput`), metres.
        est_world_from_cam: estimated poses P, same length (associate first).
        align: ``"se3"`` for stereo, RGB-D or metric methods, ``"sim3"`` for monocular ones, ``"scale"`` or
            ``"none"``.
        n_align: align on the first ``n_align`` poses only (``None``: all); errors are over all poses.

    Returns:
        Per-pose translation (m), rotation (deg) and full-transformation errors with evo's statistics, the
        alignment, and the aligned estimate.

    Example:
        >>> q = torch.tensor([[0.0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0, 1]])
        >>> absolute_trajectory_error(q, q, align="none").errors.trans.rmse
        0.0
    """
    ref, est = _check_pair(ref_world_from_cam, est_world_from_cam, "absolute_trajectory_error")
    alignment = align_trajectory(ref, est, align, n_align)
    est_aligned = apply_sim3_to_matrices(alignment.ref_from_est, est)
    trans = torch.linalg.vector_norm(est_aligned[:, :3, 3] - ref[:, :3, 3], dim=-1)
    errors = _errors_from(trans, rigid_inverse(est_aligned) @ ref)
    return AteResult(errors=errors, alignment=alignment, est_aligned=matrices_to_se3(est_aligned))


def pairs_by_frames(n_poses: int, delta: int, all_pairs: bool = False) -> Int[Tensor, "K 2"]:
    """Index pairs a fixed number of frames apart (evo ``filter_pairs_by_index``).

    Args:
        n_poses: trajectory length.
        delta: frame distance, >= 1.
        all_pairs: every (i, i + delta); otherwise consecutive pairs (0, d), (d, 2d), ...

    Returns:
        Pairs (i, j), int64.
    """
    if delta < 1:
        raise VokitError(f"RPE frame delta must be >= 1, got {delta}")
    if all_pairs:
        i = torch.arange(max(n_poses - delta, 0))
        return torch.stack([i, i + delta], dim=-1)
    ids = torch.arange(0, n_poses, delta)
    return torch.stack([ids[:-1], ids[1:]], dim=-1)


def pairs_by_path(
    positions_m: Float[Tensor, "N 3"], delta_m: float, tol_m: float = 0.0, all_pairs: bool = False
) -> Int[Tensor, "K 2"]:
    """Index pairs a path length apart (evo ``filter_pairs_by_path``).

    Consecutive mode walks the trajectory, summing step lengths, and accepts pose i (and restarts the sum at 0)
    as soon as the sum reaches ``delta_m``; pairs link successive accepted poses. All-pairs mode takes, for every
    i, the j > i whose accumulated-path difference is closest to ``delta_m`` (first one on ties) and keeps it if
    that difference is within ``tol_m``.

    Args:
        positions_m: camera centres, metres.
        delta_m: path-length delta, metres.
        tol_m: absolute tolerance of the all-pairs mode, metres (evo uses ``0.1 * delta``).
        all_pairs: all-pairs mode.

    Returns:
        Pairs (i, j), int64.
    """
    pos = positions_m.detach().cpu().to(torch.float64).numpy()
    if delta_m <= 0:
        raise VokitError(f"RPE path delta must be > 0 m, got {delta_m}")
    steps = np.linalg.norm(pos[:-1] - pos[1:], axis=1)
    if not all_pairs:
        ids = [0]
        current = 0.0
        for i, step in enumerate(steps.tolist(), start=1):
            current += step
            if current >= delta_m:
                ids.append(i)
                current = 0.0
        return torch.tensor(list(zip(ids[:-1], ids[1:], strict=True)), dtype=torch.int64).reshape(-1, 2)
    dist = np.concatenate(([0.0], np.cumsum(steps)))
    pairs: list[tuple[int, int]] = []
    block = 512
    for start in range(0, dist.size - 1, block):
        rows = np.arange(start, min(start + block, dist.size - 1))
        gap = np.abs((dist[None, :] - dist[rows, None]) - delta_m)
        gap[np.arange(dist.size)[None, :] <= rows[:, None]] = np.inf
        best = np.argmin(gap, axis=1)
        ok = gap[np.arange(rows.size), best] <= tol_m
        pairs += list(zip(rows[ok].tolist(), best[ok].tolist(), strict=True))
    return torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2)


def relative_pose_error(
    ref_world_from_cam: PoseInput,
    est_world_from_cam: PoseInput,
    delta: float | int = 1,
    delta_unit: DeltaUnit = "frames",
    all_pairs: bool = False,
    align: AlignMode = "none",
    n_align: int | None = None,
    pairs_from: PairsFrom = "estimate",
    rel_delta_tol: float = 0.1,
) -> RpeResult:
    """RPE of an associated estimate (evo ``evo_rpe`` semantics), translation and rotation parts.

    ``E_ij = (Q_i^-1 Q_j)^-1 (P_i^-1 P_j)``; the statistics are evo's (rmse, mean, median, std, min, max).
    kitti-odom-eval's "RPE" is the *mean* over consecutive frames (``delta=1``): read ``errors.trans.mean``.

    Args:
        ref_world_from_cam: reference poses Q ``[t, q_xyzw]``.
        est_world_from_cam: estimated poses P, same length.
        delta: frame count (``delta_unit="frames"``, integer) or path length in metres (``"m"``).
        delta_unit: ``"frames"`` or ``"m"``.
        all_pairs: use all pairs with the given delta instead of consecutive ones.
        align: alignment applied to the estimate first (``"none"`` as evo's default; RPE only feels the scale).
        n_align: align on the first ``n_align`` poses only.
        pairs_from: choose pairs on the ``"estimate"`` (evo's default) or on the ``"reference"``.
        rel_delta_tol: relative tolerance of the all-pairs metre mode (evo: 0.1).

    Returns:
        Per-pair errors with statistics, the pairs and the settings used.
    """
    ref, est = _check_pair(ref_world_from_cam, est_world_from_cam, "relative_pose_error")
    alignment = align_trajectory(ref, est, align, n_align)
    est_aligned = apply_sim3_to_matrices(alignment.ref_from_est, est)
    if pairs_from not in ("estimate", "reference"):
        raise VokitError(f"pairs_from must be 'estimate' or 'reference', got {pairs_from!r}")
    source = est_aligned if pairs_from == "estimate" else ref
    if delta_unit == "frames":
        if float(delta) != int(delta):
            raise VokitError(f"a frame delta must be an integer, got {delta}")
        pairs = pairs_by_frames(ref.shape[0], int(delta), all_pairs)
    elif delta_unit == "m":
        pairs = pairs_by_path(source[:, :3, 3], float(delta), float(delta) * rel_delta_tol, all_pairs)
    else:
        raise VokitError(f"unknown RPE delta unit {delta_unit!r} (use 'frames' or 'm')")
    if pairs.shape[0] == 0:
        raise VokitError(f"RPE delta {delta} ({delta_unit}) gives no pose pair among {ref.shape[0]} poses")
    i, j = pairs[:, 0], pairs[:, 1]
    ref_rel = rigid_inverse(ref[i]) @ ref[j]
    est_rel = rigid_inverse(est_aligned[i]) @ est_aligned[j]
    E = rigid_inverse(ref_rel) @ est_rel
    return RpeResult(
        errors=_errors_from(torch.linalg.vector_norm(E[:, :3, 3], dim=-1), E),
        pairs=pairs, delta=float(delta), delta_unit=delta_unit,
        all_pairs=all_pairs, pairs_from=pairs_from, alignment=alignment,
    )
