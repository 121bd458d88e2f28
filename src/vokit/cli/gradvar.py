"""``vokit gradvar``: gradient signal-to-noise of checkpoints (METHODS.md section 5.4).

    vokit gradvar runs/patchvo-v2v/checkpoints/step_*.pt --clips 200 --out runs/gradvar
    vokit gradvar CKPT_A CKPT_B --clips 16 --patches 8 --height 48 --width 64 --out /tmp/gv

For every checkpoint: per-sample gradients of the heads feeding the differentiable-optimiser layer on held-out
synthetic clips, in the weighted and the unweighted flow-loss arm; prints a table of the SNR (dB, ``20 log10``) per
head and arm and the mean losses (rows per run folder and step), and writes ``gradvar.json`` and
``gradvar_snr.png`` (SNR over checkpoint steps, one line per head and arm, and per run when there are several).
"""

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from vokit.cli.options import integer
from vokit.errors import VokitError

if TYPE_CHECKING:
    from vokit.engine.gradvar import GradVarResult


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vokit gradvar",
        description="Gradient SNR of the optimiser-layer heads of checkpoints on held-out synthetic clips.",
    )
    parser.add_argument("checkpoints", nargs="+", help="checkpoint files or run folders (their latest checkpoint)")
    parser.add_argument("--clips", type=integer, default=200, help="held-out clips per checkpoint (default 200)")
    parser.add_argument("--clip-frames", type=integer, default=8, help="frames per clip (default 8)")
    parser.add_argument("--update-calls", type=integer, default=8, help="update calls per clip (default 8)")
    parser.add_argument("--arms", nargs="+", choices=("weighted", "unweighted"), default=["weighted", "unweighted"],
                        help="flow-loss arms (default both)")
    parser.add_argument("--seed", type=integer, default=0, help="seed of the patch draws and initial depths")
    parser.add_argument("--height", type=integer, default=None, help="clip height (default: the training size)")
    parser.add_argument("--width", type=integer, default=None, help="clip width (default: the training size)")
    parser.add_argument("--patches", type=integer, default=None,
                        help="patches per frame (patchvo's train_patches; default: the checkpoint's)")
    parser.add_argument("--out", type=Path, default=Path("gradvar"), help="output folder (default ./gradvar)")
    return parser


def _run_name(res: "GradVarResult") -> str:
    """The run folder of a checkpoint (``<run>/checkpoints/step_N.pt``), else the file's folder."""
    path = Path(res.checkpoint)
    return path.parent.parent.name if path.parent.name == "checkpoints" else path.parent.name


def _table(results: list["GradVarResult"]) -> str:
    rows = [("run", "step", "head", "arm", "SNR dB", "|g_bar|", "mean |g-g_bar|", "mean loss")]
    for res in results:
        for s in res.snr:
            rows.append((_run_name(res), str(res.step), s.parameter, s.loss_arm, f"{s.snr_db:.2f}",
                         f"{s.mean_grad_norm:.3e}", f"{s.mean_deviation:.3e}", f"{res.mean_loss[s.loss_arm]:.4f}"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def main(argv: list[str]) -> int:
    """Run ``vokit gradvar``; returns the exit status."""
    args = _parser().parse_args(argv)
    from vokit.engine.checkpoint import load_checkpoint
    from vokit.engine.gradvar import heldout_clips, measure_gradient_snr
    from vokit.metrics.plots import plot_series_over_steps

    if (args.height is None) != (args.width is None):
        raise VokitError("give both --height and --width, or neither")
    if args.height is not None and (args.height % 4 or args.width % 4 or min(args.height, args.width) < 16):
        raise VokitError(f"--height/--width must be multiples of 4 and >= 16, got {args.height}x{args.width}")
    size = None if args.height is None else (args.height, args.width)
    overrides = {} if args.patches is None else {"train_patches": args.patches}
    _, config = load_checkpoint(args.checkpoints[0])
    clips = heldout_clips(config.data, args.clips, args.clip_frames, size)
    results = []
    for ckpt in args.checkpoints:
        results.append(measure_gradient_snr(ckpt, args.clips, args.clip_frames, args.update_calls, args.arms,
                                            args.seed, size, overrides, clips=clips))
    results.sort(key=lambda r: r.step)
    print(_table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"db_convention": "20log10", "results": [r.to_dict() for r in results]}
    (args.out / "gradvar.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    series: dict[str, tuple[list[int], list[float]]] = {}
    several_runs = len({_run_name(r) for r in results}) > 1
    for res in results:
        for s in res.snr:
            run = f"{_run_name(res)}: " if several_runs else ""
            steps, values = series.setdefault(f"{run}{s.parameter.split('.')[-3]} ({s.loss_arm})", ([], []))
            steps.append(res.step)
            values.append(s.snr_db)
    plot = plot_series_over_steps(series, args.out / "gradvar_snr.png", "gradient SNR, dB (20 log10)",
                                  title=f"gradient SNR over checkpoints ({results[0].n_clips} held-out clips)")
    print(f"wrote {args.out / 'gradvar.json'} and {plot}")
    return 0
