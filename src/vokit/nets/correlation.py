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
* ``"sample"`` (form (b)): ``grid_sample`` of the features at the 49 positions, then the dot product;
* ``"dots"`` [vokit]: per target frame, one matmul of its rows with the whole map, then the 8 x 8 window of
  scalars and the same blend. It computes ``E p^2 h w C`` products instead of copying ``E p^2 64 C`` features, which
  on a CPU at the working resolutions (h w of a few thousand at 1/4 resolution) is an order of magnitude faster
  than the gathers; inference uses it.

For training on a CPU, :func:`correlation_volume` computes the all-pairs dot products of every patch pixel with
every target position once per step (one matmul), and :func:`volume_correlation` then only gathers and blends the
8 x 8 windows of scalars in each update call (the RAFT layout of section 4.2's CPU note); it equals the two window
forms, gradients included.

Edges are processed in chunks, each optionally under activation checkpointing so that a training step stores only
the chunk inputs (the gathered features hold E x 9 x 64 x C values), and correlation-gradient dropout lets only a
random fraction of the edges (20 % in training [ref]) back-propagate into the feature maps.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from jaxtyping import Float, Int
from torch import Tensor
from torch.utils.checkpoint import checkpoint

CorrForm = Literal["gather", "sample", "dots"]

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
    pixel, frac = _window_index(uv, height, width, radius)
    flat = torch.where(pixel < height * width, dst_idx[:, None] * (height * width) + pixel, num_frames * height * width)
    dots = torch.bmm(table[flat], patch_feat[:, :, None])
    return _blend(dots.view(-1, 2 * radius + 2, 2 * radius + 2), frac)


def corr_dots(
    patch_feat: Float[Tensor, "Q C"],
    fmap: Float[Tensor, "N C H W"],
    dst_idx: Int[Tensor, " Q"],
    uv: Float[Tensor, "Q 2"],
    radius: int = CORR_RADIUS,
) -> Float[Tensor, "Q D D"]:
    """Form (c) [vokit]: dot products with the whole target map (one matmul per frame), window of scalars, blend.

    Args and result as :func:`corr_gather`; the cost is ``Q * H * W * C`` multiply-adds, so it suits maps of a few
    thousand positions (1/4 of a 240 x 320 image: 4,800).
    """
    num_frames, channels, height, width = fmap.shape
    pixel, frac = _window_index(uv, height, width, radius)
    flat = fmap.flatten(2)
    rows_per_frame, dots_per_frame = [], []
    for j in torch.unique(dst_idx).tolist():
        rows = torch.nonzero(dst_idx == j).squeeze(1)
        dots = patch_feat[rows] @ flat[j]
        dots = torch.cat([dots, dots.new_zeros(rows.shape[0], 1)], dim=1)
        rows_per_frame.append(rows)
        dots_per_frame.append(torch.gather(dots, 1, pixel[rows]))
    if not rows_per_frame:
        return patch_feat.new_zeros(0, 2 * radius + 1, 2 * radius + 1)
    order = torch.cat(rows_per_frame).argsort()
    window = torch.cat(dots_per_frame)[order]
    return _blend(window.view(-1, 2 * radius + 2, 2 * radius + 2), frac)


def _window_index(uv: Tensor, height: int, width: int, radius: int) -> tuple[Tensor, Tensor]:
    """Window indices and fractional offsets of the 2 x 2 blend.

    Returns the flat pixel index ``v * width + u`` of the (2R + 2)^2 window around ``floor(uv)``, row-major with rows
    along v (``height * width`` outside the image), and the fractional offset ``uv - floor(uv)``.
    """
    corner = uv.detach().floor()
    offsets = torch.arange(-radius, radius + 2, device=uv.device)
    u = corner[:, 0].long()[:, None, None] + offsets[None, None, :]
    v = corner[:, 1].long()[:, None, None] + offsets[None, :, None]
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    return torch.where(inside, v * width + u, height * width).flatten(1), uv - corner


def _blend(dots: Tensor, frac: Tensor) -> Tensor:
    """2 x 2 bilinear blend of a (2R + 2)^2 window of dot products onto the (2R + 1)^2 offsets about ``uv``."""
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
    corr_fn = {"gather": corr_gather, "sample": corr_sample, "dots": corr_dots}[form]
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
        form: ``"gather"`` (form (a)), ``"sample"`` (form (b)) or ``"dots"`` (per-frame matmul, the fastest on a
            CPU at working resolutions); they agree to float precision.
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
    if form not in ("gather", "sample", "dots"):
        raise ValueError(f"form must be 'gather', 'sample' or 'dots', got {form!r}")
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


@dataclass(frozen=True)
class CorrelationVolume:
    """All-pairs dot products of every patch pixel with every position of every target map, one tensor per level.

    Attributes:
        values: per level, ``(P * p * p, N, h * w + 1)``: row ``k * p * p + r * p + s`` is pixel (r, s) of patch k,
            the last column is the zero read for positions outside the image.
        sizes: ``(h, w)`` of each level.
        levels: pooling factor of each level.
        patch_size: p.
    """

    values: tuple[Tensor, ...]
    sizes: tuple[tuple[int, int], ...]
    levels: tuple[int, ...]
    patch_size: int


def correlation_volume(
    gmap: Float[Tensor, "P C p p"], pyramid: Sequence[Tensor], levels: Sequence[int] = PYRAMID_LEVELS
) -> CorrelationVolume:
    """Precompute the all-pairs volume (the CPU layout of METHODS.md section 4.2, after RAFT).

    The feature maps do not change during a training step's update calls (nor during a frame's update at inference),
    so one matmul per step replaces the per-call window gathers; each call then only gathers and blends 8 x 8 windows
    of scalars with :func:`volume_correlation`. Memory is ``P p^2 N (h w + h w / 16)`` values, so this suits clips of
    a few frames (7 frames, 3,024 patch pixels at 48 x 64 hold ~260 MB at level 1).

    Args:
        gmap: matching features of every patch.
        pyramid: :func:`correlation_pyramid` of the target frames.
        levels: pooling factor of each pyramid map.

    Returns:
        The volume; gradients flow into ``gmap`` and ``pyramid``.
    """
    if len(pyramid) != len(levels):
        raise ValueError(f"{len(pyramid)} pyramid maps for {len(levels)} levels")
    feat = rearrange(gmap, "k c r s -> (k r s) c")
    values = []
    for fmap in pyramid:
        dots = torch.einsum("qc,ncx->qnx", feat, fmap.flatten(2))
        values.append(torch.cat([dots, dots.new_zeros(*dots.shape[:2], 1)], dim=-1))
    sizes = tuple((int(f.shape[-2]), int(f.shape[-1])) for f in pyramid)
    return CorrelationVolume(tuple(values), sizes, tuple(levels), int(gmap.shape[-1]))


def volume_correlation(
    volume: CorrelationVolume,
    patch_idx: Int[Tensor, " E"],
    dst_idx: Int[Tensor, " E"],
    patch_uv: Float[Tensor, "E p p 2"],
    radius: int = CORR_RADIUS,
    grad_fraction: float = 1.0,
    generator: torch.Generator | None = None,
) -> Float[Tensor, "E F"]:
    """Look the correlation features of every edge up in a precomputed volume; equal to :func:`patch_correlation`.

    Args:
        volume: :func:`correlation_volume` of the patches and target maps.
        patch_idx: patch k of each edge.
        dst_idx: target frame j of each edge.
        patch_uv: reprojected patch pixels in frame j, 1/4-resolution pixels.
        radius: R of the resampled window.
        grad_fraction: correlation-gradient dropout as in :func:`patch_correlation`: the other edges read a detached
            volume, so their correlation does not back-propagate into the maps.
        generator: optional generator for the dropout draw.

    Returns:
        The correlation features, in :func:`patch_correlation`'s order.
    """
    if not 0.0 <= grad_fraction <= 1.0:
        raise ValueError(f"grad_fraction must lie in [0, 1], got {grad_fraction}")
    pixels = volume.patch_size**2
    rows = (patch_idx[:, None] * pixels + torch.arange(pixels, device=patch_idx.device)).reshape(-1)
    dst = dst_idx.repeat_interleave(pixels)
    uv = patch_uv.reshape(-1, 2)
    keep = None
    if grad_fraction < 1.0 and torch.is_grad_enabled():
        keep = (torch.rand(patch_idx.shape[0], generator=generator) < grad_fraction).to(patch_idx.device)
        keep = keep.repeat_interleave(pixels)[:, None, None]
    per_level = []
    for values, (height, width), factor in zip(volume.values, volume.sizes, volume.levels, strict=True):
        pixel, frac = _window_index(uv / factor, height, width, radius)
        flat = ((rows * values.shape[1] + dst) * values.shape[2])[:, None] + pixel
        dots = torch.take(values, flat)
        if keep is not None:
            dots = torch.where(keep.view(-1, 1), dots, torch.take(values.detach(), flat))
        per_level.append(_blend(dots.view(-1, 2 * radius + 2, 2 * radius + 2), frac))
    corr = torch.stack(per_level, dim=-1)
    return rearrange(corr, "(e r s) a b l -> e (b a r s l)", r=volume.patch_size, s=volume.patch_size)
