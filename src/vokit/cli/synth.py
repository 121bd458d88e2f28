"""``vokit synth``: write a synthetic sequence with full ground truth in the KITTI-odometry or TUM layout.

    vokit synth --scene street --frames 200 --seed 0 --layout kitti --out runs/synth/street-0
    vokit synth --scene room --frames 300 --split test --index 3 --layout tum --domain room-dim --out DIR
    vokit synth --scene clutter --frames 100 --seed 5 --textures runs/textures --out DIR

The folder holds the images, calibration, timestamps and ground-truth poses of the layout, plus vokit's
lossless extras ``gt_depth/`` (float32 .npy, metres, 0 on the sky), ``gt_flow/`` (.flo, forward flow to the
next frame) and ``gt_motion_mask/`` (PNG); `vokit.data.readers` reads it back.
"""

import argparse
from pathlib import Path

from vokit.cli.options import integer
from vokit.errors import VokitError

DEFAULT_SIZE = {"street": (128, 416), "room": (240, 320)}
"""Default image size per scene; the clutter scene's depends on the seed (`clutter_image_size`)."""
SCENES = ("street", "room", "clutter")


def default_size(scene: str, seed: int) -> tuple[int, int]:
    """The default (height, width) of a scene: fixed for street and room, per seed (4:3, 16:9, KITTI) for clutter."""
    from vokit.data.synthetic.clutter import clutter_image_size

    return DEFAULT_SIZE[scene] if scene in DEFAULT_SIZE else clutter_image_size(seed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vokit synth",
        description="Render a synthetic sequence (RGB, depth, flow, motion masks, poses) and write it to disk.",
    )
    parser.add_argument("--scene", choices=SCENES, default="street", help="scene (default street)")
    parser.add_argument("--frames", type=integer, default=100, help="number of frames (default 100)")
    parser.add_argument("--seed", type=integer, default=None, help="scene seed (default 0; or use --split/--index)")
    parser.add_argument(
        "--split",
        choices=("train", "val", "test"),
        default=None,
        help="take the seed of sequence --index of this split (disjoint seed ranges)",
    )
    parser.add_argument("--index", type=integer, default=0, help="sequence index within --split (default 0)")
    parser.add_argument("--layout", choices=("kitti", "tum"), default="kitti", help="folder layout (default kitti)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (must be empty or absent)")
    parser.add_argument(
        "--height", type=integer, default=None, help="image height (default: street 128, room 240, clutter per seed)"
    )
    parser.add_argument(
        "--width", type=integer, default=None, help="image width (default: street 416, room 320, clutter per seed)"
    )
    parser.add_argument(
        "--domain",
        default=None,
        help="domain, e.g. street-night, street-fog, street-desert, room-dim (default: the scene's)",
    )
    parser.add_argument(
        "--textures",
        type=Path,
        default=None,
        help="folder of images used as photographic textures (default: procedural textures)",
    )
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier vokit synth output in --out (only the files it wrote)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def synth(
    out: str | Path,
    scene: str = "street",
    frames: int = 100,
    seed: int = 0,
    layout: str = "kitti",
    height: int | None = None,
    width: int | None = None,
    domain: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    textures: str | Path | None = None,
) -> Path:
    """Render ``frames`` frames of a synthetic scene and write them with `vokit.data.writers.write_sequence`.

    Args:
        out: output folder.
        scene: ``"street"``, ``"room"`` or ``"clutter"``.
        frames: number of frames.
        seed: scene seed.
        layout: ``"kitti"`` or ``"tum"``.
        height: image height in pixels (default: the scene's, 128 street / 240 room).
        width: image width in pixels (default: 416 street / 320 room).
        domain: domain name or None for the scene's default.
        overwrite: replace a non-empty output folder.
        progress: show a progress bar.
        textures: folder of images for photographic textures, or None for the procedural ones.

    Returns:
        The output folder.

    Raises:
        VokitError: for bad arguments, an empty or unreadable texture folder, or a non-empty output folder.
    """
    from tqdm import tqdm

    from vokit.data.synthetic import SyntheticWorld, check_image_size, check_seed
    from vokit.data.writers import write_sequence

    if scene not in SCENES:
        raise VokitError(f"unknown scene {scene!r}; expected one of {', '.join(SCENES)}")
    check_seed(seed)
    h = default_size(scene, seed)[0] if height is None else height
    w = default_size(scene, seed)[1] if width is None else width
    check_image_size(h, w)  # before anything is allocated or written
    out_dir = Path(out)
    if out_dir.exists() and out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise VokitError("output folder exists and is not empty (pass --overwrite to replace an earlier vokit synth "
                         "output there)", out_dir)
    world = SyntheticWorld(scene, frames, seed, h, w, domain, textures=textures)
    with tqdm(total=frames, unit="frame", desc=f"vokit synth {world.name}", disable=not progress) as bar:
        seq = world.as_sequence(on_frame=lambda _i: bar.update(1))
        write_sequence(seq, out_dir, layout, overwrite=overwrite)
    return out_dir


def main(argv: list[str]) -> int:
    """Entry point of ``vokit synth``."""
    args = _parser().parse_args(argv)
    if args.frames < 1:
        raise VokitError(f"--frames must be at least 1, got {args.frames}")
    if args.split is not None and args.seed is not None:
        raise VokitError("give either --seed or --split/--index, not both")
    from vokit.data.synthetic import MAX_SEED, check_image_size, split_seed

    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise VokitError(f"--seed must be in [0, {MAX_SEED}], got {args.seed}")
    seed = split_seed(args.split, args.index) if args.split is not None else (args.seed or 0)
    h, w = default_size(args.scene, seed)
    check_image_size(h if args.height is None else args.height, w if args.width is None else args.width)
    out = synth(
        args.out,
        args.scene,
        args.frames,
        seed,
        args.layout,
        args.height,
        args.width,
        args.domain,
        args.overwrite,
        progress=not args.quiet,
        textures=args.textures,
    )
    print(f"wrote {args.frames} frames ({args.scene}, seed {seed}, {args.layout} layout) to {out}")
    return 0
