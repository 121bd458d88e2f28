"""Colour images of predictions, the one owner for training logs (TensorBoard) and run previews.

Every function returns float RGB ``(3, H, W)`` in [0, 1] on the CPU, without gradient.

- :func:`depth_preview` / :func:`inv_depth_panel`: inverse depth on a perceptual colour map (near = bright),
  normalised like Monodepth2's previews (``vmax`` = 95th percentile of the inverse depth), invalid pixels black.
- :func:`flow_to_color` / :func:`flow_panel`: the colour coding of the Middlebury flow benchmark (Baker et al., "A
  database and evaluation methodology for optical flow", IJCV 2011): hue = direction on a 55-colour wheel,
  saturation = magnitude (white = no motion), magnitudes beyond the normalisation radius darkened to 75 %.
- :func:`mask_overlay` / :func:`mask_panel`: a soft mask blended over a dimmed image in red.
- :func:`colorize` / :func:`error_panel`: a scalar image on a colour map.
"""

import functools
import math

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

# Segment lengths of the Middlebury colour wheel (red-yellow, yellow-green, green-cyan, cyan-blue, blue-magenta,
# magenta-red), chosen by Baker et al. to be roughly perceptually even; 55 colours in all.
WHEEL_SEGMENTS: tuple[tuple[str, int], ...] = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))
"""(name, number of colours) of each segment of the Middlebury flow colour wheel, in wheel order."""


def flow_color_wheel() -> Float[Tensor, "55 3"]:
    """The Middlebury flow colour wheel: 55 RGB colours in [0, 1], starting at pure red.

    Each segment ramps one channel linearly (in 8-bit steps, ``floor(255 i / n)``) between two of red, yellow,
    green, cyan, blue and magenta, so segment starts are the pure primaries and secondaries.

    Returns:
        The wheel, float64.
    """
    rows: list[list[int]] = []
    for name, n in WHEEL_SEGMENTS:
        for i in range(n):
            up = math.floor(255 * i / n)
            down = 255 - up
            rows.append({
                "RY": [255, up, 0],
                "YG": [down, 255, 0],
                "GC": [0, 255, up],
                "CB": [0, down, 255],
                "BM": [up, 0, 255],
                "MR": [255, 0, down],
            }[name])
    return torch.tensor(rows, dtype=torch.float64) / 255.0


def flow_to_color(
    flow: Float[Tensor, "H W 2"],
    max_magnitude: float | None = None,
    valid: Bool[Tensor, "H W"] | None = None,
) -> Float[Tensor, "3 H W"]:
    """Optical flow in the Middlebury colour code.

    The direction picks a colour on :func:`flow_color_wheel` (interpolated between neighbouring entries, angle
    ``atan2(-v, -u)``); the magnitude ``r = |flow| / max_magnitude`` desaturates it towards white,
    ``1 - r (1 - colour)`` for ``r <= 1``, and pixels with ``r > 1`` get ``0.75 colour``.

    Args:
        flow: flow (u, v) in pixels, channels last.
        max_magnitude: magnitude shown fully saturated, pixels (default: the largest finite magnitude; use the
            same value for a prediction and its ground truth to compare them).
        valid: pixels to colour; the others (and non-finite flow) are black.

    Returns:
        RGB in [0, 1], float32, on the CPU.
    """
    # numpy (single-threaded) rather than torch: per-pixel colouring is memory-bound, and torch's thread pool
    # only adds contention when the networks share the CPU.
    f = flow.detach().cpu().to(torch.float32).numpy()
    u, v = f[..., 0], f[..., 1]
    known = np.isfinite(u) & np.isfinite(v)
    if valid is not None:
        known &= valid.detach().cpu().to(torch.bool).numpy()
    all_known = bool(known.all())
    if not all_known:
        u = np.where(known, u, np.float32(0.0))
        v = np.where(known, v, np.float32(0.0))
    magnitude = np.sqrt(u * u + v * v)
    top = float(magnitude[known].max()) if max_magnitude is None and known.any() else (max_magnitude or 0.0)
    radius = magnitude / np.float32(max(top, 1e-12))
    wheel = _wheel_channels()
    n = wheel.shape[1]
    fk = (np.arctan2(-v, -u) * np.float32(1.0 / math.pi) + np.float32(1.0)) * np.float32((n - 1) / 2.0)
    k0f = np.floor(fk)
    frac = fk - k0f
    k0 = np.clip(k0f.astype(np.intp), 0, n - 1)
    k1 = k0 + 1
    k1[k1 == n] = 0
    # (3, H, W), channels first; np.take is several times faster than fancy indexing here
    colour = np.take(wheel, k0, axis=1) * (np.float32(1.0) - frac) + np.take(wheel, k1, axis=1) * frac
    colour = np.where(radius <= 1.0, np.float32(1.0) - radius * (np.float32(1.0) - colour), np.float32(0.75) * colour)
    if not all_known:
        colour *= known
    return torch.from_numpy(np.ascontiguousarray(colour, dtype=np.float32))


