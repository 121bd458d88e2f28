"""Gather freely licensed photos that are installed on this machine into one folder for ``--textures``.

    pip install -c constraints.txt scikit-image      # or: pip install --target /tmp/sk --no-deps scikit-image
    apt-get install gnome-backgrounds                # optional, CC BY-SA 3.0 (attribution, share-alike)
    python examples/collect_textures.py --out runs/textures [--skimage-dir /tmp/sk/skimage/data] [--gnome]
    vokit synth --scene street --textures runs/textures --out runs/synth/photo

Only the files listed in `SKIMAGE_FREE` (CC0 or public domain, per scikit-image's ``skimage/data/_fetchers.py``)
are copied from scikit-image; nothing is downloaded. A LICENSES.txt in the output folder records where each
file came from and under which licence (see docs/synthetic.md).
"""

import argparse
import shutil
from pathlib import Path

SKIMAGE_FREE = {
    "brick.png": "CC0 (CC0Textures Bricks25)",
    "grass.png": "CC0 (DeviantArt linolafett Grass-01)",
    "gravel.png": "CC0 (CC0Textures Gravel04)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "camera.png": "CC0 (Lav Varshney)",
    "rocket.jpg": "public domain (SpaceX)",
    "hubble_deep_field.jpg": "public domain (NASA)",
    "retina.jpg": "CC0 (Mikael Haggstrom, Wikimedia Commons)",
    "coins.png": "no known copyright restrictions (Brooklyn Museum)",
}
"""scikit-image sample images whose licence allows any use, with their licence as scikit-image states it."""

GNOME_LICENCE = "CC BY-SA 3.0 (gnome-backgrounds, see /usr/share/doc/gnome-backgrounds/copyright)"


def _skimage_dir(given: Path | None) -> Path | None:
    if given is not None:
        return given
    try:
        import skimage  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(skimage.__file__).parent / "data"


def main() -> None:
    """Copy the images and write LICENSES.txt."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to fill (created)")
    parser.add_argument("--skimage-dir", type=Path, default=None, help="scikit-image's data folder")
    parser.add_argument("--gnome", action="store_true", help="also copy /usr/share/backgrounds/gnome (*.webp)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = []
    source = _skimage_dir(args.skimage_dir)
    if source is not None and source.is_dir():
        for name, licence in SKIMAGE_FREE.items():
            if (source / name).is_file():
                shutil.copy2(source / name, args.out / f"skimage-{name}")
                lines.append(f"skimage-{name}\t{licence}")
    gnome = Path("/usr/share/backgrounds/gnome")
    if args.gnome and gnome.is_dir():
        for file in sorted(gnome.glob("*.webp")):
            if file.stat().st_size > 10_000:  # skip the one-colour placeholders
                shutil.copy2(file, args.out / f"gnome-{file.name}")
                lines.append(f"gnome-{file.name}\t{GNOME_LICENCE}")
    (args.out / "LICENSES.txt").write_text("\n".join(lines) + "\n")
    print(f"copied {len(lines)} images to {args.out} (licences in {args.out / 'LICENSES.txt'})")


if __name__ == "__main__":
    main()
