"""Report figures: tiles of colour previews in a labelled grid, resized, written as PNG.

The colouring itself (depth, flow, masks) has one owner, `vokit.methods.panels`, shared with the training logs.

- :func:`resize_rgb`: an RGB image resized to a width, keeping its aspect ratio;
- :func:`panel`: tiles in a grid with optional column labels;
- :func:`save_rgb`: write an RGB image as PNG.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor


def resize_rgb(image: Float[Tensor, "3 H W"], width: int) -> Float[Tensor, "3 h w"]:
    """Resize an RGB image to ``width`` pixels wide, keeping its aspect ratio (area averaging when shrinking)."""
    _, h, w = image.shape
    if w == width:
        return image.detach().cpu().to(torch.float32)
    height = max(1, round(h * width / w))
    mode = "area" if width < w else "bilinear"
    x = image.detach().cpu().to(torch.float32)[None]
    kwargs = {} if mode == "area" else {"align_corners": False}
    return torch.nn.functional.interpolate(x, size=(height, width), mode=mode, **kwargs)[0].clamp(0.0, 1.0)


def panel(
    tiles: Sequence[Sequence[Float[Tensor, "3 _ _"] | None]],
    labels: Sequence[str] | None = None,
    gap: int = 4,
    label_height: int = 14,
    background: float = 1.0,
) -> Float[Tensor, "3 H W"]:
    """Tiles in a grid (rows of equally sized images; ``None`` leaves a cell empty), with column labels on top.

    Args:
        tiles: rows of RGB tiles; every tile must have the size of the first one.
        labels: one caption per column, drawn above the first row (default: no label row).
        gap: pixels between cells and around the grid.
        label_height: height of the label row in pixels.
        background: grey level of the gaps and empty cells, in [0, 1].

    Returns:
        The panel, RGB in [0, 1].

    Raises:
        ValueError: no tiles, or tiles of different sizes.
    """
    first = next((t for row in tiles for t in row if t is not None), None)
    if first is None:
        raise ValueError("panel needs at least one tile")
    _, th, tw = first.shape
    n_cols = max(len(row) for row in tiles)
    top = label_height + gap if labels else 0
    height = gap + top + len(tiles) * (th + gap)
    width = gap + n_cols * (tw + gap)
    out = torch.full((3, height, width), float(background))
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            if tile is None:
                continue
            if tuple(tile.shape) != (3, th, tw):
                raise ValueError(f"tile ({r}, {c}) has shape {tuple(tile.shape)}, expected {(3, th, tw)}")
            y, x = gap + top + r * (th + gap), gap + c * (tw + gap)
            out[:, y : y + th, x : x + tw] = tile.detach().cpu().to(torch.float32)
    if labels:
        out = _draw_labels(out, labels, [gap + c * (tw + gap) for c in range(len(labels))], gap)
    return out


def _draw_labels(image: Tensor, labels: Sequence[str], xs: Sequence[int], y: int) -> Tensor:
    from PIL import Image, ImageDraw

    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    canvas = Image.fromarray(np.ascontiguousarray(array))
    draw = ImageDraw.Draw(canvas)
    for text, x in zip(labels, xs, strict=False):
        draw.text((x, y), text, fill=(20, 20, 20))
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).to(torch.float32) / 255.0


def save_rgb(path: str | Path, image: Float[Tensor, "3 H W"]) -> Path:
    """Write an RGB preview as an 8-bit PNG (parent folders are created; fast, light compression).

    Args:
        path: output file.
        image: RGB in [0, 1].

    Returns:
        The path.
    """
    from vokit.data.image_io import write_png8

    path = Path(path)
    array = np.rint(np.clip(image.detach().cpu().float().numpy(), 0.0, 1.0) * 255.0).astype(np.uint8)
    write_png8(path, array.transpose(1, 2, 0))
    return path
