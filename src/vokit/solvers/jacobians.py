"""Patch reprojection and its analytic Jacobians for bundle adjustment (METHODS.md sections 3.1-3.2).

A patch k hosted in frame i (``src``) with centre ``uv_k`` and inverse depth ``d_k`` is back-projected to the
homogeneous point ``X_k = ((u - cx) / fx, (v - cy) / fy, 1, d_k)`` and transferred to frame j (``dst``) with
``G_ij = T_j T_i^-1`` (T = ``cam_from_world``): ``X' = (X, Y, Z, W) = G_ij X_k`` and ``uv' = pi(X')``. Both poses
take left perturbations ``T <- Exp(xi) T`` with tangents ``[translation, rotation]``; the Jacobians are those of
``pi`` (the residual ``target - pi`` has their negatives). Where ``Z <= min_z`` every ``1/Z`` term is 0, so all
three Jacobians vanish there (DPVO ``dpvo/projective_ops.py``).
"""

from dataclasses import dataclass
from typing import NamedTuple

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.geometry.camera import MIN_Z_BA, guarded_inverse_depth
from vokit.geometry.lie import se3_adjoint, se3_compose, se3_inverse, se3_to_matrix


@dataclass(frozen=True)
class PatchReprojection:
    """Reprojected patch centres with their Jacobians.

    Attributes:
        uv: reprojected centre in the destination frame, pixels.
        valid: ``Z > min_z`` (the point is in front of the destination camera by the BA guard).
        J_uv_xi_src: ``d uv / d xi_src`` for ``T_src <- Exp(xi_src) T_src``, pixels per tangent unit.
        J_uv_xi_dst: ``d uv / d xi_dst`` for ``T_dst <- Exp(xi_dst) T_dst``.
        J_uv_invdepth: ``d uv / d inv_depth`` of the patch, pixels per unit inverse depth.
    """

    uv: Float[Tensor, "*batch 2"]
    valid: Bool[Tensor, "*batch"]
    J_uv_xi_src: Float[Tensor, "*batch 2 6"]
    J_uv_xi_dst: Float[Tensor, "*batch 2 6"]
    J_uv_invdepth: Float[Tensor, "*batch 2"]


def normalized_homogeneous(
    patch_uv: Float[Tensor, "*#batch 2"], intrinsics: Float[Tensor, "*#batch 4"]
) -> Float[Tensor, "*batch 3"]:
    """``((u - cx) / fx, (v - cy) / fy, 1)``: the first three homogeneous coordinates of ``X_k``.

    Args:
        patch_uv: patch centres in the host image, pixels.
        intrinsics: ``(fx, fy, cx, cy)`` of the host image, pixels.

    Returns:
        Normalised homogeneous coordinates in the host camera.
    """
    focal, centre = intrinsics[..., :2], intrinsics[..., 2:]
    xy = (patch_uv - centre) / focal
    return torch.cat([xy, torch.ones_like(xy[..., :1])], dim=-1)


class ProjectionTerms(NamedTuple):
    """Components of :func:`projection_jacobians`, unstacked (each with the broadcast batch shape).

    ``J_u`` and ``J_v`` are the six entries of the two rows of ``J_uv_xi_dst``; the BA layer works on these
    components directly because stacking and small reductions dominate its per-edge cost.
    """

    u: Tensor
    v: Tensor
    valid: Tensor
    J_u: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]
    J_v: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]
    Jd_u: Tensor
    Jd_v: Tensor


