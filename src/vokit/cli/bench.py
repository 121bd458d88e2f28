"""``vokit bench <name>``: speed and memory benchmarks.

Each benchmark is registered in :data:`BENCHMARKS` as ``name -> ("module:function", help)``; the function takes
the remaining ``argv`` and returns an exit status, so new benchmarks plug in without touching the dispatcher.
"""

import argparse
import importlib
import json
import platform
import sys
from pathlib import Path

from vokit.errors import VokitError

BENCHMARKS: dict[str, tuple[str, str]] = {
    "ba": ("vokit.cli.bench:ba_main", "one BA Gauss-Newton iteration: vokit vs dense torch vs scipy sparse"),
}


def _usage() -> str:
    lines = ["usage: vokit bench <name> [options]", "", "benchmarks:"]
    lines += [f"  {name:<6} {help_text}" for name, (_, help_text) in BENCHMARKS.items()]
    lines += ["", "Run `vokit bench <name> --help` for a benchmark's options."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Dispatch ``vokit bench <name> ...`` to the registered benchmark."""
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] not in BENCHMARKS:
        raise VokitError(f"unknown benchmark {argv[0]!r}; choose one of {sorted(BENCHMARKS)}")
    module_name, func_name = BENCHMARKS[argv[0]][0].split(":")
    return int(getattr(importlib.import_module(module_name), func_name)(argv[1:]))


def _ba_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vokit bench ba",
        description="Time one Gauss-Newton iteration of patch BA (vokit's Schur-complement layer, a dense torch "
        "solve of the full normal equations, scipy's sparse direct solve) on synthetic problems where each point "
        "is seen in ~6 frames. Prints a table of medians and ratios, writes JSON and a scaling plot.",
    )
    parser.add_argument("--poses", type=int, nargs="+", default=[8, 16, 32], help="frames N (default: 8 16 32)")
    parser.add_argument("--patches", type=int, nargs="+", default=[96, 384], help="patches per frame (96 384)")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--passes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["vokit", "dense", "scipy", "theseus", "pypose"],
        choices=["vokit", "dense", "scipy", "theseus", "pypose"],
    )
    parser.add_argument("--obs", type=int, default=6, help="frames each patch is observed in (default 6)")
    parser.add_argument("--iterations", type=int, default=1, help="GN iterations per timed call (default 1)")
    parser.add_argument("--budget-s", type=float, default=1.0, help="seconds of timing per cell (default 1)")
    parser.add_argument("--max-repeats", type=int, default=30, help="most timed calls per cell (default 30)")
    parser.add_argument(
        "--dense-max-unknowns",
        type=int,
        default=2000,
        help="skip the dense solve above this many unknowns (default 2000)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", "-o", default="runs/bench/ba", help="output folder for ba.json, ba.md, ba_scaling.png (runs/bench/ba)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    return parser


def ba_main(argv: list[str]) -> int:
    """``vokit bench ba``: BA layer vs dense torch vs scipy sparse; table, JSON and scaling plot."""
    args = _ba_parser().parse_args(argv)
    import torch

    from vokit.solvers import benchmark as bench

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise VokitError(f"--device {args.device}: CUDA is not available")
    if args.threads is not None:
        if args.threads < 1:
            raise VokitError("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "vokit bench ba " + " ".join(argv)
    print(f"# {command}")
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"{platform.processor() or platform.machine()}"
    )
    results = bench.benchmark_ba(
        poses=tuple(args.poses),
        patches=tuple(args.patches),
        dtypes=tuple(args.dtypes),
        passes=tuple(args.passes),
        methods=tuple(args.methods),
        obs_per_patch=args.obs,
        iterations=args.iterations,
        budget_s=args.budget_s,
        max_repeats=args.max_repeats,
        dense_max_unknowns=args.dense_max_unknowns,
        device=args.device,
        seed=args.seed,
        measure_memory=not args.no_memory,
        log=lambda line: print(line, flush=True),
    )
    table = bench.format_table(results)
    slope = bench.edge_scaling_exponent(results)
    summary = f"vokit fwd float64: time ~ edges^{slope:.2f} (log-log least squares)"
    print()
    print(table)
    print()
    print(summary)
    device_name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else platform.machine()
    meta = {
        "command": command,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "device_name": device_name,
        "python": sys.version.split()[0],
        "edge_scaling_exponent": slope,
    }
    (out / "ba.json").write_text(json.dumps({"meta": meta, "results": bench.results_to_dicts(results)}, indent=1))
    (out / "ba.md").write_text(f"`{command}`\n\n{table}\n\n{summary}\n")
    if not args.no_plot:
        bench.plot_scaling(results, str(out / "ba_scaling.png"))
    print(f"wrote {out / 'ba.json'}, {out / 'ba.md'}" + ("" if args.no_plot else f", {out / 'ba_scaling.png'}"))
    return 0
