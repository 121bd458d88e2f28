"""Speed and memory benchmark of the BA layer against a dense torch solve and scipy's sparse direct solver.

Every method performs the same Gauss-Newton iteration on the same synthetic problem
(:func:`vokit.solvers.synthetic.synthetic_ba_problem`): linearise all edges, build the damped normal equations,
solve, retract. Timings cover the whole iteration, graph preprocessing included:

* ``vokit``: :func:`~vokit.solvers.bundle_adjust` (pair/patch-row layouts, Schur complement, dense Cholesky on the
  6F x 6F reduced camera system).
* ``dense``: the full ``(6F + P)`` normal matrix assembled by ``scatter_add`` from per-edge 13x13 blocks and solved
  by a dense torch Cholesky (skipped above ``dense_max_unknowns``).
* ``scipy``: the sparse Jacobian built in CSR form, ``H = J^T W J`` by scipy's sparse product, solved by
  ``scipy.sparse.linalg.spsolve`` (SuperLU with COLAMD ordering); forward only.

All three share vokit's linearisation code (residuals and per-edge Jacobians), so the comparison isolates how the
normal equations are assembled and solved.
* ``theseus`` / ``pypose``: reported as skipped when not importable (they are optional ``bench`` competitors).

The reference methods damp the full system with ``eps`` and ``mu diag(B)`` on the pose block and ``lambda`` on the
depth block (the Schur path damps ``diag(S)`` instead: the same ``eps``/``lambda``, a different ``mu`` term).
"""

import importlib.util
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor

from vokit.geometry.lie import quat_normalize, se3_compose, se3_exp
from vokit.solvers.ba import BAOptions, ba_options, bundle_adjust
from vokit.solvers.graph import BAGraph, build_ba_graph
from vokit.solvers.schur import gather_edge_data, linearize
from vokit.solvers.synthetic import SyntheticBAProblem, synthetic_ba_problem

METHODS = ("vokit", "dense", "scipy", "theseus", "pypose")
PASSES = ("fwd", "fwd+bwd")


@dataclass(frozen=True)
class BenchResult:
    """One timed cell of the benchmark.

    Attributes:
        method: ``vokit``, ``dense``, ``scipy``, ``theseus`` or ``pypose``.
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


def _edge_jacobians(
    p: SyntheticBAProblem, graph: BAGraph, poses: Tensor, depth: Tensor, opts: BAOptions
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Full per-edge Jacobians for the reference solvers, from the same linearisation code as vokit.

    Returns ``J (B, S, 2, 13)`` (``[J_src | J_dst | J_d]``), ``W (B, S, 2)`` (zero on invalid and padding slots),
    ``r (B, S, 2)`` and the unknown index of each of the 13 columns, ``idx (S, 13)`` (-1 for fixed poses).
    """
    data = gather_edge_data(p.patch_uv, p.intrinsics, p.targets, p.weights, graph, None)
    lin = linearize(poses, depth, data, graph, opts.residual_gate_px, opts.margin_px, opts.min_z)
    b = poses.shape[0]
    J_dst = torch.stack([lin.J_u, lin.J_v], dim=-2)
    J_src = -(J_dst @ lin.adjoint[:, :, None])
    J_d = torch.stack([lin.Jd_u, lin.Jd_v], dim=-1)
    J = torch.cat([J_src, J_dst, J_d[..., None]], dim=-1).reshape(b, -1, 2, 13)
    width = graph.pair_width
    six = torch.arange(6, device=poses.device)

    def cols(frame: Tensor) -> Tensor:
        free = graph.free_index[frame]
        base = free.repeat_interleave(width)[:, None]
        return torch.where(base < graph.n_free, base * 6 + six, -1)

    idx = torch.cat([cols(graph.pair_src), cols(graph.pair_dst), (6 * graph.n_free + graph.pair_patch)[:, None]], 1)
    w = torch.stack([lin.wg_u, lin.wg_v], dim=-1).reshape(b, -1, 2)
    return J, w, torch.stack([lin.r_u, lin.r_v], dim=-1).reshape(b, -1, 2), idx


def _damping_diag(H_diag: Tensor, n_free: int, opts: BAOptions) -> Tensor:
    pose = opts.pose_damping + opts.rel_pose_damping * H_diag[..., : 6 * n_free]
    depth = torch.full_like(H_diag[..., 6 * n_free :], opts.depth_damping)
    return torch.cat([pose, depth], dim=-1)


def _retract(p: SyntheticBAProblem, poses: Tensor, depth: Tensor, x: Tensor, opts: BAOptions) -> tuple[Tensor, Tensor]:
    n_free = int(p.free_poses.sum())
    xi = x.new_zeros(x.shape[0], p.free_poses.shape[0], 6)
    xi = xi.index_copy(1, torch.nonzero(p.free_poses).squeeze(-1), x[:, : 6 * n_free].reshape(x.shape[0], n_free, 6))
    moved = se3_compose(se3_exp(xi), poses)
    moved = torch.cat([moved[..., :3], quat_normalize(moved[..., 3:])], dim=-1)
    new_depth = (depth + x[:, 6 * n_free :]).clamp(min=opts.inv_depth_min, max=opts.inv_depth_max)
    return torch.where(p.free_poses[:, None], moved, poses), new_depth


