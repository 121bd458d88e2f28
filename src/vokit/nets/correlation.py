"""Two-level patch correlation for patch-based VO, in pure torch (METHODS.md section 4.2).

For edge e = (k, j) (patch k, target frame j) and each of the p x p pixels of patch k, with reprojected position
``x`` in frame j at 1/4 resolution (``x / 4`` at level 2), the correlation holds the dot products of the pixel's
``gmap`` feature with frame j's feature map bilinearly resampled at ``x + o`` for the 7 x 7 integer offsets
``o in [-3, 3]^2`` (zero outside the image). Two levels x 49 offsets x 9 pixels give 882 features per edge.

Bilinear interpolation is linear, so two forms compute the same numbers (tests pin them to 1e-5):

* ``"gather"`` (form (a); the reference CUDA kernel princeton-vl/DPVO ``dpvo/altcorr/correlation_kernel.cu``): dot
  products on the 8 x 8 integer window of offsets -3 ... +4 around ``floor(x)``, gathered from a channels-last copy
  of the map (one contiguous C-vector per read) and reduced with ``bmm``, then a 2 x 2-weight blend at the
  fractional offset ``x - floor(x)``;
* ``"sample"`` (form (b)): ``grid_sample`` of the features at the 49 positions, then the dot product.

Edges are processed in chunks, each optionally under activation checkpointing so that a training step stores only
the chunk inputs (the gathered features hold E x 9 x 64 x C values), and correlation-gradient dropout lets only a
random fraction of the edges (20 % in training [ref]) back-propagate into the feature maps.
"""

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from jaxtyping import Float, Int
from torch import Tensor
from torch.utils.checkpoint import checkpoint

CorrForm = Literal["gather", "sample"]

CORR_RADIUS = 3  # R [ref]
PYRAMID_LEVELS: tuple[int, ...] = (1, 4)  # pooling factor of each level relative to 1/4 resolution [ref]
CORR_GRAD_FRACTION = 0.2  # fraction of edges whose correlation back-propagates into the maps in training [ref]


def correlation_pyramid(
    fmap: Float[Tensor, "N C H W"], levels: Sequence[int] = PYRAMID_LEVELS
) -> list[Float[Tensor, "N C h w"]]:
    """Average-pool the 1/4-resolution matching features by each factor in ``levels`` (``h = floor(H / f)``).

    Args:
        fmap: ``fnet`` features of the target frames.
        levels: pooling factors (1 keeps the map).

    Returns:
        One map per level.
    """
    return [fmap if f == 1 else F.avg_pool2d(fmap, f, stride=f) for f in levels]


def corr_gather(
    patch_feat: Float[Tensor, "Q C"],
    fmap: Float[Tensor, "N C H W"],
    dst_idx: Int[Tensor, " Q"],
    uv: Float[Tensor, "Q 2"],
    radius: int = CORR_RADIUS,
) -> Float[Tensor, "Q D D"]:
    """Form (a): window dot products by integer gathers, then the 2 x 2 bilinear blend.

    Args:
        patch_feat: one feature vector per patch pixel (``gmap`` rows for the edge's patch).
        fmap: target feature maps of this pyramid level.
        dst_idx: target frame of each row.
        uv: reprojected pixel position in ``fmap`` pixels (integers at pixel centres).
        radius: R; ``D = 2 R + 1``.

    Returns:
        ``corr[q, a, b] = <patch_feat[q], bilinear(fmap[dst_idx[q]], uv[q] + (b - R, a - R))>``, rows ``a`` along v.
    """
    num_frames, channels, height, width = fmap.shape
    table = torch.cat([fmap.permute(0, 2, 3, 1).reshape(-1, channels), fmap.new_zeros(1, channels)])
    corner = uv.detach().floor()
    frac = uv - corner
    offsets = torch.arange(-radius, radius + 2, device=uv.device)
    u = corner[:, 0].long()[:, None, None] + offsets[None, None, :]
    v = corner[:, 1].long()[:, None, None] + offsets[None, :, None]
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    flat = torch.where(inside, (dst_idx[:, None, None] * height + v) * width + u, num_frames * height * width)
    window = table[flat.flatten(1)]
    dots = torch.bmm(window, patch_feat[:, :, None]).view(-1, 2 * radius + 2, 2 * radius + 2)
    fu = frac[:, 0, None, None]
    fv = frac[:, 1, None, None]
    return (
        (1 - fu) * (1 - fv) * dots[:, :-1, :-1]
        + fu * (1 - fv) * dots[:, :-1, 1:]
        + (1 - fu) * fv * dots[:, 1:, :-1]
        + fu * fv * dots[:, 1:, 1:]
    )


