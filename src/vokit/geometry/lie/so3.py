"""SO(3) on unit xyzw quaternions: exp/log, hat/vee, rotating points, left/right Jacobians.

Tangent vectors ``phi`` are rotation vectors (axis times angle, radians). Jacobians follow T. D. Barfoot,
"State Estimation for Robotics" (2017), section 7.1.5: ``Exp(phi + d) ~= Exp(J_l(phi) d) Exp(phi)
= Exp(phi) Exp(J_r(phi) d)``, with ``J_r(phi) = J_l(-phi)``. Small-angle coefficients use Taylor series
(see ``_numerics``), so values and gradients are exact at ``phi = 0``.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import _numerics as num
from vokit.geometry.lie.quaternion import axis_angle_to_quat, quat_to_axis_angle


def so3_exp(phi: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 4"]:
    """SO(3) exponential: unit xyzw quaternion of a rotation vector.

    Args:
        phi: Rotation vector (axis times angle), radians, shape ``(..., 3)``.

    Returns:
        Quaternion, xyzw, shape ``(..., 4)``.

    Example:
        >>> so3_exp(torch.tensor([0.0, 0.0, 1e-12], dtype=torch.float64)).tolist()
        [0.0, 0.0, 5e-13, 1.0]
    """
    num.check_last_dim(phi, 3, "so3_exp", "rotation vector")
    return axis_angle_to_quat(phi)


def so3_log(q: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 3"]:
    """SO(3) logarithm: rotation vector (radians, angle in ``[0, pi]``) of an xyzw quaternion.

    The sign of ``q`` is canonicalised to ``w >= 0`` first (near-pi branch); see ``quat_to_axis_angle``.

    Args:
        q: Unit quaternion, xyzw, shape ``(..., 4)``.

    Returns:
        Rotation vector, radians, shape ``(..., 3)``.

    Example:
        >>> phi = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
        >>> bool(torch.allclose(so3_log(so3_exp(phi)), phi))
        True
    """
    num.check_last_dim(q, 4, "so3_log", "quaternion (xyzw)")
    return quat_to_axis_angle(q)


def so3_hat(v: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 3 3"]:
    """Skew-symmetric cross-product matrix ``[v]x`` with ``[v]x @ p = v x p``.

    Args:
        v: Vector, shape ``(..., 3)``.

    Returns:
        ``[[0, -z, y], [z, 0, -x], [-y, x, 0]]``, shape ``(..., 3, 3)``.

    Example:
        >>> so3_hat(torch.tensor([1.0, 2.0, 3.0]))
        tensor([[ 0., -3.,  2.],
                [ 3.,  0., -1.],
                [-2.,  1.,  0.]])
    """
    num.check_last_dim(v, 3, "so3_hat", "vector")
    x, y, z = v.unbind(dim=-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def so3_vee(M: Float[Tensor, "*batch 3 3"]) -> Float[Tensor, "*batch 3"]:
    """Inverse of ``so3_hat``: the vector of the skew-symmetric part ``(M - M^T) / 2``.

    Args:
        M: Matrix, shape ``(..., 3, 3)``; exactly ``so3_vee(so3_hat(v)) == v``.

    Returns:
        Vector, shape ``(..., 3)``.

    Example:
        >>> so3_vee(so3_hat(torch.tensor([1.0, 2.0, 3.0])))
        tensor([1., 2., 3.])
    """
    num.check_matrix(M, (3,), 3, "so3_vee", "matrix")
    return 0.5 * torch.stack(
        [M[..., 2, 1] - M[..., 1, 2], M[..., 0, 2] - M[..., 2, 0], M[..., 1, 0] - M[..., 0, 1]], dim=-1
    )


def so3_act(q: Float[Tensor, "*#batch 4"], p: Float[Tensor, "*#batch 3"]) -> Float[Tensor, "*#batch 3"]:
    """Rotate points by a unit xyzw quaternion: ``R(q) p``.

    Args:
        q: Unit quaternion, xyzw, shape ``(..., 4)``.
        p: Points or vectors in the source frame, shape ``(..., 3)``; leading dims broadcast against ``q``.

    Returns:
        Rotated points, same units as ``p``, shape ``(..., 3)``.

    Example:
        >>> import math
        >>> q = so3_exp(torch.tensor([0.0, 0.0, math.pi / 2]))
        >>> so3_act(q, torch.tensor([1.0, 0.0, 0.0])).round(decimals=5).abs()
        tensor([0., 1., 0.])
    """
    num.check_last_dim(q, 4, "so3_act", "quaternion (xyzw)")
    num.check_last_dim(p, 3, "so3_act", "points")
    v, w = q[..., :3], q[..., 3:]
    v, p = torch.broadcast_tensors(v, p)
    uv = torch.linalg.cross(v, p, dim=-1)
    return p + 2.0 * (w * uv + torch.linalg.cross(v, uv, dim=-1))


def _jacobian(phi: Tensor, sign: float) -> Tensor:
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)[..., None]
    K = so3_hat(phi)
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device)
    return eye + sign * num.one_minus_cos(theta_sq) * K + num.t_minus_sin(theta_sq) * (K @ K)


def _jacobian_inverse(phi: Tensor, sign: float) -> Tensor:
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)[..., None]
    K = so3_hat(phi)
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device)
    return eye - sign * 0.5 * K + num.jl_inv_coeff(theta_sq) * (K @ K)


def so3_left_jacobian(phi: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 3 3"]:
    """SO(3) left Jacobian ``J_l = I + (1 - cos t)/t^2 [phi]x + (t - sin t)/t^3 [phi]x^2``.

    ``Exp(phi + d) ~= Exp(J_l(phi) d) Exp(phi)`` for small ``d``; also the ``V`` matrix of the SE(3)
    exponential (``t = V rho``).

    Args:
        phi: Rotation vector, radians, shape ``(..., 3)``.

    Returns:
        ``J_l``, shape ``(..., 3, 3)``.

    Example:
        >>> so3_left_jacobian(torch.zeros(3))
        tensor([[1., 0., 0.],
                [0., 1., 0.],
                [0., 0., 1.]])
    """
    num.check_last_dim(phi, 3, "so3_left_jacobian", "rotation vector")
    return _jacobian(phi, 1.0)


def so3_right_jacobian(phi: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 3 3"]:
    """SO(3) right Jacobian ``J_r(phi) = J_l(-phi)``: ``Exp(phi + d) ~= Exp(phi) Exp(J_r(phi) d)``.

    Args:
        phi: Rotation vector, radians, shape ``(..., 3)``.

    Returns:
        ``J_r``, shape ``(..., 3, 3)``.

    Example:
        >>> phi = torch.tensor([0.1, 0.2, 0.3])
        >>> bool(torch.allclose(so3_right_jacobian(phi), so3_left_jacobian(phi).mT))
        True
    """
    num.check_last_dim(phi, 3, "so3_right_jacobian", "rotation vector")
    return _jacobian(phi, -1.0)


def so3_left_jacobian_inverse(phi: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 3 3"]:
    """Inverse SO(3) left Jacobian ``I - [phi]x / 2 + (1/t^2 - cot(t/2) / (2t)) [phi]x^2``.

    ``Log(Exp(d) Exp(phi)) ~= phi + J_l^-1(phi) d``. Finite for angles in ``[0, 2 pi)``; singular at ``2 pi``.

    Args:
        phi: Rotation vector, radians, shape ``(..., 3)``.

    Returns:
        ``J_l^-1``, shape ``(..., 3, 3)``.

    Example:
        >>> phi = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
        >>> J = so3_left_jacobian(phi) @ so3_left_jacobian_inverse(phi)
        >>> bool(torch.allclose(J, torch.eye(3, dtype=torch.float64)))
        True
    """
    num.check_last_dim(phi, 3, "so3_left_jacobian_inverse", "rotation vector")
    return _jacobian_inverse(phi, 1.0)


def so3_right_jacobian_inverse(phi: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 3 3"]:
    """Inverse SO(3) right Jacobian ``J_r^-1(phi) = J_l^-1(-phi)``.

    Args:
        phi: Rotation vector, radians, shape ``(..., 3)``; angle below ``2 pi``.

    Returns:
        ``J_r^-1``, shape ``(..., 3, 3)``.

    Example:
        >>> phi = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
        >>> J = so3_right_jacobian(phi) @ so3_right_jacobian_inverse(phi)
        >>> bool(torch.allclose(J, torch.eye(3, dtype=torch.float64)))
        True
    """
    num.check_last_dim(phi, 3, "so3_right_jacobian_inverse", "rotation vector")
    return _jacobian_inverse(phi, -1.0)
