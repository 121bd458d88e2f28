"""Invariants and edge cases of the trajectory metrics (alignment, ATE, RPE, pair selection, association)."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.metrics.trajectories import apply_sim3, noisy_estimate, random_trajectory

from vokit.errors import VokitError
from vokit.geometry.lie import se3_to_matrix, sim3_exp
from vokit.metrics import (
    absolute_trajectory_error,
    align_trajectory,
    associate,
    evaluate_trajectory,
    format_trajectory_table,
    relative_pose_error,
)
from vokit.metrics.stats import error_stats
from vokit.metrics.trajectory import apply_sim3_to_poses, pairs_by_frames, pairs_by_path


def same_rotations(q1: torch.Tensor, q2: torch.Tensor) -> bool:
    return bool(((q1 * q2).sum(-1).abs() > 1 - 1e-12).all())  # q and -q are the same rotation


def _random_sim3(seed: int, log_scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xi = torch.randn(7, generator=g, dtype=torch.float64) * 3.0
    xi[6] = log_scale
    return sim3_exp(xi)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), log_scale=st.floats(-2.0, 2.0), n=st.integers(6, 40))
def test_sim3_aligned_ate_is_invariant_to_a_sim3_of_the_estimate(seed: int, log_scale: float, n: int) -> None:
    ref = random_trajectory(n, seed)
    est = noisy_estimate(ref, seed)
    moved = apply_sim3(_random_sim3(seed + 7, log_scale), est)
    a = absolute_trajectory_error(ref, est, align="sim3").errors
    b = absolute_trajectory_error(ref, moved, align="sim3").errors
    torch.testing.assert_close(b.trans_m, a.trans_m, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(b.rot_deg, a.rot_deg, rtol=1e-7, atol=1e-7)
    se3_only = apply_sim3(_random_sim3(seed + 7, 0.0), est)
    c = absolute_trajectory_error(ref, se3_only, align="se3").errors
    d = absolute_trajectory_error(ref, est, align="se3").errors
    torch.testing.assert_close(c.trans_m, d.trans_m, rtol=1e-8, atol=1e-10)
    # RPE never feels a rigid change of world frame.
    e = relative_pose_error(ref, se3_only, delta=2).errors
    f = relative_pose_error(ref, est, delta=2).errors
    torch.testing.assert_close(e.trans_m, f.trans_m, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("align", ["se3", "sim3", "scale", "none"])
def test_perfect_estimate_gives_zero_everywhere(align: str) -> None:
    ref = random_trajectory(30, 3)
    for result in (absolute_trajectory_error(ref, ref, align=align).errors,
                   relative_pose_error(ref, ref, 3, "frames", align=align).errors,
                   relative_pose_error(ref, ref, 2.0, "m", all_pairs=True, align=align).errors):
        for stats in (result.trans, result.rot, result.full_stats):
            assert stats.max < 1e-6 and stats.rmse < 1e-6  # exact up to float64 rounding of the alignment


def test_a_known_sim3_is_recovered_and_undone() -> None:
    ref = random_trajectory(25, 11)
    truth = _random_sim3(5, math.log(0.25))
    est = apply_sim3(truth, ref)  # est = truth * ref, so ref_from_est = truth^-1
    result = absolute_trajectory_error(ref, est, align="sim3")
    assert result.alignment.scale == pytest.approx(4.0, rel=1e-10)
    assert result.errors.trans.max < 1e-9
    torch.testing.assert_close(result.est_aligned[:, :3], ref[:, :3], rtol=0, atol=1e-9)
    moved = apply_sim3_to_poses(result.alignment.ref_from_est, est)
    torch.testing.assert_close(moved, result.est_aligned, rtol=0, atol=1e-12)
    assert same_rotations(moved[:, 3:], ref[:, 3:])


def test_ate_equals_hand_computed_translation_errors() -> None:
    ref = torch.tensor([[0.0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 0, 1]], dtype=torch.float64)
    est = ref.clone()
    est[:, 1] = torch.tensor([0.1, -0.2, 0.2], dtype=torch.float64)
    est[2, 3:] = torch.tensor([0.0, math.sin(0.05), 0.0, math.cos(0.05)], dtype=torch.float64)  # 0.1 rad about y
    r = absolute_trajectory_error(ref, est, align="none").errors
    torch.testing.assert_close(r.trans_m, torch.tensor([0.1, 0.2, 0.2], dtype=torch.float64))
    torch.testing.assert_close(r.rot_deg, torch.tensor([0.0, 0.0, math.degrees(0.1)], dtype=torch.float64))
    assert r.trans.rmse == pytest.approx(math.sqrt((0.01 + 0.04 + 0.04) / 3))
    assert r.trans.median == pytest.approx(0.2) and r.trans.sse == pytest.approx(0.09)
    full_last = math.sqrt(0.2**2 + 8 * math.sin(0.05) ** 2)  # ||E - I||_F^2 = |t|^2 + 8 sin^2(angle/2)
    assert float(r.full[2]) == pytest.approx(full_last, rel=1e-12)


def test_error_stats_match_numpy() -> None:
    x = torch.rand(101, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for values in (x, x[:100]):
        s, v = error_stats(values), values.numpy()
        assert s.median == pytest.approx(np.median(v), rel=1e-15) and s.std == pytest.approx(np.std(v), rel=1e-12)
        assert s.rmse == pytest.approx(math.sqrt(np.mean(v**2)), rel=1e-12) and s.count == v.size


def test_n_align_uses_only_the_first_poses() -> None:
    ref = random_trajectory(40, 2)
    est = noisy_estimate(ref, 2, noise=0.1)
    full = absolute_trajectory_error(ref, est, align="se3")
    first = absolute_trajectory_error(ref, est, align="se3", n_align=10)
    direct = align_trajectory(ref[:10], est[:10], "se3")
    assert first.alignment.n_used == 10 and full.alignment.n_used == 40
    torch.testing.assert_close(first.alignment.ref_from_est, direct.ref_from_est)
    assert first.errors.trans.rmse > full.errors.trans.rmse  # all-pose alignment minimises the rmse


def test_matrices_and_se3_inputs_agree() -> None:
    ref = random_trajectory(30, 4)
    est = noisy_estimate(ref, 4)
    a = relative_pose_error(ref, est, 3.0, "m", align="sim3")
    b = relative_pose_error(se3_to_matrix(ref)[:, :3], est, 3.0, "m", align="sim3")
    assert torch.equal(a.pairs, b.pairs)
    torch.testing.assert_close(a.errors.trans_m, b.errors.trans_m, rtol=1e-10, atol=1e-12)


def test_pair_selection_by_frames() -> None:
    assert pairs_by_frames(7, 3).tolist() == [[0, 3], [3, 6]]
    assert pairs_by_frames(7, 3, all_pairs=True).tolist() == [[i, i + 3] for i in range(4)]
    with pytest.raises(VokitError):
        pairs_by_frames(7, 0)


def test_pair_selection_by_path_restarts_the_sum_at_each_accepted_pose() -> None:
    steps = [0.4, 0.4, 0.4, 1.0, 0.1, 0.95, 0.3]  # path steps in metres along x
    pos = torch.zeros(len(steps) + 1, 3, dtype=torch.float64)
    pos[1:, 0] = torch.tensor(steps, dtype=torch.float64).cumsum(0)
    # consecutive: accept when the running sum since the last accepted pose reaches 1.0 m
    assert pairs_by_path(pos, 1.0).tolist() == [[0, 3], [3, 4], [4, 6]]
    # all pairs: for every i the j whose path distance is closest to 1.0 m, within 0.1 m
    dist = np.concatenate([[0.0], np.cumsum(steps)])
    expected = []
    for i in range(len(dist) - 1):
        j = i + 1 + int(np.argmin(np.abs(dist[i + 1:] - dist[i] - 1.0)))
        if abs(dist[j] - dist[i] - 1.0) <= 0.1:
            expected.append([i, j])
    assert pairs_by_path(pos, 1.0, tol_m=0.1, all_pairs=True).tolist() == expected


def _brute_tum_association(ref: list[float], est: list[float], offset: float, max_diff: float) -> list[tuple]:
    """TUM associate.py, literally: all candidate pairs, sorted, greedy one-to-one."""
    cands = sorted((abs(a - (b + offset)), a, b) for a, b in itertools.product(ref, est) if abs(a - (b + offset))
                   < max_diff)
    free_a, free_b, matches = set(ref), set(est), []
    for _, a, b in cands:
        if a in free_a and b in free_b:
            free_a.remove(a)
            free_b.remove(b)
            matches.append((a, b))
    return sorted(matches)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), offset=st.sampled_from([0.0, 0.011, -0.03]))
def test_tum_association_matches_the_literal_algorithm(seed: int, offset: float) -> None:
    g = np.random.default_rng(seed)
    ref = np.round(np.cumsum(g.uniform(0.002, 0.03, 60)), 4) + 100.0
    est = np.round(np.cumsum(g.uniform(0.002, 0.04, 45)), 4) + 99.95
    expected = _brute_tum_association(ref.tolist(), est.tolist(), offset, 0.02)
    if not expected:
        return
    a = associate(torch.from_numpy(ref), torch.from_numpy(est), "tum", 0.02, offset)
    assert list(zip(ref[a.ref_idx.numpy()].tolist(), est[a.est_idx.numpy()].tolist(), strict=True)) == expected


def test_bad_inputs_raise_vokit_errors() -> None:
    ref = random_trajectory(10, 0)
    with pytest.raises(VokitError, match="n_align"):
        absolute_trajectory_error(ref, ref, align="se3", n_align=2)
    bad = ref.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(VokitError, match="NaN"):
        absolute_trajectory_error(ref, bad)
    with pytest.raises(VokitError, match="no pose pair"):
        relative_pose_error(ref, ref, delta=1000.0, delta_unit="m")
    with pytest.raises(VokitError, match="integer"):
        relative_pose_error(ref, ref, delta=1.5, delta_unit="frames")
    with pytest.raises(VokitError, match="no matching timestamps"):
        associate(torch.arange(5.0, dtype=torch.float64), 100 + torch.arange(5.0, dtype=torch.float64))
    line = torch.zeros(10, 7, dtype=torch.float64)
    line[:, 0], line[:, 6] = torch.arange(10.0), 1.0
    with pytest.raises(VokitError, match="cannot align"):
        absolute_trajectory_error(line, line, align="se3")  # collinear centres: rotation undefined


def test_evaluate_trajectory_reports_protocol_and_kitti_note() -> None:
    ref = random_trajectory(50, 8)
    est = noisy_estimate(ref, 8)
    stamps = torch.arange(50, dtype=torch.float64) * 0.1 + 1e9
    result = evaluate_trajectory(ref, est, stamps, stamps + 0.004, assoc="evo", align="se3", rpe_delta=2,
                                 kitti_segments=True)
    assert result.association.n_matched == 50 and result.kitti is None and "shorter" in result.kitti_note
    d = result.as_dict()
    assert d["association"] == {"method": "evo", "max_diff_s": 0.01, "offset_s": 0.0, "n_matched": 50}
    assert d["ape"]["translation_m"]["rmse"] == result.ate.errors.trans.rmse
    assert "rmse" in format_trajectory_table(result)
