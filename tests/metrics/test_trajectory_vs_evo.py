"""ATE / RPE / association against evo itself (evo.main_ape, evo.main_rpe, evo.core.sync) on random trajectories."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.metrics.trajectories import deep, noisy_estimate, random_trajectory, to_evo

from vokit.errors import VokitError
from vokit.geometry.lie import quat_to_matrix
from vokit.metrics import absolute_trajectory_error, associate, relative_pose_error

evo_metrics = pytest.importorskip("evo.core.metrics", reason="evo (the [eval]/[dev] extra) is not installed")
from evo import main_ape, main_rpe  # noqa: E402
from evo.core import filters as evo_filters  # noqa: E402
from evo.core import sync  # noqa: E402

STATS = ("rmse", "mean", "median", "std", "min", "max", "sse")
EVO_ALIGN = {"se3": (True, False), "sim3": (True, True), "scale": (False, True), "none": (False, False)}
RELATIONS = {
    "trans": evo_metrics.PoseRelation.translation_part,
    "rot": evo_metrics.PoseRelation.rotation_angle_deg,
    "full_stats": evo_metrics.PoseRelation.full_transformation,
}


def _assert_stats(ours, evo_stats: dict) -> None:  # noqa: ANN001
    for key in STATS:
        assert ours.__getattribute__(key) == pytest.approx(evo_stats[key], rel=1e-9, abs=1e-12), key


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(8, 60),
    align=st.sampled_from(["se3", "sim3", "scale", "none"]),
    n_align=st.sampled_from([None, 5]),
    scale=st.sampled_from([1.0, 0.3, 4.0]),
)
def test_ate_matches_evo(seed: int, n: int, align: str, n_align: int | None, scale: float) -> None:
    ref = random_trajectory(n, seed)
    est = noisy_estimate(ref, seed, sim3_scale=scale)
    est_before = est.clone()
    ours = absolute_trajectory_error(ref, est, align=align, n_align=n_align)
    assert torch.equal(est, est_before), "the estimate was modified"
    do_align, correct_scale = EVO_ALIGN[align]
    for field, relation in RELATIONS.items():
        result = main_ape.ape(deep(to_evo(ref)), deep(to_evo(est)), relation, align=do_align,
                              correct_scale=correct_scale, n_to_align=-1 if n_align is None else n_align)
        _assert_stats(getattr(ours.errors, field), result.stats)
        np.testing.assert_allclose(getattr(ours.errors, "trans_m" if field == "trans" else "rot_deg" if field == "rot"
                                           else "full").numpy(), result.np_arrays["error_array"], rtol=1e-9,
                                   atol=1e-12)
    if align in ("se3", "sim3"):  # for "scale" evo reports the unused Umeyama rotation too
        sim3 = result.np_arrays["alignment_transformation_sim3"]
        s = ours.alignment.scale
        np.testing.assert_allclose(s * quat_to_matrix(ours.alignment.ref_from_est[3:7]).numpy(), sim3[:3, :3],
                                   atol=1e-10)
        np.testing.assert_allclose(ours.alignment.ref_from_est[:3].numpy(), sim3[:3, 3], atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(12, 60),
    unit=st.sampled_from(["frames", "m"]),
    all_pairs=st.booleans(),
    align=st.sampled_from(["none", "sim3", "scale"]),
    delta_choice=st.integers(1, 4),
)
def test_rpe_matches_evo(seed: int, n: int, unit: str, all_pairs: bool, align: str, delta_choice: int) -> None:
    ref = random_trajectory(n, seed)
    est = noisy_estimate(ref, seed, sim3_scale=2.0)
    delta = delta_choice if unit == "frames" else 0.8 * delta_choice
    do_align, correct_scale = EVO_ALIGN[align]
    try:
        ours = relative_pose_error(ref, est, delta=delta, delta_unit=unit, all_pairs=all_pairs, align=align)
    except VokitError as err:  # a path delta longer than the (short, sparse) trajectory allows: evo refuses too
        assert "gives no pose pair" in str(err)
        with pytest.raises(evo_filters.FilterException, match="empty index list"):
            main_rpe.rpe(deep(to_evo(ref)), deep(to_evo(est)), RELATIONS["trans"], delta=delta,
                         delta_unit=evo_metrics.Unit.meters, all_pairs=all_pairs, align=do_align,
                         correct_scale=correct_scale)
        return
    for field, relation in (("trans", RELATIONS["trans"]), ("rot", RELATIONS["rot"])):
        result = main_rpe.rpe(deep(to_evo(ref)), deep(to_evo(est)), relation, delta=delta,
                              delta_unit=evo_metrics.Unit.frames if unit == "frames" else evo_metrics.Unit.meters,
                              all_pairs=all_pairs, align=do_align, correct_scale=correct_scale)
        _assert_stats(getattr(ours.errors, field), result.stats)
    assert ours.pairs.shape[0] == result.np_arrays["error_array"].size


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_ref=st.integers(5, 80),
    n_est=st.integers(5, 80),
    offset=st.sampled_from([0.0, 0.013, -0.02]),
    max_diff=st.sampled_from([0.01, 0.02]),
    shuffle=st.booleans(),
)
def test_evo_association_matches_evo_sync(seed: int, n_ref: int, n_est: int, offset: float, max_diff: float,
                                          shuffle: bool) -> None:
    g = np.random.default_rng(seed)
    ref_t = np.cumsum(g.uniform(0.005, 0.04, n_ref)) + 1.3e9
    est_t = ref_t[0] + np.cumsum(g.uniform(0.005, 0.05, n_est)) - 0.1
    if shuffle:
        est_t = g.permutation(est_t)
    second_longer = n_est > n_ref
    if second_longer:
        idx_short, idx_long = sync.matching_time_indices(ref_t, est_t, max_diff, offset)
        expected_ref, expected_est = idx_short, idx_long
    else:
        idx_short, idx_long = sync.matching_time_indices(est_t, ref_t, max_diff, -offset)
        expected_ref, expected_est = idx_long, idx_short
    if not expected_ref:
        with pytest.raises(VokitError, match="no matching timestamps"):
            associate(torch.from_numpy(ref_t), torch.from_numpy(est_t), "evo", max_diff, offset)
        return
    ours = associate(torch.from_numpy(ref_t), torch.from_numpy(est_t), "evo", max_diff, offset)
    assert ours.ref_idx.tolist() == list(expected_ref)
    assert ours.est_idx.tolist() == list(expected_est)
    assert ours.n_matched == len(expected_ref) and ours.max_diff_s == max_diff
