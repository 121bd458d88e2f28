"""The Monodepth2 self-supervised loss as one pure function (METHODS.md sections 2.1 - 2.3).

Reference: nianticlabs/monodepth2 ``trainer.py`` (``generate_images_pred``, ``compute_losses``) and ``layers.py``
(``disp_to_depth``); "Digging Into Self-Supervised Monocular Depth Estimation" (arXiv 1806.01260). The reference's
ablation flags become positive booleans: ``use_automask``, ``use_min_reprojection``, ``use_ssim``,
``use_full_res_multiscale``.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.geometry import warp
from vokit.losses.photometric import photometric_error
from vokit.losses.reprojection import min_reprojection
from vokit.losses.smoothness import inv_depth_smoothness

MIN_DEPTH = 0.1
MAX_DEPTH = 100.0
SMOOTHNESS_WEIGHT = 1e-3


@dataclass(frozen=True)
class Monodepth2LossParams:
    """Switches and weights of the Monodepth2 loss (METHODS.md section 2.3), as :func:`monodepth2_loss` takes them."""

    smoothness_weight: float = SMOOTHNESS_WEIGHT
    use_automask: bool = True
    use_min_reprojection: bool = True
    use_ssim: bool = True
    use_full_res_multiscale: bool = True


def sigmoid_to_inv_depth(
    sigmoid_out: Float[Tensor, "*batch"], min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH
) -> Float[Tensor, "*batch"]:
    """Monodepth2's inverse-depth mapping ``1/z_max + (1/z_min - 1/z_max) sigma``.

    Args:
        sigmoid_out: decoder output in (0, 1).
        min_depth: depth for ``sigma = 1``, in training-scale units.
        max_depth: depth for ``sigma = 0``, in training-scale units.

    Returns:
        ``inv_depth`` in 1 / training-scale units.
    """
    if not 0 < min_depth < max_depth:
        raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
    return 1.0 / max_depth + (1.0 / min_depth - 1.0 / max_depth) * sigmoid_out


def disp_to_depth(
    sigmoid_out: Float[Tensor, "*batch"], min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH
) -> Float[Tensor, "*batch"]:
    """Depth from the decoder's sigmoid output, ``1 / sigmoid_to_inv_depth(sigmoid_out)`` (name as in monodepth2).

    Args:
        sigmoid_out: decoder output in (0, 1).
        min_depth: depth for ``sigma = 1``, in training-scale units.
        max_depth: depth for ``sigma = 0``, in training-scale units.

    Returns:
        z-depth in training-scale units, in ``[min_depth, max_depth]``.
    """
    return 1.0 / sigmoid_to_inv_depth(sigmoid_out, min_depth, max_depth)


def as_float32(tensor: Tensor) -> Tensor:
    """Upcast half-precision tensors (e.g. network outputs under autocast) to float32; others pass through.

    Args:
        tensor: any tensor.

    Returns:
        The tensor in float32 if it was float16 or bfloat16, else unchanged.
    """
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def scale_of(size: Sequence[int], full_size: Sequence[int]) -> int:
    """The pyramid scale s of a map whose size is ``full_size / 2^s``.

    Args:
        size: ``(h, w)`` of the map.
        full_size: ``(H, W)`` of the input image.

    Returns:
        s, rounded to the nearest integer.
    """
    return int(round(math.log2(full_size[1] / size[1])))


def downsample_image(image: Float[Tensor, "B C H W"], size: Sequence[int]) -> Float[Tensor, "B C h w"]:
    """Area-downsample an image to ``size`` (vokit's stand-in for the reference's per-scale PIL resizes).

    Args:
        image: the full-resolution image.
        size: target ``(h, w)``.

    Returns:
        The image at the requested size (the input itself when the size already matches).
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=(int(size[0]), int(size[1])), mode="area")


def upsample_to(sigmoid_out: Float[Tensor, "B 1 h w"], size: Sequence[int]) -> Float[Tensor, "B 1 H W"]:
    """Bilinear upsampling (``align_corners=False``, as the reference) to ``size``.

    Args:
        sigmoid_out: one scale's decoder output.
        size: target ``(H, W)``.

    Returns:
        The upsampled map (the input itself when the size already matches).
    """
    if tuple(sigmoid_out.shape[-2:]) == tuple(size):
        return sigmoid_out
    return F.interpolate(sigmoid_out, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=False)


