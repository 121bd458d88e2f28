import numpy as np
import pytest
import torch
from PIL import Image
from tests.support.data import shared_data
from tests.support.sequences import smooth_poses

from vokit.data.readers import open_sequence, read_kitti_odometry
from vokit.data.trajectory_io import write_trajectory
from vokit.geometry.lie import se3_to_matrix

P0 = np.array([[50.0, 0, 20.5, 0], [0, 50.0, 12.5, 0], [0, 0, 1, 0]])
P2 = np.array([[50.0, 0, 21.0, 2.3], [0, 50.0, 12.0, 0.11], [0, 0, 1, 0.0027]])


def _write_official_layout(root, n=4, h=24, w=40):
    """dataset/sequences/00 with image_0 (grey) and image_2 (colour), dataset/poses/00.txt."""
    seq_dir = root / "sequences" / "00"
    rng = np.random.default_rng(0)
    for i in range(n):
        (seq_dir / "image_0").mkdir(parents=True, exist_ok=True)
        (seq_dir / "image_2").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(seq_dir / "image_0" / f"{i:06d}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(seq_dir / "image_2" / f"{i:06d}.png")
    rows = [P0, P0 - np.array([[0, 0, 0, 27.0], [0, 0, 0, 0], [0, 0, 0, 0]]), P2, P2]
    lines = [f"P{k}: " + " ".join(f"{v:.12e}" for v in m.reshape(-1)) for k, m in enumerate(rows)]
    lines.append("Tr: " + " ".join(["1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1", "0"]))
    (seq_dir / "calib.txt").write_text("\n".join(lines) + "\n")
    (seq_dir / "times.txt").write_text("".join(f"{0.1036 * i:.6e}\n" for i in range(n)))
    poses = smooth_poses(n, torch.Generator().manual_seed(1))
    write_trajectory(root / "poses" / "00.txt", torch.zeros(n), poses, "kitti")
    return seq_dir, poses


def test_official_layout_colour_camera(tmp_path):
    seq_dir, world_from_cam0 = _write_official_layout(tmp_path)
    seq = read_kitti_odometry(seq_dir)  # image_2 is preferred
    assert len(seq) == 4 and seq.image_size == (24, 40) and seq.name == "00"
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([50.0, 50.0, 21.0, 12.0]))
    torch.testing.assert_close(seq.timestamps, torch.tensor([0.1036 * i for i in range(4)], dtype=torch.float64))
    # world_from_cam2 = world_from_cam0 @ inverse(cam2_from_cam0), cam2_from_cam0 = [I | K2^-1 P2[:, 3]].
    cam2_from_cam0 = np.eye(4)
    cam2_from_cam0[:3, 3] = np.linalg.solve(P2[:, :3], P2[:, 3])
    expected = se3_to_matrix(world_from_cam0).numpy() @ np.linalg.inv(cam2_from_cam0)
    np.testing.assert_allclose(se3_to_matrix(seq.world_from_cam).numpy(), expected, atol=1e-9)
    assert seq[2].image.shape == (3, 24, 40)
    assert open_sequence(seq_dir).name == "00"


def test_grey_camera_zero_uses_poses_unchanged(tmp_path):
    seq_dir, world_from_cam0 = _write_official_layout(tmp_path)
    seq = read_kitti_odometry(seq_dir, camera=0)
    np.testing.assert_allclose(
        se3_to_matrix(seq.world_from_cam).numpy(), se3_to_matrix(world_from_cam0).numpy(), atol=1e-12
    )
    image = seq[0].image
    assert torch.equal(image[0], image[1])  # grey replicated into RGB
    assert not read_kitti_odometry(seq_dir, poses=False).has_poses


def test_real_kitti_01_sample():
    root = shared_data("kitti_odom01_51f")
    # image_l / image_r and an unlabelled calib.txt (P0, P1) are found without options; poses.txt holds 51 rows
    # (frames 0-50; its SOURCE.txt says 50).
    seq = read_kitti_odometry(root)
    assert len(seq) == 51 and seq.image_size == (376, 1241)
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([718.856, 718.856, 607.1928, 185.2157]))
    rows = np.loadtxt(root / "poses.txt").reshape(-1, 3, 4)
    np.testing.assert_allclose(se3_to_matrix(seq.world_from_cam).numpy()[:, :3], rows, atol=2e-6)
    centres = seq.world_from_cam[:, :3]
    assert float((centres[1:] - centres[:-1]).norm(dim=-1).sum()) == pytest.approx(51.8, abs=0.1)
    assert len(read_kitti_odometry(root, max_frames=20)) == 20
    image = seq[10].image
    assert image.shape == (3, 376, 1241) and 0.05 < float(image.mean()) < 0.95
    # The right camera (image_r = camera 1, P1) sits 0.537 m to the right of the left one.
    right = read_kitti_odometry(root, image_dir="image_r")
    offset = (se3_to_matrix(seq.world_from_cam).inverse() @ se3_to_matrix(right.world_from_cam))[:, :3, 3]
    torch.testing.assert_close(
        offset, torch.tensor([0.5372, 0.0, 0.0], dtype=torch.float64).expand(51, 3), atol=1e-4, rtol=0
    )
