import numpy as np
import pytest
import torch
from PIL import Image

from vokit.data.readers import open_sequence, read_tartanair
from vokit.errors import VokitError
from vokit.geometry.camera import project
from vokit.geometry.lie import quat_to_matrix, se3_act, se3_inverse


def _random_ned_poses(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    q = q / q.norm(dim=-1, keepdim=True)
    t = torch.randn(n, 3, generator=g, dtype=torch.float64) * 3
    return torch.cat([t, q], dim=-1)


def _write_tartanair(root, poses_ned, h=48, w=64, depth=True):
    (root / "image_left").mkdir(parents=True)
    if depth:
        (root / "depth_left").mkdir()
    rng = np.random.default_rng(0)
    for i in range(len(poses_ned)):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if depth else np.zeros((h, w, 3), np.uint8)
        Image.fromarray(image).save(root / "image_left" / f"{i:06d}_left.png")
        if depth:
            np.save(root / "depth_left" / f"{i:06d}_left_depth.npy", rng.uniform(1, 50, (h, w)).astype(np.float32))
    np.savetxt(root / "pose_left.txt", poses_ned.numpy())


def test_ned_poses_project_like_the_ned_camera(tmp_path):
    """A world point seen by the NED camera (x forward, y right, z down) lands on the same pixel in vokit's frame."""
    root = tmp_path / "abandonedfactory" / "Easy" / "P000"
    poses_ned = _random_ned_poses(3)
    _write_tartanair(root, poses_ned, h=480, w=640, depth=False)
    seq = open_sequence(root)
    assert len(seq) == 3 and seq.name == "abandonedfactory_Easy_P000"
    k = seq.intrinsics[0].double()
    torch.testing.assert_close(k, torch.tensor([320.0, 320.0, 320.0, 240.0], dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    for i in range(3):
        # A point 5-10 m in front of NED camera i, given in the NED camera body frame, then in the NED world.
        p_body = torch.cat(
            [5 + 5 * torch.rand(1, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)]
        )
        R = quat_to_matrix(poses_ned[i, 3:])
        p_world_ned = R @ p_body + poses_ned[i, :3]
        uv_ned = torch.stack([320 * p_body[1] / p_body[0] + 320, 320 * p_body[2] / p_body[0] + 240])
        # The reader re-expresses the world in vokit's axes as well: p_world = P p_world_ned.
        p_world = p_world_ned[[1, 2, 0]]
        p_cam = se3_act(se3_inverse(seq.world_from_cam[i]), p_world)
        torch.testing.assert_close(project(p_cam, k), uv_ned)


def test_depth_and_counts(tmp_path):
    root = tmp_path / "t"
    _write_tartanair(root, _random_ned_poses(2), h=480, w=640)
    seq = read_tartanair(root)
    assert seq.has_depth and seq[1].depth.shape == (480, 640)
    np.testing.assert_array_equal(seq[1].depth.numpy(), np.load(root / "depth_left" / "000001_left_depth.npy"))
    np.savetxt(root / "pose_left.txt", _random_ned_poses(3).numpy())
    with pytest.raises(VokitError, match="3 pose rows for 2 images"):
        read_tartanair(root)
