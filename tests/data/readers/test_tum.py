import numpy as np
import pytest
import torch
from PIL import Image
from tests.support.sequences import smooth_poses

from vokit.data.image_io import write_png16
from vokit.data.readers import open_sequence, read_tum_rgbd
from vokit.data.readers.files import associate_one_to_one
from vokit.data.trajectory_io import write_trajectory
from vokit.errors import VokitError


def _write_tum(root, rgb_stamps, depth_stamps, gt_stamps, h=12, w=16):
    rng = np.random.default_rng(0)
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb_rows, depth_rows = [], []
    for t in rgb_stamps:
        patch = rng.integers(0, 256, (4, 8, 3), dtype=np.uint8)
        Image.fromarray(np.tile(patch, (h // 4, w // 8, 1))).save(root / "rgb" / f"{t:.6f}.png")
        rgb_rows.append(f"{t:.6f} rgb/{t:.6f}.png\n")
    depth_values = {}
    for t in depth_stamps:
        values = np.tile(rng.integers(0, 20000, (4, 8), dtype=np.uint16), (h // 4, w // 8))
        write_png16(root / "depth" / f"{t:.6f}.png", values)
        depth_values[round(t, 6)] = values
        depth_rows.append(f"{t:.6f} depth/{t:.6f}.png\n")
    header = "# color images\n# file: 'rgbd_dataset_freiburg1_xyz.bag'\n# timestamp filename\n"
    (root / "rgb.txt").write_text(header + "".join(rgb_rows))
    (root / "depth.txt").write_text(header + "".join(depth_rows))
    poses = smooth_poses(len(gt_stamps), torch.Generator().manual_seed(0))
    write_trajectory(root / "groundtruth.txt", torch.tensor(gt_stamps, dtype=torch.float64), poses, "tum")
    return depth_values, poses


def test_association_depth_and_poses(tmp_path):
    root = tmp_path / "seq"
    rgb = [100.0 + 0.0333 * i for i in range(6)]
    depth = [t + 0.004 for t in rgb]
    gt = [99.9 + 0.01 * k for k in range(80)]  # 100 Hz, covers every colour frame
    depth_values, gt_poses = _write_tum(root, rgb, depth, gt)
    (root / "calib.txt").write_text("20.0 21.0 7.5 5.5\n")
    seq = open_sequence(root)
    assert len(seq) == 6
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([20.0, 21.0, 7.5, 5.5]))
    for i, t in enumerate(rgb):
        nearest = int(np.argmin(np.abs(np.array(gt) - t)))
        torch.testing.assert_close(seq.world_from_cam[i], gt_poses[nearest])
        expected = torch.as_tensor(depth_values[round(t + 0.004, 6)].astype(np.float32)) / 5000.0
        torch.testing.assert_close(seq[i].depth, expected)
    assert seq.timestamps[2].item() == pytest.approx(rgb[2], abs=1e-6)


def test_freiburg_intrinsics_from_folder_name(tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg3_long_office_household"
    (root / "rgb").mkdir(parents=True)
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(root / "rgb" / "1.000000.png")
    (root / "rgb.txt").write_text("1.000000 rgb/1.000000.png\n")
    seq = read_tum_rgbd(root)
    assert len(seq) == 1 and not seq.has_depth and not seq.has_poses
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([535.4, 539.2, 320.1, 247.6]))


def test_frames_without_partners_are_dropped_loudly(tmp_path):
    root = tmp_path / "seq"
    rgb = [10.0, 10.1, 10.2, 10.3]
    depth = [10.005, 10.105, 10.305]  # frame 10.2 has no depth
    gt = [10.1 + 0.01 * k for k in range(25)]  # frame 10.0 has no pose
    _write_tum(root, rgb, depth, gt)
    with pytest.warns(UserWarning) as record:
        seq = read_tum_rgbd(root, calib="500 500 7.5 5.5")
    messages = [str(r.message) for r in record]
    assert any("dropped 1 of 4 frames that have no depth image" in m for m in messages)
    assert any("dropped 1 of 3 frames that have no ground-truth pose" in m for m in messages)
    assert seq.timestamps.tolist() == pytest.approx([10.1, 10.3])
    with pytest.raises(VokitError, match="have no depth image"):
        read_tum_rgbd(root, calib="500 500 7.5 5.5", unmatched="error")
    with pytest.raises(VokitError, match="no calibration"), pytest.warns(UserWarning):
        read_tum_rgbd(root)  # no calib.txt and no freiburg name


def test_greedy_one_to_one_association_like_tum_tools():
    a = np.array([1.000, 1.010, 2.0])
    b = np.array([1.008, 1.030, 5.0])
    # 1.010-1.008 (0.002) wins first; 1.000 then takes 1.030 (0.030 is beyond 0.02): unmatched.
    assert associate_one_to_one(a, b, 0.02) == {1: 0}
    assert associate_one_to_one(a, b, 0.05) == {1: 0, 0: 1}
