"""Colour panels of predictions for logs and previews: inverse depth, optical flow, masks and error maps.

Every function returns an RGB image (3, H, W) in [0, 1] on the input's device, without gradient.
"""

import math

import torch
from jaxtyping import Bool, Float
from torch import Tensor

# A perceptually ordered dark-to-bright ramp (black, purple, red, orange, pale yellow), close to matplotlib's
# "magma"; interpolated linearly so no plotting library is needed at training time.
_RAMP = (
    (0.001, 0.000, 0.014),
    (0.232, 0.059, 0.437),
    (0.550, 0.161, 0.506),
    (0.868, 0.288, 0.409),
    (0.994, 0.624, 0.427),
    (0.987, 0.991, 0.750),
)


def colorize(
    values: Float[Tensor, "H W"], low: float | None = None, high: float | None = None
) -> Float[Tensor, "3 H W"]:
    """Map a scalar image to the dark-to-bright colour ramp.

    Args:
        values: the scalar image.
        low: value shown darkest (default: the 5th percentile of the finite values).
        high: value shown brightest (default: the 95th percentile).

    Returns:
        RGB in [0, 1].
    """
    with torch.no_grad():
        values = values.detach().float()
        finite = values[torch.isfinite(values)]
        if finite.numel() == 0:
            return values.new_zeros(3, *values.shape)
        sample = finite if finite.numel() <= 100_000 else finite[:: finite.numel() // 100_000 + 1]
        lo = float(torch.quantile(sample, 0.05)) if low is None else low
        hi = float(torch.quantile(sample, 0.95)) if high is None else high
        t = ((values - lo) / max(hi - lo, 1e-12)).nan_to_num(0.0).clamp(0.0, 1.0)
        ramp = torch.tensor(_RAMP, dtype=values.dtype, device=values.device)
        pos = t * (len(_RAMP) - 1)
        index = pos.floor().long().clamp(max=len(_RAMP) - 2)
        frac = (pos - index.to(pos.dtype)).unsqueeze(-1)
        rgb = ramp[index] * (1.0 - frac) + ramp[index + 1] * frac
        return rgb.permute(2, 0, 1).contiguous()


def inv_depth_panel(depth: Float[Tensor, "H W"]) -> Float[Tensor, "3 H W"]:
    """Depth shown as inverse depth (near = bright), the usual monocular-depth preview.

    Args:
        depth: z-depth (any positive units); non-positive values are shown dark.

    Returns:
        RGB in [0, 1].
    """
    inv = torch.where(depth > 0, 1.0 / depth.clamp(min=1e-12), torch.zeros_like(depth))
    return colorize(inv, low=0.0)


def flow_panel(flow: Float[Tensor, "H W 2"], max_magnitude: float | None = None) -> Float[Tensor, "3 H W"]:
    """Optical flow as colour: hue = direction, saturation = magnitude (white = no motion).

    Args:
        flow: flow in pixels, channels-last (u, v).
        max_magnitude: magnitude shown fully saturated, in pixels (default: the largest magnitude).

    Returns:
        RGB in [0, 1].
    """
    with torch.no_grad():
        flow = flow.detach().float().nan_to_num(0.0)
        u, v = flow[..., 0], flow[..., 1]
        magnitude = torch.sqrt(u * u + v * v)
        top = float(magnitude.max()) if max_magnitude is None else max_magnitude
        sat = (magnitude / max(top, 1e-6)).clamp(0.0, 1.0)
        hue = (torch.atan2(-v, -u) / math.pi + 1.0) / 2.0
        channels = []
        for n in (5.0, 3.0, 1.0):
            k = torch.remainder(n + 6.0 * hue, 6.0)
            channels.append(1.0 - sat * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
        return torch.stack(channels, dim=0)


def mask_panel(
    mask: Float[Tensor, "H W"] | Bool[Tensor, "H W"], image: Float[Tensor, "3 H W"] | None = None
) -> Float[Tensor, "3 H W"]:
    """A soft or hard mask in red, over a dimmed grey version of ``image`` when given.

    Args:
        mask: values in [0, 1] (or booleans).
        image: optional RGB background in [0, 1].

    Returns:
        RGB in [0, 1].
    """
    with torch.no_grad():
        m = mask.detach().float().clamp(0.0, 1.0)
        if image is None:
            base = m.new_zeros(3, *m.shape)
        else:
            base = 0.5 * image.detach().float().mean(0, keepdim=True).expand(3, -1, -1)
        red = torch.stack([torch.ones_like(m), torch.zeros_like(m), torch.zeros_like(m)])
        return (base * (1.0 - m) + red * m).clamp(0.0, 1.0)


def error_panel(error: Float[Tensor, "H W"]) -> Float[Tensor, "3 H W"]:
    """A photometric error map on the colour ramp, 0 (dark) to its 95th percentile (bright)."""
    return colorize(error, low=0.0)
