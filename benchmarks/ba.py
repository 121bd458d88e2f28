"""The BA-layer benchmark behind ``vokit bench ba``: vokit's Schur-complement layer against full-system solves.

    vokit bench ba --threads 1                      # all defaults; writes runs/bench/ba/{ba.json,ba.md,ba_scaling.png}
    python benchmarks/ba.py --poses 8 16 --patches 96 --passes fwd --no-memory

Every method performs the same Gauss-Newton iteration on the same synthetic problem
(:func:`vokit.solvers.synthetic.synthetic_ba_problem`): linearise all edges, build the damped normal equations,
solve, retract. Timings cover the whole iteration, graph preprocessing included:

* ``vokit``: :func:`~vokit.solvers.bundle_adjust` (pair/patch-row layouts, Schur complement, dense Cholesky on the
  6F x 6F reduced camera system).
* ``dense``: :func:`benchmarks.references.dense_iteration`, the full ``(6F + P)`` normal matrix solved by a dense
  torch Cholesky (skipped above ``dense_max_unknowns``).
* ``scipy``: :func:`benchmarks.references.scipy_iteration`, the same normal equations solved by scipy's sparse
  direct solver (SuperLU with COLAMD); forward only.

theseus and pypose are not benchmarked here: theseus does not install on this Python/torch without system
SuiteSparse, and pypose's LM builds a dense Jacobian (one iteration of the 8 x 96 problem took 27 s and 12 GB,
docs DEPENDENCIES.md), which no benchmark grid on a shared 2-core machine can include; their one-off timings are
quoted in the docs instead.

Where this lives and why: the harness switches process-wide settings to measure memory (glibc's ``mallopt`` so
freed blocks return to the OS, ``/proc/self/clear_refs`` to reset the peak resident set) and ``--threads`` sets
torch's thread count, so it is not part of the ``vokit`` library, which never changes process-global state.
``vokit bench ba`` (``vokit.cli.bench``) loads this module from the ``benchmarks/`` directory of the source
checkout vokit runs from; ``python benchmarks/ba.py`` runs the same command. Bad arguments raise
:class:`~vokit.errors.VokitError`, printed by the CLI as one line with exit status 2.
"""

import argparse
import importlib.util
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from vokit.errors import VokitError
from vokit.solvers.ba import BAOptions, ba_options, bundle_adjust
from vokit.solvers.graph import build_ba_graph
from vokit.solvers.synthetic import SyntheticBAProblem, synthetic_ba_problem

METHODS = ("vokit", "dense", "scipy")
PASSES = ("fwd", "fwd+bwd")


@dataclass(frozen=True)
class BenchResult:
    """One timed cell of the benchmark.

    Attributes:
        method: ``vokit``, ``dense`` or ``scipy``.
        n_poses: frames N.
        patches_per_frame: patches hosted per frame.
        n_edges: edges E.
        n_unknowns: ``6 F + P`` of the full system.
        dtype: ``float32`` or ``float64``.
        pass_: ``fwd`` (one GN iteration) or ``fwd+bwd`` (plus the backward of a scalar of its output).
        median_ms: median wall time per call, milliseconds (NaN when skipped).
        min_ms: fastest call (less sensitive than the median to other processes on a shared machine).
        p25_ms: 25th percentile.
        p75_ms: 75th percentile.
        repeats: timed calls.
        peak_mb: peak memory above the starting level during one call (CPU: resident set; CUDA: allocator).
        skipped: reason the cell was not run, or empty.
    """

    method: str
    n_poses: int
    patches_per_frame: int
    n_edges: int
    n_unknowns: int
    dtype: str
    pass_: str
    median_ms: float
    min_ms: float
    p25_ms: float
    p75_ms: float
    repeats: int
    peak_mb: float
    skipped: str = ""


