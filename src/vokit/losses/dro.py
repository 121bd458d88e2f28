"""DRO's losses on every iterate (METHODS.md section 6.4; aliyun/dro-sfm ``dro_sfm/losses/``).

Iterate i of n (initial estimate first) gets weight ``gamma^(n - i - 1)``, gamma = 0.85, so the last iterate
weighs most. Supervised: L1 on inverse depth plus L1 between the normalised grid coordinates that ground-truth
depth projects to under the predicted and the true pose; weights normalised by their sum. Self-supervised: the
Monodepth2 photometric term (min-reprojection with auto-masking, zero padding) and edge-aware smoothness per
iterate; weights not normalised.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry import warp
from vokit.losses.monodepth2 import identity_errors, rigid_reconstruction_errors
from vokit.losses.reprojection import min_reprojection
from vokit.losses.smoothness import inv_depth_smoothness

GAMMA = 0.85
"""Iterate decay [ref]."""

SMOOTHNESS_WEIGHT = 1e-3
"""Self-supervised smoothness weight [ref]."""


def iterate_weights(n: int, gamma: float = GAMMA, normalise: bool = True) -> list[float]:
    """``gamma^(n - i - 1)`` for i = 0 .. n-1, divided by their sum when ``normalise``.

    Example:
        >>> [round(w, 4) for w in iterate_weights(3, 0.5)]
        [0.1429, 0.2857, 0.5714]
    """
    if n < 1:
        raise ValueError(f"need at least one iterate, got {n}")
    weights = [gamma ** (n - i - 1) for i in range(n)]
    total = sum(weights) if normalise else 1.0
    return [w / total for w in weights]


def inv_depth_l1(
    inv_depth: Float[Tensor, "B H W"], gt_depth: Float[Tensor, "B H W"], min_depth: float, max_depth: float
) -> Float[Tensor, ""]:
    """Mean ``|inv_depth - 1 / gt_depth|`` over pixels with ``min_depth < gt_depth < max_depth``.

    Args:
        inv_depth: predicted inverse depth (1 / training-scale units).
        gt_depth: ground-truth depth (0 = missing), same units.
        min_depth: exclusive lower bound of valid ground truth.
        max_depth: exclusive upper bound.

    Returns:
        The mean (0 when no pixel is valid).
    """
    valid = (gt_depth > min_depth) & (gt_depth < max_depth)
    gt_inv = torch.where(valid, 1.0 / gt_depth.clamp(min=min_depth), torch.zeros_like(gt_depth))
    diff = (inv_depth - gt_inv).abs() * valid
    return diff.sum() / valid.sum().clamp(min=1)


def pose_grid_l1(
    ref_from_target: Float[Tensor, "B 7"],
    gt_ref_from_target: Float[Tensor, "B 7"],
    gt_depth: Float[Tensor, "B H W"],
    intrinsics: Float[Tensor, "B 4"],
    min_depth: float,
    max_depth: float,
) -> Float[Tensor, ""]:
    """L1 between the normalised ([-1, 1]) grid coordinates of ground-truth depth under the two poses.

    Each coordinate difference is clamped at 1; pixels count when they land inside the image under both poses and
    their depth is in ``(min_depth, max_depth / 4)`` (section 6.4).

    Args:
        ref_from_target: predicted ``cam_i_from_cam_0``, SE(3) ``[t, q_xyzw]``.
        gt_ref_from_target: the true one.
        gt_depth: ground-truth target depth (0 = missing).
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of ``gt_depth``.
        min_depth: exclusive lower depth bound.
        max_depth: four times the exclusive upper depth bound.

    Returns:
        The mean over valid pixels and both coordinates (0 when none is valid).
    """
    h, w = gt_depth.shape[-2:]
    uv_pred, front_pred = warp.reproject_depth(gt_depth, ref_from_target, intrinsics)
    uv_gt, front_gt = warp.reproject_depth(gt_depth, gt_ref_from_target, intrinsics)
    grid_pred, grid_gt = warp.pixels_to_grid(uv_pred, h, w), warp.pixels_to_grid(uv_gt, h, w)
    inside = (grid_pred.abs() <= 1).all(-1) & (grid_gt.abs() <= 1).all(-1)
    valid = front_pred & front_gt & inside & (gt_depth > min_depth) & (gt_depth < max_depth / 4)
    diff = (grid_pred - grid_gt).abs().clamp(max=1.0) * valid[..., None]
    return diff.sum() / (2 * valid.sum().clamp(min=1))


@dataclass(frozen=True)
class DROLoss:
    """A DRO loss and its per-iterate terms (iterates in output order, initial first).

    Attributes:
        total: the weighted sum to minimise.
        depth: per iterate, the depth term (inverse-depth L1, or the photometric term when self-supervised).
        pose: per iterate, the pose term (grid L1; the smoothness term when self-supervised).
    """

    total: Float[Tensor, ""]
    depth: Float[Tensor, " n"]
    pose: Float[Tensor, " n"]


def dro_supervised_loss(
    inv_depths: Sequence[Float[Tensor, "B H W"]],
    poses: Float[Tensor, "B V n 7"],
    gt_depth: Float[Tensor, "B H W"],
    gt_poses: Float[Tensor, "B V 7"],
    intrinsics: Float[Tensor, "B 4"],
    min_depth: float,
    max_depth: float,
    gamma: float = GAMMA,
) -> DROLoss:
    """Supervised DRO loss: ``sum_i w_i (L1_inv_depth_i + mean_views grid_L1_i)``, weights normalised.

    Args:
        inv_depths: the n predicted inverse depths at the ground truth's resolution.
        poses: predicted ``cam_v_from_cam_0`` per view and iterate (n iterates, as ``inv_depths``).
        gt_depth: target ground-truth depth (0 = missing).
        gt_poses: true ``cam_v_from_cam_0``.
        intrinsics: pixels of ``gt_depth``.
        min_depth: lower bound of valid ground truth.
        max_depth: upper bound of valid ground truth (a quarter of it for the pose term).
        gamma: iterate decay.

    Returns:
        :class:`DROLoss`.
    """
    n = len(inv_depths)
    if poses.shape[2] != n:
        raise ValueError(f"{n} depth iterates but {poses.shape[2]} pose iterates")
    weights = iterate_weights(n, gamma, normalise=True)
    depth_terms = torch.stack([inv_depth_l1(d, gt_depth, min_depth, max_depth) for d in inv_depths])
    pose_terms = torch.stack([
        torch.stack([pose_grid_l1(poses[:, v, i], gt_poses[:, v], gt_depth, intrinsics, min_depth, max_depth)
                     for v in range(poses.shape[1])]).mean()
        for i in range(n)
    ])
    w = torch.tensor(weights, dtype=depth_terms.dtype, device=depth_terms.device)
    return DROLoss(total=(w * (depth_terms + pose_terms)).sum(), depth=depth_terms, pose=pose_terms)


def dro_selfsup_loss(
    target: Float[Tensor, "B 3 H W"],
    sources: Float[Tensor, "B V 3 H W"],
    inv_depths: Sequence[Float[Tensor, "B H W"]],
    poses: Float[Tensor, "B V n 7"],
    intrinsics: Float[Tensor, "B 4"],
    gamma: float = GAMMA,
    smoothness_weight: float = SMOOTHNESS_WEIGHT,
    smooth_decay_by_iterate: bool = True,
    generator: torch.Generator | None = None,
) -> DROLoss:
    """Self-supervised DRO loss: ``sum_i gamma^(n-i-1) (L_p,i + w_s L_sm,i / 2^i)`` (not normalised).

    ``L_p,i`` is Monodepth2's per-pixel minimum over warped and identity errors (auto-masking), warping with zero
    padding; ``L_sm,i`` is the edge-aware smoothness of the mean-normalised inverse depth.

    Args:
        target: un-augmented target image, RGB in [0, 1].
        sources: un-augmented reference images.
        inv_depths: the n predicted inverse depths at the image resolution.
        poses: ``cam_v_from_cam_0`` per view and iterate.
        intrinsics: pixels of the images.
        gamma: iterate decay.
        smoothness_weight: smoothness weight (0.001).
        smooth_decay_by_iterate: divide iterate i's smoothness by ``2^i`` (the reference's leftover) [ref].
        generator: random generator of the auto-masking noise.

    Returns:
        :class:`DROLoss` (``depth``: photometric terms, ``pose``: smoothness terms).
    """
    n = len(inv_depths)
    if poses.shape[2] != n:
        raise ValueError(f"{n} depth iterates but {poses.shape[2]} pose iterates")
    weights = iterate_weights(n, gamma, normalise=False)
    ident = identity_errors(target, sources)
    photometric, smoothness, total = [], [], target.new_zeros(())
    for i, inv_depth in enumerate(inv_depths):
        errors = rigid_reconstruction_errors(target, sources, 1.0 / inv_depth, poses[:, :, i], intrinsics,
                                             padding_mode="zeros")
        photometric.append(min_reprojection(errors, ident, True, generator).loss)
        smoothness.append(inv_depth_smoothness(inv_depth[:, None], target))
        decay = 2.0**i if smooth_decay_by_iterate else 1.0
        total = total + weights[i] * (photometric[-1] + smoothness_weight * smoothness[-1] / decay)
    return DROLoss(total=total, depth=torch.stack(photometric), pose=torch.stack(smoothness))
