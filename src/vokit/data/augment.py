"""Training augmentations (METHODS.md section 2.4).

`color_jitter` changes only the network inputs: callers keep the un-jittered images for photometric losses,
auto-masking and smoothness. `hflip_clip` mirrors a whole clip and keeps every piece of ground truth
consistent with the mirrored images.
"""

import dataclasses

import torch
from jaxtyping import Float
from torch import Tensor

from vokit.data.sequence import Clip

_GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def _gray(images: Tensor) -> Tensor:
    r, g, b = images.unbind(-3)
    return (_GRAY_WEIGHTS[0] * r + _GRAY_WEIGHTS[1] * g + _GRAY_WEIGHTS[2] * b).unsqueeze(-3)


def rgb_to_hsv(images: Float[Tensor, "*batch 3 H W"]) -> Float[Tensor, "*batch 3 H W"]:
    """RGB in [0, 1] to HSV with hue, saturation and value in [0, 1] (hue 1 = 360 degrees)."""
    r, g, b = images.unbind(-3)
    maxc, _ = images.max(dim=-3)
    minc, _ = images.min(dim=-3)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    sat = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    hue = torch.where(
        maxc == r,
        (g - b) / safe,
        torch.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe),
    )
    hue = torch.where(delta > 0, torch.remainder(hue / 6.0, 1.0), torch.zeros_like(hue))
    return torch.stack([hue, sat, maxc], dim=-3)


def hsv_to_rgb(images: Float[Tensor, "*batch 3 H W"]) -> Float[Tensor, "*batch 3 H W"]:
    """HSV (all in [0, 1]) back to RGB in [0, 1]; the inverse of `rgb_to_hsv`."""
    h, s, v = images.unbind(-3)
    # The standard piecewise-linear form: channel n uses k = (n + 6 h) mod 6 for n = 5 (R), 3 (G), 1 (B).
    out = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + 6.0 * h, 6.0)
        out.append(v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return torch.stack(out, dim=-3)


def color_jitter(
    images: Float[Tensor, "*batch 3 H W"],
    generator: torch.Generator,
    brightness: float = 0.2,
    contrast: float = 0.2,
    saturation: float = 0.2,
    hue: float = 0.1,
    p: float = 0.5,
) -> Float[Tensor, "*batch 3 H W"]:
    """Colour jitter with one set of parameters for all ``images`` (one clip), applied with probability ``p``.

    Brightness, contrast and saturation factors are drawn from U(1 - x, 1 + x), the hue shift from U(-hue, hue)
    (in turns, 0.5 = 180 degrees); the four operations run in a random order, each clamped to [0, 1]
    (torchvision's ColorJitter, which Monodepth2 uses). The result is meant for **network inputs only**.

    Args:
        images: RGB in [0, 1].
        generator: source of all randomness (CPU generator).
        brightness: brightness range x.
        contrast: contrast range x (blend with the mean grey level of each image).
        saturation: saturation range x (blend with each pixel's grey level).
        hue: hue shift range, in turns.
        p: probability of jittering at all; otherwise the input is returned unchanged (as a copy).

    Returns:
        Jittered RGB in [0, 1], a new tensor.
    """
    out = images.clone()
    if float(torch.rand((), generator=generator)) >= p:
        return out
    u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
    factors = [1.0 + x * (2.0 * ui - 1.0) for x, ui in zip((brightness, contrast, saturation), u[:3], strict=True)]
    shift = hue * (2.0 * u[3] - 1.0)
    order = torch.randperm(4, generator=generator).tolist()
    for op in order:
        if op == 0:
            out = (out * factors[0]).clamp(0.0, 1.0)
        elif op == 1:
            mean = _gray(out).mean(dim=(-3, -2, -1), keepdim=True)
            out = (factors[1] * out + (1.0 - factors[1]) * mean).clamp(0.0, 1.0)
        elif op == 2:
            out = (factors[2] * out + (1.0 - factors[2]) * _gray(out)).clamp(0.0, 1.0)
        elif shift != 0.0:
            hsv = rgb_to_hsv(out)
            hsv = torch.cat([torch.remainder(hsv[..., :1, :, :] + shift, 1.0), hsv[..., 1:, :, :]], dim=-3)
            out = hsv_to_rgb(hsv).clamp(0.0, 1.0)
    return out


def hflip_pose(world_from_cam: Float[Tensor, "*batch 7"]) -> Float[Tensor, "*batch 7"]:
    """Mirror poses [t, q_xyzw] across the camera's x axis: ``F @ T @ F`` with ``F = diag(-1, 1, 1)``.

    ``F R F`` is the rotation about ``-F axis`` by the same angle, so the quaternion becomes
    ``(qx, -qy, -qz, qw)``, and the translation becomes ``(-tx, ty, tz)``.
    """
    sign = world_from_cam.new_tensor([-1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0])
    return world_from_cam * sign


def hflip_clip(clip: Clip) -> Clip:
    """Mirror a clip left-right, with intrinsics, depth, flow, masks and poses changed consistently.

    Images, depth and masks flip along the width; flow flips and its u component changes sign; the principal
    point becomes ``cx' = W - 1 - cx`` (pixel centres at integers); poses become ``F @ T @ F`` (`hflip_pose`),
    which is what a camera in the mirrored world would have recorded.
    """
    width = clip.images.shape[-1]
    k = clip.intrinsics.clone()
    k[:, 2] = (width - 1) - k[:, 2]
    flow = None
    if clip.flow is not None:
        flow = clip.flow.flip(-2) * clip.flow.new_tensor([-1.0, 1.0])
    return dataclasses.replace(
        clip,
        images=clip.images.flip(-1),
        intrinsics=k,
        world_from_cam=None if clip.world_from_cam is None else hflip_pose(clip.world_from_cam),
        depth=None if clip.depth is None else clip.depth.flip(-1),
        flow=flow,
        motion_mask=None if clip.motion_mask is None else clip.motion_mask.flip(-1),
    )
