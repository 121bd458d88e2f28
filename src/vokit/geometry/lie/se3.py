"""SE(3) on ``(..., 7)`` tensors ``[tx, ty, tz, qx, qy, qz, qw]``, tangents ``xi = [rho, phi]``.

A pose ``b_from_a`` maps ``p_b = R p_a + t``; composition reads right to left,
``c_from_a = se3_compose(c_from_b, b_from_a)``. ``Exp(xi) = (Exp_SO3(phi), J_l(phi) rho)`` with ``J_l`` the
SO(3) left Jacobian, and with translation first the adjoint is ``[[R, [t]x R], [0, R]]``. Left
perturbations ``Exp(delta) @ T`` are vokit's retraction. Jacobians follow T. D. Barfoot, "State Estimation for
Robotics" (2017), section 7.1.
"""

from typing import NamedTuple

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import _numerics as num
from vokit.geometry.lie.quaternion import matrix_to_quat, quat_conjugate, quat_multiply, quat_to_matrix
from vokit.geometry.lie.so3 import so3_act, so3_exp, so3_hat, so3_left_jacobian, so3_left_jacobian_inverse, so3_log


class SE3ActJacobian(NamedTuple):
    """Jacobians of ``p' = Exp(xi) T p`` at ``xi = 0`` (returned by ``se3_act_jacobian``)."""

    J_p_xi: Tensor
    """``d p' / d xi`` for the left tangent ``xi = [rho, phi]``: ``[I, -[p']x]``, shape ``(..., 3, 6)``."""
    J_p_pt: Tensor
    """``d p' / d p`` = ``R``, shape ``(..., 3, 3)``."""


def se3_identity(
    batch_shape: tuple[int, ...] = (),
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Float[Tensor, "..."]:
    """Identity poses ``[0, 0, 0, 0, 0, 0, 1]``.

    Args:
        batch_shape: Leading shape of the result.
        dtype: Floating dtype (default: torch's default dtype).
        device: Device (default: torch's default device).

    Returns:
        Identity SE(3) tensor of shape ``(*batch_shape, 7)``.

    Example:
        >>> se3_identity((2,)).shape
        torch.Size([2, 7])
    """
    out = torch.zeros(*batch_shape, 7, dtype=dtype, device=device)
    out[..., 6] = 1.0
    return out


def se3_exp(xi: Float[Tensor, "*batch 6"]) -> Float[Tensor, "*batch 7"]:
    """SE(3) exponential of a tangent ``xi = [rho, phi]`` (translation units, radians).

    Args:
        xi: Tangent vector ``[rho, phi]``, shape ``(..., 6)``.

    Returns:
        Pose ``[t, q_xyzw]`` with ``t = J_l(phi) rho``, ``q = Exp(phi)``, shape ``(..., 7)``.

    Example:
        >>> se3_exp(torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 0.0]))
        tensor([1., 2., 3., 0., 0., 0., 1.])
    """
    num.check_last_dim(xi, 6, "se3_exp", "se3 tangent [rho, phi]")
    rho, phi = xi[..., :3], xi[..., 3:]
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)
    phi_rho = torch.linalg.cross(phi, rho, dim=-1)
    t = (
        rho
        + num.one_minus_cos(theta_sq) * phi_rho
        + num.t_minus_sin(theta_sq) * torch.linalg.cross(phi, phi_rho, dim=-1)
    )
    return torch.cat([t, so3_exp(phi)], dim=-1)


def se3_log(T: Float[Tensor, "*batch 7"]) -> Float[Tensor, "*batch 6"]:
    """SE(3) logarithm: tangent ``[rho, phi]`` with ``phi`` of angle in ``[0, pi]`` and ``rho = J_l^-1(phi) t``.

    Args:
        T: Pose ``[t, q_xyzw]``, shape ``(..., 7)``.

    Returns:
        Tangent ``[rho, phi]``, shape ``(..., 6)``.

    Example:
        >>> xi = torch.tensor([0.1, -0.2, 0.3, 0.4, 0.5, -0.6], dtype=torch.float64)
        >>> bool(torch.allclose(se3_log(se3_exp(xi)), xi))
        True
    """
    num.check_last_dim(T, 7, "se3_log", "SE3 pose [t, q_xyzw]")
    t = T[..., :3]
    phi = so3_log(T[..., 3:])
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)
    phi_t = torch.linalg.cross(phi, t, dim=-1)
    rho = t - 0.5 * phi_t + num.jl_inv_coeff(theta_sq) * torch.linalg.cross(phi, phi_t, dim=-1)
    return torch.cat([rho, phi], dim=-1)


