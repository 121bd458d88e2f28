"""The BA benchmark's reference solves and harness (``benchmarks/``, beside the tests; not part of the library)."""

import math

import pytest
import torch
from benchmarks import ba as bench
from benchmarks.references import dense_iteration, scipy_iteration

from vokit.solvers import ba_options, bundle_adjust
from vokit.solvers.synthetic import synthetic_ba_problem


@pytest.mark.parametrize("method", ["dense", "scipy"])
def test_reference_iterations_solve_the_same_system(method):
    # with mu = 0 the Schur path and the full system are the same linear solve
    pytest.importorskip("scipy")
    p = synthetic_ba_problem(4, 12, obs_per_patch=3, noise_px=0.5, generator=torch.Generator().manual_seed(2))
    opts = ba_options("train", iterations=1, rel_pose_damping=0.0, pose_damping=0.5)
    out = bundle_adjust(
        p.cam_from_world, p.inv_depth, p.patch_uv, p.intrinsics, p.targets, p.weights, p.graph(), options=opts
    )
    step = dense_iteration if method == "dense" else scipy_iteration
    poses, depth = step(p, p.cam_from_world, p.inv_depth, opts)
    torch.testing.assert_close(poses, out.cam_from_world, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(depth, out.inv_depth, rtol=1e-9, atol=1e-10)


def test_benchmark_grid_records_every_cell():
    # measure_memory=False: the memory pass changes the allocator of the whole (test) process
    res = bench.benchmark_ba(
        poses=(3, 4),
        patches=(6,),
        dtypes=("float64",),
        passes=("fwd", "fwd+bwd"),
        budget_s=0.0,
        max_repeats=1,
        measure_memory=False,
    )
    assert bench.METHODS == ("vokit", "dense", "scipy")
    assert len(res) == 2 * 2 * len(bench.METHODS)
    by = {(r.method, r.n_poses, r.pass_): r for r in res}
    for n in (3, 4):
        for pass_ in ("fwd", "fwd+bwd"):
            assert by[("vokit", n, pass_)].median_ms > 0 and by[("vokit", n, pass_)].repeats == 1
    assert by[("scipy", 3, "fwd+bwd")].skipped == "skipped: no backward"
    table = bench.format_table(res)
    assert table.count("\n| ") == 2 and "scipy / vokit (min)" in table  # one row per size
    assert math.isfinite(bench.edge_scaling_exponent(res))
    records = bench.results_to_dicts(res)
    assert {"method", "pass", "median_ms", "peak_mb"} <= set(records[0])


def test_peak_memory_sees_a_large_temporary():
    dev = torch.device("cpu")
    start = bench._peak_start(dev)
    x = torch.ones(6 * 2**20, dtype=torch.float64)  # 48 MiB, above glibc's largest mmap threshold
    del x
    peak = bench._peak_end(dev, start)
    if math.isnan(peak):
        pytest.skip("no /proc/self/clear_refs on this system")
    assert 40 < peak < 200


def test_library_has_no_benchmark_module():
    # the harness changes process-wide settings, so it must not be importable from the library
    with pytest.raises(ModuleNotFoundError):
        __import__("vokit.solvers.benchmark")
