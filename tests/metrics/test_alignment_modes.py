"""kitti-odom-eval's alignment modes and rpg's ``posyaw`` in `align_trajectory` (and through ATE / RPE).

Oracles: vokit's own port of kitti-odom-eval (`kitti_odom_eval`, itself checked against the tool's numbers in
test_kitti_odometry.py) for the four kitti modes; a known yaw + translation and a brute-force search over the yaw
angle for ``posyaw`` (uzh-rpg/rpg_trajectory_evaluation ``align_trajectory.get_best_yaw``).
"""

import math

import numpy as np
import pytest
import torch

from vokit.errors import VokitError
from vokit.geometry.lie import matrix_to_quat, se3_to_matrix
from vokit.metrics import kitti_odom_eval, kitti_segment_errors
from vokit.metrics.trajectory import (
    ALIGN_MODES,
    absolute_trajectory_error,
    align_trajectory,
    relative_pose_error,
)


def _random_trajectory(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(n, 3, generator=g, dtype=torch.float64) * torch.tensor([0.3, 0.05, 0.5], dtype=torch.float64)
    steps[:, 2] += 1.5  # forward, so that 150 frames pass the 100 m KITTI segment
    t = steps.cumsum(0)
    axis_angle = torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.2
    angle = torch.linalg.vector_norm(axis_angle, dim=-1, keepdim=True)
    q = torch.cat([axis_angle / angle * torch.sin(angle / 2), torch.cos(angle / 2)], dim=-1)
    return torch.cat([t, q], dim=-1)


def _perturbed_estimate(ref: torch.Tensor, seed: int, scale: float) -> torch.Tensor:
    """A noisy estimate in another world frame and at another scale (a monocular result)."""
    g = torch.Generator().manual_seed(seed)
    T = se3_to_matrix(ref)
    noise = torch.randn(ref.shape[0], 3, generator=g, dtype=torch.float64) * 0.2
    c, s = math.cos(0.7), math.sin(0.7)
    R_w = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
    out = T.clone()
    out[:, :3, :3] = R_w @ T[:, :3, :3]
    out[:, :3, 3] = scale * ((T[:, :3, 3] + noise) @ R_w.T) + torch.tensor([5.0, -2.0, 1.0], dtype=torch.float64)
    return torch.cat([out[:, :3, 3], matrix_to_quat(out[:, :3, :3])], dim=-1)


@pytest.mark.parametrize(("mode", "kitti_name"), [("kitti_scale", "scale"), ("scale_7dof", "scale_7dof"),
                                                  ("6dof", "6dof"), ("7dof", "7dof")])
def test_kitti_modes_match_kitti_odom_eval(mode: str, kitti_name: str) -> None:
    ref = _random_trajectory(150, 0)
    est = _perturbed_estimate(ref, 1, 0.4)
    expected = kitti_odom_eval(ref, est, alignment=kitti_name)  # type: ignore[arg-type]
    ate = absolute_trajectory_error(ref, est, align=mode)  # type: ignore[arg-type]
    assert ate.alignment.mode == mode
    assert ate.errors.trans.rmse == pytest.approx(expected.ate_m, rel=1e-9)
    assert ate.alignment.scale == pytest.approx(expected.scale, rel=1e-9)
    # kitti-odom-eval's RPE is the mean over consecutive frames of the aligned estimate
    rpe = relative_pose_error(ref, est, 1, align=mode)  # type: ignore[arg-type]
    assert rpe.errors.trans.mean == pytest.approx(expected.rpe_trans_m, rel=1e-9)
    # the tool's rotation angle is arccos of the trace, which resolves only ~1e-7 rad near zero
    assert rpe.errors.rot.mean == pytest.approx(expected.rpe_rot_deg, abs=1e-5)
    segments = kitti_segment_errors(ref, ate.est_aligned, precision="float64")
    assert segments.t_err_pct == pytest.approx(expected.segments.t_err_pct, rel=1e-9)
    assert segments.r_err_deg_per_100m == pytest.approx(expected.segments.r_err_deg_per_100m, rel=1e-6, abs=1e-4)


def test_6dof_7dof_equal_se3_sim3() -> None:
    ref = _random_trajectory(40, 2)
    est = _perturbed_estimate(ref, 3, 2.5)
    for kitti, evo in (("6dof", "se3"), ("7dof", "sim3")):
        a = align_trajectory(ref, est, kitti)  # type: ignore[arg-type]
        b = align_trajectory(ref, est, evo)  # type: ignore[arg-type]
        torch.testing.assert_close(a.ref_from_est, b.ref_from_est)


def test_kitti_scale_is_least_squares_about_first_frame() -> None:
    """A pure scale error of the anchored trajectory is recovered exactly, and the first poses coincide."""
    ref = _random_trajectory(30, 4)
    est = _perturbed_estimate(ref, 5, 0.25)
    est_exact = se3_to_matrix(est)
    T_ref = se3_to_matrix(ref)
    anchored = torch.linalg.inv(T_ref[0]) @ T_ref
    anchored[:, :3, 3] *= 0.25
    est_exact = est_exact[:1] @ anchored
    a = align_trajectory(ref, est_exact, "kitti_scale")
    assert a.scale == pytest.approx(4.0, rel=1e-9)
    ate = absolute_trajectory_error(ref, est_exact, "kitti_scale")
    assert ate.errors.trans.max == pytest.approx(0.0, abs=1e-9)
    assert ate.errors.rot.max == pytest.approx(0.0, abs=1e-5)


def _yaw(theta: float) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)


