"""KITTI segment errors: official devkit and kitti-odom-eval outputs on KITTI 00, and analytic drift cases.

Pinned devkit values come from the official ``evaluate_odometry.cpp`` (mirror: TurtleZhong/ORB_SLAM2_Evaluation
``devkit/cpp``, compiled with ``g++ -O2``) run on ../shared/data/evo_trajectories/KITTI_00_{gt,ORB,SPTAM}.txt
through a harness that calls its own ``loadPoses`` and ``calcSequenceErrors`` and prints, with ``%.9g``, the
``saveStats`` means (float sums divided by the segment count), the ``saveErrorPlots`` per-length means and every
segment (first frame, r_err, t_err, len, speed; the last frame follows from the speed). kitti-odom-eval values come
from Huangying-Zhan/kitti-odom-eval ``kitti_odometry.py`` (``KittiEvalOdom.eval(..., alignment=A, seqs=[0])``,
plotting disabled), printed with ``repr``.
"""

import math

import numpy as np
import pytest
import torch
from tests.metrics.reference_data import load_kitti_rows
from tests.metrics.trajectories import random_trajectory
from tests.support.data import shared_data

from vokit.errors import VokitError
from vokit.geometry.lie import se3_to_matrix
from vokit.metrics import kitti_odom_eval, kitti_segment_errors
from vokit.metrics.kitti_odometry import KITTI_LENGTHS_M, path_distances

DEVKIT = {  # sequence -> (segments, t_err m/m, r_err rad/m, sum of last frames)
    "ORB": (3283, 0.0069973371, 4.421829e-05, 8509578),
    "SPTAM": (3283, 0.0148696555, 9.73420028e-05, 8509578),
}
DEVKIT_ORB_PER_LENGTH = [  # length, t_err m/m, r_err rad/m, count
    (100, 0.0100907981, 0.000107211861, 445), (200, 0.00874378253, 6.15484605e-05, 431),
    (300, 0.00780861825, 4.41279444e-05, 424), (400, 0.00718873227, 3.61671518e-05, 416),
    (500, 0.00655319681, 2.98763953e-05, 408), (600, 0.00571992807, 2.59323915e-05, 399),
    (700, 0.00492590107, 2.10227499e-05, 385), (800, 0.00415861048, 1.74558008e-05, 375),
]
DEVKIT_ORB_SEGMENTS = {  # (first, length) -> (r_err rad/m, t_err m/m, speed m/s)
    (0, 100): (0.000278500578, 0.029861927, 7.24637699),
    (2000, 300): (3.93667215e-05, 0.0103387553, 7.9155674),
    (4000, 500): (2.63673792e-05, 0.00902616605, 10.7758617),
}
KITTI_ODOM_EVAL_ORB = {  # alignment -> (t_err %, r_err deg/100m, ATE m, RPE m, RPE deg)
    "none": (0.6997286638583282, 0.25333023483302186, 7.790293041123625, 0.019301319216558685, 0.05895617634615654),
    "scale": (0.7020027931843196, 0.25333023483302186, 7.2238465099385545, 0.01957684364912351, 0.05895617634615654),
    "scale_7dof": (0.6277078455288956, 0.25333023483302186, 7.380186939017765, 0.01895298290579096,
                   0.05895617634615654),
    "6dof": (0.6997286638583279, 0.2533302348330002, 1.3034530381590632, 0.019301319216558168, 0.05895617634591891),
    "7dof": (0.6277078455288956, 0.2533302348330002, 0.9377101895571055, 0.01895298290579104, 0.05895617634591891),
}


