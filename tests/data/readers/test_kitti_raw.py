import calendar
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from vokit.data.readers import open_sequence, read_kitti_raw, read_kitti_raw_split
from vokit.data.readers.kitti_raw import read_raw_timestamps, velodyne_depth
from vokit.errors import VokitError

H, W = 20, 30
P_RECT_02 = np.array([[25.0, 0, 14.2, 1.1], [0, 25.0, 9.7, 0.05], [0, 0, 1, 0.0027]])
R_RECT_00 = np.array([[0.9999, 0.0098, -0.0074], [-0.0099, 0.9999, -0.0043], [0.0074, 0.0044, 0.9999]])
R_RECT_00 = np.linalg.qr(R_RECT_00)[0] * np.sign(np.diag(np.linalg.qr(R_RECT_00)[1]))  # exactly orthonormal
# Velodyne: x forward, y left, z up; camera: x right, y down, z forward.
R_VELO = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])
T_VELO = np.array([-0.004, -0.076, -0.27])


def _cam_to_velo(points_rect):
    """Rectified camera-2 points -> velodyne points (inverse of R_rect_00 @ [R_velo | T_velo])."""
    cam0 = points_rect @ R_RECT_00  # R^-1 = R^T
    return (cam0 - T_VELO) @ R_VELO


def _points_at(pixels_uv, depths):
    """Velodyne points that project to the given pixels at the given z-depths in rectified camera 2."""
    uv1 = np.concatenate([pixels_uv, np.ones((len(pixels_uv), 1))], axis=1)
    rect = np.linalg.solve(P_RECT_02[:, :3], (depths[:, None] * uv1 - P_RECT_02[:, 3]).T).T
    return _cam_to_velo(rect)


def _write_drive(root, n=3, size=(W, H), points=None):
    date = root / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    (drive / "image_02" / "data").mkdir(parents=True)
    (drive / "velodyne_points" / "data").mkdir(parents=True)
    (date / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        f"S_rect_02: {size[0]:.6e} {size[1]:.6e}\n"
        f"R_rect_00: {' '.join(f'{v:.12e}' for v in R_RECT_00.reshape(-1))}\n"
        f"P_rect_02: {' '.join(f'{v:.12e}' for v in P_RECT_02.reshape(-1))}\n"
    )
    (date / "calib_velo_to_cam.txt").write_text(
        "calib_time: 15-Mar-2012 11:37:16\n"
        f"R: {' '.join(f'{v:.12e}' for v in R_VELO.reshape(-1))}\nT: {' '.join(f'{v:.12e}' for v in T_VELO)}\n"
    )
    stamps = []
    for i in range(n):
        Image.fromarray(np.full((H, W, 3), 10 * i, np.uint8)).save(drive / "image_02" / "data" / f"{i:010d}.png")
        pts = points if points is not None else np.zeros((0, 3))
        scan = np.concatenate([pts, np.full((len(pts), 1), 0.5)], axis=1).astype(np.float32)
        scan.tofile(drive / "velodyne_points" / "data" / f"{i:010d}.bin")
        stamps.append(f"2011-09-26 13:02:{25 + i:02d}.{964389445 + i:09d}\n")
    (drive / "image_02" / "timestamps.txt").write_text("".join(stamps))
    return drive


def test_velodyne_points_land_on_their_pixels(tmp_path):
    pixels = np.array([[3.0, 4.0], [17.0, 11.0], [28.0, 18.0], [17.0, 11.0]])
    depths = np.array([4.0, 12.5, 30.0, 9.0])  # the last shares a pixel with the second: the nearer wins
    behind = _points_at(np.array([[10.0, 10.0]]), np.array([5.0]))
    behind[:, 0] *= -1  # behind the scanner (x < 0): ignored
    drive = _write_drive(tmp_path, points=np.concatenate([_points_at(pixels, depths), behind]))
    seq = read_kitti_raw(drive, match_monodepth2=False)
    assert len(seq) == 3 and seq.image_size == (H, W)
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([25.0, 25.0, 14.2, 9.7]))
    depth = seq[0].depth
    expected = torch.zeros(H, W)
    expected[4, 3], expected[11, 17], expected[18, 28] = 4.0, 9.0, 30.0
    torch.testing.assert_close(depth, expected, atol=1e-4, rtol=0)
    # monodepth2 / KITTI MATLAB convention: one pixel up and left.
    shifted = read_kitti_raw(drive)[0].depth
    torch.testing.assert_close(shifted[3, 2], torch.tensor(4.0), atol=1e-4, rtol=0)
    assert int((shifted > 0).sum()) == 3
    assert open_sequence(drive).name == "2011_09_26_drive_0001_sync"


