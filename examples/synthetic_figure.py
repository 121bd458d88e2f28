"""Render the README picture of the synthetic street: RGB, depth, optical flow and motion mask of one frame.

    python examples/synthetic_figure.py --out docs/images/synthetic_street.png

The frame is rendered at 128x416 (the training resolution); the four panels are RGB, inverse depth (the
sky, whose depth is invalid, in black), forward optical flow in the usual colour-wheel coding (hue = direction,
saturation = magnitude) and the motion mask (moving cars in red over a darkened image).
"""

import argparse
import math
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw

from vokit.data.synthetic import SyntheticWorld


def colour_flow(flow: np.ndarray, max_px: float | None = None) -> np.ndarray:
    """(H, W, 2) flow in pixels to (H, W, 3) uint8: hue = direction, saturation = magnitude / max."""
    u, v = flow[..., 0], flow[..., 1]
    mag = np.hypot(u, v)
    scale = max_px if max_px is not None else max(np.percentile(mag, 99), 1e-6)
    hue = (np.arctan2(-v, -u) / math.pi + 1.0) / 2.0
    sat = np.clip(mag / scale, 0.0, 1.0)
    hsv = np.stack([hue, sat, np.ones_like(hue)], -1)
    return (matplotlib.colors.hsv_to_rgb(hsv) * 255).astype(np.uint8)


def colour_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) z-depth in metres (0 = invalid) to (H, W, 3) uint8 with the magma map of inverse depth."""
    inv = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-6), 0.0)
    inv = inv / max(np.percentile(inv[depth > 0], 99), 1e-6)
    rgb = matplotlib.colormaps["magma"](np.clip(inv, 0.0, 1.0))[..., :3]
    rgb[depth <= 0] = 0.0
    return (rgb * 255).astype(np.uint8)


def figure(scene: str, seed: int, frame: int, height: int, width: int, domain: str | None) -> Image.Image:
    """The 2x2 panel image of one frame."""
    world = SyntheticWorld(scene, frame + 1, seed, height, width, domain)
    f = world.frame(frame)
    rgb = (f.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    mask = f.motion_mask.numpy()
    overlay = (rgb * 0.45).astype(np.uint8)
    overlay[mask] = (0.35 * rgb[mask] + 0.65 * np.array([255, 40, 40])).astype(np.uint8)
    panels = [
        (rgb, "RGB"),
        (colour_depth(f.depth.numpy()), "inverse depth (sky = invalid)"),
        (colour_flow(f.flow.numpy()), "forward optical flow"),
        (overlay, "motion mask"),
    ]
    canvas = Image.new("RGB", (2 * width + 4, 2 * height + 4), (255, 255, 255))
    for i, (panel, label) in enumerate(panels):
        x, y = (i % 2) * (width + 4), (i // 2) * (height + 4)
        canvas.paste(Image.fromarray(panel), (x, y))
        draw = ImageDraw.Draw(canvas)
        draw.rectangle([x, y, x + 7 * len(label) + 6, y + 13], fill=(0, 0, 0))
        draw.text((x + 3, y + 1), label, fill=(255, 255, 255))
    return canvas


def main() -> None:
    """Parse the arguments and write the figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/synthetic_street.png"))
    parser.add_argument("--scene", default="street")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--frame", type=int, default=18)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=416)
    parser.add_argument("--domain", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = figure(args.scene, args.seed, args.frame, args.height, args.width, args.domain)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
