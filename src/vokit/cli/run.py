"""``vokit run SOURCE``: depth, trajectory, flow and motion masks of your images, video or dataset sequence.

Examples::

    vokit run path/to/images --calib 718.856 718.856 607.19 185.22 --out runs/mine
    vokit run clip.mp4 --calib calib.txt --method monodepth2 --stride 2
    vokit run datasets/kitti/sequences/01 --max-frames 200          # ground truth present: also evaluates
    vokit run synthetic:street --max-frames 40                       # the synthetic world (test-split seed)
    vokit run datasets/kitti/sequences/01 --rerun run.rrd --colmap colmap/   # viewer recording, COLMAP model
    vokit run path/to/images --calib calib.txt --method monodepth2 --adapt  # keep learning on your video
    vokit run path/to/images --calib calib.txt --weights aligned.pt --adapt --align  # + feature alignment

Writes trajectories (TUM and KITTI), 16-bit depth PNGs with colour previews, flow and motion-mask previews
(methods with a flow network), ``metrics.json`` when ground truth exists, plots and ``report.html``; see
`vokit.app.pipeline`.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vokit.cli.options import integer, number
from vokit.data.file_io import parse_float
from vokit.methods.registry import DEFAULT_METHOD, get_method, method_names

if TYPE_CHECKING:
    from vokit.adapt.online import AdaptSettings


@dataclass(frozen=True)
class _AdaptDefaults:
    """The defaults of the ``--adapt-*`` options (those of `vokit.adapt.online.AdaptSettings`, kept light here)."""

    steps: int = 1
    lr: float = 1e-4
    window: int = 3
    every: int = 2


ADAPT_DEFAULTS = _AdaptDefaults()

FORMATS = ("kitti-odom", "kitti-raw", "tum", "euroc", "tartanair", "7scenes", "scannet", "images", "video",
           "synthetic")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vokit run",
        description=f"Run a trained model (default: the shipped {DEFAULT_METHOD}) over an image folder, a video or "
                    "a dataset sequence; write trajectories, depth maps, previews, plots and report.html, and evaluate "
                    "against ground truth when the sequence has it.",
    )
    parser.add_argument("source", help="image folder, video file, dataset sequence folder, or synthetic[:SCENE[:SEED]]")
    parser.add_argument("--method", choices=method_names(), default=None,
                        help=f"model to run (default: {DEFAULT_METHOD}, or the method of --weights)")
    parser.add_argument("--calib", nargs="+", metavar="VALUE", default=None,
                        help="camera calibration: fx fy cx cy [k1 k2 p1 p2] in pixels, or a calibration file "
                             "(numbers, a 3x3 K, or a Kalibr sensor.yaml); required for image folders and videos "
                             "without calib.txt, replaces the intrinsics of TUM-format, 7-Scenes and TartanAir "
                             "sequences")
    parser.add_argument("--calib-override", action="store_true",
                        help="let --calib replace a KITTI calib.txt or EuRoC sensor.yaml (otherwise refused)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="reader to use (default: detected)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="checkpoint file or training run folder (default: the shipped <method>-synthetic.pt)")
    operators = ", ".join(f"{name}: {' / '.join(get_method(name).operators)}" for name in method_names()
                          if get_method(name).operators)
    parser.add_argument("--operator", default=None,
                        help=f"the update operator of a method that offers a choice ({operators}); an operator "
                             "that needs no weights runs without --weights")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/run-<method>-<name>-<time>)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--stride", type=integer, default=1, help="use every N-th frame (default 1)")
    parser.add_argument("--max-frames", type=integer, default=None, help="use at most N frames, after the stride")
    parser.add_argument("--batch-size", type=integer, default=8, help="frames per network call (default 8)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run's outputs in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--rerun", type=Path, default=None, metavar="FILE.rrd",
                        help="also write a rerun recording: camera, image, depth cloud, trajectories, patches "
                             "(open with `rerun FILE.rrd`; needs pip install 'vokit[viz]')")
    parser.add_argument("--rerun-spawn", action="store_true",
                        help="also stream to a live rerun viewer (needs the viz extra and a display)")
    parser.add_argument("--colmap", type=Path, default=None, metavar="DIR",
                        help="also write a COLMAP text model (cameras.txt, images.txt, points3D.txt, images/)")
    adapt = parser.add_argument_group("online adaptation (METHODS.md section 7; docs/adaptation.md)")
    adapt.add_argument("--adapt", action="store_true",
                       help="adapt a copy of the depth and pose networks to the sequence while running (self-"
                            "supervised methods: monodepth2, coopnet, online-meta); the weights file is not changed")
    adapt.add_argument("--adapt-steps", type=integer, default=ADAPT_DEFAULTS.steps,
                       help=f"gradient steps per adaptation (default {ADAPT_DEFAULTS.steps})")
    adapt.add_argument("--adapt-lr", type=number, default=ADAPT_DEFAULTS.lr,
                       help=f"Adam learning rate of the adaptation (default {ADAPT_DEFAULTS.lr:g})")
    adapt.add_argument("--adapt-window", type=integer, default=ADAPT_DEFAULTS.window,
                       help=f"frames per adaptation window, >= 3 (default {ADAPT_DEFAULTS.window})")
    adapt.add_argument("--adapt-every", type=integer, default=ADAPT_DEFAULTS.every,
                       help=f"adapt after every N-th frame (default {ADAPT_DEFAULTS.every})")
    adapt.add_argument("--save-adapted", action="store_true",
                       help="also write the adapted weights to the run folder (adapted_weights.pt)")
    adapt.add_argument("--align", action="store_true",
                       help="with --adapt: also align the encoder features online to the source statistics stored in "
                            "the checkpoint (METHODS.md 7.4; add them with `vokit adapt-stats`)")
    return parser


def adapt_settings(args: argparse.Namespace) -> "AdaptSettings | None":
    """The :class:`AdaptSettings` of ``--adapt`` and its options (None without ``--adapt``).

    Raises:
        VokitError: adaptation options without ``--adapt``, or values out of range.
    """
    from vokit.adapt.online import AdaptSettings
    from vokit.errors import VokitError

    if not args.adapt:
        changed = [flag for flag, value, default in (
            ("--adapt-steps", args.adapt_steps, ADAPT_DEFAULTS.steps), ("--adapt-lr", args.adapt_lr, ADAPT_DEFAULTS.lr),
            ("--adapt-window", args.adapt_window, ADAPT_DEFAULTS.window),
            ("--adapt-every", args.adapt_every, ADAPT_DEFAULTS.every)) if value != default]
        flags = changed + [flag for flag, given in (("--save-adapted", args.save_adapted), ("--align", args.align))
                           if given]
        if flags:
            raise VokitError(f"{', '.join(flags)} need --adapt")
        return None
    if args.adapt_steps < 0 or args.adapt_every < 1 or args.adapt_window < 3 or not args.adapt_lr > 0:
        raise VokitError(f"need --adapt-steps >= 0, --adapt-lr > 0, --adapt-window >= 3 and --adapt-every >= 1, got "
                         f"{args.adapt_steps}, {args.adapt_lr:g}, {args.adapt_window} and {args.adapt_every}")
    return AdaptSettings(steps=args.adapt_steps, lr=args.adapt_lr, window=args.adapt_window, every=args.adapt_every)


def parse_calib_arg(values: list[str] | None) -> str | list[float] | None:
    """``--calib`` as given: one token is a file or a quoted string of numbers, several tokens are numbers.

    Raises:
        VokitError: several tokens that are not all numbers.
    """
    from vokit.errors import VokitError

    if values is None:
        return None
    if len(values) == 1:
        return values[0]
    try:
        return [parse_float(v) for v in values]
    except ValueError:
        raise VokitError(f"--calib takes numbers (fx fy cx cy [k1 k2 p1 p2]) or one file, got {' '.join(values)}"
                         ) from None


def main(argv: list[str]) -> int:
    """Run ``vokit run``; returns the exit status (bad input raises `VokitError`, shown with status 2)."""
    args = _parser().parse_args(argv)
    from vokit.app.outputs import COMPACT_COLUMNS, format_summary, summary_row
    from vokit.app.pipeline import run_sequence

    result = run_sequence(
        args.source,
        method=args.method if args.method is not None or args.weights is not None else DEFAULT_METHOD,
        out=args.out,
        weights=args.weights,
        calib=parse_calib_arg(args.calib),
        format=args.format,
        device=args.device,
        stride=args.stride,
        max_frames=args.max_frames,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        progress=not args.quiet,
        calib_override=args.calib_override,
        rerun=args.rerun,
        rerun_spawn=args.rerun_spawn,
        colmap=args.colmap,
        operator=args.operator,
        adapt=adapt_settings(args),
        save_adapted=args.save_adapted,
        align=args.align,
    )
    if args.calib_override and args.calib is None:
        print("note: --calib-override without --calib changes nothing")
    print(f"vokit run: {result.method} on {result.sequence_name}: {result.n_frames} frames, "
          f"{result.frames_per_second:.2f} frames/s inference, {result.end_to_end_frames_per_second:.2f} frames/s "
          "end to end (writing, evaluation, plots and report included)")
    if result.metrics is not None:
        print(format_summary({result.method: summary_row(result.metrics)}, COMPACT_COLUMNS[:-1]))
        for verdict in result.metrics.get("verdicts", []):
            print(verdict)
    print(f"  run folder: {result.out}\n  report:     {result.report}")
    if args.rerun is not None:
        print(f"  rerun:      {args.rerun} (open with: rerun {args.rerun})")
    if args.colmap is not None:
        print(f"  COLMAP:     {args.colmap}")
    return 0
