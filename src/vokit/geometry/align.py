"""Umeyama alignment of point sets: SE(3), Sim(3) or scale only, batched and optionally weighted.

"Least-squares estimation of transformation parameters between two point patterns" (S. Umeyama, IEEE PAMI 1991),
in the form of METHODS.md section 9.2 (and MichaelGrupp/evo ``evo/core/geometry.py``), with per-point weights.
"""

from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.geometry.lie import matrix_to_quat

AlignMode = Literal["sim3", "se3", "scale"]

_RANK_RTOL_EPS = 100.0
"""A covariance counts as rank < 2 when its second singular value is below this many eps times the first."""


def umeyama(
    src: Float[Tensor, "*#batch N 3"],
    dst: Float[Tensor, "*#batch N 3"],
    weights: Float[Tensor, "*#batch N"] | None = None,
    mode: AlignMode = "sim3",
) -> Float[Tensor, "*batch 8"]:
    """The similarity ``dst_from_src`` minimising ``sum_i w_i ||dst_i - (s R src_i + t)||^2``.

    With normalised weights ``w_i / sum w`` (uniform when ``weights`` is None): means ``mu_x, mu_y``;
    ``Sigma = sum w (y - mu_y)(x - mu_x)^T = U D V^T``; ``S = diag(1, 1, det U det V)`` (reflection correction);
    ``R = U S V^T``; ``s = tr(D S) / sigma_x^2`` with ``sigma_x^2 = sum w ||x - mu_x||^2``; ``t = mu_y - s R mu_x``.

    Modes: ``"sim3"`` all of the above; ``"se3"`` the same rotation with ``s = 1`` and ``t = mu_y - R mu_x``;
    ``"scale"`` only the Umeyama scale, with ``R = I`` and ``t = 0`` (evo's ``correct_only_scale``).

    Args:
        src: points to align (e.g. estimated camera centres), in the source frame.
        dst: corresponding points (e.g. ground-truth camera centres), in the destination frame; ``N >= 3``.
        weights: non-negative per-point weights, at least 3 positive (``None``: uniform).
        mode: ``"sim3"``, ``"se3"`` or ``"scale"``.

    Returns:
        Sim(3) ``[t, q_xyzw, s]`` mapping source coordinates to destination coordinates (``s = 1`` for se3).

    Raises:
        ValueError: fewer than 3 (positively weighted) points, negative weights, coincident source points, or
            (modes sim3 and se3) a rank < 2 cross-covariance, e.g. collinear points, whose rotation is undefined.

    Example:
        >>> src = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> rot_z_90 = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        >>> dst = 2.0 * src @ rot_z_90.T + torch.tensor([1.0, 2.0, 3.0])
        >>> dst_from_src = umeyama(src, dst)
        >>> dst_from_src[:3].round(decimals=4), dst_from_src[7].round(decimals=4)  # t and s
        (tensor([1., 2., 3.]), tensor(2.))
        >>> dst_from_src[3:7].abs().round(decimals=4)  # q_xyzw of a 90 degree turn about z
        tensor([0.0000, 0.0000, 0.7071, 0.7071])
    """
    if mode not in ("sim3", "se3", "scale"):
        raise ValueError(f"umeyama: mode must be 'sim3', 'se3' or 'scale', got {mode!r}")
    if src.shape[-2] != dst.shape[-2]:
        raise ValueError(f"umeyama: src and dst need the same number of points, got {src.shape[-2]}, {dst.shape[-2]}")
    if src.shape[-2] < 3:
        raise ValueError(f"umeyama: need at least 3 points, got {src.shape[-2]}")
    if weights is None:
        weights = torch.ones(src.shape[-2], dtype=src.dtype, device=src.device)
    elif bool((weights < 0).any()):
        raise ValueError("umeyama: weights must be non-negative")
    elif bool(((weights > 0).sum(-1) < 3).any()):
        raise ValueError("umeyama: need at least 3 points with positive weight")
    batch = torch.broadcast_shapes(src.shape[:-2], dst.shape[:-2], weights.shape[:-1])
    src, dst = src.expand(*batch, -1, 3), dst.expand(*batch, -1, 3)
    weights = weights.expand(*batch, -1)
    w = (weights / weights.sum(-1, keepdim=True)).unsqueeze(-1)

    mu_x = (w * src).sum(-2)
    mu_y = (w * dst).sum(-2)
    x_c = src - mu_x.unsqueeze(-2)
    y_c = dst - mu_y.unsqueeze(-2)
    var_x = (w * x_c.square()).sum((-2, -1))
    if bool((var_x <= torch.finfo(src.dtype).tiny).any()):
        raise ValueError("umeyama: the source points coincide (zero variance); no scale or rotation is defined")
    sigma = (w * y_c).transpose(-1, -2) @ x_c
    U, D, Vh = torch.linalg.svd(sigma)

    eye = torch.eye(3, dtype=src.dtype, device=src.device).expand(*src.shape[:-2], 3, 3)
    if mode != "scale":
        rank_tol = _RANK_RTOL_EPS * torch.finfo(src.dtype).eps
        if bool((D[..., 1] <= rank_tol * D[..., 0]).any()):
            raise ValueError(
                "umeyama: degenerate cross-covariance (rank < 2: collinear or coincident points); "
                "the rotation is not defined"
            )
    reflect = torch.linalg.det(U) * torch.linalg.det(Vh)
    S_diag = torch.stack([torch.ones_like(reflect), torch.ones_like(reflect), torch.sign(reflect)], dim=-1)
    scale = (D * S_diag).sum(-1) / var_x
    if mode == "scale":
        R = eye
        t = torch.zeros_like(mu_x)
    else:
        R = U @ torch.diag_embed(S_diag) @ Vh
        if mode == "se3":
            scale = torch.ones_like(scale)
        t = mu_y - scale.unsqueeze(-1) * (R @ mu_x.unsqueeze(-1)).squeeze(-1)
    return torch.cat([t, matrix_to_quat(R), scale.unsqueeze(-1)], dim=-1)