def test_posyaw_recovers_yaw_and_translation() -> None:
    ref = _random_trajectory(25, 6)
    T = se3_to_matrix(ref)
    R_w, t_w = _yaw(-2.3), torch.tensor([1.0, -4.0, 0.5], dtype=torch.float64)
    est = T.clone()  # est = (R_w, t_w)^-1 applied to ref, so that ref = R_w est + t_w
    est[:, :3, :3] = R_w.T @ T[:, :3, :3]
    est[:, :3, 3] = (T[:, :3, 3] - t_w) @ R_w
    a = align_trajectory(ref, est, "posyaw")
    assert a.scale == 1.0
    torch.testing.assert_close(a.ref_from_est[:3], t_w)
    torch.testing.assert_close(se3_to_matrix(a.ref_from_est[:7])[:3, :3], R_w)
    assert absolute_trajectory_error(ref, est, "posyaw").errors.trans.max < 1e-9


def test_posyaw_is_the_best_yaw_and_matches_rpg_formula() -> None:
    ref = _random_trajectory(30, 7)
    est = _perturbed_estimate(ref, 8, 1.0)  # rotated about y: a yaw-only fit cannot undo it exactly
    a = align_trajectory(ref, est, "posyaw")
    src, dst = est[:, :3], ref[:, :3]

    def cost(theta: float) -> float:
        R = _yaw(theta)
        t = dst.mean(0) - R @ src.mean(0)
        return float((dst - (src @ R.T + t)).square().sum())

    R_fit = se3_to_matrix(a.ref_from_est[:7])[:3, :3]
    theta_fit = math.atan2(float(R_fit[1, 0]), float(R_fit[0, 0]))
    grid = np.linspace(-math.pi, math.pi, 3601)
    assert cost(theta_fit) <= min(cost(float(t)) for t in grid) + 1e-9
    # rpg: rot_C = data_zc^T model_zc (data = estimate), theta = pi/2 - arctan2(B, A)
    C = ((src - src.mean(0)).T @ (dst - dst.mean(0))).numpy()
    theta_rpg = math.pi / 2 - math.atan2(C[0, 0] + C[1, 1], C[0, 1] - C[1, 0])
    assert math.remainder(theta_fit - theta_rpg, 2 * math.pi) == pytest.approx(0.0, abs=1e-12)
    assert a.ref_from_est[2] == pytest.approx(float(dst[:, 2].mean() - src[:, 2].mean()), abs=1e-12)


def test_modes_listed_and_unknown_rejected() -> None:
    assert {"kitti_scale", "scale_7dof", "6dof", "7dof", "posyaw"} <= set(ALIGN_MODES)
    assert len(set(ALIGN_MODES)) == len(ALIGN_MODES)


def test_kitti_scale_static_estimate_is_an_error() -> None:
    ref = _random_trajectory(6, 10)
    static = ref[:1].expand(6, 7).clone()
    with pytest.raises(VokitError, match="no scale"):
        align_trajectory(ref, static, "kitti_scale")