@functools.lru_cache(maxsize=1)
def _wheel_channels() -> np.ndarray:
    """:func:`flow_color_wheel` as float32, channels first (3, 55)."""
    return np.ascontiguousarray(flow_color_wheel().to(torch.float32).numpy().T)


def flow_wheel_legend(size: int = 64) -> Float[Tensor, "3 S S"]:
    """A disc showing the flow colour code: the colour of flow (u, v) pointing from the centre to each pixel.

    Args:
        size: side in pixels.

    Returns:
        RGB in [0, 1]; outside the unit disc is white.
    """
    c = (size - 1) / 2.0
    vv, uu = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    flow = torch.stack([uu - c, vv - c], dim=-1) / max(c, 1e-12)
    inside = torch.linalg.vector_norm(flow, dim=-1) <= 1.0
    rgb = flow_to_color(flow, max_magnitude=1.0)
    return torch.where(inside[None], rgb, torch.ones_like(rgb))


def colormap(name: str = "magma", n: int = 256) -> Float[Tensor, "n 3"]:
    """A matplotlib colour map sampled at ``n`` points, RGB in [0, 1] (float64)."""
    return _colormap(name, n).clone()


@functools.lru_cache(maxsize=8)
def _colormap(name: str, n: int) -> Tensor:
    import matplotlib

    return torch.from_numpy(np.asarray(matplotlib.colormaps[name](np.linspace(0.0, 1.0, n))[:, :3], np.float64))


def colorize(
    values: Float[Tensor, "H W"],
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "magma",
    valid: Bool[Tensor, "H W"] | None = None,
) -> Float[Tensor, "3 H W"]:
    """Map a scalar image linearly onto a colour map, ``vmin`` to its first colour and ``vmax`` to its last.

    Args:
        values: the scalar image.
        vmin: value shown with the first colour (values below are clamped); default the 5th percentile of the
            known values.
        vmax: value shown with the last colour (values above are clamped); default their 95th percentile.
        cmap: a matplotlib colour map name.
        valid: pixels to colour; the others (and non-finite values) are black.

    Returns:
        RGB in [0, 1], float32, on the CPU.
    """
    x = values.detach().cpu().to(torch.float32).numpy()
    known = np.isfinite(x)
    if valid is not None:
        known &= valid.detach().cpu().to(torch.bool).numpy()
    if vmin is None or vmax is None:
        lo, hi = np.percentile(x[known], (5.0, 95.0)) if known.any() else (0.0, 1.0)
        vmin = float(lo) if vmin is None else vmin
        vmax = float(hi) if vmax is None else vmax
    lut = _lut_channels(cmap)
    t = np.clip(np.nan_to_num((x - np.float32(vmin)) / np.float32(max(vmax - vmin, 1e-12))), 0.0, 1.0)
    index = np.where(known, np.rint(t * 255.0).astype(np.intp), 256)
    return torch.from_numpy(np.take(lut, index, axis=1))  # (3, H, W); np.take beats fancy indexing here


@functools.lru_cache(maxsize=8)
def _lut_channels(cmap: str) -> np.ndarray:
    """The colour map as float32 channels first (3, 257); the last column colours unknown pixels black."""
    lut = _colormap(cmap, 256).numpy().astype(np.float32)
    return np.ascontiguousarray(np.concatenate([lut, np.zeros((1, 3), np.float32)]).T)


