"""Reproduce every number in ../shared/data/evo_trajectories/REFERENCE_VALUES_*.txt (evo 1.38.1, TUM tools).

Each block of the reference files is one test: the command line is parsed (format, alignment flags, pose
relation, delta, unit, all-pairs) and run through the vokit metrics, and every printed value (statistics, match
and pair counts, the alignment's rotation, translation and scale) must agree to 1e-6 relative or to the printed
rounding (see tests/metrics/reference_data.py).
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.metrics.reference_data import (
    SHARED_REF_DIR,
    EvoBlock,
    TumBlock,
    agrees,
    load_kitti_rows,
    load_tum,
    parse_evo_reference,
    parse_tum_reference,
)
from tests.support.data import shared_data

from vokit.geometry.lie import quat_to_matrix
from vokit.metrics import absolute_trajectory_error, associate, relative_pose_error, relative_pose_error_tum

EVO_FILE = SHARED_REF_DIR / "REFERENCE_VALUES_evo-1.38.1.txt"
TUM_FILE = SHARED_REF_DIR / "REFERENCE_VALUES_tum-benchmark-tools.txt"
EVO_BLOCKS = parse_evo_reference(EVO_FILE) if EVO_FILE.exists() else []
TUM_BLOCKS = parse_tum_reference(TUM_FILE) if TUM_FILE.exists() else []


def _evo_inputs(block: EvoBlock, folder: Path) -> tuple[torch.Tensor, torch.Tensor, int | None]:
    if block.fmt == "kitti":
        return load_kitti_rows(folder / block.ref), load_kitti_rows(folder / block.est), None
    ref_t, ref = load_tum(folder / block.ref, "euroc" if block.fmt == "euroc" else "tum")
    est_t, est = load_tum(folder / block.est, "tum")
    a = associate(ref_t, est_t, "evo")
    return ref[a.ref_idx], est[a.est_idx], a.n_matched


def _check(name: str, ours: float, ref: float, failures: list[str]) -> None:
    if not agrees(ours, ref):
        failures.append(f"{name}: vokit {ours!r} vs reference {ref!r}")


@pytest.mark.parametrize("block", EVO_BLOCKS or [None], ids=[b.command for b in EVO_BLOCKS] or ["absent"])
def test_evo_reference_values(block: EvoBlock | None) -> None:
    folder = shared_data("evo_trajectories")
    assert block is not None, "reference file present but no block parsed"
    ref, est, n_matched = _evo_inputs(block, folder)
    failures: list[str] = []
    if block.n_matched is not None:
        _check("matched stamps", float(n_matched or 0), block.n_matched, failures)
    if block.tool == "evo_ape":
        result = absolute_trajectory_error(ref, est, align=block.align)
        alignment = result.alignment
        errors = result.errors
    else:
        unit = {"f": "frames", "m": "m"}[block.delta_unit]
        result_rpe = relative_pose_error(ref, est, block.delta, unit, block.all_pairs, align=block.align)
        alignment = result_rpe.alignment
        errors = result_rpe.errors
        _check("pairs", float(result_rpe.pairs.shape[0]), float(block.n_pairs or -1), failures)
    stats = {"trans_part": errors.trans, "full": errors.full_stats, "angle_deg": errors.rot}[block.relation]
    assert set(block.stats) == {"max", "mean", "median", "min", "rmse", "sse", "std"}
    for key, value in block.stats.items():
        _check(key, getattr(stats, key), value, failures)
    _check("compared", float(stats.count), float(block.n_compared or -1), failures)
    if block.rotation is not None:
        R = quat_to_matrix(alignment.ref_from_est[3:7]).numpy()
        assert np.allclose(R, block.rotation, rtol=0, atol=1e-8), (R, block.rotation)
        assert np.allclose(alignment.ref_from_est[:3].numpy(), block.translation, rtol=0, atol=1e-8)
    if block.scale is not None:
        _check("scale", alignment.scale, block.scale, failures)
    assert not failures, "\n".join(failures)


def _check_tum_stats(prefix: str, stats, values: dict[str, float], failures: list[str]) -> None:  # noqa: ANN001
    for key in ("rmse", "mean", "median", "std", "min", "max"):
        _check(f"{prefix}.{key}", getattr(stats, key), values[f"{prefix}.{key}"], failures)


@pytest.mark.parametrize("block", TUM_BLOCKS or [None], ids=[b.command for b in TUM_BLOCKS] or ["absent"])
def test_tum_tools_reference_values(block: TumBlock | None) -> None:
    folder = shared_data("evo_trajectories")
    assert block is not None, "reference file present but no block parsed"
    ref_t, ref = load_tum(folder / block.ref)
    est_t, est = load_tum(folder / block.est)
    failures: list[str] = []
    if block.script == "evaluate_ate.py":
        a = associate(ref_t, est_t, "tum", max_diff_s=0.02)
        result = absolute_trajectory_error(ref[a.ref_idx], est[a.est_idx], align="se3")
        _check("compared_pose_pairs", float(a.n_matched), block.values["compared_pose_pairs"], failures)
        _check_tum_stats("absolute_translational_error", result.errors.trans, block.values, failures)
        assert len(block.values) == 7
    else:
        assert "--fixed_delta" in block.command and "--delta_unit f" in block.command
        rpe = relative_pose_error_tum(ref_t, ref, est_t, est, delta=1.0, delta_unit="f")
        _check("compared_pose_pairs", float(rpe.trans_m.numel()), block.values["compared_pose_pairs"], failures)
        _check_tum_stats("translational_error", rpe.trans, block.values, failures)
        _check_tum_stats("rotational_error", rpe.rot, block.values, failures)
        _check("translational_relative_pose_gt.rmse", rpe.ref_motion.rmse,
               block.values["translational_relative_pose_gt.rmse"], failures)
        assert len(block.values) == 14
    assert not failures, "\n".join(failures)


def test_reference_files_fully_parsed() -> None:
    shared_data("evo_trajectories")
    assert len(EVO_BLOCKS) == 15 and all(len(b.stats) == 7 for b in EVO_BLOCKS)
    assert len(TUM_BLOCKS) == 6
