"""Issue 3 item 5: each kind of bad input raises VokitError naming the file, the line and the problem."""

import numpy as np
import pytest
from PIL import Image
from tests.support.sequences import make_sequence

from vokit.data.readers import detect_format, open_sequence, read_image_folder, read_tartanair
from vokit.data.trajectory_io import read_trajectory
from vokit.data.writers import write_sequence
from vokit.errors import VokitError


@pytest.fixture
def kitti_dir(tmp_path):
    return write_sequence(make_sequence(n=4), tmp_path / "kitti", layout="kitti")


def test_missing_frame_kitti(kitti_dir):
    (kitti_dir / "image_2" / "000002.png").unlink()
    with pytest.raises(VokitError, match="missing frame 2") as err:
        open_sequence(kitti_dir)
    assert err.value.path == kitti_dir / "image_2" / "000002.png"


def test_missing_frame_tum_list_names_line(tmp_path):
    out = write_sequence(make_sequence(n=3), tmp_path / "tum", layout="tum")
    listed = (out / "rgb.txt").read_text().splitlines()
    victim = out / listed[2].split()[1]  # line 3 = second frame (line 1 is the header)
    victim.unlink()
    with pytest.raises(VokitError, match="does not exist \\(missing frame\\)") as err:
        open_sequence(out)
    assert err.value.path == out / "rgb.txt" and err.value.line == 3
    assert victim.name in str(err.value)


def test_missing_ground_truth_extra(kitti_dir):
    (kitti_dir / "gt_depth" / "000001.npy").unlink()
    with pytest.raises(VokitError, match="missing ground-truth depth file") as err:
        open_sequence(kitti_dir)
    assert err.value.path.name == "000001.npy"


def test_fewer_poses_than_frames(kitti_dir):
    lines = (kitti_dir / "poses.txt").read_text().splitlines()
    (kitti_dir / "poses.txt").write_text("\n".join(lines[:3]) + "\n")
    with pytest.raises(VokitError, match="3 poses for 4 images .*max_frames=3") as err:
        open_sequence(kitti_dir)
    assert err.value.path.name == "poses.txt"


def test_unparsable_pose_row(kitti_dir):
    lines = (kitti_dir / "poses.txt").read_text().splitlines()
    lines[2] = lines[2].replace(" ", " x", 1)
    (kitti_dir / "poses.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(VokitError, match="cannot parse pose row") as err:
        open_sequence(kitti_dir)
    assert err.value.path == kitti_dir / "poses.txt" and err.value.line == 3
    assert "poses.txt:3:" in str(err.value)


def test_unparsable_tum_row_wrong_field_count(tmp_path):
    path = tmp_path / "traj.txt"
    path.write_text("# header\n0.0 0 0 0 0 0 0 1\n0.1 0 0 0 0 0 1\n")
    with pytest.raises(VokitError, match="7 fields, expected 8") as err:
        read_trajectory(path, "tum")
    assert err.value.line == 3


def test_non_orthonormal_rotation(kitti_dir):
    rows = np.loadtxt(kitti_dir / "poses.txt").reshape(-1, 3, 4)
    rows[1, :, :3] *= 1.05  # a scaled rotation
    np.savetxt(kitti_dir / "poses.txt", rows.reshape(-1, 12))
    with pytest.raises(VokitError, match="rotation is not orthonormal") as err:
        open_sequence(kitti_dir)
    assert err.value.line == 2


def test_non_unit_quaternion(tmp_path):
    path = tmp_path / "traj.txt"
    path.write_text("0.0 0 0 0 0 0 0 1\n0.1 0 0 0 0.5 0 0 0.5\n")
    with pytest.raises(VokitError, match="quaternion has norm 0.707") as err:
        read_trajectory(path, "tum")
    assert err.value.line == 2


def test_calibration_does_not_match_image_size(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(folder / f"{i:06d}.png")
    with pytest.raises(VokitError, match="calibration does not match the image size") as err:
        read_image_folder(folder, calib="500 500 319.5 239.5")  # a 640x480 calibration
    assert "64x48" in str(err.value)
    (folder / "calib.txt").write_text("500 500 319.5 239.5\n")
    with pytest.raises(VokitError, match="principal point \\(319.5, 239.5\\)") as err:
        read_image_folder(folder)
    assert err.value.path == folder / "calib.txt"


def test_kitti_calibration_does_not_match_image_size(kitti_dir):
    (kitti_dir / "calib.txt").write_text("".join(f"P{i}: 718 0 607 0 0 718 185 0 0 0 1 0\n" for i in range(4)))
    with pytest.raises(VokitError, match="calibration does not match the image size") as err:
        open_sequence(kitti_dir)
    assert err.value.path == kitti_dir / "calib.txt"


def _tartanair(root, depth):
    (root / "image_left").mkdir(parents=True)
    (root / "depth_left").mkdir()
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(root / "image_left" / "000000_left.png")
    np.save(root / "depth_left" / "000000_left_depth.npy", depth)


@pytest.mark.parametrize(("bad", "message"), [(np.nan, "non-finite"), (-2.0, "negative")])
def test_nan_or_negative_depth(tmp_path, bad, message):
    depth = np.full((480, 640), 5.0, np.float32)
    depth[7, 9] = bad
    _tartanair(tmp_path / "t", depth)
    seq = read_tartanair(tmp_path / "t")
    with pytest.raises(VokitError, match=f"depth holds 1 {message} values?.*first at row 7 col 9") as err:
        seq[0]
    assert err.value.path.name == "000000_left_depth.npy"


def test_negative_ground_truth_depth_extra(kitti_dir):
    depth = np.load(kitti_dir / "gt_depth" / "000003.npy")
    depth[0, 0] = -1.0
    np.save(kitti_dir / "gt_depth" / "000003.npy", depth)
    seq = open_sequence(kitti_dir)
    seq[2]  # other frames still load
    with pytest.raises(VokitError, match="negative") as err:
        seq[3]
    assert err.value.path.name == "000003.npy"


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VokitError, match="folder is empty") as err:
        open_sequence(tmp_path / "empty")
    assert err.value.path == tmp_path / "empty"
    with pytest.raises(VokitError, match="no image files") as err:
        read_image_folder(tmp_path / "empty", calib="1 1 0 0")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.md").write_text("hi")
    with pytest.raises(VokitError, match="unrecognised layout"):
        detect_format(tmp_path / "other")
    with pytest.raises(VokitError, match="unknown format"):
        open_sequence(tmp_path / "other", format="colmap")
    empty_traj = tmp_path / "t.txt"
    empty_traj.write_text("# nothing\n")
    with pytest.raises(VokitError, match="holds no poses"):
        read_trajectory(empty_traj, "tum")


def test_missing_frame_image_folder(tmp_path):
    for i in (0, 1, 3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"img_{i:03d}.png")
    with pytest.raises(VokitError, match="missing frame 2") as err:
        read_image_folder(tmp_path, calib="5 5 3.5 3.5")
    assert err.value.path == tmp_path / "img_002.png"