def projection_terms(
    pts: tuple[Tensor, Tensor, Tensor],
    inv_depth: Tensor,
    trans: tuple[Tensor, Tensor, Tensor],
    intrinsics: tuple[Tensor, Tensor, Tensor, Tensor],
    min_z: float = MIN_Z_BA,
) -> ProjectionTerms:
    """Component form of :func:`projection_jacobians` (same arguments, unbound along their last axis)."""
    X, Y, Z = pts
    fx, fy, cx, cy = intrinsics
    tx, ty, tz = trans
    inv_z, valid = guarded_inverse_depth(Z, min_z)
    a, b = X * inv_z, Y * inv_z
    one = valid.to(Z.dtype)
    w_iz = inv_depth * inv_z
    fa, fb = fx * a, fy * b
    zero = torch.zeros_like(w_iz)
    J_u = (fx * w_iz, zero, -fa * w_iz, -fa * b, fx * (one + a * a), -fx * b)
    J_v = (zero, fy * w_iz, -fb * w_iz, -fy * (one + b * b), fb * a, fy * a)
    Jd_u = fx * inv_z * (tx - a * tz)
    Jd_v = fy * inv_z * (ty - b * tz)
    return ProjectionTerms(fa + cx, fb + cy, valid, J_u, J_v, Jd_u, Jd_v)


def projection_jacobians(
    pts: Float[Tensor, "*#batch 3"],
    inv_depth: Float[Tensor, "*#batch"],
    dst_from_src_t: Float[Tensor, "*#batch 3"],
    intrinsics: Float[Tensor, "*#batch 4"],
    min_z: float = MIN_Z_BA,
) -> tuple[Float[Tensor, "*batch 2"], Bool[Tensor, "*batch"], Float[Tensor, "*batch 2 6"], Float[Tensor, "*batch 2"]]:
    """Projection of a transferred point with ``J_uv_xi_dst`` and ``J_uv_invdepth`` in closed form.

    With ``(X, Y, Z) = pts``, ``W = inv_depth``, ``a = X / Z``, ``b = Y / Z`` (0 where ``Z <= min_z``), this is
    ``J_p J_a`` of METHODS.md section 3.2 multiplied out::

        [fx W/Z, 0, -fx a W/Z, -fx a b, fx (1 + a^2), -fx b]
        [0, fy W/Z, -fy b W/Z, -fy (1 + b^2), fy a b, fy a]

    and ``J_uv_invdepth = J_p (t_ij, 1) = (fx (tx - a tz) / Z, fy (ty - b tz) / Z)``. The "1" terms are the
    validity mask, so every entry vanishes where ``Z <= min_z``.

    Args:
        pts: ``(X, Y, Z) = R_ij x_k + t_ij d_k``, the first three coordinates of ``X' = G_ij X_k``.
        inv_depth: the patch inverse depth ``d_k`` (the fourth homogeneous coordinate ``W``).
        dst_from_src_t: the translation ``t_ij`` of ``G_ij``.
        intrinsics: ``(fx, fy, cx, cy)`` of the destination image, pixels.
        min_z: the depth guard (``Z > min_z`` is valid).

    Returns:
        ``(uv, valid, J_uv_xi_dst, J_uv_invdepth)``; ``uv`` is the principal point and the Jacobians are 0 where
        ``valid`` is False.
    """
    X, Y, Z = pts.unbind(-1)
    tx, ty, tz = dst_from_src_t.unbind(-1)
    fx, fy, cx, cy = intrinsics.unbind(-1)
    t = projection_terms((X, Y, Z), inv_depth, (tx, ty, tz), (fx, fy, cx, cy), min_z)
    uv = torch.stack(torch.broadcast_tensors(t.u, t.v), dim=-1)
    J = torch.stack(torch.broadcast_tensors(*t.J_u, *t.J_v), dim=-1).unflatten(-1, (2, 6))
    J_d = torch.stack(torch.broadcast_tensors(t.Jd_u, t.Jd_v), dim=-1)
    return uv, t.valid.expand(uv.shape[:-1]), J, J_d


