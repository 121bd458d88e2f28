"""Pyramidal Lucas-Kanade tracking of small patches, the classical patchvo operator (METHODS.md section 4.4a).

Each patch is a ``p x p`` window (``p = 2 r + 1``, 3 by default as the patches of METHODS.md section 4.1) around a
source centre in a grayscale source image; LK finds the translation that best aligns it photometrically with the
target image. The solver is **inverse-compositional** Gauss-Newton ("Lucas-Kanade 20 Years On: A Unifying
Framework", Baker and Matthews, IJCV 2004): the template gradient and the 2 x 2 Hessian are computed once per level
from the source image, and each iteration samples the target at the current position ``x`` and updates
``x <- x - H^-1 sum_k grad T_k (I(x + o_k) - T(o_k))``. For a pure translation the inverse-compositional and
forward-additive fixed points coincide; the inverse form is cheaper per iteration.

Coarse to fine: both images are average-pooled by 2 per level; a pixel coordinate maps between levels by the exact
rule for 2 x 2 pooling under METHODS.md section 1's convention, ``u_l = (u + 0.5) / 2^l - 0.5``. At every level the
window keeps ``p x p`` samples one level-pixel apart, so the coarse levels see a wider context.

The confidence is the forward-backward check (Kalal et al., "Forward-Backward Error: Automatic Detection of Tracking
Failures", ICPR 2010): the tracked position is tracked back into the source, starting from the mirrored initial
flow, and the round-trip error ``e`` (pixels, per axis) maps to ``w = exp(-(e / sigma)^2)``; patches that leave the
image or whose Hessian is singular get ``w = 0``.

All operations are batched over patches (each with its own source and target frame); only levels and iterations
loop. Sampling clamps at the image border; a patch is ``valid`` only while its window lies inside the image.

Cost: levels are stored once per frame as intensity and gradients, replicate-padded (:func:`pad_pyramid`), and a
window is read as one gathered block with separable interpolation (:func:`sample_window`: all samples of a window
share the centre's fractional position). The target-independent half of a track (:class:`LKTemplate`) can be
computed once per source window (:func:`lk_templates`) and reused for every target frame.
"""

import functools
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

Interpolation = Literal["bicubic", "bilinear"]

DEFAULT_NUM_LEVELS = 3
DEFAULT_NUM_ITERS = 8
DEFAULT_FB_SIGMA_PX = 0.5  # round-trip error giving w = exp(-1) [vokit]
MIN_HESSIAN_DET = 1e-8  # below this (intensity^4) the window has no usable texture [vokit]


@dataclass(frozen=True)
class LKTrack:
    """Result of a forward (or forward-backward) LK track.

    Attributes:
        dst_uv: refined target centre, pixels of the finest level.
        valid: the window lies inside the target image and the Hessian was well conditioned at every level.
        residual: RMS photometric residual of the window at the final position, intensity units.
        fb_error: forward-backward round-trip error per axis, pixels (zeros for a forward-only track).
        weight: per-axis confidence in [0, 1], ``exp(-(fb_error / sigma)^2)`` and 0 where not valid (ones where
            valid for a forward-only track).
    """

    dst_uv: Float[Tensor, "P 2"]
    valid: Bool[Tensor, " P"]
    residual: Float[Tensor, " P"]
    fb_error: Float[Tensor, "P 2"]
    weight: Float[Tensor, "P 2"]


def image_pyramid(image: Float[Tensor, "N H W"], num_levels: int) -> list[Tensor]:
    """Grayscale pyramid by 2 x 2 average pooling; level 0 is the input.

    Args:
        image: grayscale images, intensity in any unit.
        num_levels: number of levels (>= 1).

    Returns:
        ``num_levels`` images, each half the size of the previous (floor).
    """
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    levels = [image]
    for _ in range(num_levels - 1):
        levels.append(F.avg_pool2d(levels[-1][:, None], 2, stride=2)[:, 0])
    return levels