def _use_mmap_for_large_allocations() -> bool:
    """Make glibc serve allocations >= 64 KiB by mmap and return them on free, so RSS tracks live memory.

    Called once before the memory phase (after all timings, since it slows allocation down). Returns False where
    glibc's ``mallopt`` is unavailable; peaks then count only memory the process had not touched before.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 64 * 1024)) and bool(libc.mallopt(m_trim_threshold, 0))
    except (OSError, AttributeError):
        return False


def _peak_start(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return float(torch.cuda.memory_allocated(device))
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _proc_status("VmRSS")
    except OSError:
        return math.nan


def _proc_status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return float(line.split()[1]) * 1024.0
    return math.nan


def _peak_end(device: torch.device, start: float) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - start) / 2**20
    if math.isnan(start):
        return math.nan
    return (_proc_status("VmHWM") - start) / 2**20


def _time_calls(fn: Callable[[], None], device: torch.device, budget_s: float, max_repeats: int) -> list[float]:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min(3, max_repeats) or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _make_call(method: str, p: SyntheticBAProblem, opts: BAOptions, backward: bool) -> Callable[[], None]:
    inputs = (p.targets, p.weights, p.cam_from_world, p.inv_depth)
    leaves = [x.detach().clone().requires_grad_(backward) for x in inputs]
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(p.cam_from_world.shape, generator=gen, dtype=p.targets.dtype).to(p.targets.device)
    c = torch.randn(p.inv_depth.shape, generator=gen, dtype=p.targets.dtype).to(p.targets.device)

    def call() -> None:
        targets, weights, poses, depth = leaves
        for x in leaves:
            x.grad = None
        with torch.set_grad_enabled(backward):
            if method == "vokit":
                graph = build_ba_graph(p.src_idx, p.dst_idx, p.patch_idx, p.free_poses, p.inv_depth.shape[1])
                out = bundle_adjust(poses, depth, p.patch_uv, p.intrinsics, targets, weights, graph, options=opts)
                new_poses, new_depth = out.cam_from_world, out.inv_depth
            else:
                from benchmarks.references import dense_iteration, scipy_iteration

                q = SyntheticBAProblem(**{**p.__dict__, "targets": targets, "weights": weights})
                step = dense_iteration if method == "dense" else scipy_iteration
                new_poses, new_depth = step(q, poses, depth, opts)
            if backward:
                ((a * new_poses).sum() + (c * new_depth).sum()).backward()

    return call


def _skip_reason(method: str, backward: bool, n_unknowns: int, dense_max_unknowns: int) -> str:
    if method == "scipy":
        if importlib.util.find_spec("scipy") is None:
            return "skipped: scipy not installed (`pip install -e '.[bench]'`)"
        return "skipped: no backward" if backward else ""
    if method == "dense" and n_unknowns > dense_max_unknowns:
        return f"skipped: {n_unknowns} unknowns > {dense_max_unknowns}"
    return ""


def benchmark_ba(
    poses: tuple[int, ...] = (8, 16, 32),
    patches: tuple[int, ...] = (96, 384),
    dtypes: tuple[str, ...] = ("float64", "float32"),
    passes: tuple[str, ...] = PASSES,
    methods: tuple[str, ...] = METHODS,
    obs_per_patch: int = 6,
    iterations: int = 1,
    budget_s: float = 1.0,
    max_repeats: int = 30,
    dense_max_unknowns: int = 2000,
    device: str = "cpu",
    seed: int = 0,
    measure_memory: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[BenchResult]:
    """Time one (or ``iterations``) Gauss-Newton iteration per method on a grid of problem sizes.

    Args:
        poses: numbers of frames N (one fixed, the others free; >= 2).
        patches: patches per frame.
        dtypes: ``float64`` and/or ``float32``.
        passes: ``fwd`` and/or ``fwd+bwd``.
        methods: subset of :data:`METHODS`.
        obs_per_patch: frames each patch is observed in besides its host.
        iterations: GN iterations per timed call (1 for the headline numbers).
        budget_s: time budget per cell; at least 3 timed calls are made after one warm-up.
        max_repeats: most timed calls per cell.
        dense_max_unknowns: the dense method is skipped above this many unknowns.
        device: torch device string.
        seed: problem seed.
        measure_memory: after all timings, run each cell once more to record its peak memory (CPU: resident set
            with glibc serving large blocks by mmap; CUDA: ``max_memory_allocated``). On the CPU this switches the
            process's allocator to mmap for blocks >= 64 KiB for good, so call it last in a process.
        log: called with one line per timed cell (peaks are filled in afterwards).

    Returns:
        One :class:`BenchResult` per (size, dtype, pass, method), including skipped cells.
    """
    dev = torch.device(device)
    opts = ba_options("train", iterations=iterations)
    results: list[BenchResult] = []
    calls: list[tuple[int, Callable[[], None]]] = []
    for n_poses in poses:
        for ppf in patches:
            for dtype_name in dtypes:
                p = synthetic_ba_problem(
                    n_poses,
                    ppf,
                    obs_per_patch=obs_per_patch,
                    noise_px=0.5,
                    dtype=getattr(torch, dtype_name),
                    device=dev,
                    generator=torch.Generator().manual_seed(seed),
                )
                n_edges, n_unknowns = int(p.src_idx.shape[0]), 6 * (n_poses - 1) + n_poses * ppf
                for pass_ in passes:
                    for method in methods:
                        backward = pass_ == "fwd+bwd"
                        reason = _skip_reason(method, backward, n_unknowns, dense_max_unknowns)
                        key = (n_poses, ppf, n_edges, n_unknowns, dtype_name, pass_)
                        if reason:
                            nan = math.nan
                            cell = BenchResult(method, *key, nan, nan, nan, nan, 0, nan, reason)
                        else:
                            call = _make_call(method, p, opts, backward)
                            times = _time_calls(call, dev, budget_s, max_repeats)
                            q = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else times * 3
                            med, fast = statistics.median(times), min(times)
                            cell = BenchResult(method, *key, med, fast, q[0], q[2], len(times), math.nan)
                            if measure_memory:
                                calls.append((len(results), call))
                        results.append(cell)
                        if log is not None:
                            log(_cell_line(cell))
    if calls and dev.type == "cpu":
        _use_mmap_for_large_allocations()
    for i, call in calls:
        start = _peak_start(dev)
        call()
        results[i] = replace(results[i], peak_mb=_peak_end(dev, start))
    return results


def _cell_line(c: BenchResult) -> str:
    head = f"{c.method:<8} N={c.n_poses:<3} ppf={c.patches_per_frame:<4} E={c.n_edges:<6} {c.dtype} {c.pass_:<8}"
    if c.skipped:
        return f"{head} {c.skipped}"
    return f"{head} {c.median_ms:9.2f} ms (min {c.min_ms:.2f}, IQR {c.p25_ms:.2f}-{c.p75_ms:.2f}, n={c.repeats})"


def results_to_dicts(results: list[BenchResult]) -> list[dict[str, object]]:
    """JSON-ready records (``pass_`` is written as ``pass``; NaN as None)."""
    out = []
    for r in results:
        d = asdict(r)
        d["pass"] = d.pop("pass_")
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()})
    return out


def edge_scaling_exponent(
    results: list[BenchResult], method: str = "vokit", dtype: str = "float64", pass_: str = "fwd"
) -> float:
    """Least-squares slope of log(time) against log(edges): 1 means linear in the number of edges."""
    pts = [
        (math.log(r.n_edges), math.log(r.median_ms))
        for r in results
        if r.method == method and r.dtype == dtype and r.pass_ == pass_ and not r.skipped
    ]
    if len(pts) < 2:
        return math.nan
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx > 0 else math.nan


def format_table(results: list[BenchResult]) -> str:
    """Markdown table of medians per method and pass, vokit's speed-ups and its peak memory.

    Speed-ups are ratios of medians, plus one ratio of the fastest calls (robust to a shared machine's load).
    """

    def cell(method: str, key: tuple[int, int, str], pass_: str) -> BenchResult | None:
        for r in results:
            if (r.method, r.n_poses, r.patches_per_frame, r.dtype, r.pass_) == (method, *key, pass_):
                return r
        return None

    def ms(r: BenchResult | None) -> str:
        return "-" if r is None or r.skipped else f"{r.median_ms:.2f}"

    def ratio(a: BenchResult | None, b: BenchResult | None, fastest: bool = False) -> str:
        if a is None or b is None or a.skipped or b.skipped:
            return "-"
        return f"{a.min_ms / b.min_ms:.1f}x" if fastest else f"{a.median_ms / b.median_ms:.1f}x"

    lines = [
        "| N | patches/frame | edges | dtype | vokit fwd ms | vokit fwd+bwd ms | dense fwd ms | dense fwd+bwd ms "
        "| scipy fwd ms | scipy / vokit | scipy / vokit (min) | dense / vokit | vokit fwd+bwd peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r.n_poses, r.patches_per_frame, r.dtype) for r in results}, key=lambda k: (k[2] != "float64", k))
    for key in keys:
        vf, vb = cell("vokit", key, "fwd"), cell("vokit", key, "fwd+bwd")
        df, db, sf = cell("dense", key, "fwd"), cell("dense", key, "fwd+bwd"), cell("scipy", key, "fwd")
        edges = next(r.n_edges for r in results if (r.n_poses, r.patches_per_frame, r.dtype) == key)
        peak = "-" if vb is None or vb.skipped or math.isnan(vb.peak_mb) else f"{vb.peak_mb:.0f}"
        lines.append(
            f"| {key[0]} | {key[1]} | {edges} | {key[2]} | {ms(vf)} | {ms(vb)} | {ms(df)} | {ms(db)} | {ms(sf)} "
            f"| {ratio(sf, vf)} | {ratio(sf, vf, fastest=True)} | {ratio(df, vf)} | {peak} |"
        )
    notes = sorted({f"{r.method}: {r.skipped}" for r in results if r.skipped and "not installed" in r.skipped})
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines)


def plot_scaling(results: list[BenchResult], path: str) -> None:
    """Log-log plot of median time per iteration against edges (matplotlib's Agg canvas; no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = sorted({(r.method, r.dtype, r.pass_) for r in results if not r.skipped})
    colors = {
        "vokit": "tab:blue",
        "scipy": "tab:orange",
        "dense": "tab:green",
    }
    for method, dtype, pass_ in series:
        pts = sorted(
            (r.n_edges, r.median_ms)
            for r in results
            if (r.method, r.dtype, r.pass_) == (method, dtype, pass_) and not r.skipped
        )
        style = "-" if dtype == "float64" else "--"
        marker = "o" if pass_ == "fwd" else "s"
        ax.plot(
            [e for e, _ in pts],
            [t for _, t in pts],
            style,
            marker=marker,
            color=colors.get(method),
            alpha=1.0 if pass_ == "fwd" else 0.6,
            label=f"{method} {dtype} {pass_}",
        )
    edges = sorted({r.n_edges for r in results})
    vokit = [r.median_ms for r in results if r.method == "vokit" and r.n_edges == edges[-1] and not r.skipped]
    if len(edges) > 1 and vokit:
        ref = min(vokit)
        ax.plot(edges, [ref * e / edges[-1] for e in edges], ":", color="gray", label="proportional to edges")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("edges (N frames x patches/frame x 6 observations)")
    ax.set_ylabel("ms per Gauss-Newton iteration (median)")
    ax.set_title("BA iteration time vs problem size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vokit bench ba",
        description="Time one Gauss-Newton iteration of patch BA (vokit's Schur-complement layer, a dense torch "
        "solve of the full normal equations, scipy's sparse direct solve) on synthetic problems where each point "
        "is seen in ~6 frames. Prints a table of medians and ratios, writes JSON and a scaling plot.",
    )
    parser.add_argument("--poses", type=int, nargs="+", default=[8, 16, 32], help="frames N, >= 2 (default: 8 16 32)")
    parser.add_argument("--patches", type=int, nargs="+", default=[96, 384], help="patches per frame (96 384)")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--passes", nargs="+", default=list(PASSES), choices=list(PASSES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
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


def _check_args(args: argparse.Namespace) -> None:
    """Reject values the benchmark cannot use, as :class:`VokitError` (one line and exit status 2 from the CLI)."""
    if min(args.poses) < 2:
        raise VokitError(f"--poses {' '.join(map(str, args.poses))}: every problem needs N >= 2 frames (one is fixed)")
    checks = [
        (min(args.patches) >= 1, "--patches must be >= 1"),
        (args.obs >= 1, "--obs must be >= 1"),
        (args.iterations >= 1, "--iterations must be >= 1"),
        (args.budget_s >= 0, "--budget-s must be >= 0"),
        (args.max_repeats >= 1, "--max-repeats must be >= 1"),
        (args.dense_max_unknowns >= 0, "--dense-max-unknowns must be >= 0"),
        (args.threads is None or args.threads >= 1, "--threads must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise VokitError(message)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise VokitError(f"--device {args.device}: CUDA is not available")


def main(argv: list[str]) -> int:
    """``vokit bench ba``: BA layer vs dense torch vs scipy sparse; table, JSON and scaling plot."""
    args = _parser().parse_args(argv)
    _check_args(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # this benchmark's own process: the thread count is what it measures
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "vokit bench ba " + " ".join(argv)
    print(f"# {command}")
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"{platform.processor() or platform.machine()}"
    )
    results = benchmark_ba(
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
    table = format_table(results)
    slope = edge_scaling_exponent(results)
    if math.isfinite(slope):
        summary = f"vokit fwd float64: time ~ edges^{slope:.2f} (log-log least squares)"
    else:
        summary = "vokit fwd float64: no edge-scaling fit (it needs fwd float64 vokit cells at two or more sizes)"
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
        "edge_scaling_exponent": slope if math.isfinite(slope) else None,
    }
    records = results_to_dicts(results)
    (out / "ba.json").write_text(json.dumps({"meta": meta, "results": records}, indent=1, allow_nan=False))
    (out / "ba.md").write_text(f"`{command}`\n\n{table}\n\n{summary}\n")
    if not args.no_plot:
        plot_scaling(results, str(out / "ba_scaling.png"))
    print(f"wrote {out / 'ba.json'}, {out / 'ba.md'}" + ("" if args.no_plot else f", {out / 'ba_scaling.png'}"))
    return 0


if __name__ == "__main__":
    # `python benchmarks/ba.py ...` is `vokit bench ba ...`: the CLI loads this directory as the package
    # `benchmarks` (so `benchmarks.references` imports) and prints bad input as one line with exit status 2.
    from vokit.cli.main import main as vokit_main

    sys.exit(vokit_main(["bench", "ba", *sys.argv[1:]]))