def se3_compose(a: Float[Tensor, "*#batch 7"], b: Float[Tensor, "*#batch 7"]) -> Float[Tensor, "*#batch 7"]:
    """Compose poses ``a @ b`` (apply ``b`` first), so ``c_from_a = c_from_b @ b_from_a``.

    Args:
        a: Pose ``c_from_b``, ``[t, q_xyzw]``, shape ``(..., 7)``.
        b: Pose ``b_from_a``, shape ``(..., 7)``; leading dims broadcast against ``a``.

    Returns:
        Pose ``c_from_a``, shape ``(..., 7)`` (quaternion not renormalised).

    Example:
        >>> a = se3_exp(torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
        >>> se3_compose(a, a)[:3]
        tensor([2., 0., 0.])
    """
    num.check_last_dim(a, 7, "se3_compose", "SE3 pose a")
    num.check_last_dim(b, 7, "se3_compose", "SE3 pose b")
    t = a[..., :3] + so3_act(a[..., 3:], b[..., :3])
    q = quat_multiply(a[..., 3:], b[..., 3:])
    return torch.cat([t, q], dim=-1)


def se3_inverse(T: Float[Tensor, "*batch 7"]) -> Float[Tensor, "*batch 7"]:
    """Inverse pose: ``a_from_b`` from ``b_from_a`` (``R^T``, ``-R^T t``).

    Args:
        T: Pose ``[t, q_xyzw]`` with a unit quaternion, shape ``(..., 7)``.

    Returns:
        Inverse pose, shape ``(..., 7)``.

    Example:
        >>> T = se3_exp(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=torch.float64))
        >>> bool(torch.allclose(se3_compose(T, se3_inverse(T)), se3_identity(dtype=torch.float64)))
        True
    """
    num.check_last_dim(T, 7, "se3_inverse", "SE3 pose [t, q_xyzw]")
    q_inv = quat_conjugate(T[..., 3:])
    return torch.cat([-so3_act(q_inv, T[..., :3]), q_inv], dim=-1)


def se3_act(T: Float[Tensor, "*#batch 7"], p: Float[Tensor, "*#batch 3"]) -> Float[Tensor, "*#batch 3"]:
    """Transform points ``p_b = R p_a + t`` by ``T = b_from_a``.

    Args:
        T: Pose ``b_from_a``, ``[t, q_xyzw]``, shape ``(..., 7)``.
        p: Points in frame a, shape ``(..., 3)``; leading dims broadcast against ``T`` (use ``T[..., None, :]``
            to apply one pose per batch to ``N`` points).

    Returns:
        Points in frame b, same units as ``t``, shape ``(..., 3)``.

    Example:
        >>> T = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0])
        >>> se3_act(T, torch.zeros(4, 3))[0]
        tensor([1., 2., 3.])
    """
    num.check_last_dim(T, 7, "se3_act", "SE3 pose [t, q_xyzw]")
    num.check_last_dim(p, 3, "se3_act", "points")
    return so3_act(T[..., 3:], p) + T[..., :3]


def se3_act_homogeneous(T: Float[Tensor, "*#batch 7"], X: Float[Tensor, "*#batch 4"]) -> Float[Tensor, "*#batch 4"]:
    """Transform homogeneous points ``[x, y, z, w]`` (``w = 0`` for directions, inverse depth in BA).

    Args:
        T: Pose ``b_from_a``, ``[t, q_xyzw]``, shape ``(..., 7)``.
        X: Homogeneous points in frame a, shape ``(..., 4)``; leading dims broadcast against ``T``.

    Returns:
        ``[R X_xyz + t X_w, X_w]`` in frame b, shape ``(..., 4)``.

    Example:
        >>> T = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
        >>> se3_act_homogeneous(T, torch.tensor([0.0, 0.0, 1.0, 0.5]))
        tensor([0.5000, 0.0000, 1.0000, 0.5000])
    """
    num.check_last_dim(T, 7, "se3_act_homogeneous", "SE3 pose [t, q_xyzw]")
    num.check_last_dim(X, 4, "se3_act_homogeneous", "homogeneous points")
    xyz = so3_act(T[..., 3:], X[..., :3]) + T[..., :3] * X[..., 3:]
    w = X[..., 3:].expand(*xyz.shape[:-1], 1)
    return torch.cat([xyz, w], dim=-1)