def _monodepth2_reference(points, im_from_velo, h, w):
    """The duplicate handling of monodepth2's generate_depth_map, written as a plain loop."""
    velo = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    velo = velo[velo[:, 0] >= 0]
    im = velo @ im_from_velo.T
    im[:, :2] = im[:, :2] / im[:, 2:3]
    im[:, 0] = np.round(im[:, 0]) - 1
    im[:, 1] = np.round(im[:, 1]) - 1
    ok = (im[:, 0] >= 0) & (im[:, 1] >= 0) & (im[:, 0] < w) & (im[:, 1] < h)
    im = im[ok]
    depth = np.zeros((h, w))
    for x, y, z in im:
        depth[int(y), int(x)] = z
    inds = im[:, 1] * (w - 1) + im[:, 0] - 1
    for key, count in Counter(inds.tolist()).items():
        if count > 1:
            pts = np.where(inds == key)[0]
            depth[int(im[pts[0], 1]), int(im[pts[0], 0])] = im[pts, 2].min()
    depth[depth < 0] = 0
    return depth


def test_monodepth2_projection_matches_reference_loop():
    rng = np.random.default_rng(0)
    pixels = np.stack([rng.uniform(-2, W + 2, 400), rng.uniform(-2, H + 2, 400)], axis=1)
    points = _points_at(pixels, rng.uniform(2, 40, 400))  # ~400 points on 600 pixels: many duplicates
    r_rect = np.eye(4)
    r_rect[:3, :3] = R_RECT_00
    cam_from_velo = np.eye(4)
    cam_from_velo[:3, :3], cam_from_velo[:3, 3] = R_VELO, T_VELO
    im_from_velo = P_RECT_02 @ r_rect @ cam_from_velo
    got = velodyne_depth(points, im_from_velo, (H, W), match_monodepth2=True).numpy()
    np.testing.assert_allclose(got, _monodepth2_reference(points, im_from_velo, H, W), rtol=1e-6)


def test_timestamps_and_split(tmp_path):
    drive = _write_drive(tmp_path, n=4)
    stamps = read_raw_timestamps(drive / "image_02" / "timestamps.txt")
    epoch = calendar.timegm((2011, 9, 26, 13, 2, 25, 0, 0, 0))
    assert stamps[0] == pytest.approx(epoch + 0.964389445, abs=1e-6)
    assert stamps[3] - stamps[0] == pytest.approx(3.000000003, abs=1e-6)
    split = tmp_path / "test_files.txt"
    split.write_text("2011_09_26/2011_09_26_drive_0001_sync 0000000002 l\n2011_09_26/2011_09_26_drive_0001_sync 1 l\n")
    (seq,) = read_kitti_raw_split(tmp_path, split)
    assert len(seq) == 2 and seq.timestamps[0].item() == pytest.approx(stamps[2])
    assert float(seq[0].image.mean()) == pytest.approx(20 / 255)
    split.write_text("2011_09_26/2011_09_26_drive_0001_sync 7 l\n")
    with pytest.raises(VokitError, match="frame 7 is not in this drive"):
        read_kitti_raw_split(tmp_path, split)


def test_calibration_size_mismatch(tmp_path):
    drive = _write_drive(tmp_path, size=(1242, 375))
    with pytest.raises(VokitError, match="S_rect_02 is 1242x375 but 0000000000.png is 30x20"):
        read_kitti_raw(drive)
