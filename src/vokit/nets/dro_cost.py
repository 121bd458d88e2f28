"""DRO's feature-metric cost and its two pose parameterisations (METHODS.md sections 6.1 - 6.2).

The cost of reference view i is the per-channel squared residual ``(F_0 - warp(F_i))^2`` between the target's
features and view i's features warped into the target with the current inverse depth and ``cam_i_from_cam_0``
(bilinear, zero padding, ``align_corners=True`` through `vokit.geometry.warp`). It is recomputed from the current
estimate at every GRU step; no gradient of the cost is ever formed by the optimiser.

Poses: the reference updates a 6-vector ``[t, r]`` additively, with ``R = R_x(r_x) R_y(r_y) R_z(r_z)`` (Euler
angles, radians) [ref]; vokit's option ``"se3"`` keeps an SE(3) pose and retracts on the left,
``T <- Exp(delta) T`` with ``delta = [translation, rotation]`` [vokit].
"""

from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry import lie, warp

PoseUpdate = Literal["additive", "se3"]
"""How the pose GRU's output changes the pose: DRO's additive Euler 6-vector, or an SE(3) left retraction."""


def feature_cost(
    features_target: Float[Tensor, "B C h w"],
    features_ref: Float[Tensor, "B C h w"],
    inv_depth: Float[Tensor, "B h w"],
    ref_from_target: Float[Tensor, "B 7"],
    intrinsics: Float[Tensor, "B 4"],
) -> Float[Tensor, "B C h w"]:
    """``(F_0(u) - F_i(pi(T_i pi^-1(u, 1 / inv_depth(u)))))^2`` per channel (section 6.2).

    Args:
        features_target: target features ``F_0``.
        features_ref: reference features ``F_i`` (same size).
        inv_depth: target inverse depth (> 0), 1 / units of the pose's translation.
        ref_from_target: ``cam_i_from_cam_0``, SE(3) ``[t, q_xyzw]``.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the feature maps (the image's divided by 8).

    Returns:
        The cost; samples that fall outside the reference map read zero features (zero padding).
    """
    warped, _ = warp.warp_with_depth(features_ref, 1.0 / inv_depth, ref_from_target, intrinsics, padding_mode="zeros")
    return (features_target - warped) ** 2


def euler_to_quat(angles: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 4"]:
    """Quaternion (xyzw) of ``R = R_x(a_x) R_y(a_y) R_z(a_z)``, angles in radians (dro-sfm's ``euler2mat``)."""
    eye = torch.eye(3, dtype=angles.dtype, device=angles.device)
    qx, qy, qz = (lie.axis_angle_to_quat(angles[..., k:k + 1] * eye[k]) for k in range(3))
    return lie.quat_multiply(lie.quat_multiply(qx, qy), qz)


def vector_to_se3(pose_vec: Float[Tensor, "*batch 6"], mode: PoseUpdate) -> Float[Tensor, "*batch 7"]:
    """SE(3) ``[t, q_xyzw]`` of a pose 6-vector: ``[t, Euler]`` (additive mode) or ``Exp([rho, phi])`` (se3 mode)."""
    if mode == "additive":
        return torch.cat([pose_vec[..., :3], euler_to_quat(pose_vec[..., 3:])], dim=-1)
    return lie.se3_exp(pose_vec)


def update_pose(
    pose_vec: Float[Tensor, "*batch 6"], delta: Float[Tensor, "*batch 6"], mode: PoseUpdate
) -> Float[Tensor, "*batch 6"]:
    """Apply one GRU update: ``v + delta`` (additive), or ``Log(Exp(delta) Exp(v))`` (se3, a left retraction)."""
    if mode == "additive":
        return pose_vec + delta
    return lie.se3_log(lie.se3_compose(lie.se3_exp(delta), lie.se3_exp(pose_vec)))