def to_level(uv: Float[Tensor, "*batch 2"], level: int) -> Float[Tensor, "*batch 2"]:
    """Map level-0 pixel coordinates to level ``level`` of a 2 x 2-pooled pyramid: ``(u + 0.5) / 2^l - 0.5``.

    Args:
        uv: pixel coordinates at level 0.
        level: target level.

    Returns:
        The coordinates at that level.
    """
    return (uv + 0.5) / 2**level - 0.5


def from_level(uv: Float[Tensor, "*batch 2"], level: int) -> Float[Tensor, "*batch 2"]:
    """Inverse of :func:`to_level`.

    Args:
        uv: pixel coordinates at level ``level``.
        level: their level.

    Returns:
        Level-0 pixel coordinates.
    """
    return (uv + 0.5) * 2**level - 0.5


def _cubic_weights(frac: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Catmull-Rom (Keys, a = -0.5) weights of the taps at offsets -1, 0, 1, 2 for a fractional position."""
    t, t2, t3 = frac, frac * frac, frac * frac * frac
    return (
        0.5 * (-t3 + 2 * t2 - t),
        0.5 * (3 * t3 - 5 * t2 + 2),
        0.5 * (-3 * t3 + 4 * t2 + t),
        0.5 * (t3 - t2),
    )


def sample_image(
    image: Float[Tensor, "N H W"],
    frame_idx: Int[Tensor, " P"],
    uv: Float[Tensor, "P K 2"],
    interpolation: Interpolation = "bicubic",
) -> Float[Tensor, "P K"]:
    """Sample ``image[frame_idx[p]]`` at arbitrary positions ``uv[p, k]``, coordinates clamped at the border.

    Bicubic (Catmull-Rom) sampling is the default: bilinear interpolation low-passes the target by an amount that
    depends on the fractional position, which on a 3 x 3 window biases LK by several hundredths of a pixel towards
    integer positions (measured in ``tests/solvers/test_lk.py``). LK itself reads whole windows with
    :func:`sample_window` (the same values, one gather per window); this per-point form is its reference.

    Args:
        image: grayscale images, at least 2 x 2.
        frame_idx: frame of each patch.
        uv: sample positions, pixels.
        interpolation: ``"bicubic"`` or ``"bilinear"``.

    Returns:
        The sampled intensities.
    """
    _, height, width = image.shape
    flat = image.reshape(-1)
    u = uv[..., 0].clamp(0, width - 1)
    v = uv[..., 1].clamp(0, height - 1)
    row_base = frame_idx[:, None] * height
    if interpolation == "bilinear":
        u0 = u.detach().floor().clamp(max=width - 2)
        v0 = v.detach().floor().clamp(max=height - 2)
        fu, fv = u - u0, v - v0
        base = (row_base + v0.long()) * width + u0.long()
        return ((1 - fu) * (1 - fv) * flat[base] + fu * (1 - fv) * flat[base + 1]
                + (1 - fu) * fv * flat[base + width] + fu * fv * flat[base + width + 1])
    if interpolation != "bicubic":
        raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {interpolation!r}")
    u0, v0 = u.detach().floor(), v.detach().floor()
    weights_u, weights_v = _cubic_weights(u - u0), _cubic_weights(v - v0)
    out = flat.new_zeros(u.shape)
    for dv, weight_v in zip(range(-1, 3), weights_v, strict=True):
        row = (row_base + (v0.long() + dv).clamp(0, height - 1)) * width
        for du, weight_u in zip(range(-1, 3), weights_u, strict=True):
            out = out + weight_v * weight_u * flat[row + (u0.long() + du).clamp(0, width - 1)]
    return out


def pad_pyramid(pyramid: list[Tensor], radius: int) -> list[Float[Tensor, "N Hp Wp 3"]]:
    """Every level as :func:`lk_track` samples it: intensity and gradients, replicate-padded, channels last.

    The channels are the intensity and its central-difference gradients ``dI/du``, ``dI/dv`` (computed on the
    replicate-padded image, as the sampled gradient image of a clamped image). Padding every channel by
    :func:`window_padding` pixels once per frame lets a window be read as one gather of a block of pixels.

    Args:
        pyramid: :func:`image_pyramid` levels ``(N, H, W)``.
        radius: the LK window half-size the levels will be tracked with.

    Returns:
        The levels, ``(N, H + 2 pad, W + 2 pad, 3)``.
    """
    pad = window_padding(radius)
    out = []
    for level in pyramid:
        channels = torch.stack([level, *_gradients(level)], dim=1)
        out.append(F.pad(channels, (pad, pad, pad, pad), mode="replicate").permute(0, 2, 3, 1).contiguous())
    return out


def _gradients(image: Tensor) -> tuple[Tensor, Tensor]:
    padded = F.pad(image[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    grad_u = 0.5 * (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
    grad_v = 0.5 * (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
    return grad_u, grad_v


def _pad_pair(src_pyramid: list[Tensor], dst_pyramid: list[Tensor],
              radius: int) -> tuple[list[Tensor], list[Tensor]]:
    """:func:`pad_pyramid` of both pyramids, padding once when they are the same list."""
    padded = pad_pyramid(src_pyramid, radius)
    return padded, padded if dst_pyramid is src_pyramid else pad_pyramid(dst_pyramid, radius)


def window_padding(radius: int) -> int:
    """Padding of :func:`pad_pyramid` for LK windows of half-size ``radius``.

    Window centres are clamped to ``[-r, W - 1 + r] x [-r, H - 1 + r]``, beyond which every sample of a window reads
    the border (as a clamped coordinate does); the block a bicubic window reads then stays within ``2 r + 2``.
    """
    return 2 * radius + 2


def sample_window(
    padded: Float[Tensor, "N Hp Wp 3"],
    pad: int,
    frame_idx: Int[Tensor, " P"],
    centre_uv: Float[Tensor, "P 2"],
    half: int,
    interpolation: Interpolation = "bicubic",
) -> Float[Tensor, "P K K"]:
    """The intensity at ``centre + (du, dv)`` for the integer offsets of a ``K x K`` window, ``K = 2 half + 1``.

    Rows are v, columns u. The window is read from one gathered block of pixels: all samples share the centre's
    fractional position, so the interpolation is two separable passes with per-window weights.

    Bilinear windows equal :func:`sample_image` at the same positions (coordinates clamped at the border) for any
    centre; bicubic ones wherever the window lies inside the image (near the border its taps read the replicated
    border where :func:`sample_image` clamps the point first). NaN centres read the corner.

    Args:
        padded: a :func:`pad_pyramid` level.
        pad: its padding, at least ``window_padding(half)``.
        frame_idx: image of each window.
        centre_uv: window centres, pixels of the unpadded image.
        half: window half-size.
        interpolation: ``"bicubic"`` (Catmull-Rom) or ``"bilinear"``.

    Returns:
        The samples.
    """
    reader = _WindowReader(padded, pad, frame_idx, half, interpolation)
    return reader(torch.nan_to_num(centre_uv, nan=-float(half)))


@functools.lru_cache(maxsize=64)
def _reader_constants(height: int, width: int, row_stride: int, k: int, half: int, channels: int,
                      dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Centre bounds and the flat offsets of a ``k x k`` block of ``channels`` channels (shared, never written)."""
    lo = torch.full((2,), -float(half), dtype=dtype, device=device)
    hi = torch.tensor([width - 1.0 + half, height - 1.0 + half], dtype=dtype, device=device)
    offsets = torch.arange(k, device=device)
    pixels = (offsets[:, None] * row_stride + offsets[None, :]).reshape(-1, 1)
    return lo, hi, (pixels * 3 + torch.arange(channels, device=device)).reshape(-1)


class _WindowReader:
    """:func:`sample_window` for a fixed level, frame set and window size, its index arithmetic done once.

    LK reads the same windows' neighbourhoods at every iteration. ``channels`` 1 reads the intensity, 3 also the
    gradients (``(P, K, K, 3)``). Centres must be finite.
    """

    def __init__(self, padded: Tensor, pad: int, frame_idx: Tensor, half: int, interpolation: Interpolation,
                 channels: int = 1):
        if pad < window_padding(half):
            raise ValueError(f"padding {pad} is too small for windows of half-size {half} "
                             f"(needs {window_padding(half)})")
        if interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {interpolation!r}")
        _, hp, wp, _ = padded.shape
        self.flat = padded.reshape(-1)
        self.bilinear = interpolation == "bilinear"
        self.channels = channels
        self.n = 2 * half + 1
        self.k = self.n + (1 if self.bilinear else 3)
        first = pad - half - (0 if self.bilinear else 1)  # padded index of the block's first tap minus floor(u)
        self.frame_base = (frame_idx * (hp * wp) + first * (wp + 1)) * 3
        self.row_stride = wp * 3
        self.lo, self.hi, self.table = _reader_constants(hp - 2 * pad, wp - 2 * pad, wp, self.k, half, channels,
                                                         padded.dtype, padded.device)

    def __call__(self, centre_uv: Tensor) -> Tensor:
        uv = torch.clamp(centre_uv, min=self.lo, max=self.hi)
        uv0 = uv.floor()
        frac = uv - uv0
        ij = uv0.long()
        base = self.frame_base + ij[:, 0] * 3 + ij[:, 1] * self.row_stride
        k, n = self.k, self.n
        block = self.flat.index_select(0, (base[:, None] + self.table).view(-1)).view(-1, k, k, self.channels)
        fu, fv = frac[:, 0, None, None, None], frac[:, 1, None, None, None]
        if self.bilinear:
            rows = torch.lerp(block[:, :, :-1], block[:, :, 1:], fu)
            out = torch.lerp(rows[:, :-1], rows[:, 1:], fv)
        else:
            w_u, w_v = _cubic_weights(fu), _cubic_weights(fv)
            rows = w_u[0] * block[:, :, :n]
            for t in range(1, 4):
                rows = rows + w_u[t] * block[:, :, t:t + n]
            out = w_v[0] * rows[:, :n]
            for t in range(1, 4):
                out = out + w_v[t] * rows[:, t:t + n]
        return out[..., 0] if self.channels == 1 else out


def _inside(uv: Tensor, radius: int, height: int, width: int) -> Tensor:
    u, v = uv[:, 0], uv[:, 1]
    return (u - radius >= 0) & (u + radius <= width - 1) & (v - radius >= 0) & (v + radius <= height - 1)


@dataclass(frozen=True)
class LKTemplate:
    """What LK needs of a source window at one level, independent of the target (:func:`lk_templates`).

    Attributes:
        template: the window's intensities, row-major ``K = (2 r + 1)^2``.
        descent: ``H^-1 J^T``, the Gauss-Newton step per unit residual (zero where not ``conditioned``).
        conditioned: the window's 2 x 2 Hessian is well conditioned.
    """

    template: Float[Tensor, "P K"]
    descent: Float[Tensor, "P 2 K"]
    conditioned: Bool[Tensor, " P"]

    def __getitem__(self, index: Tensor) -> "LKTemplate":
        """The templates of a subset (or repetition) of the windows."""
        return LKTemplate(self.template[index], self.descent[index], self.conditioned[index])

    def replace_rows(self, rows: Tensor, replacement: "LKTemplate") -> "LKTemplate":
        """These templates with the windows ``rows`` replaced by ``replacement``'s (in order)."""
        return LKTemplate(self.template.index_copy(0, rows, replacement.template),
                          self.descent.index_copy(0, rows, replacement.descent),
                          self.conditioned.index_copy(0, rows, replacement.conditioned))


def _template(src: Tensor, pad: int, src_idx: Tensor, src_uv: Tensor, radius: int,
              interpolation: Interpolation) -> LKTemplate:
    window = _WindowReader(src, pad, src_idx, radius, interpolation, channels=3)(src_uv).flatten(1, 2)
    return _descent(*window.unbind(-1))


def _descent(template: Tensor, grad_u: Tensor, grad_v: Tensor) -> LKTemplate:
    """The :class:`LKTemplate` of window samples ``(P, K)`` and their gradients."""
    h_uu, h_uv, h_vv = (grad_u * grad_u).sum(1), (grad_u * grad_v).sum(1), (grad_v * grad_v).sum(1)
    det = h_uu * h_vv - h_uv * h_uv
    conditioned = det > MIN_HESSIAN_DET
    inv_det = torch.where(conditioned, 1.0 / det.clamp(min=MIN_HESSIAN_DET), torch.zeros_like(det))
    descent = torch.stack([h_vv[:, None] * grad_u - h_uv[:, None] * grad_v,
                           h_uu[:, None] * grad_v - h_uv[:, None] * grad_u], dim=1) * inv_det[:, None, None]
    return LKTemplate(template.contiguous(), descent, conditioned)


@functools.lru_cache(maxsize=16)
def _tap_offsets(row_stride: int, device: torch.device) -> Tensor:
    """Flat offsets of the 2 x 2 taps x 3 channels of a bilinear sample in a channels-last level (never written)."""
    pixels = torch.tensor([0, 1, row_stride, row_stride + 1], device=device) * 3
    return (pixels[:, None] + torch.arange(3, device=device)).view(-1)


def _sample_points(padded: Tensor, pad: int, frame_idx: Tensor, uv: Tensor) -> Tensor:
    """Bilinear samples ``(P, K, 3)`` of a :func:`pad_pyramid` level at arbitrary positions.

    ``uv`` ``(P, K, 2)`` in unpadded pixels, each clamped to the padded area; the four taps of all channels in one
    gather.
    """
    _, hp, wp, _ = padded.shape
    u = (uv[..., 0] + pad).clamp(0, wp - 1)
    v = (uv[..., 1] + pad).clamp(0, hp - 1)
    u0 = u.floor().clamp(max=wp - 2)
    v0 = v.floor().clamp(max=hp - 2)
    base = ((frame_idx[:, None] * hp + v0.long()) * wp + u0.long()) * 3
    index = (base[..., None] + _tap_offsets(wp, uv.device)).view(-1)
    taps = padded.reshape(-1).index_select(0, index).view(*u.shape, 2, 2, 3)
    rows = torch.lerp(taps[..., 0, :], taps[..., 1, :], (u - u0)[..., None, None])  # (P, K, 2 rows, 3)
    return torch.lerp(rows[..., 0, :], rows[..., 1, :], (v - v0)[..., None])


@functools.lru_cache(maxsize=16)
def _window_offsets(radius: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(K, 2)`` integer offsets ``(du, dv)`` of a window, row-major (never written)."""
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    return torch.stack(torch.meshgrid(offsets, offsets, indexing="ij")[::-1], dim=-1).reshape(-1, 2)


def _scaled_template(src: Tensor, pad: int, src_idx: Tensor, src_uv: Tensor, radius: int,
                     scale: Tensor) -> LKTemplate:
    """:func:`_template` of the source pattern magnified by ``scale`` (bilinear): samples ``src_uv + o / scale``."""
    grid = _window_offsets(radius, src_uv.dtype, src_uv.device)
    window = _sample_points(src, pad, src_idx, src_uv[:, None] + grid[None] / scale[:, None, None])
    return _descent(window[..., 0], window[..., 1] / scale[:, None], window[..., 2] / scale[:, None])


def _empty_like(template: LKTemplate, count: int) -> LKTemplate:
    """Uninitialised templates of ``count`` windows, shaped like ``template``'s."""
    return LKTemplate(template.template.new_empty((count, *template.template.shape[1:])),
                      template.descent.new_empty((count, *template.descent.shape[1:])),
                      template.conditioned.new_empty((count,)))


def lk_templates(
    src_pyramid: list[Tensor],
    src_idx: Int[Tensor, " P"],
    src_uv: Float[Tensor, "P 2"],
    radius: int = 1,
    interpolation: Interpolation = "bicubic",
    padded: bool = False,
    scale: Float[Tensor, " P"] | None = None,
) -> list[LKTemplate]:
    """The per-level source terms of :func:`lk_track` (finest level first), for windows tracked many times.

    A source window's template and its Gauss-Newton matrix do not depend on the target: a caller that tracks the
    same windows into many frames computes them once and passes them as ``lk_track(..., templates=...)``.

    Args:
        src_pyramid: pyramid of the source frames (padded by :func:`pad_pyramid` if ``padded``).
        src_idx: source frame of each window.
        src_uv: window centres, level-0 pixels.
        radius: window half-size r.
        interpolation: image sampling.
        padded: the pyramid is already :func:`pad_pyramid` of this ``radius``.
        scale: optional magnification of each source pattern in its target (target size over source size; > 1
            when the surface comes closer). The template then samples the source at ``centre + o / scale``
            (bilinear, whatever ``interpolation``) with its gradients scaled to match, so that LK's translation
            search compares like with like under forward motion (a fixed, predicted warp; only the translation is
            estimated) [vokit]. Windows whose scale is exactly 1 get the plain template.

    Returns:
        One :class:`LKTemplate` per level.
    """
    if not padded:
        src_pyramid = pad_pyramid(src_pyramid, radius)
    pad = window_padding(radius)
    if scale is None or bool((scale == 1).all()):
        return [_template(level, pad, src_idx, to_level(src_uv, i), radius, interpolation)
                for i, level in enumerate(src_pyramid)]
    rows = [torch.nonzero(scale == 1).squeeze(-1), torch.nonzero(scale != 1).squeeze(-1)]
    out = []
    for i, level in enumerate(src_pyramid):
        uv = to_level(src_uv, i)
        plain = _template(level, pad, src_idx[rows[0]], uv[rows[0]], radius, interpolation)
        warped = _scaled_template(level, pad, src_idx[rows[1]], uv[rows[1]], radius, scale[rows[1]])
        out.append(_empty_like(warped, scale.shape[0]).replace_rows(rows[0], plain).replace_rows(rows[1], warped))
    return out


def _track_level(
    template: LKTemplate,
    dst: Tensor,
    pad: int,
    dst_idx: Tensor,
    dst_uv: Tensor,
    radius: int,
    iters: int,
    interpolation: Interpolation,
    want_residual: bool,
) -> tuple[Tensor, Tensor | None]:
    """Inverse-compositional Gauss-Newton at one level; ``dst`` is padded by ``pad``."""
    read = _WindowReader(dst, pad, dst_idx, radius, interpolation)
    for _ in range(iters):
        residual = read(dst_uv).flatten(1) - template.template
        dst_uv = dst_uv - torch.bmm(template.descent, residual[:, :, None])[:, :, 0]
    if not want_residual:
        return dst_uv, None
    return dst_uv, (read(dst_uv).flatten(1) - template.template).square().mean(1).sqrt()


def lk_track(
    src_pyramid: list[Tensor],
    dst_pyramid: list[Tensor],
    src_idx: Int[Tensor, " P"],
    dst_idx: Int[Tensor, " P"],
    src_uv: Float[Tensor, "P 2"],
    dst_uv_init: Float[Tensor, "P 2"],
    radius: int = 1,
    num_iters: int = DEFAULT_NUM_ITERS,
    interpolation: Interpolation = "bicubic",
    padded: bool = False,
    templates: list[LKTemplate] | None = None,
    with_residual: bool = True,
    scale: Float[Tensor, " P"] | None = None,
) -> LKTrack:
    """Track each source window into its target frame, coarse to fine (forward only).

    Args:
        src_pyramid: :func:`image_pyramid` of the source frames (grayscale).
        dst_pyramid: pyramid of the target frames, same number of levels (may be the same list).
        src_idx: source frame of each patch.
        dst_idx: target frame of each patch.
        src_uv: window centres in the source frame, level-0 pixels.
        dst_uv_init: initial target centres (e.g. the reprojection), level-0 pixels.
        radius: window half-size r (``p = 2 r + 1``).
        num_iters: Gauss-Newton iterations per level.
        interpolation: image sampling, see :func:`sample_image`.
        padded: both pyramids are already :func:`pad_pyramid` of this ``radius`` (callers tracking many batches in
            the same frames pad once); otherwise they are padded here.
        templates: :func:`lk_templates` of these source windows when precomputed (the source pyramid is then
            not read).
        with_residual: compute the final RMS residual (one more sampling of every window; zeros when False).
        scale: predicted magnification of each pattern in its target (see :func:`lk_templates`); ignored when
            ``templates`` are given.

    Returns:
        The refined target centres with validity and residual; ``fb_error`` is zero and ``weight`` is ``valid``.
    """
    if len(src_pyramid) != len(dst_pyramid):
        raise ValueError(f"pyramids differ in depth: {len(src_pyramid)} and {len(dst_pyramid)}")
    if src_uv.shape != dst_uv_init.shape or len({src_uv.shape[0], src_idx.shape[0], dst_idx.shape[0]}) != 1:
        raise ValueError(
            f"src_uv {tuple(src_uv.shape)}, dst_uv_init {tuple(dst_uv_init.shape)}, src_idx {tuple(src_idx.shape)}"
            f" and dst_idx {tuple(dst_idx.shape)} disagree"
        )
    pad = window_padding(radius)
    if not padded:
        src_pyramid, dst_pyramid = _pad_pair(src_pyramid, dst_pyramid, radius)
    top = len(src_pyramid) - 1
    if templates is None:
        templates = lk_templates(src_pyramid, src_idx, src_uv, radius, interpolation, padded=True, scale=scale)
    elif len(templates) != len(src_pyramid):
        raise ValueError(f"{len(templates)} template levels for a pyramid of {len(src_pyramid)}")
    dst_uv = to_level(torch.nan_to_num(dst_uv_init, nan=-float(radius)), top)
    conditioned = torch.ones_like(src_idx, dtype=torch.bool)
    residual = src_uv.new_zeros(src_uv.shape[0])
    for level in range(top, -1, -1):
        dst_uv, res = _track_level(templates[level], dst_pyramid[level], pad, dst_idx, dst_uv, radius, num_iters,
                                   interpolation, with_residual and level == 0)
        residual = residual if res is None else res
        conditioned = conditioned & templates[level].conditioned
        if level > 0:
            dst_uv = to_level(from_level(dst_uv, level), level - 1)
    height, width = (size - 2 * pad for size in dst_pyramid[0].shape[1:3])
    valid = conditioned & _inside(dst_uv, radius, height, width) & torch.isfinite(dst_uv).all(-1)
    dst_uv = torch.where(valid[:, None], dst_uv, dst_uv_init)
    zeros = torch.zeros_like(src_uv)
    weight = valid[:, None].to(zeros) + zeros
    return LKTrack(dst_uv=dst_uv, valid=valid, residual=residual, fb_error=zeros, weight=weight)


def lk_track_fb(
    src_pyramid: list[Tensor],
    dst_pyramid: list[Tensor],
    src_idx: Int[Tensor, " P"],
    dst_idx: Int[Tensor, " P"],
    src_uv: Float[Tensor, "P 2"],
    dst_uv_init: Float[Tensor, "P 2"],
    radius: int = 1,
    num_iters: int = DEFAULT_NUM_ITERS,
    fb_sigma_px: float = DEFAULT_FB_SIGMA_PX,
    interpolation: Interpolation = "bicubic",
    padded: bool = False,
    backward_levels: int | None = None,
) -> LKTrack:
    """Track forward with :func:`lk_track`, then check the result with :func:`lk_check`.

    Args:
        src_pyramid: pyramid of the source frames.
        dst_pyramid: pyramid of the target frames.
        src_idx: source frame of each patch.
        dst_idx: target frame of each patch.
        src_uv: window centres in the source frame, level-0 pixels.
        dst_uv_init: initial target centres, level-0 pixels.
        radius: window half-size r.
        num_iters: Gauss-Newton iterations per level.
        fb_sigma_px: round-trip error (level-0 pixels) at which the confidence is ``exp(-1)``.
        interpolation: image sampling, see :func:`sample_image`.
        padded: the pyramids are already :func:`pad_pyramid` of this ``radius``.
        backward_levels: levels of the backward track, see :func:`lk_check`.

    Returns:
        The forward track with ``fb_error`` and the per-axis ``weight`` filled in.
    """
    if fb_sigma_px <= 0:
        raise ValueError(f"fb_sigma_px must be positive, got {fb_sigma_px}")
    if not padded:
        src_pyramid, dst_pyramid = _pad_pair(src_pyramid, dst_pyramid, radius)
    forward = lk_track(src_pyramid, dst_pyramid, src_idx, dst_idx, src_uv, dst_uv_init, radius, num_iters,
                       interpolation, True)
    return lk_check(src_pyramid, dst_pyramid, src_idx, dst_idx, src_uv, dst_uv_init, forward, radius, num_iters,
                    fb_sigma_px, interpolation, True, backward_levels)


def lk_check(
    src_pyramid: list[Tensor],
    dst_pyramid: list[Tensor],
    src_idx: Int[Tensor, " P"],
    dst_idx: Int[Tensor, " P"],
    src_uv: Float[Tensor, "P 2"],
    dst_uv_init: Float[Tensor, "P 2"],
    forward: LKTrack,
    radius: int = 1,
    num_iters: int = DEFAULT_NUM_ITERS,
    fb_sigma_px: float = DEFAULT_FB_SIGMA_PX,
    interpolation: Interpolation = "bicubic",
    padded: bool = False,
    backward_levels: int | None = None,
    scale: Float[Tensor, " P"] | None = None,
) -> LKTrack:
    """The forward-backward check of a forward track: track its result back, weight by the round-trip error.

    The backward track starts from the mirrored initial flow, ``dst_uv - (dst_uv_init - src_uv)``, so that it gets
    the same prior as the forward one. Separate from :func:`lk_track` so that a caller can check forward tracks made
    in several dependent batches with one call.

    Args:
        src_pyramid: pyramid of the source frames.
        dst_pyramid: pyramid of the target frames.
        src_idx: source frame of each patch.
        dst_idx: target frame of each patch.
        src_uv: window centres in the source frame, level-0 pixels.
        dst_uv_init: the initial target centres the forward track started from, level-0 pixels.
        forward: the :func:`lk_track` result of these arguments.
        radius: window half-size r.
        num_iters: Gauss-Newton iterations per level.
        fb_sigma_px: round-trip error (level-0 pixels) at which the confidence is ``exp(-1)``.
        interpolation: image sampling, see :func:`sample_image`.
        padded: the pyramids are already :func:`pad_pyramid` of this ``radius``.
        backward_levels: the backward track uses only the finest this many levels (None: all). It starts within the
            forward track's own correction of the source, which fewer levels can still bridge when that is small.
        scale: the forward track's predicted magnification; the backward track uses its inverse.

    Returns:
        The forward track with ``fb_error`` and the per-axis ``weight`` filled in.
    """
    if fb_sigma_px <= 0:
        raise ValueError(f"fb_sigma_px must be positive, got {fb_sigma_px}")
    if not padded:
        src_pyramid, dst_pyramid = _pad_pair(src_pyramid, dst_pyramid, radius)
    back_init = forward.dst_uv - (dst_uv_init - src_uv)
    k = len(src_pyramid) if backward_levels is None else max(1, min(backward_levels, len(src_pyramid)))
    backward = lk_track(dst_pyramid[:k], src_pyramid[:k], dst_idx, src_idx, forward.dst_uv, back_init, radius,
                        num_iters, interpolation, True, with_residual=False,
                        scale=None if scale is None else 1.0 / scale)
    fb_error = (backward.dst_uv - src_uv).abs()
    valid = forward.valid & backward.valid
    weight = torch.exp(-(fb_error / fb_sigma_px).square()) * valid[:, None].to(fb_error)
    return LKTrack(dst_uv=forward.dst_uv, valid=valid, residual=forward.residual, fb_error=fb_error, weight=weight)
