"""``vokit demo``: render a synthetic street with moving cars, run the shipped models, evaluate, write a report.

    vokit demo                        # runs/demo/report.html, about a minute on a 2-core CPU
    vokit demo --frames 40 --out runs/demo40 --device cuda

The street is a test-split sequence of the synthetic world (no download). The default method's run folder is
``--out``; the baseline (`vokit.methods.registry.BASELINE_METHOD`), when its weights are shipped, runs on the same
frames into ``--out/baseline-<method>`` and joins the summary table.
"""

import argparse
from pathlib import Path

from vokit.cli.options import integer
from vokit.methods.registry import BASELINE_METHOD, DEFAULT_METHOD

DEMO_FRAMES = 24
"""Default --frames (the same as `vokit.app.pipeline.DEMO_FRAMES`; kept here so --help stays light)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vokit demo",
        description=f"Render a short synthetic street sequence with moving cars, run the shipped {DEFAULT_METHOD} "
                    f"(and the {BASELINE_METHOD} baseline when shipped), evaluate against the ground truth, write a "
                    "run folder with report.html and print a summary table.",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    parser.add_argument("--frames", type=integer, default=DEMO_FRAMES, help=f"frames to render (default {DEMO_FRAMES})")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--weights", type=Path, default=None,
                        help=f"{DEFAULT_METHOD} checkpoint or run folder (default: the shipped "
                             f"{DEFAULT_METHOD}-synthetic.pt)")
    parser.add_argument("--baseline-weights", type=Path, default=None,
                        help=f"{BASELINE_METHOD} checkpoint (default: the shipped {BASELINE_METHOD}-synthetic.pt when "
                             "present)")
    parser.add_argument("--sequence", type=integer, default=0, help="which test-split street (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str]) -> int:
    """Run ``vokit demo``; returns the exit status (bad input raises `VokitError`, shown with status 2)."""
    args = _parser().parse_args(argv)
    import time

    from vokit.app.outputs import COMPACT_COLUMNS, format_summary, summary_row
    from vokit.app.pipeline import demo

    start = time.perf_counter()
    result = demo(out=args.out, frames=args.frames, device=args.device, weights=args.weights,
                  baseline_weights=args.baseline_weights, seed_index=args.sequence, progress=not args.quiet)
    rows = {result.method: summary_row(result.metrics, result.frames_per_second)}
    for base in result.baselines:
        rows[f"{base.method} (baseline)"] = summary_row(base.metrics, base.frames_per_second)
    print(f"\nvokit demo: {result.sequence_name}, {result.n_frames} frames "
          f"({time.perf_counter() - start:.0f} s)\n")
    print(format_summary(rows, COMPACT_COLUMNS))
    print("\nDepth: Eigen metrics with per-image median scaling; ATE/RPE after Sim(3) alignment; mask IoU at 0.5.")
    for verdict in (result.metrics or {}).get("verdicts", []):
        print(f"{result.method}: {verdict}")
    print(f"  run folder: {result.out}\n  report:     {result.report}")
    return 0