def corr_sample(
    patch_feat: Float[Tensor, "Q C"],
    fmap: Float[Tensor, "N C H W"],
    dst_idx: Int[Tensor, " Q"],
    uv: Float[Tensor, "Q 2"],
    radius: int = CORR_RADIUS,
) -> Float[Tensor, "Q D D"]:
    """Form (b): ``grid_sample`` of the target features at the ``D x D`` positions, then the dot product.

    The frames are stacked as the depth axis of one 5-D ``grid_sample`` whose depth coordinate lands exactly on the
    target frame, so rows of different frames need no per-frame loop.

    Args:
        patch_feat: one feature vector per patch pixel.
        fmap: target feature maps of this pyramid level.
        dst_idx: target frame of each row.
        uv: reprojected pixel position in ``fmap`` pixels.
        radius: R; ``D = 2 R + 1``.

    Returns:
        The same quantity as :func:`corr_gather`.
    """
    num_frames, _, height, width = fmap.shape
    offsets = torch.arange(-radius, radius + 1, dtype=uv.dtype, device=uv.device)
    u = uv[:, 0, None, None] + offsets[None, None, :]
    v = uv[:, 1, None, None] + offsets[None, :, None]
    u, v = torch.broadcast_tensors(u, v)
    u_norm = 2 * u / max(width - 1, 1) - 1
    v_norm = 2 * v / max(height - 1, 1) - 1
    frame_norm = (2 * dst_idx.to(uv.dtype) / max(num_frames - 1, 1) - 1)[:, None, None].expand_as(u)
    grid = torch.stack([u_norm, v_norm, frame_norm], dim=-1).reshape(1, 1, -1, 1, 3)
    volume = fmap.permute(1, 0, 2, 3)[None]
    sampled = F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    sampled = sampled.view(patch_feat.shape[1], -1, (2 * radius + 1) ** 2)
    return torch.einsum("cqk,qc->qk", sampled, patch_feat).view(-1, 2 * radius + 1, 2 * radius + 1)


def _edge_correlation(
    gmap: Tensor,
    pyramid: Sequence[Tensor],
    patch_idx: Tensor,
    dst_idx: Tensor,
    patch_uv: Tensor,
    radius: int,
    form: CorrForm,
    levels: Sequence[int],
) -> Tensor:
    corr_fn = corr_gather if form == "gather" else corr_sample
    pixels = gmap.shape[-1] * gmap.shape[-2]
    feat = rearrange(gmap[patch_idx], "e c r s -> (e r s) c")
    dst = dst_idx.repeat_interleave(pixels)
    uv = patch_uv.reshape(-1, 2)
    per_level = [corr_fn(feat, fmap, dst, uv / factor, radius) for fmap, factor in zip(pyramid, levels, strict=True)]
    corr = torch.stack(per_level, dim=-1)
    return rearrange(corr, "(e r s) a b l -> e (b a r s l)", r=gmap.shape[-2], s=gmap.shape[-1])