def se3_to_matrix(T: Float[Tensor, "*batch 7"]) -> Float[Tensor, "*batch 4 4"]:
    """4x4 homogeneous matrix ``[[R, t], [0, 1]]`` of a pose (for I/O and plotting boundaries).

    Args:
        T: Pose ``[t, q_xyzw]``, shape ``(..., 7)``.

    Returns:
        Matrix, shape ``(..., 4, 4)``.

    Example:
        >>> se3_to_matrix(se3_identity())[3]
        tensor([0., 0., 0., 1.])
    """
    num.check_last_dim(T, 7, "se3_to_matrix", "SE3 pose [t, q_xyzw]")
    top = torch.cat([quat_to_matrix(T[..., 3:]), T[..., :3, None]], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def se3_from_matrix(M: Float[Tensor, "*batch rows 4"]) -> Float[Tensor, "*batch 7"]:
    """Pose ``[t, q_xyzw]`` (``w >= 0``) of a ``4x4`` or ``3x4`` matrix ``[R | t]``.

    Args:
        M: Matrix with a rotation block ``M[..., :3, :3]`` and translation ``M[..., :3, 3]``, shape
            ``(..., 4, 4)`` or ``(..., 3, 4)``; the last row of a 4x4 input is ignored.

    Returns:
        Pose, shape ``(..., 7)``.

    Example:
        >>> M = torch.eye(4)[:3]
        >>> M[0, 3] = 5.0
        >>> se3_from_matrix(M)
        tensor([5., 0., 0., 0., 0., 0., 1.])
    """
    num.check_matrix(M, (3, 4), 4, "se3_from_matrix", "pose matrix")
    return torch.cat([M[..., :3, 3], matrix_to_quat(M[..., :3, :3])], dim=-1)


def se3_adjoint(T: Float[Tensor, "*batch 7"]) -> Float[Tensor, "*batch 6 6"]:
    """Adjoint ``Ad_T = [[R, [t]x R], [0, R]]`` (tangent order ``[rho, phi]``): ``T Exp(a) = Exp(Ad_T a) T``.

    Args:
        T: Pose ``[t, q_xyzw]``, shape ``(..., 7)``.

    Returns:
        Adjoint matrix, shape ``(..., 6, 6)``.

    Example:
        >>> se3_adjoint(se3_identity()).diagonal()
        tensor([1., 1., 1., 1., 1., 1.])
    """
    num.check_last_dim(T, 7, "se3_adjoint", "SE3 pose [t, q_xyzw]")
    R = quat_to_matrix(T[..., 3:])
    top = torch.cat([R, so3_hat(T[..., :3]) @ R], dim=-1)
    bottom = torch.cat([torch.zeros_like(R), R], dim=-1)
    return torch.cat([top, bottom], dim=-2)


def se3_act_jacobian(T: Float[Tensor, "*#batch 7"], p: Float[Tensor, "*#batch 3"]) -> SE3ActJacobian:
    """Jacobians of ``p' = Exp(xi) T p`` at ``xi = 0`` (left perturbation, vokit's retraction).

    Args:
        T: Pose ``b_from_a``, ``[t, q_xyzw]``, shape ``(..., 7)``.
        p: Points in frame a, shape ``(..., 3)``; leading dims broadcast against ``T``.

    Returns:
        ``SE3ActJacobian(J_p_xi, J_p_pt)``: ``J_p_xi = [I, -[p']x]`` of shape ``(..., 3, 6)`` (w.r.t. the
        tangent ``[rho, phi]`` in frame b) and ``J_p_pt = R`` of shape ``(..., 3, 3)``.

    Example:
        >>> J_p_xi, J_p_pt = se3_act_jacobian(se3_identity(), torch.tensor([0.0, 0.0, 2.0]))
        >>> J_p_xi[0] + 0.0  # + 0.0 turns -0.0 into 0.0
        tensor([1., 0., 0., 0., 2., 0.])
    """
    num.check_last_dim(T, 7, "se3_act_jacobian", "SE3 pose [t, q_xyzw]")
    num.check_last_dim(p, 3, "se3_act_jacobian", "points")
    p_b = se3_act(T, p)
    eye = torch.eye(3, dtype=p_b.dtype, device=p_b.device).expand(*p_b.shape[:-1], 3, 3)
    J_p_xi = torch.cat([eye, -so3_hat(p_b)], dim=-1)
    R = quat_to_matrix(T[..., 3:]).expand(*p_b.shape[:-1], 3, 3)
    return SE3ActJacobian(J_p_xi, R)


def _q_block(xi: Tensor) -> Tensor:
    """Barfoot's ``Q(rho, phi)``, the off-diagonal block of the SE(3) left Jacobian (eq. 7.86)."""
    rho, phi = xi[..., :3], xi[..., 3:]
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)[..., None]
    P, Rh = so3_hat(phi), so3_hat(rho)
    PR, RP = P @ Rh, Rh @ P
    PRP = PR @ P
    PPR = P @ PR
    RPP = RP @ P
    return (
        0.5 * Rh
        + num.t_minus_sin(theta_sq) * (PR + RP + PRP)
        + num.q_coeff2(theta_sq) * (PPR + RPP - 3.0 * PRP)
        + num.q_coeff3(theta_sq) * (PRP @ P + P @ PRP)
    )