def rigid_reconstruction_errors(
    target: Float[Tensor, "B 3 H W"],
    sources: Float[Tensor, "B S 3 H W"],
    depth: Float[Tensor, "B H W"],
    src_from_tgt: Float[Tensor, "B S 7"],
    intrinsics: Float[Tensor, "B 4"],
    use_ssim: bool = True,
    padding_mode: warp.PaddingMode = "border",
) -> Float[Tensor, "B S H W"]:
    """``pe(I_t, I_{s->t})`` for every source, with ``I_{s->t}`` synthesised from depth and pose (section 2.2).

    Sampling is bilinear with border padding (the reference's choice; DRO uses zeros), so out-of-view pixels are
    not masked.

    Args:
        target: target image ``I_t``, values in [0, 1].
        sources: source images ``I_s``, same size as the target.
        depth: target z-depth in training-scale units, at the images' resolution.
        src_from_tgt: ``cam_s_from_cam_t`` per source, SE(3) ``[t, q_xyzw]``.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the images.
        use_ssim: SSIM + L1 (True) or L1 only.
        padding_mode: what samples outside a source read (``"border"``: Monodepth2; ``"zeros"``: DRO).

    Returns:
        The photometric error map of each source.
    """
    errors = []
    for k in range(sources.shape[1]):
        warped, _ = warp.warp_with_depth(sources[:, k], depth, src_from_tgt[:, k], intrinsics, padding_mode)
        errors.append(photometric_error(target, warped, use_ssim=use_ssim))
    return torch.stack(errors, dim=1)


def identity_errors(
    target: Float[Tensor, "B 3 H W"], sources: Float[Tensor, "B S 3 H W"], use_ssim: bool = True
) -> Float[Tensor, "B S H W"]:
    """``pe(I_t, I_s)`` of the unwarped sources (the auto-masking reference).

    Args:
        target: target image, values in [0, 1].
        sources: source images, same size.
        use_ssim: SSIM + L1 (True) or L1 only.

    Returns:
        One error map per source.
    """
    return torch.stack(
        [photometric_error(target, sources[:, k], use_ssim=use_ssim) for k in range(sources.shape[1])], dim=1
    )


@dataclass(frozen=True)
class Monodepth2Loss:
    """Result of :func:`monodepth2_loss`.

    Attributes:
        total: ``1/n sum_s (L_p,s + 1e-3 L_sm,s / 2^s)`` over the n scales (the quantity to minimise).
        photometric: ``L_p,s`` per scale, in the order of the ``sigmoid_outs`` argument.
        smoothness: ``L_sm,s`` per scale (unweighted).
        automask: auto-mask of the first entry of ``sigmoid_outs`` (scale 0), True where a warped error beat every
            identity error (all True when auto-masking is off), at that scale's comparison resolution.
        per_pixel: the per-pixel minimum that is optimised, for the same scale.
    """

    total: Float[Tensor, ""]
    photometric: Float[Tensor, " n"]
    smoothness: Float[Tensor, " n"]
    automask: Bool[Tensor, "B H W"]
    per_pixel: Float[Tensor, "B H W"]