def patch_correlation(
    gmap: Float[Tensor, "P C p p"],
    pyramid: Sequence[Tensor],
    patch_idx: Int[Tensor, " E"],
    dst_idx: Int[Tensor, " E"],
    patch_uv: Float[Tensor, "E p p 2"],
    radius: int = CORR_RADIUS,
    form: CorrForm = "gather",
    levels: Sequence[int] = PYRAMID_LEVELS,
    chunk_size: int | None = None,
    use_checkpoint: bool = False,
    grad_fraction: float = 1.0,
    generator: torch.Generator | None = None,
) -> Float[Tensor, "E F"]:
    """Correlation features of every edge, ``F = len(levels) * (2 R + 1)^2 * p^2`` (882 by default).

    The feature order is DPVO's (``dpvo/net.py`` ``CorrBlock``): offset along u, offset along v, patch row,
    patch column, level, so that ``corr_mlp`` weights line up with the reference layout.

    Args:
        gmap: matching features of every patch (``fnet`` at the patch pixels).
        pyramid: :func:`correlation_pyramid` of the target frames' ``fnet`` maps.
        patch_idx: patch k of each edge.
        dst_idx: target frame j of each edge.
        patch_uv: reprojection of the edge's patch pixels into frame j, 1/4-resolution pixels; divided by the
            level factor for each level, as the reference does.
        radius: R of the 7 x 7 resampled window.
        form: ``"gather"`` (form (a)) or ``"sample"`` (form (b)); they agree to float precision.
        levels: pooling factor of each pyramid map.
        chunk_size: edges per chunk (None: all at once); bounds the E x 9 x 64 x C gathered features.
        use_checkpoint: recompute each chunk in the backward pass instead of storing its activations (only takes
            effect while gradients are enabled).
        grad_fraction: correlation-gradient dropout, the fraction of edges, drawn at random, whose correlation
            back-propagates into ``gmap`` and ``pyramid``; the others see detached maps. 1.0 keeps every edge;
            training uses :data:`CORR_GRAD_FRACTION`. Gradients into ``patch_uv`` are never dropped.
        generator: optional generator for the dropout draw.

    Returns:
        The correlation features.
    """
    if form not in ("gather", "sample"):
        raise ValueError(f"form must be 'gather' or 'sample', got {form!r}")
    if len(pyramid) != len(levels):
        raise ValueError(f"{len(pyramid)} pyramid maps for {len(levels)} levels")
    if not 0.0 <= grad_fraction <= 1.0:
        raise ValueError(f"grad_fraction must lie in [0, 1], got {grad_fraction}")
    num_edges = patch_idx.shape[0]
    dropout = grad_fraction < 1.0 and torch.is_grad_enabled()
    if not dropout:
        return _chunked(gmap, pyramid, patch_idx, dst_idx, patch_uv, radius, form, levels, chunk_size, use_checkpoint)
    keep = torch.rand(num_edges, generator=generator).to(patch_idx.device) < grad_fraction
    kept, dropped = keep.nonzero().squeeze(1), (~keep).nonzero().squeeze(1)
    args = (radius, form, levels, chunk_size, use_checkpoint)
    corr_kept = _chunked(gmap, pyramid, patch_idx[kept], dst_idx[kept], patch_uv[kept], *args)
    detached = [fmap.detach() for fmap in pyramid]
    corr_dropped = _chunked(gmap.detach(), detached, patch_idx[dropped], dst_idx[dropped], patch_uv[dropped], *args)
    order = torch.cat([kept, dropped]).argsort()
    return torch.cat([corr_kept, corr_dropped])[order]


def _chunked(
    gmap: Tensor,
    pyramid: Sequence[Tensor],
    patch_idx: Tensor,
    dst_idx: Tensor,
    patch_uv: Tensor,
    radius: int,
    form: CorrForm,
    levels: Sequence[int],
    chunk_size: int | None,
    use_checkpoint: bool,
) -> Tensor:
    num_edges = patch_idx.shape[0]
    step = num_edges if chunk_size is None else chunk_size
    if step < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if num_edges == 0:
        num_features = len(levels) * (2 * radius + 1) ** 2 * gmap.shape[-1] * gmap.shape[-2]
        return patch_uv.new_zeros(0, num_features)
    recompute = use_checkpoint and torch.is_grad_enabled()
    chunks = []
    for start in range(0, num_edges, step):
        sl = slice(start, start + step)
        inputs = (gmap, list(pyramid), patch_idx[sl], dst_idx[sl], patch_uv[sl], radius, form, levels)
        if recompute:
            chunks.append(checkpoint(_edge_correlation, *inputs, use_reentrant=False))
        else:
            chunks.append(_edge_correlation(*inputs))
    return torch.cat(chunks) if len(chunks) > 1 else chunks[0]
