import math

import pytest
import torch

from vokit.errors import VokitError
from vokit.geometry.lie import quat_to_matrix, so3_exp
from vokit.metrics.trajectory import absolute_trajectory_error, matrices_to_se3
from vokit.metrics.trivial import (
    CONSTANT_VELOCITY,
    STATIC_CAMERA,
    compare_with_trivial,
    constant_depth_metrics,
    trivial_trajectories,
)

F64 = torch.float64


def _curved_path(n: int = 40, seed: int = 0) -> torch.Tensor:
    """world_from_cam [t, q_xyzw]: a forward drive with a gentle turn and small random rotations."""
    g = torch.Generator().manual_seed(seed)
    s = torch.arange(n, dtype=F64)
    q = so3_exp(0.05 * torch.randn(n, 3, generator=g, dtype=F64))
    return torch.cat([torch.stack([0.02 * s**2, 0.1 * torch.sin(s / 5), 1.5 * s], dim=-1), q], dim=-1)


def _straight(n: int = 20, speed: float = 2.0) -> torch.Tensor:
    """A camera moving along its own optical axis (+z) at ``speed`` per frame, rotated in the world."""
    m = torch.eye(4, dtype=F64).repeat(n, 1, 1)
    R = quat_to_matrix(so3_exp(torch.tensor([0.3, -0.2, 0.5], dtype=F64)))
    m[:, :3, :3] = R
    s = torch.arange(n, dtype=F64)[:, None]
    # a 1 mm sideways wiggle keeps the centres off a perfect line, where Umeyama's rotation is undefined
    m[:, :3, 3] = torch.tensor([1.0, 2.0, 3.0], dtype=F64) + speed * s * R[:, 2] + 1e-3 * torch.sin(s) * R[:, 0]
    return matrices_to_se3(m)


@pytest.mark.parametrize("align", ["sim3", "se3", "none"])
def test_line_is_exact_on_a_constant_velocity_drive(align: str) -> None:
    ref = _straight()
    est = ref.clone()
    est[:, :3] += 0.01 * torch.randn(ref.shape[0], 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    c = compare_with_trivial(ref, est, align=align)  # type: ignore[arg-type]
    # only the 1 mm wiggle is left (rms 0.7 mm)
    assert c.line.ate.rmse < 1e-3
    assert c.line.ate_rot.rmse < 1e-3
    assert c.line_speed_m_s == pytest.approx(2.0, rel=1e-6)
    assert 0.001 < c.estimate.ate.rmse < 0.03
    # a noisy estimate does not beat the exact line: it is flagged
    assert not c.beats_trivial
    assert c.verdict.startswith("TRIVIAL")


def test_static_camera_scores_the_spread_of_the_path() -> None:
    ref = _curved_path()
    c = compare_with_trivial(ref, ref.clone(), align="sim3")
    centres = ref[:, :3]
    spread = float(((centres - centres.mean(0)) ** 2).sum(-1).mean().sqrt())
    assert c.static.ate.rmse == pytest.approx(spread, rel=1e-12)
    # a static camera has no relative motion: its RPE is the reference's per-frame step length
    steps = torch.linalg.vector_norm(centres[1:] - centres[:-1], dim=-1)
    assert c.static.rpe.rmse == pytest.approx(float(steps.square().mean().sqrt()), rel=1e-9)
    assert c.beats_trivial and c.verdict.startswith("better")


@pytest.mark.parametrize("align", ["sim3", "se3"])
def test_closed_form_line_alignment_matches_umeyama_on_a_nearly_collinear_line(align: str) -> None:
    """Oracle: Umeyama is defined once the line is jittered off collinearity by 1e-5 m; its ATE must agree."""
    ref = _curved_path()
    _, line, _ = trivial_trajectories(ref)
    jitter = torch.zeros_like(line)
    jitter[:, :3, 3] = 1e-5 * torch.randn(line.shape[0], 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    umeyama_ate = absolute_trajectory_error(ref, matrices_to_se3(line + jitter), align).errors.trans.rmse  # type: ignore[arg-type]
    c = compare_with_trivial(ref, ref.clone(), align=align)  # type: ignore[arg-type]
    # the jitter moves the optimum by O(1e-5) m on a path of ~60 m
    assert c.line.ate.rmse == pytest.approx(umeyama_ate, abs=1e-4)


def test_timestamps_set_the_line_speed() -> None:
    ref = _straight(n=10, speed=1.0)
    _, _, per_frame = trivial_trajectories(ref)
    _, _, per_second = trivial_trajectories(ref, torch.arange(10, dtype=F64) * 0.1)
    assert per_frame == pytest.approx(1.0)
    assert per_second == pytest.approx(10.0)
    with pytest.raises(VokitError, match="timestamps"):
        trivial_trajectories(ref, torch.arange(10, dtype=F64).flip(0))


def test_as_dict_names_all_three() -> None:
    d = compare_with_trivial(_curved_path(), _curved_path(seed=1)).as_dict()
    assert set(d) >= {"estimate", STATIC_CAMERA, CONSTANT_VELOCITY, "beats_trivial", "verdict", "align"}
    assert math.isfinite(d[CONSTANT_VELOCITY]["ate_rmse_m"])


def test_constant_depth_is_median_scaled_per_image() -> None:
    g = torch.Generator().manual_seed(0)
    gts = [1.0 + 9.0 * torch.rand(12, 16, generator=g, dtype=F64) for _ in range(3)]
    m = constant_depth_metrics(gts, crop="none")
    expected = []
    for gt in gts:
        med = float(gt.reshape(-1).sort().values[gt.numel() // 2 - 1 : gt.numel() // 2 + 1].mean())
        expected.append(float(((gt - med).abs() / gt).mean()))
    assert m.mean.abs_rel == pytest.approx(sum(expected) / 3, rel=1e-9)
    flat = [torch.full((4, 4), 3.0, dtype=F64)]
    assert constant_depth_metrics(flat, crop="none").mean.abs_rel == pytest.approx(0.0, abs=1e-12)
