"""``vokit adapt-stats``: store source feature statistics in a copy of a checkpoint (METHODS.md section 7.4).

    vokit adapt-stats src/vokit/weights/monodepth2-synthetic.pt --clips 32 --out runs/monodepth2-aligned.pt
    vokit run ~/frames --calib calib.txt --weights runs/monodepth2-aligned.pt --adapt --align

Records the per-channel mean and variance of the encoder stages (layer1-layer4 of the depth and pose encoders)
over ``--clips`` clips of the checkpoint's own training data (the synthetic world of its preset), and writes the
checkpoint with them to ``--out``; ``vokit run --adapt --align`` then aligns the features online. The input file is
never written; an existing ``--out`` is replaced only with ``--force``.
"""

import argparse
from pathlib import Path

from vokit.cli.options import integer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vokit adapt-stats",
        description="Write a copy of a self-supervised depth + pose checkpoint with the source feature statistics "
                    "that `vokit run --adapt --align` needs (recorded on the checkpoint's training data).",
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint file or training run folder (its latest checkpoint)")
    parser.add_argument("--out", type=Path, required=True, help="the new checkpoint file (never the input)")
    parser.add_argument("--clips", type=integer, default=32, help="training clips to record (default 32)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    return parser


def main(argv: list[str]) -> int:
    """Run ``vokit adapt-stats``; returns the exit status (bad input raises `VokitError`, shown with status 2)."""
    args = _parser().parse_args(argv)
    from vokit.engine.source_statistics import write_with_source_statistics
    from vokit.errors import VokitError

    if args.clips < 1:
        raise VokitError(f"--clips must be >= 1, got {args.clips}")
    stats = write_with_source_statistics(args.checkpoint, args.out, args.clips, force=args.force,
                                         device=args.device)
    print(f"vokit adapt-stats: {len(stats.layers)} layers over {stats.clips} clips of {stats.clip_frames} frames "
          f"({stats.data}) -> {args.out}")
    return 0