def se3_left_jacobian(xi: Float[Tensor, "*batch 6"]) -> Float[Tensor, "*batch 6 6"]:
    """SE(3) left Jacobian ``[[J_l(phi), Q(rho, phi)], [0, J_l(phi)]]`` in tangent order ``[rho, phi]``.

    ``Exp(xi + d) ~= Exp(J(xi) d) Exp(xi)`` for small ``d`` (Barfoot 2017, eq. 7.85-7.86).

    Args:
        xi: Tangent ``[rho, phi]``, shape ``(..., 6)``.

    Returns:
        Jacobian, shape ``(..., 6, 6)``.

    Example:
        >>> bool(torch.equal(se3_left_jacobian(torch.zeros(6)), torch.eye(6)))
        True
    """
    num.check_last_dim(xi, 6, "se3_left_jacobian", "se3 tangent [rho, phi]")
    J = so3_left_jacobian(xi[..., 3:])
    top = torch.cat([J, _q_block(xi)], dim=-1)
    bottom = torch.cat([torch.zeros_like(J), J], dim=-1)
    return torch.cat([top, bottom], dim=-2)


def se3_left_jacobian_inverse(xi: Float[Tensor, "*batch 6"]) -> Float[Tensor, "*batch 6 6"]:
    """Inverse SE(3) left Jacobian ``[[J_l^-1, -J_l^-1 Q J_l^-1], [0, J_l^-1]]`` (rotation angle below 2 pi).

    Args:
        xi: Tangent ``[rho, phi]``, shape ``(..., 6)``.

    Returns:
        Inverse Jacobian, shape ``(..., 6, 6)``.

    Example:
        >>> xi = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=torch.float64)
        >>> eye = se3_left_jacobian(xi) @ se3_left_jacobian_inverse(xi)
        >>> bool(torch.allclose(eye, torch.eye(6, dtype=torch.float64)))
        True
    """
    num.check_last_dim(xi, 6, "se3_left_jacobian_inverse", "se3 tangent [rho, phi]")
    J_inv = so3_left_jacobian_inverse(xi[..., 3:])
    top = torch.cat([J_inv, -J_inv @ _q_block(xi) @ J_inv], dim=-1)
    bottom = torch.cat([torch.zeros_like(J_inv), J_inv], dim=-1)
    return torch.cat([top, bottom], dim=-2)
