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
"""

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
    """Sample ``image[frame_idx[p]]`` at ``uv[p, k]``, clamped at the border.

    Bicubic (Catmull-Rom) sampling is the default: bilinear interpolation low-passes the target by an amount that
    depends on the fractional position, which on a 3 x 3 window biases LK by several hundredths of a pixel towards
    integer positions (measured in ``tests/solvers/test_lk.py``).

    Args:
        image: grayscale images, at least 2 x 2.
        frame_idx: frame of each patch.
        uv: sample positions, pixels.
        interpolation: ``"bicubic"`` or ``"bilinear"``.

    Returns:
        The sampled intensities.
    """
    return sample_channels(image[..., None], frame_idx, uv, interpolation)[..., 0]


def sample_channels(
    image: Float[Tensor, "N H W C"],
    frame_idx: Int[Tensor, " P"],
    uv: Float[Tensor, "P K 2"],
    interpolation: Interpolation = "bicubic",
) -> Float[Tensor, "P K C"]:
    """:func:`sample_image` of C channels at once (one set of indices and weights; sample_image is its C = 1 case).

    Args:
        image: multi-channel images, channels last, at least 2 x 2.
        frame_idx: frame of each patch.
        uv: sample positions, pixels.
        interpolation: ``"bicubic"`` or ``"bilinear"``.

    Returns:
        The sampled values, channels last.
    """
    _, height, width, c = image.shape
    flat = image.reshape(-1, c)
    u = uv[..., 0].clamp(0, width - 1)
    v = uv[..., 1].clamp(0, height - 1)
    row_base = frame_idx[:, None] * height
    if interpolation == "bilinear":
        u0 = u.detach().floor().clamp(max=width - 2)
        v0 = v.detach().floor().clamp(max=height - 2)
        fu, fv = (u - u0)[..., None], (v - v0)[..., None]
        base = (row_base + v0.long()) * width + u0.long()
        return ((1 - fu) * (1 - fv) * flat[base] + fu * (1 - fv) * flat[base + 1]
                + (1 - fu) * fv * flat[base + width] + fu * fv * flat[base + width + 1])
    if interpolation != "bicubic":
        raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {interpolation!r}")
    u0, v0 = u.detach().floor(), v.detach().floor()
    weights_u, weights_v = _cubic_weights(u - u0), _cubic_weights(v - v0)
    out = flat.new_zeros((*u.shape, c))
    for dv, weight_v in zip(range(-1, 3), weights_v, strict=True):
        row = (row_base + (v0.long() + dv).clamp(0, height - 1)) * width
        for du, weight_u in zip(range(-1, 3), weights_u, strict=True):
            out = out + (weight_v * weight_u)[..., None] * flat[row + (u0.long() + du).clamp(0, width - 1)]
    return out


def with_gradients(pyramid: list[Tensor]) -> list[Float[Tensor, "N H W 6"]]:
    """Each level as LK reads it, channels last: ``(I, dI/du, dI/dv, I(u+1), I(v+1), I(u+1, v+1))``.

    The first three (intensity and central-difference gradients) give the template in one gather; the 2 x 2
    neighbourhood (``I`` with the last three, border replicated) gives a bilinear sample in one gather. Given to
    :func:`lk_track` as ``src_gradients`` / ``dst_gradients`` they replace recomputing the gradients per call and
    four gathers per bilinear sample (the same values: tracks agree to round-off).

    Args:
        pyramid: :func:`image_pyramid` levels ``(N, H, W)``.

    Returns:
        The levels as ``(N, H, W, 6)``.
    """
    out = []
    for level in pyramid:
        right = torch.cat([level[:, :, 1:], level[:, :, -1:]], dim=2)
        down = torch.cat([level[:, 1:], level[:, -1:]], dim=1)
        diag = torch.cat([down[:, :, 1:], down[:, :, -1:]], dim=2)
        out.append(torch.stack([level, *_gradients(level), right, down, diag], dim=-1))
    return out


def _sample_quads(stack: Tensor, frame_idx: Tensor, uv: Tensor) -> Tensor:
    """Bilinear sample of the intensity of :func:`with_gradients` levels, as :func:`sample_image` (same clamping)."""
    _, height, width, c = stack.shape
    u = uv[..., 0].clamp(0, width - 1)
    v = uv[..., 1].clamp(0, height - 1)
    u0 = u.floor().clamp(max=width - 2)
    v0 = v.floor().clamp(max=height - 2)
    base = (frame_idx[:, None] * height + v0.long()) * width + u0.long()
    q = stack.reshape(-1, c)[base]
    fu, fv = u - u0, v - v0
    top = q[..., 0] + fu * (q[..., 3] - q[..., 0])
    bottom = q[..., 4] + fu * (q[..., 5] - q[..., 4])
    return top + fv * (bottom - top)


def _window_offsets(radius: int, like: Tensor) -> Tensor:
    offsets = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    dv, du = torch.meshgrid(offsets, offsets, indexing="ij")
    return torch.stack([du, dv], dim=-1).reshape(1, -1, 2)


def _gradients(image: Tensor) -> tuple[Tensor, Tensor]:
    padded = F.pad(image[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    grad_u = 0.5 * (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
    grad_v = 0.5 * (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
    return grad_u, grad_v


def _inside(uv: Tensor, radius: int, image: Tensor) -> Tensor:
    height, width = image.shape[1:3]
    u, v = uv[:, 0], uv[:, 1]
    return (u - radius >= 0) & (u + radius <= width - 1) & (v - radius >= 0) & (v + radius <= height - 1)


def _track_level(
    src: Tensor,
    dst: Tensor,
    src_idx: Tensor,
    dst_idx: Tensor,
    src_uv: Tensor,
    dst_uv: Tensor,
    radius: int,
    iters: int,
    interpolation: Interpolation,
    src_stack: Tensor | None = None,
    dst_stack: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    offsets = _window_offsets(radius, src_uv)
    src_win = src_uv[:, None] + offsets
    if src_stack is not None:  # a level of with_gradients(src)
        template, grad_u, grad_v = sample_channels(src_stack, src_idx, src_win, interpolation)[..., :3].unbind(-1)
    else:
        template = sample_image(src, src_idx, src_win, interpolation)
        grad_u, grad_v = (sample_image(g, src_idx, src_win, interpolation) for g in _gradients(src))

    def sample_dst(uv: Tensor) -> Tensor:
        if dst_stack is not None and interpolation == "bilinear":
            return _sample_quads(dst_stack, dst_idx, uv)
        return sample_image(dst, dst_idx, uv, interpolation)

    h_uu, h_uv, h_vv = (grad_u * grad_u).sum(1), (grad_u * grad_v).sum(1), (grad_v * grad_v).sum(1)
    det = h_uu * h_vv - h_uv * h_uv
    conditioned = det > MIN_HESSIAN_DET
    inv_det = torch.where(conditioned, 1.0 / det.clamp(min=MIN_HESSIAN_DET), torch.zeros_like(det))
    for _ in range(iters):
        residual = sample_dst(dst_uv[:, None] + offsets) - template
        b_u, b_v = (grad_u * residual).sum(1), (grad_v * residual).sum(1)
        step = torch.stack([h_vv * b_u - h_uv * b_v, h_uu * b_v - h_uv * b_u], dim=-1) * inv_det[:, None]
        dst_uv = dst_uv - step
    residual = sample_dst(dst_uv[:, None] + offsets) - template
    return dst_uv, conditioned, residual.square().mean(1).sqrt()


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
    src_gradients: list[Tensor] | None = None,
    dst_gradients: list[Tensor] | None = None,
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
        src_gradients: :func:`with_gradients` of ``src_pyramid`` when precomputed (saves recomputing the gradients).
        dst_gradients: :func:`with_gradients` of ``dst_pyramid`` when precomputed (one gather per bilinear sample).

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
    top = len(src_pyramid) - 1
    dst_uv = to_level(dst_uv_init, top)
    conditioned = torch.ones_like(src_idx, dtype=torch.bool)
    residual = src_uv.new_zeros(src_uv.shape[0])
    for level in range(top, -1, -1):
        dst_uv, ok, residual = _track_level(
            src_pyramid[level],
            dst_pyramid[level],
            src_idx,
            dst_idx,
            to_level(src_uv, level),
            dst_uv,
            radius,
            num_iters,
            interpolation,
            None if src_gradients is None else src_gradients[level],
            None if dst_gradients is None else dst_gradients[level],
        )
        conditioned = conditioned & ok
        if level > 0:
            dst_uv = to_level(from_level(dst_uv, level), level - 1)
    valid = conditioned & _inside(dst_uv, radius, dst_pyramid[0]) & torch.isfinite(dst_uv).all(-1)
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
    src_gradients: list[Tensor] | None = None,
    dst_gradients: list[Tensor] | None = None,
    backward_levels: int | None = None,
) -> LKTrack:
    """Track forward with :func:`lk_track`, track the result back, and weight by the round-trip error.

    The backward track starts from the mirrored initial flow, ``dst_uv - (dst_uv_init - src_uv)``, so that it gets
    the same prior as the forward one.

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
        src_gradients: :func:`with_gradients` of ``src_pyramid`` when precomputed.
        dst_gradients: the same for ``dst_pyramid``.
        backward_levels: the backward track uses only the finest this many levels (None: all). It starts within the
            forward track's own correction of the source, which fewer levels can still bridge when that is small.

    Returns:
        The forward track with ``fb_error`` and the per-axis ``weight`` filled in.
    """
    if fb_sigma_px <= 0:
        raise ValueError(f"fb_sigma_px must be positive, got {fb_sigma_px}")
    options = (radius, num_iters, interpolation)
    forward = lk_track(src_pyramid, dst_pyramid, src_idx, dst_idx, src_uv, dst_uv_init, *options, src_gradients,
                       dst_gradients)
    back_init = forward.dst_uv - (dst_uv_init - src_uv)
    k = len(src_pyramid) if backward_levels is None else max(1, min(backward_levels, len(src_pyramid)))
    backward = lk_track(dst_pyramid[:k], src_pyramid[:k], dst_idx, src_idx, forward.dst_uv, back_init, *options,
                        None if dst_gradients is None else dst_gradients[:k],
                        None if src_gradients is None else src_gradients[:k])
    fb_error = (backward.dst_uv - src_uv).abs()
    valid = forward.valid & backward.valid
    weight = torch.exp(-(fb_error / fb_sigma_px).square()) * valid[:, None].to(fb_error)
    return LKTrack(dst_uv=forward.dst_uv, valid=valid, residual=forward.residual, fb_error=fb_error, weight=weight)