def dense_iteration(p: SyntheticBAProblem, poses: Tensor, depth: Tensor, opts: BAOptions) -> tuple[Tensor, Tensor]:
    """One GN iteration with the full normal matrix assembled densely and solved by torch Cholesky."""
    graph = build_ba_graph(p.src_idx, p.dst_idx, p.patch_idx, p.free_poses, p.inv_depth.shape[1])
    J, w, r, idx = _edge_jacobians(p, graph, poses, depth, opts)
    WJ = w[..., None] * J
    H_e = WJ.transpose(-1, -2) @ J
    g_e = (WJ * r[..., None]).sum(-2)
    b, n_free = J.shape[0], graph.n_free
    n = 6 * n_free + p.inv_depth.shape[1]
    ok = (idx >= 0) & graph.pair_valid[:, None]
    pair_ok = (ok[:, :, None] & ok[:, None, :]).reshape(-1)
    flat = (idx[:, :, None] * n + idx[:, None, :]).reshape(-1)[pair_ok]
    H = H_e.new_zeros(b, n * n).scatter_add(1, flat.expand(b, -1), H_e.reshape(b, -1)[:, pair_ok]).view(b, n, n)
    ok = ok.reshape(-1)
    g = g_e.new_zeros(b, n).scatter_add(1, idx.reshape(-1)[ok].expand(b, -1), g_e.reshape(b, -1)[:, ok])
    H = H + torch.diag_embed(_damping_diag(H.diagonal(dim1=-2, dim2=-1), n_free, opts))
    factor = torch.linalg.cholesky(H)
    x = torch.cholesky_solve(g[..., None], factor)[..., 0]
    return _retract(p, poses, depth, x, opts)


def scipy_iteration(p: SyntheticBAProblem, poses: Tensor, depth: Tensor, opts: BAOptions) -> tuple[Tensor, Tensor]:
    """One GN iteration solving the full normal equations with ``scipy.sparse.linalg.spsolve`` (SuperLU).

    The sparse Jacobian ``W^1/2 J`` (2 rows per edge, 13 entries per row) is built directly in CSR form and the
    normal matrix formed by scipy's sparse product ``J^T J``: the fastest assembly we found (COO triplets of the
    per-edge 13x13 blocks take ~10x longer to convert).
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    graph = build_ba_graph(p.src_idx, p.dst_idx, p.patch_idx, p.free_poses, p.inv_depth.shape[1])
    J, w, r, idx = _edge_jacobians(p, graph, poses, depth, opts)
    b, n_free = J.shape[0], graph.n_free
    n = 6 * n_free + p.inv_depth.shape[1]
    idx_rows = idx.repeat_interleave(2, dim=0).cpu().numpy()
    keep = idx_rows >= 0
    indptr = np.concatenate([[0], np.cumsum(keep.sum(1))])
    indices = idx_rows[keep]
    sw = w.sqrt()
    Jw = (J * sw[..., None]).detach().reshape(b, -1, 13).cpu().numpy()
    rw = (r * sw).detach().reshape(b, -1).cpu().numpy()
    xs = []
    for k in range(b):
        Js = sp.csr_matrix((Jw[k][keep], indices, indptr), shape=(Jw.shape[1], n))
        H = (Js.T @ Js).tocsc()
        g = Js.T @ rw[k]
        diag = _damping_diag(torch.from_numpy(H.diagonal().copy()), n_free, opts).numpy()
        xs.append(torch.from_numpy(spsolve(H + sp.diags(diag, format="csc"), g)))
    x = torch.stack(xs).to(device=poses.device, dtype=poses.dtype)
    return _retract(p, poses, depth, x, opts)


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
                q = SyntheticBAProblem(**{**p.__dict__, "targets": targets, "weights": weights})
                step = dense_iteration if method == "dense" else scipy_iteration
                new_poses, new_depth = step(q, poses, depth, opts)
            if backward:
                ((a * new_poses).sum() + (c * new_depth).sum()).backward()

    return call


def _skip_reason(method: str, backward: bool, n_unknowns: int, dense_max_unknowns: int) -> str:
    if method in ("theseus", "pypose"):
        name = "theseus" if method == "theseus" else "pypose"
        return "" if importlib.util.find_spec(name) is not None else "skipped: not installed"
    if method == "scipy":
        if importlib.util.find_spec("scipy") is None:
            return "skipped: not installed"
        return "skipped: no backward" if backward else ""
    if method == "dense" and n_unknowns > dense_max_unknowns:
        return f"skipped: {n_unknowns} unknowns > {dense_max_unknowns}"
    return ""


def benchmark_ba(
    poses: tuple[int, ...] = (8, 16, 32),
    patches: tuple[int, ...] = (96, 384),
    dtypes: tuple[str, ...] = ("float64", "float32"),
    passes: tuple[str, ...] = PASSES,
    methods: tuple[str, ...] = ("vokit", "dense", "scipy", "theseus", "pypose"),
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
        poses: numbers of frames N (one fixed, the others free).
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
                        if method in ("theseus", "pypose") and not reason:
                            reason = "skipped: adapter not implemented"
                        key = (n_poses, ppf, n_edges, n_unknowns, dtype_name, pass_)
                        if reason:
                            nan = math.nan
                            cell = BenchResult(method, *key, nan, nan, nan, nan, 0, nan, reason)
                        else:
                            call = _make_call(method, p, opts, backward)
                            times = _time_calls(call, dev, budget_s, max_repeats)
                            q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
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
    notes = sorted({f"{r.method}: {r.skipped}" for r in results if r.skipped and r.method in ("theseus", "pypose")})
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines)


def plot_scaling(results: list[BenchResult], path: str) -> None:
    """Log-log plot of median time per iteration against edges (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    series = sorted({(r.method, r.dtype, r.pass_) for r in results if not r.skipped})
    colors = {
        "vokit": "tab:blue",
        "scipy": "tab:orange",
        "dense": "tab:green",
        "theseus": "tab:red",
        "pypose": "tab:purple",
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
    plt.close(fig)
