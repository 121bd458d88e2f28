"""Unit quaternions stored **xyzw** (scalar last): products, rotation matrices, axis-angle.

A unit quaternion ``q = [v, w] = [sin(t/2) u, cos(t/2)]`` rotates by angle ``t`` (radians) about the unit
axis ``u``; ``q`` and ``-q`` are the same rotation, and functions that return a canonical quaternion choose
``w >= 0``. All functions broadcast over leading batch dimensions.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import _numerics as num


def quat_multiply(
    a: Float[Tensor, "*#batch 4"],
    b: Float[Tensor, "*#batch 4"],
) -> Float[Tensor, "*#batch 4"]:
    """Hamilton product ``a * b`` of xyzw quaternions (rotation ``b`` first, then ``a``).

    Args:
        a: Left quaternion, xyzw, shape ``(..., 4)``.
        b: Right quaternion, xyzw, shape ``(..., 4)``; leading dims broadcast against ``a``.

    Returns:
        The product, xyzw, shape ``(..., 4)``; not renormalised.

    Example:
        >>> i = torch.tensor([1.0, 0.0, 0.0, 0.0])
        >>> j = torch.tensor([0.0, 1.0, 0.0, 0.0])
        >>> quat_multiply(i, j)  # i * j = k
        tensor([0., 0., 1., 0.])
    """
    num.check_last_dim(a, 4, "quat_multiply", "quaternion a (xyzw)")
    num.check_last_dim(b, 4, "quat_multiply", "quaternion b (xyzw)")
    av, aw = a[..., :3], a[..., 3:]
    bv, bw = b[..., :3], b[..., 3:]
    av, bv = torch.broadcast_tensors(av, bv)
    v = aw * bv + bw * av + torch.linalg.cross(av, bv, dim=-1)
    w = aw * bw - (av * bv).sum(dim=-1, keepdim=True)
    return torch.cat([v, w], dim=-1)


def quat_conjugate(q: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 4"]:
    """Conjugate ``[-v, w]`` of an xyzw quaternion: the inverse rotation for unit quaternions.

    Args:
        q: Quaternion, xyzw, shape ``(..., 4)``.

    Returns:
        The conjugate, xyzw, shape ``(..., 4)``.

    Example:
        >>> quat_conjugate(torch.tensor([0.1, 0.2, 0.3, 0.9]))
        tensor([-0.1000, -0.2000, -0.3000,  0.9000])
    """
    num.check_last_dim(q, 4, "quat_conjugate", "quaternion (xyzw)")
    return torch.cat([-q[..., :3], q[..., 3:]], dim=-1)


def quat_normalize(q: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 4"]:
    """Scale an xyzw quaternion to unit length (for re-projecting after drift; ``q`` must be non-zero).

    Args:
        q: Quaternion, xyzw, shape ``(..., 4)``.

    Returns:
        ``q / |q|``, xyzw, shape ``(..., 4)``.

    Example:
        >>> quat_normalize(torch.tensor([0.0, 0.0, 0.0, 2.0]))
        tensor([0., 0., 0., 1.])
    """
    num.check_last_dim(q, 4, "quat_normalize", "quaternion (xyzw)")
    return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)


def quat_positive(q: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 4"]:
    """Canonical sign of an xyzw quaternion: returns ``q`` or ``-q``, whichever has ``w >= 0``.

    Args:
        q: Quaternion, xyzw, shape ``(..., 4)``.

    Returns:
        The same rotation with a non-negative scalar part, shape ``(..., 4)``.

    Example:
        >>> quat_positive(torch.tensor([0.0, 0.6, 0.0, -0.8]))
        tensor([-0.0000, -0.6000, -0.0000,  0.8000])
    """
    num.check_last_dim(q, 4, "quat_positive", "quaternion (xyzw)")
    return torch.where(q[..., 3:] < 0, -q, q)


def quat_to_matrix(q: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 3 3"]:
    """Rotation matrix of a unit xyzw quaternion.

    Args:
        q: Unit quaternion, xyzw, shape ``(..., 4)``. Not renormalised: a non-unit ``q`` gives a scaled,
            non-orthogonal matrix.

    Returns:
        ``R`` with ``R @ p`` rotating ``p`` the same way as ``q * [p, 0] * q^-1``, shape ``(..., 3, 3)``.

    Example:
        >>> import math
        >>> q = torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)])  # 90 deg about z
        >>> quat_to_matrix(q).round(decimals=4).abs()
        tensor([[0., 1., 0.],
                [1., 0., 0.],
                [0., 0., 1.]])
    """
    num.check_last_dim(q, 4, "quat_to_matrix", "quaternion (xyzw)")
    x, y, z, w = q.unbind(dim=-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = [
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat(R: Float[Tensor, "*batch 3 3"]) -> Float[Tensor, "*batch 4"]:
    """Unit xyzw quaternion (``w >= 0``) of a rotation matrix, by Shepperd's largest-component method.

    Each of ``4w^2 = 1 + tr R`` and ``4x^2 = 1 + 2 R_00 - tr R`` (and y, z alike) gives one candidate; the
    candidate whose pivot is largest (at least 1/4, so its square root is at least 1/2) is used, which keeps
    the result accurate and its gradient finite near 180 degrees, where ``w -> 0``.
    Reference: S. W. Shepperd, "Quaternion from rotation matrix", J. Guidance and Control 1(3), 1978.

    Args:
        R: Rotation matrix, shape ``(..., 3, 3)``. A slightly non-orthogonal input yields the unit quaternion
            of a nearby rotation.

    Returns:
        Quaternion, xyzw, unit length, ``w >= 0``, shape ``(..., 4)``.

    Example:
        >>> R = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # 180 deg about x
        >>> matrix_to_quat(R)
        tensor([1., 0., 0., 0.])
    """
    num.check_matrix(R, (3,), 3, "matrix_to_quat", "rotation matrix")
    r00, r01, r02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    r10, r11, r12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    r20, r21, r22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    trace = r00 + r11 + r22
    pivots = torch.stack([1 + 2 * r00 - trace, 1 + 2 * r11 - trace, 1 + 2 * r22 - trace, 1 + trace], dim=-1)
    # Unselected candidates may have tiny or negative pivots: clamp them so their (discarded) values and
    # gradients stay finite. The selected pivot is >= 1 for a rotation, far above the clamp.
    s = 2.0 * torch.sqrt(pivots.clamp_min(0.1))
    sx, sy, sz, sw = s.unbind(dim=-1)
    cand = torch.stack(
        [
            torch.stack([0.25 * sx, (r01 + r10) / sx, (r02 + r20) / sx, (r21 - r12) / sx], dim=-1),
            torch.stack([(r01 + r10) / sy, 0.25 * sy, (r12 + r21) / sy, (r02 - r20) / sy], dim=-1),
            torch.stack([(r02 + r20) / sz, (r12 + r21) / sz, 0.25 * sz, (r10 - r01) / sz], dim=-1),
            torch.stack([(r21 - r12) / sw, (r02 - r20) / sw, (r10 - r01) / sw, 0.25 * sw], dim=-1),
        ],
        dim=-2,
    )
    best = pivots.argmax(dim=-1, keepdim=True)
    q = torch.gather(cand, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    return quat_positive(quat_normalize(q))


def axis_angle_to_quat(phi: Float[Tensor, "*batch 3"]) -> Float[Tensor, "*batch 4"]:
    """Unit xyzw quaternion of a rotation vector (axis times angle in radians); the SO(3) exponential.

    Uses ``[sin(t/2)/t * phi, cos(t/2)]`` with a Taylor series for ``sin(t/2)/t`` at small ``t``, so the
    value and gradient are exact at ``phi = 0``.

    Args:
        phi: Rotation vector, radians, shape ``(..., 3)``; any norm (angles above pi wrap around).

    Returns:
        Quaternion, xyzw, unit length, shape ``(..., 4)`` (``w < 0`` for angles above pi).

    Example:
        >>> import math
        >>> axis_angle_to_quat(torch.tensor([0.0, 0.0, math.pi])).round(decimals=4).abs()
        tensor([0., 0., 1., 0.])
    """
    num.check_last_dim(phi, 3, "axis_angle_to_quat", "rotation vector")
    theta_sq = (phi * phi).sum(dim=-1, keepdim=True)
    return torch.cat([num.half_sinc(theta_sq) * phi, num.half_cos(theta_sq)], dim=-1)


def quat_to_axis_angle(q: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 3"]:
    """Rotation vector (axis times angle, radians, angle in ``[0, pi]``) of an xyzw quaternion; the SO(3) log.

    ``q`` is first replaced by ``-q`` when ``w < 0`` (the same rotation), so the angle
    ``t = 2 atan2(|v|, w)`` lies in ``[0, pi]``; ``atan2`` stays accurate near pi where ``w -> 0``. For
    ``|v|`` small, ``t / |v|`` uses the series of ``atan(x) / x`` so the value and gradient are exact at the
    identity. The result is invariant to the norm of ``q``. At exactly pi the sign of the axis is arbitrary.

    Args:
        q: Quaternion, xyzw, shape ``(..., 4)``; non-zero.

    Returns:
        Rotation vector, radians, shape ``(..., 3)``.

    Example:
        >>> import math
        >>> q = torch.tensor([0.0, -math.sin(0.25), 0.0, -math.cos(0.25)])  # -q of 0.5 rad about y
        >>> quat_to_axis_angle(q).round(decimals=6) + 0.0  # + 0.0 turns -0.0 into 0.0
        tensor([0.0000, 0.5000, 0.0000])
    """
    num.check_last_dim(q, 4, "quat_to_axis_angle", "quaternion (xyzw)")
    q = quat_positive(q)
    v, w = q[..., :3], q[..., 3:]
    n_sq = (v * v).sum(dim=-1, keepdim=True)
    small = n_sq < num.small_sq_threshold(q.dtype) * (w * w)

    def series(x_sq: Tensor) -> Tensor:
        return num.horner(x_sq, num.ATAN_OVER_X)

    # t / |v| = (2 / w) * atan(x) / x with x = |v| / w (w > 0 on the series branch).
    w_safe = torch.where(small, w, torch.ones_like(w))
    x_sq = torch.where(small, n_sq / (w_safe * w_safe), torch.zeros_like(n_sq))
    n_safe = torch.sqrt(torch.where(small, torch.ones_like(n_sq), n_sq))
    scale = torch.where(small, 2.0 / w_safe * series(x_sq), 2.0 * torch.atan2(n_safe, w) / n_safe)
    return scale * v
