"""The two-view solver against synthetic ground truth: exact correspondences, noise, outliers, forward motion."""

import pytest
import torch

from vokit.geometry.lie import quat_to_matrix, se3_act, se3_exp
from vokit.solvers.two_view import decompose_essential, relative_pose_ransac, sampson_distance


def _scene(motion: list[float], n: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                     torch.Tensor]:
    """Points 2-10 m in front of camera 0, their normalised coordinates in both views, the pose and the depths."""
    g = torch.Generator().manual_seed(seed)
    z = 2 + 8 * torch.rand(n, generator=g, dtype=torch.float64)
    xy = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 1.2
    p0 = torch.cat([xy * z[:, None], z[:, None]], -1)
    pose = se3_exp(torch.tensor(motion, dtype=torch.float64))  # cam1_from_cam0
    p1 = se3_act(pose, p0)
    return p0[:, :2] / p0[:, 2:], p1[:, :2] / p1[:, 2:], pose, z


def _errors(est: torch.Tensor, pose: torch.Tensor) -> tuple[float, float]:
    """(rotation error, translation-direction error), degrees."""
    R_err = quat_to_matrix(est[3:]).T @ quat_to_matrix(pose[3:])
    angle = torch.arccos(((R_err.trace() - 1) / 2).clamp(-1, 1)).rad2deg()
    cos_t = torch.dot(est[:3], pose[:3]) / (est[:3].norm() * pose[:3].norm())
    return float(angle), float(torch.arccos(cos_t.clamp(-1, 1)).rad2deg())


@pytest.mark.parametrize("motion", [[0.3, 0.05, 0.1, 0.02, -0.05, 0.01],  # sideways with rotation
                                    [0.02, -0.01, 0.5, 0.01, 0.03, -0.02]])  # forward, as a car
def test_exact_correspondences_give_the_true_pose_and_depths(motion: list[float]) -> None:
    x0, x1, pose, z = _scene(motion)
    out = relative_pose_ransac(x0, x1, threshold=1e-6, generator=torch.Generator().manual_seed(0))
    assert out is not None
    rot_deg, dir_deg = _errors(out.cam1_from_cam0, pose)
    # float64 on noise-free data; an angle from arccos near 1 is only resolved to sqrt(2 eps) rad ~ 1e-6 deg
    assert rot_deg < 1e-5 and dir_deg < 1e-5
    assert bool(out.inliers.all())
    torch.testing.assert_close(out.depth0 * pose[:3].norm(), z, rtol=1e-8, atol=0)


def test_noise_and_outliers() -> None:
    x0, x1, pose, _ = _scene([0.02, -0.01, 0.5, 0.01, 0.03, -0.02], n=150, seed=1)
    g = torch.Generator().manual_seed(2)
    focal = 300.0  # pixels: 0.5 px noise
    x1 = x1 + 0.5 / focal * torch.randn(x1.shape, generator=g, dtype=x1.dtype)
    bad = torch.arange(150) < 45  # 30% gross outliers
    x1[bad] = (torch.rand(45, 2, generator=g, dtype=x1.dtype) - 0.5) * 1.2
    out = relative_pose_ransac(x0, x1, threshold=1.5 / focal, generator=torch.Generator().manual_seed(0))
    assert out is not None
    rot_deg, dir_deg = _errors(out.cam1_from_cam0, pose)
    assert rot_deg < 0.3 and dir_deg < 3.0
    assert int((out.inliers & bad).sum()) <= 3 and int((out.inliers & ~bad).sum()) >= 95


def test_decompositions_satisfy_the_epipolar_constraint_and_too_few_points_give_none() -> None:
    x0, x1, pose, _ = _scene([0.3, 0.05, 0.1, 0.02, -0.05, 0.01], n=20)
    t = pose[:3] / pose[:3].norm()
    tx = torch.tensor([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]], dtype=t.dtype)
    E = tx @ quat_to_matrix(pose[3:])
    for R, tt in zip(*decompose_essential(E), strict=True):
        ttx = torch.tensor([[0, -tt[2], tt[1]], [tt[2], 0, -tt[0]], [-tt[1], tt[0], 0]], dtype=t.dtype)
        assert float(sampson_distance(ttx @ R, x0, x1).abs().max()) < 1e-9
    assert relative_pose_ransac(x0[:7], x1[:7], threshold=1e-3) is None