def monodepth2_loss(
    target: Float[Tensor, "B 3 H W"],
    sources: Float[Tensor, "B S 3 H W"],
    sigmoid_outs: Sequence[Tensor],
    src_from_tgt: Float[Tensor, "B S 7"],
    intrinsics: Float[Tensor, "B 4"],
    min_depth: float = MIN_DEPTH,
    max_depth: float = MAX_DEPTH,
    use_automask: bool = True,
    use_min_reprojection: bool = True,
    use_ssim: bool = True,
    use_full_res_multiscale: bool = True,
    smoothness_weight: float = SMOOTHNESS_WEIGHT,
    generator: torch.Generator | None = None,
) -> Monodepth2Loss:
    """The full multi-scale Monodepth2 loss ``L = 1/n sum_s (L_p,s + 1e-3 L_sm,s / 2^s)`` (METHODS.md section 2.3).

    Each scale's ``sigmoid_out`` is mapped to depth; with ``use_full_res_multiscale`` it is first upsampled
    bilinearly to the input resolution and the full-resolution images are compared, otherwise images and intrinsics
    are downsampled to the scale (the reference's ``--v1_multiscale``). Smoothness always uses the scale's own
    ``sigmoid_out`` and the target area-downsampled to it. All images passed here must be un-augmented. Half-precision
    network outputs (autocast) are upcast to float32: SSIM's variances cancel badly in float16.

    Args:
        target: target frame ``I_t``, RGB in [0, 1].
        sources: source frames (e.g. t-1 and t+1), RGB in [0, 1].
        sigmoid_outs: the depth decoder's outputs, ``(B, 1, H / 2^s, W / 2^s)`` each; s is read from the size.
        src_from_tgt: ``cam_s_from_cam_t`` per source, SE(3) ``[t, q_xyzw]``, translation in training-scale units.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the full-resolution images.
        min_depth: depth for sigmoid 1 (training-scale units).
        max_depth: depth for sigmoid 0 (training-scale units).
        use_automask: stack identity errors (plus 1e-5 noise) into the minimum.
        use_min_reprojection: per-pixel minimum over sources (else the average).
        use_ssim: SSIM + L1 photometric error (else L1 only).
        use_full_res_multiscale: compare at full resolution at every scale.
        smoothness_weight: weight of the smoothness term (1e-3).
        generator: random generator for the auto-masking noise (None: torch's global generator).

    Returns:
        :class:`Monodepth2Loss` with the total and per-scale terms and the scale-0 auto-mask.
    """
    if sources.shape[-2:] != target.shape[-2:] or sources.shape[0] != target.shape[0]:
        raise ValueError(f"sources {tuple(sources.shape)} do not match target {tuple(target.shape)}")
    if len(sigmoid_outs) == 0:
        raise ValueError("sigmoid_outs is empty")
    full_size = tuple(target.shape[-2:])
    sigmoid_outs = [as_float32(s) for s in sigmoid_outs]
    src_from_tgt = as_float32(src_from_tgt)
    photometric: list[Tensor] = []
    smoothness: list[Tensor] = []
    totals: list[Tensor] = []
    automask0: Tensor | None = None
    per_pixel0: Tensor | None = None
    full_identity = identity_errors(target, sources, use_ssim) if use_automask and use_full_res_multiscale else None
    for sigmoid_out in sigmoid_outs:
        scale = scale_of(sigmoid_out.shape[-2:], full_size)
        if use_full_res_multiscale:
            size, tgt, srcs, intr, ident = full_size, target, sources, intrinsics, full_identity
        else:
            size = tuple(sigmoid_out.shape[-2:])
            tgt = downsample_image(target, size)
            srcs = downsample_image(sources.flatten(0, 1), size).unflatten(0, sources.shape[:2])
            intr = intrinsics * (size[1] / full_size[1])
            ident = identity_errors(tgt, srcs, use_ssim) if use_automask else None
        depth = disp_to_depth(upsample_to(sigmoid_out, size), min_depth, max_depth)[:, 0]
        warped_errors = rigid_reconstruction_errors(tgt, srcs, depth, src_from_tgt, intr, use_ssim)
        reproj = min_reprojection(warped_errors, ident, use_min_reprojection, generator)
        photometric.append(reproj.loss)
        smooth_target = downsample_image(target, sigmoid_out.shape[-2:])
        smoothness.append(inv_depth_smoothness(sigmoid_out, smooth_target))
        totals.append(reproj.loss + smoothness_weight * smoothness[-1] / 2**scale)
        if automask0 is None:
            automask0, per_pixel0 = reproj.automask, reproj.per_pixel
    assert automask0 is not None and per_pixel0 is not None
    return Monodepth2Loss(
        total=torch.stack(totals).mean(),
        photometric=torch.stack(photometric),
        smoothness=torch.stack(smoothness),
        automask=automask0,
        per_pixel=per_pixel0,
    )