def reproject_patch(
    cam_from_world_src: Float[Tensor, "*#batch 7"],
    cam_from_world_dst: Float[Tensor, "*#batch 7"],
    patch_uv: Float[Tensor, "*#batch 2"],
    inv_depth: Float[Tensor, "*#batch"],
    intrinsics: Float[Tensor, "*#batch 4"],
    min_z: float = MIN_Z_BA,
) -> Float[Tensor, "*batch 2"]:
    """Reproject patch centres from their host frame into a destination frame (METHODS.md section 3.1).

    Args:
        cam_from_world_src: host pose ``T_i``, ``[t, q_xyzw]``.
        cam_from_world_dst: destination pose ``T_j``.
        patch_uv: patch centre in the host image, pixels.
        inv_depth: patch inverse depth in the host frame (1 / z-depth).
        intrinsics: ``(fx, fy, cx, cy)`` shared by both images, pixels.
        min_z: depth-ratio guard; points with ``Z <= min_z`` land on the principal point.

    Returns:
        ``pi(G_ij X_k)`` in destination pixels (the ``uv`` of :func:`reproject_patch_with_jacobian`, without
        computing its Jacobians).
    """
    pts, _ = _transfer(cam_from_world_src, cam_from_world_dst, patch_uv, inv_depth, intrinsics)
    inv_z, _ = guarded_inverse_depth(pts[..., 2], min_z)
    fx, fy, cx, cy = intrinsics.unbind(-1)
    return torch.stack(torch.broadcast_tensors(fx * (pts[..., 0] * inv_z) + cx, fy * (pts[..., 1] * inv_z) + cy),
                       dim=-1)


def _transfer(cam_from_world_src: Tensor, cam_from_world_dst: Tensor, patch_uv: Tensor, inv_depth: Tensor,
              intrinsics: Tensor) -> tuple[Tensor, Tensor]:
    """``X' = G_ij X_k`` without its homogeneous coordinate, and ``G_ij = T_j T_i^-1`` (``[t, q_xyzw]``)."""
    dst_from_src = se3_compose(cam_from_world_dst, se3_inverse(cam_from_world_src))
    mat = se3_to_matrix(dst_from_src)
    rot, trans = mat[..., :3, :3], mat[..., :3, 3]
    x_h = normalized_homogeneous(patch_uv, intrinsics)
    return (rot @ x_h.unsqueeze(-1)).squeeze(-1) + trans * inv_depth.unsqueeze(-1), dst_from_src


def reproject_patch_with_jacobian(
    cam_from_world_src: Float[Tensor, "*#batch 7"],
    cam_from_world_dst: Float[Tensor, "*#batch 7"],
    patch_uv: Float[Tensor, "*#batch 2"],
    inv_depth: Float[Tensor, "*#batch"],
    intrinsics: Float[Tensor, "*#batch 4"],
    min_z: float = MIN_Z_BA,
) -> PatchReprojection:
    """:func:`reproject_patch` with ``J_uv_xi_src = -J_uv_xi_dst Ad(G_ij)``, ``J_uv_xi_dst``, ``J_uv_invdepth``.

    Args:
        cam_from_world_src: host pose ``T_i``, ``[t, q_xyzw]``.
        cam_from_world_dst: destination pose ``T_j``.
        patch_uv: patch centre in the host image, pixels.
        inv_depth: patch inverse depth in the host frame.
        intrinsics: ``(fx, fy, cx, cy)`` shared by both images, pixels.
        min_z: depth-ratio guard (``Z <= min_z`` zeroes every ``1/Z`` term).

    Returns:
        The reprojection and its Jacobians for left perturbations of both poses.
    """
    pts, dst_from_src = _transfer(cam_from_world_src, cam_from_world_dst, patch_uv, inv_depth, intrinsics)
    uv, valid, J_dst, J_d = projection_jacobians(pts, inv_depth, dst_from_src[..., :3], intrinsics, min_z)
    J_src = -J_dst @ se3_adjoint(dst_from_src)
    return PatchReprojection(uv=uv, valid=valid, J_uv_xi_src=J_src, J_uv_xi_dst=J_dst, J_uv_invdepth=J_d)
