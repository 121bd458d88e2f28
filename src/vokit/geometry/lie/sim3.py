"""Sim(3) on ``(..., 8)`` tensors ``[tx, ty, tz, qx, qy, qz, qw, s]``, tangents ``[rho, phi, sigma]``.

A similarity ``b_from_a`` maps ``p_b = s R p_a + t`` (matrix ``[[s R, t], [0, 1]]``); the scale is ``s > 0``
and ``s = exp(sigma)``. The exponential is ``(W(phi, sigma) rho, Exp(phi), exp(sigma))`` with the
scale-coupled ``W = int_0^1 exp(sigma u) Exp(u phi) du = a0 I + a1 [phi]x + a2 [phi]x^2`` (H. Strasdat,
"Local accuracy and global consistency for efficient visual SLAM", PhD thesis, 2012, section 2.7; the
integral form gives the limits ``sigma -> 0`` (SE(3)'s ``J_l``) and ``phi -> 0`` directly).
"""

import math

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import _numerics as num
from vokit.geometry.lie.quaternion import matrix_to_quat, quat_conjugate, quat_multiply, quat_to_matrix
from vokit.geometry.lie.so3 import so3_act, so3_exp, so3_hat, so3_log

# Switch (on r^2 = sigma^2 + theta^2) between the double series and the closed forms, whose only cancellation
# is a relative error of about eps * e^|sigma| / r^2: float64 0.04 (measured <= 2e-14 relative either side
# against 50-digit quadrature), float32 and lower 1.0 (<= 1e-6).
_SWITCH_SQ_FLOAT64 = 0.04
_SWITCH_SQ_OTHER = 1.0
# Double Taylor series of a1, a2 in (sigma, theta^2), all terms with m + 2k <= _SERIES_DEGREE (truncation
# below ~2^17 r^17 / 17!, i.e. < 1e-9 relative at r = 1 and < 1e-20 at r = 0.2):
#   a1 = sum_{m,k} sigma^m (-1)^k theta^2k / (m! (2k+1)! (m+2k+2))
#   a2 = sum_{m,k} sigma^m (-1)^k theta^2k / (m! (2k+2)! (m+2k+3))
_SERIES_DEGREE = 16
_A1_TERMS = tuple(
    (m, k, (-1) ** k / (math.factorial(m) * math.factorial(2 * k + 1) * (m + 2 * k + 2)))
    for m in range(_SERIES_DEGREE + 1)
    for k in range((_SERIES_DEGREE - m) // 2 + 1)
)
_A2_TERMS = tuple(
    (m, k, (-1) ** k / (math.factorial(m) * math.factorial(2 * k + 2) * (m + 2 * k + 3)))
    for m in range(_SERIES_DEGREE + 1)
    for k in range((_SERIES_DEGREE - m) // 2 + 1)
)


def _double_series(sigma: Tensor, theta_sq: Tensor, terms: tuple[tuple[int, int, float], ...]) -> Tensor:
    sigma_pow = [torch.ones_like(sigma)]
    theta_pow = [torch.ones_like(theta_sq)]
    for _ in range(_SERIES_DEGREE):
        sigma_pow.append(sigma_pow[-1] * sigma)
    for _ in range(_SERIES_DEGREE // 2):
        theta_pow.append(theta_pow[-1] * theta_sq)
    out = torch.zeros_like(sigma + theta_sq)
    for m, k, c in terms:
        out = out + c * sigma_pow[m] * theta_pow[k]
    return out


def _w_coeffs(sigma: Tensor, theta_sq: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Coefficients ``(a0, a1, a2)`` of ``W = a0 I + a1 [phi]x + a2 [phi]x^2``.

    ``a0 = (e^s - 1)/s``, ``a1 = (s e^s A - (e^s - 1) + e^s t^2 B) / r^2``,
    ``a2 = (a0 + s e^s B - e^s A) / r^2`` with ``A = sin t / t``, ``B = (1 - cos t)/t^2``, ``r^2 = s^2 + t^2``:
    the real and imaginary parts of ``(e^z - 1)/z`` at ``z = s + i t`` rearranged so that no term cancels
    except through ``r^2``. For ``r^2`` below the small-angle switch a double Taylor series is used.
    """
    a0 = num.expm1_over(sigma)
    r_sq = sigma * sigma + theta_sq
    small = r_sq < (_SWITCH_SQ_FLOAT64 if sigma.dtype == torch.float64 else _SWITCH_SQ_OTHER)
    sigma_s = torch.where(small, sigma, torch.zeros_like(sigma))
    theta_sq_s = torch.where(small, theta_sq, torch.zeros_like(theta_sq))
    sigma_d = torch.where(small, torch.ones_like(sigma), sigma)
    theta_sq_d = torch.where(small, torch.ones_like(theta_sq), theta_sq)
    r_sq_d = sigma_d * sigma_d + theta_sq_d
    e = torch.exp(sigma_d)
    A = num.sinc(theta_sq_d)
    B = num.one_minus_cos(theta_sq_d)
    a1_direct = (sigma_d * e * A - torch.expm1(sigma_d) + e * theta_sq_d * B) / r_sq_d
    a2_direct = (num.expm1_over(sigma_d) + sigma_d * e * B - e * A) / r_sq_d
    a1 = torch.where(small, _double_series(sigma_s, theta_sq_s, _A1_TERMS), a1_direct)
    a2 = torch.where(small, _double_series(sigma_s, theta_sq_s, _A2_TERMS), a2_direct)
    return a0, a1, a2


def _cross(a: Tensor, b: Tensor) -> Tensor:
    return torch.linalg.cross(a, b, dim=-1)


def sim3_identity(
    batch_shape: tuple[int, ...] = (),
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Float[Tensor, "..."]:
    """Identity similarities ``[0, 0, 0, 0, 0, 0, 1, 1]``.

    Args:
        batch_shape: Leading shape of the result.
        dtype: Floating dtype (default: torch's default dtype).
        device: Device (default: torch's default device).

    Returns:
        Identity Sim(3) tensor of shape ``(*batch_shape, 8)``.

    Example:
        >>> sim3_identity()
        tensor([0., 0., 0., 0., 0., 0., 1., 1.])
    """
    out = torch.zeros(*batch_shape, 8, dtype=dtype, device=device)
    out[..., 6:] = 1.0
    return out


def sim3_exp(xi: Float[Tensor, "*batch 7"]) -> Float[Tensor, "*batch 8"]:
    """Sim(3) exponential of ``[rho, phi, sigma]``: ``(W(phi, sigma) rho, Exp(phi), exp(sigma))``.

    Args:
        xi: Tangent ``[rho, phi, sigma]`` (translation units, radians, log-scale), shape ``(..., 7)``.

    Returns:
        Similarity ``[t, q_xyzw, s]``, shape ``(..., 8)``.

    Example:
        >>> T = sim3_exp(torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.log(2.0)], dtype=torch.float64))
        >>> [round(v, 6) for v in (T[0].item(), T[7].item())]  # t_x = (2 - 1) / ln 2, s = 2
        [1.442695, 2.0]
    """
    num.check_last_dim(xi, 7, "sim3_exp", "sim3 tangent [rho, phi, sigma]")
    rho, phi, sigma = xi[..., :3], xi[..., 3:6], xi[..., 6:]
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)
    a0, a1, a2 = _w_coeffs(sigma, theta_sq)
    phi_rho = _cross(phi, rho)
    t = a0 * rho + a1 * phi_rho + a2 * _cross(phi, phi_rho)
    return torch.cat([t, so3_exp(phi), torch.exp(sigma)], dim=-1)


def sim3_log(T: Float[Tensor, "*batch 8"]) -> Float[Tensor, "*batch 7"]:
    """Sim(3) logarithm: ``[W^-1 t, Log(q), log s]`` with rotation angle in ``[0, pi]``.

    ``W^-1 = (1/a0) I - a1/D [phi]x + (a1^2 - a2 x)/(a0 D) [phi]x^2`` with ``x = a0 - a2 t^2`` and
    ``D = x^2 + a1^2 t^2``, from the eigenvalues ``a0`` (axis) and ``x + i a1 t`` (rotation plane) of ``W``.

    Args:
        T: Similarity ``[t, q_xyzw, s]`` with ``s > 0``, shape ``(..., 8)``.

    Returns:
        Tangent ``[rho, phi, sigma]``, shape ``(..., 7)``.

    Example:
        >>> xi = torch.tensor([0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7], dtype=torch.float64)
        >>> bool(torch.allclose(sim3_log(sim3_exp(xi)), xi))
        True
    """
    num.check_last_dim(T, 8, "sim3_log", "Sim3 [t, q_xyzw, s]")
    t = T[..., :3]
    phi = so3_log(T[..., 3:7])
    sigma = torch.log(T[..., 7:])
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)
    a0, a1, a2 = _w_coeffs(sigma, theta_sq)
    x = a0 - a2 * theta_sq
    den = x * x + a1 * a1 * theta_sq
    phi_t = _cross(phi, t)
    rho = t / a0 - (a1 / den) * phi_t + ((a1 * a1 - a2 * x) / (a0 * den)) * _cross(phi, phi_t)
    return torch.cat([rho, phi, sigma], dim=-1)


def sim3_compose(a: Float[Tensor, "*#batch 8"], b: Float[Tensor, "*#batch 8"]) -> Float[Tensor, "*#batch 8"]:
    """Compose similarities ``a @ b`` (apply ``b`` first): ``(s_a s_b, R_a R_b, t_a + s_a R_a t_b)``.

    Args:
        a: Similarity ``c_from_b``, ``[t, q_xyzw, s]``, shape ``(..., 8)``.
        b: Similarity ``b_from_a``, shape ``(..., 8)``; leading dims broadcast against ``a``.

    Returns:
        Similarity ``c_from_a``, shape ``(..., 8)``.

    Example:
        >>> a = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0])
        >>> sim3_compose(a, a)
        tensor([3., 0., 0., 0., 0., 0., 1., 4.])
    """
    num.check_last_dim(a, 8, "sim3_compose", "Sim3 a")
    num.check_last_dim(b, 8, "sim3_compose", "Sim3 b")
    t = a[..., :3] + a[..., 7:] * so3_act(a[..., 3:7], b[..., :3])
    q = quat_multiply(a[..., 3:7], b[..., 3:7])
    s = (a[..., 7:] * b[..., 7:]).expand(*q.shape[:-1], 1)
    return torch.cat([t, q, s], dim=-1)


def sim3_inverse(T: Float[Tensor, "*batch 8"]) -> Float[Tensor, "*batch 8"]:
    """Inverse similarity ``(1/s, R^T, -R^T t / s)``.

    Args:
        T: Similarity ``b_from_a``, ``[t, q_xyzw, s]``, shape ``(..., 8)``.

    Returns:
        ``a_from_b``, shape ``(..., 8)``.

    Example:
        >>> T = sim3_exp(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], dtype=torch.float64))
        >>> bool(torch.allclose(sim3_compose(sim3_inverse(T), T), sim3_identity(dtype=torch.float64)))
        True
    """
    num.check_last_dim(T, 8, "sim3_inverse", "Sim3 [t, q_xyzw, s]")
    q_inv = quat_conjugate(T[..., 3:7])
    s_inv = 1.0 / T[..., 7:]
    return torch.cat([-s_inv * so3_act(q_inv, T[..., :3]), q_inv, s_inv], dim=-1)


def sim3_act(T: Float[Tensor, "*#batch 8"], p: Float[Tensor, "*#batch 3"]) -> Float[Tensor, "*#batch 3"]:
    """Transform points ``p_b = s R p_a + t`` by ``T = b_from_a``.

    Args:
        T: Similarity ``b_from_a``, ``[t, q_xyzw, s]``, shape ``(..., 8)``.
        p: Points in frame a, shape ``(..., 3)``; leading dims broadcast against ``T``.

    Returns:
        Points in frame b, shape ``(..., 3)``.

    Example:
        >>> T = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0])
        >>> sim3_act(T, torch.tensor([1.0, 1.0, 1.0]))
        tensor([4., 3., 3.])
    """
    num.check_last_dim(T, 8, "sim3_act", "Sim3 [t, q_xyzw, s]")
    num.check_last_dim(p, 3, "sim3_act", "points")
    return T[..., 7:] * so3_act(T[..., 3:7], p) + T[..., :3]


def sim3_to_matrix(T: Float[Tensor, "*batch 8"]) -> Float[Tensor, "*batch 4 4"]:
    """4x4 matrix ``[[s R, t], [0, 1]]`` of a similarity (for I/O and plotting boundaries).

    Args:
        T: Similarity ``[t, q_xyzw, s]``, shape ``(..., 8)``.

    Returns:
        Matrix, shape ``(..., 4, 4)``.

    Example:
        >>> sim3_to_matrix(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0])).diagonal()
        tensor([2., 2., 2., 1.])
    """
    num.check_last_dim(T, 8, "sim3_to_matrix", "Sim3 [t, q_xyzw, s]")
    sR = T[..., 7:, None] * quat_to_matrix(T[..., 3:7])
    top = torch.cat([sR, T[..., :3, None]], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def sim3_from_matrix(M: Float[Tensor, "*batch rows 4"]) -> Float[Tensor, "*batch 8"]:
    """Similarity ``[t, q_xyzw, s]`` (``w >= 0``) of a ``4x4`` or ``3x4`` matrix ``[s R | t]``.

    The scale is ``det(s R)^(1/3)``; the block must have a positive determinant.

    Args:
        M: Matrix with ``M[..., :3, :3] = s R`` and ``M[..., :3, 3] = t``, shape ``(..., 4, 4)`` or
            ``(..., 3, 4)``.

    Returns:
        Similarity, shape ``(..., 8)``.

    Example:
        >>> M = 2.0 * torch.eye(4)[:3]
        >>> sim3_from_matrix(M)
        tensor([0., 0., 0., 0., 0., 0., 1., 2.])
    """
    num.check_matrix(M, (3, 4), 4, "sim3_from_matrix", "similarity matrix")
    sR = M[..., :3, :3]
    s = torch.linalg.det(sR).unsqueeze(-1).pow(1.0 / 3.0)
    return torch.cat([M[..., :3, 3], matrix_to_quat(sR / s[..., None]), s], dim=-1)


def sim3_adjoint(T: Float[Tensor, "*batch 8"]) -> Float[Tensor, "*batch 7 7"]:
    """Adjoint ``[[s R, [t]x R, -t], [0, R, 0], [0, 0, 1]]`` (order ``[rho, phi, sigma]``).

    Satisfies ``T Exp(a) = Exp(Ad_T a) T``.

    Args:
        T: Similarity ``[t, q_xyzw, s]``, shape ``(..., 8)``.

    Returns:
        Adjoint matrix, shape ``(..., 7, 7)``.

    Example:
        >>> sim3_adjoint(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0])).diagonal()
        tensor([2., 2., 2., 1., 1., 1., 1.])
    """
    num.check_last_dim(T, 8, "sim3_adjoint", "Sim3 [t, q_xyzw, s]")
    R = quat_to_matrix(T[..., 3:7])
    t = T[..., :3]
    zero_col = torch.zeros_like(t[..., :, None])
    top = torch.cat([T[..., 7:, None] * R, so3_hat(t) @ R, -t[..., :, None]], dim=-1)
    mid = torch.cat([torch.zeros_like(R), R, zero_col], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 6] = 1.0
    return torch.cat([top, mid, bottom], dim=-2)
