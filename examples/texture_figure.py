"""Render the docs picture of photographic textures: street and room, procedural (top) and photographic (bottom).

    python examples/collect_textures.py --out runs/textures --skimage-dir /tmp/sk/skimage/data
    python examples/texture_figure.py --textures runs/textures --out docs/images/synthetic_textures.png

Street seed 4, frame 18 and room seed 3, frame 10, each at 128x208; the photo folder used for the shipped
picture holds the CC0 / public-domain scikit-image samples only (see docs/synthetic.md).
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vokit.data.synthetic import SyntheticWorld

VIEWS = (("street", 4, 18), ("room", 3, 10))


def figure(textures: Path, height: int, width: int) -> Image.Image:
    """Rows: procedural, photographic; columns: the scenes of `VIEWS`."""
    canvas = Image.new("RGB", (len(VIEWS) * (width + 4) - 4, 2 * height + 4), (255, 255, 255))
    for col, (scene, seed, frame) in enumerate(VIEWS):
        for row, tex in enumerate((None, textures)):
            image = SyntheticWorld(scene, frame + 1, seed, height, width, textures=tex).frame(frame).image
            rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            canvas.paste(Image.fromarray(rgb), (col * (width + 4), row * (height + 4)))
    return canvas


def main() -> None:
    """Parse the arguments and write the figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--textures", type=Path, required=True, help="folder of images")
    parser.add_argument("--out", type=Path, default=Path("docs/images/synthetic_textures.png"))
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=208)
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = figure(args.textures, args.height, args.width)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