def _kitti00(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    folder = shared_data("evo_trajectories")
    return load_kitti_rows(folder / "KITTI_00_gt.txt"), load_kitti_rows(folder / f"KITTI_00_{name}.txt")


@pytest.mark.parametrize("name", ["ORB", "SPTAM"])
def test_devkit_values_on_kitti00(name: str) -> None:
    gt, est = _kitti00(name)
    n_seg, t_err, r_err, last_sum = DEVKIT[name]
    r = kitti_segment_errors(gt, est)
    assert r.precision == "devkit" and r.n_segments == n_seg and int(r.last_frame.sum()) == last_sum
    assert r.t_err_pct / 100 == pytest.approx(t_err, rel=1e-7)
    assert r.r_err_deg_per_100m * math.pi / 18000 == pytest.approx(r_err, rel=1e-7)
    if name == "ORB":
        for k, (length, t, rr, count) in enumerate(DEVKIT_ORB_PER_LENGTH):
            assert r.lengths_m[k] == length and r.per_length_count[k] == count
            assert r.per_length_t_err_pct[k] / 100 == pytest.approx(t, rel=1e-7)
            assert r.per_length_r_err_deg_per_100m[k] * math.pi / 18000 == pytest.approx(rr, rel=1e-6)  # acosf ulps
        for (first, length), (rr, t, speed) in DEVKIT_ORB_SEGMENTS.items():
            k = int(torch.nonzero((r.first_frame == first) & (r.length_m == length))[0])
            assert float(r.r_err_rad_per_m[k]) == pytest.approx(rr, rel=3e-7)  # acosf vs numpy: a few ulp
            assert float(r.t_err_m_per_m[k]) == pytest.approx(t, rel=1e-7)
            assert float(r.speed_mps[k]) == pytest.approx(speed, rel=1e-7)


def test_float32_path_length_matters_on_kitti00() -> None:
    gt, est = _kitti00("ORB")
    devkit = kitti_segment_errors(gt, est)
    f64 = kitti_segment_errors(gt, est, precision="float64")
    assert torch.equal(devkit.first_frame, f64.first_frame)
    assert int((devkit.last_frame != f64.last_frame).sum()) == 4  # METHODS.md 9.3: float64 moves a few ends


@pytest.mark.parametrize("alignment", list(KITTI_ODOM_EVAL_ORB))
def test_kitti_odom_eval_values_on_kitti00(alignment: str) -> None:
    gt, est = _kitti00("ORB")
    r = kitti_odom_eval(gt, est, alignment)  # type: ignore[arg-type]
    t_err, r_err, ate, rpe_t, rpe_r = KITTI_ODOM_EVAL_ORB[alignment]
    got = (r.segments.t_err_pct, r.segments.r_err_deg_per_100m, r.ate_m, r.rpe_trans_m, r.rpe_rot_deg)
    for ours, ref in zip(got, (t_err, r_err, ate, rpe_t, rpe_r), strict=True):
        assert ours == pytest.approx(ref, rel=1e-9)


def _straight_line(n: int) -> torch.Tensor:
    poses = torch.zeros(n, 7, dtype=torch.float64)
    poses[:, 2] = torch.arange(n, dtype=torch.float64)  # 1 m per frame along z
    poses[:, 6] = 1.0
    return poses


def _expected_segments(n: int) -> list[tuple[int, float]]:
    """(first, length) of every segment of a 1 m/frame path: the last frame is first + length + 1."""
    return [(f, ln) for f in range(0, n, 10) for ln in KITTI_LENGTHS_M if f + ln + 1 <= n - 1]


@pytest.mark.parametrize("precision", ["devkit", "float64"])
def test_constant_scale_drift_gives_the_analytic_translation_error(precision: str) -> None:
    n, eps = 1001, 0.013
    gt = _straight_line(n)
    est = gt.clone()
    est[:, :3] *= 1.0 + eps  # every step 1.3 % too long
    r = kitti_segment_errors(gt, est, precision=precision)  # type: ignore[arg-type]
    segments = _expected_segments(n)
    expected = [eps * (ln + 1) / ln for _, ln in segments]  # |t_E| = eps (len + 1) over a segment of len + 1 m
    assert r.n_segments == len(segments)
    tol = 1e-6 if precision == "devkit" else 1e-12
    np.testing.assert_allclose(r.t_err_m_per_m.numpy(), expected, rtol=tol)
    # The devkit sums the segment errors in float32: ~1e-6 relative rounding over a few thousand terms.
    assert r.t_err_pct == pytest.approx(100 * np.mean(expected), rel=1e-5 if precision == "devkit" else 1e-12)
    assert r.r_err_deg_per_100m == pytest.approx(0.0, abs=1e-3 if precision == "devkit" else 1e-9)


@pytest.mark.parametrize("precision", ["devkit", "float64"])
def test_constant_heading_drift_gives_the_analytic_rotation_error(precision: str) -> None:
    n, delta = 1001, 1e-3  # the estimate turns 1 mrad per frame about the camera y axis
    gt = _straight_line(n)
    est = gt.clone()
    angle = delta * torch.arange(n, dtype=torch.float64)
    est[:, 4], est[:, 6] = torch.sin(angle / 2), torch.cos(angle / 2)
    r = kitti_segment_errors(gt, est, precision=precision)  # type: ignore[arg-type]
    expected = [delta * (ln + 1) / ln for _, ln in _expected_segments(n)]  # rad/m
    np.testing.assert_allclose(r.r_err_rad_per_m.numpy(), expected, rtol=1e-5 if precision == "devkit" else 1e-9)
    assert r.r_err_deg_per_100m == pytest.approx(np.mean(expected) * 18000 / math.pi, rel=1e-5)


def test_devkit_path_distances_match_a_scalar_float32_loop() -> None:
    pos = np.cumsum(np.random.default_rng(5).normal(size=(300, 3)), axis=0) * 37.0
    dist = [np.float32(0.0)]
    for i in range(1, len(pos)):
        d = [np.float32(pos[i - 1][k] - pos[i][k]) for k in range(3)]
        dist.append(np.float32(dist[-1] + np.sqrt(np.float32(d[0] * d[0] + d[1] * d[1]) + d[2] * d[2])))
    ours = path_distances(pos, "devkit")
    assert ours.dtype == np.float32 and np.array_equal(ours, np.array(dist, dtype=np.float32))


def test_se3_and_matrix_inputs_agree_and_perfect_is_zero() -> None:
    gt = random_trajectory(150, 9, step_m=5.0)
    est = random_trajectory(150, 10, step_m=5.0)
    a = kitti_segment_errors(gt, est, precision="float64")
    b = kitti_segment_errors(se3_to_matrix(gt)[:, :3], se3_to_matrix(est)[:, :3], precision="float64")
    torch.testing.assert_close(a.t_err_m_per_m, b.t_err_m_per_m, rtol=1e-10, atol=1e-12)
    perfect = kitti_odom_eval(gt, gt, "7dof")
    assert perfect.segments.t_err_pct < 1e-9 and perfect.ate_m < 1e-9 and perfect.rpe_trans_m < 1e-9


def test_short_path_raises() -> None:
    gt = _straight_line(50)
    with pytest.raises(VokitError, match="shorter than the shortest KITTI segment"):
        kitti_segment_errors(gt, gt)
