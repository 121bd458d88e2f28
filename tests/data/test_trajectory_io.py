import numpy as np
import pytest
import torch
from tests.support.data import shared_data
from tests.support.sequences import same_rotation, smooth_poses

from vokit.data.trajectory_io import read_kitti_matrices, read_trajectory, write_trajectory
from vokit.geometry.lie import quat_to_matrix, se3_to_matrix


def _poses(n=12, seed=0):
    return smooth_poses(n, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fmt", ["tum", "kitti", "euroc"])
def test_write_read_round_trip(tmp_path, fmt):
    poses = _poses()
    stamps = torch.tensor([1403715273.262142976 + 0.05 * i for i in range(len(poses))], dtype=torch.float64)
    path = tmp_path / f"traj.{'csv' if fmt == 'euroc' else 'txt'}"
    write_trajectory(path, stamps, poses, fmt)
    t, p = read_trajectory(path, fmt)
    assert t.dtype == torch.float64 and p.dtype == torch.float64 and p.shape == poses.shape
    torch.testing.assert_close(p[:, :3], poses[:, :3], rtol=0, atol=1e-12)
    assert same_rotation(p[:, 3:], poses[:, 3:], 1e-12)
    if fmt == "tum":
        assert torch.equal(t, stamps)
    elif fmt == "euroc":
        torch.testing.assert_close(t, stamps, rtol=0, atol=5e-7)  # integer ns at a 1.4e9 s epoch
    else:
        assert torch.equal(t, torch.arange(len(poses), dtype=torch.float64))


def test_kitti_times_file(tmp_path):
    poses = _poses(3)
    write_trajectory(tmp_path / "p.txt", torch.zeros(3), poses, "kitti")
    (tmp_path / "times.txt").write_text("0.0\n0.103\n0.2071\n")
    t, _ = read_trajectory(tmp_path / "p.txt", "kitti", times_path=tmp_path / "times.txt")
    assert t.tolist() == [0.0, 0.103, 0.2071]


def test_euroc_body_to_camera(tmp_path):
    world_from_body = _poses(5, seed=1)
    body_from_cam = _poses(2, seed=2)[1]
    write_trajectory(tmp_path / "gt.csv", torch.arange(5) * 0.005 + 1.0, world_from_body, "euroc")
    _, world_from_cam = read_trajectory(tmp_path / "gt.csv", "euroc", body_from_cam=body_from_cam)
    expected = se3_to_matrix(world_from_body) @ se3_to_matrix(body_from_cam)
    torch.testing.assert_close(se3_to_matrix(world_from_cam), expected, rtol=0, atol=1e-12)


def test_real_kitti_tum_euroc_files_against_plain_parsing():
    root = shared_data("evo_trajectories")
    _, p = read_trajectory(root / "KITTI_00_gt.txt", "kitti")
    rows = np.loadtxt(root / "KITTI_00_gt.txt").reshape(-1, 3, 4)
    assert p.shape == (4541, 7)
    torch.testing.assert_close(p[:, :3], torch.as_tensor(rows[:, :, 3]))
    torch.testing.assert_close(quat_to_matrix(p[:, 3:]), torch.as_tensor(rows[:, :, :3]), rtol=0, atol=2e-6)

    t, p = read_trajectory(root / "freiburg1_xyz-groundtruth.txt", "tum")
    rows = np.loadtxt(root / "freiburg1_xyz-groundtruth.txt")
    assert torch.equal(t, torch.as_tensor(rows[:, 0]))
    torch.testing.assert_close(p[:, :3], torch.as_tensor(rows[:, 1:4]))
    q = rows[:, 4:8] / np.linalg.norm(rows[:, 4:8], axis=1, keepdims=True)
    torch.testing.assert_close(p[:, 3:], torch.as_tensor(q))

    t, p = read_trajectory(root / "V102_groundtruth.csv", "euroc")
    rows = np.loadtxt(root / "V102_groundtruth.csv", delimiter=",", comments="#")
    torch.testing.assert_close(t, torch.as_tensor(rows[:, 0] * 1e-9), rtol=0, atol=1e-6)
    torch.testing.assert_close(p[:, :3], torch.as_tensor(rows[:, 1:4]))
    q = rows[:, [5, 6, 7, 4]] / np.linalg.norm(rows[:, 4:8], axis=1, keepdims=True)
    assert same_rotation(p[:, 3:], torch.as_tensor(q), 1e-12)


def test_composition_convention_of_kitti_rows(tmp_path):
    """Row i is the 3x4 world_from_cam_i: its last column is the camera centre."""
    poses = _poses(4)
    write_trajectory(tmp_path / "k.txt", torch.zeros(4), poses, "kitti")
    m = np.loadtxt(tmp_path / "k.txt").reshape(-1, 3, 4)
    torch.testing.assert_close(torch.as_tensor(m[:, :, 3]), poses[:, :3], rtol=0, atol=1e-15)
    torch.testing.assert_close(torch.as_tensor(m[:, :, :3]), quat_to_matrix(poses[:, 3:]), rtol=0, atol=1e-15)


def test_kitti_matrices_are_the_raw_rows(tmp_path) -> None:
    rows = np.array([[1, 0, 0, 0.1, 0, 1, 0, 0.2, 0, 0, 1, 0.3], [1 - 1e-8, 0, 0, 1.1, 0, 1, 0, 0.2, 0, 0, 1, 2.3]])
    path = tmp_path / "poses.txt"
    np.savetxt(path, rows, fmt="%.12e")
    stamps, mats = read_kitti_matrices(path)
    assert mats.dtype == torch.float64 and mats.shape == (2, 3, 4)
    assert torch.equal(mats, torch.from_numpy(np.loadtxt(path).reshape(-1, 3, 4)))
    assert stamps.tolist() == [0.0, 1.0]
    _, poses = read_trajectory(path, "kitti")
    torch.testing.assert_close(poses[:, :3], mats[:, :, 3])