def inv_depth_range(depth: Float[Tensor, "H W"], percentile: float = 95.0) -> float:
    """Upper end of the preview range: the ``percentile`` of the valid inverse depths (0 if none are valid)."""
    d = depth.detach().cpu().to(torch.float32).numpy()
    ok = np.isfinite(d) & (d > 0)
    if not ok.any():
        return 0.0
    return float(np.percentile(1.0 / d[ok].astype(np.float64), percentile))


def depth_preview(
    depth: Float[Tensor, "H W"], inv_depth_max: float | None = None, cmap: str = "magma"
) -> Float[Tensor, "3 H W"]:
    """Depth as a colour image of its inverse (near = bright), 0 to ``inv_depth_max`` on the colour map.

    Args:
        depth: z-depth in any positive units; 0, negative or non-finite pixels are invalid (black).
        inv_depth_max: inverse depth shown brightest, in 1 / the depth's unit (default :func:`inv_depth_range`,
            Monodepth2's 95th percentile; pass the same value for a prediction and its ground truth).
        cmap: a matplotlib colour map name.

    Returns:
        RGB in [0, 1].
    """
    d = depth.detach().cpu().to(torch.float32)
    ok = torch.from_numpy(np.isfinite(d.numpy()) & (d.numpy() > 0))
    inv = torch.from_numpy(np.where(ok.numpy(), 1.0 / np.where(ok.numpy(), d.numpy(), 1.0), 0.0).astype(np.float32))
    top = inv_depth_range(d) if inv_depth_max is None else inv_depth_max
    return colorize(inv, 0.0, top if top > 0 else 1.0, cmap, valid=ok)


def mask_overlay(
    image: Float[Tensor, "3 H W"],
    mask: Float[Tensor, "H W"] | Bool[Tensor, "H W"],
    color: tuple[float, float, float] = (1.0, 0.1, 0.1),
    alpha: float = 0.65,
    dim: float = 0.6,
) -> Float[Tensor, "3 H W"]:
    """A soft mask blended over a dimmed image: ``out = (1 - alpha m) dim image + alpha m color``.

    Args:
        image: RGB in [0, 1].
        mask: values in [0, 1] (or booleans), e.g. a motion-mask probability.
        color: RGB of the mask.
        alpha: opacity of a mask value of 1.
        dim: brightness factor of the background image.

    Returns:
        RGB in [0, 1].
    """
    m = np.clip(mask.detach().cpu().to(torch.float32).numpy(), 0.0, 1.0)[None] * np.float32(alpha)
    base = image.detach().cpu().to(torch.float32).numpy() * np.float32(dim)
    c = np.asarray(color, dtype=np.float32)[:, None, None]
    return torch.from_numpy(np.clip((1.0 - m) * base + m * c, 0.0, 1.0).astype(np.float32))


def inv_depth_panel(depth: Float[Tensor, "H W"]) -> Float[Tensor, "3 H W"]:
    """Depth shown as inverse depth (near = bright): :func:`depth_preview` with its default range."""
    return depth_preview(depth)


def flow_panel(flow: Float[Tensor, "H W 2"], max_magnitude: float | None = None) -> Float[Tensor, "3 H W"]:
    """Optical flow in the Middlebury colour code (:func:`flow_to_color`)."""
    return flow_to_color(flow, max_magnitude)


def mask_panel(
    mask: Float[Tensor, "H W"] | Bool[Tensor, "H W"], image: Float[Tensor, "3 H W"] | None = None
) -> Float[Tensor, "3 H W"]:
    """A soft or hard mask in red over ``image`` (:func:`mask_overlay`; black background without an image)."""
    background = torch.zeros(3, *mask.shape) if image is None else image
    return mask_overlay(background, mask)


def error_panel(error: Float[Tensor, "H W"]) -> Float[Tensor, "3 H W"]:
    """A photometric error map on the colour map, 0 (dark) to its 95th percentile (bright)."""
    e = error.detach().cpu().to(torch.float32)
    known = torch.isfinite(e)
    top = float(torch.quantile(e[known][:100_000], 0.95)) if bool(known.any()) else 1.0
    return colorize(e, 0.0, top if top > 0 else 1.0)
