import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import map_coordinates
from tests.support.data import shared_data
from tests.support.sequences import smooth_poses

from vokit.data.readers import open_sequence, read_euroc
from vokit.data.readers.calibration import Undistorter
from vokit.data.trajectory_io import read_trajectory, write_trajectory
from vokit.errors import VokitError
from vokit.geometry.lie import se3_to_matrix

K_VEC = np.array([40.0, 41.0, 19.5, 14.5])
SENSOR_YAML = """%YAML:1.0
sensor_type: camera
T_BS:
  cols: 4
  rows: 4
  data: [0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975,
         0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768,
        -0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949,
         0.0, 0.0, 0.0, 1.0]
rate_hz: 20
resolution: [{w}, {h}]
camera_model: pinhole
intrinsics: [40.0, 41.0, 19.5, 14.5]
distortion_model: radial-tangential
distortion_coefficients: [{k1}, 0.0, 0.0, 0.0]
"""


def _opencv_undistort(raw, k, dist):
    """OpenCV's undistortion map (cv2.initUndistortRectifyMap), sampled bilinearly in float64 by scipy.

    cv2.remap itself interpolates with 1/32-pixel fixed-point weights, too coarse for a tight comparison.
    """
    K = np.array([[k[0], 0, k[2]], [0, k[1], k[3]], [0, 0, 1]])
    h, w = raw.shape
    map_x, map_y = cv2.initUndistortRectifyMap(K, dist, None, K, (w, h), cv2.CV_32FC1)
    uv = Undistorter(k, dist, (h, w)).uv[0].numpy()
    np.testing.assert_allclose(uv[..., 0], map_x, atol=2e-3)
    np.testing.assert_allclose(uv[..., 1], map_y, atol=2e-3)
    return map_coordinates(raw.astype(np.float64), [map_y, map_x], order=1, mode="constant", cval=0.0)


def _write_euroc(root, n=5, h=30, w=40, k1=0.0, resolution=None):
    cam = root / "mav0" / "cam0"
    (cam / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    stamps = [1403715273262142976 + 50_000_000 * i for i in range(n)]
    for t in stamps:
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(cam / "data" / f"{t}.png")
    (cam / "data.csv").write_text("#timestamp [ns],filename\n" + "".join(f"{t},{t}.png\n" for t in stamps))
    rw, rh = resolution or (w, h)
    (cam / "sensor.yaml").write_text(SENSOR_YAML.format(w=rw, h=rh, k1=k1))
    world_from_body = smooth_poses(n, torch.Generator().manual_seed(3))
    gt = root / "mav0" / "state_groundtruth_estimate0" / "data.csv"
    write_trajectory(gt, torch.tensor(stamps, dtype=torch.float64) * 1e-9, world_from_body, "euroc")
    return stamps, world_from_body


def test_written_layout_body_to_camera(tmp_path):
    stamps, world_from_body = _write_euroc(tmp_path)
    seq = open_sequence(tmp_path)
    assert len(seq) == 5 and seq.image_size == (30, 40)
    torch.testing.assert_close(seq.timestamps, torch.tensor(stamps, dtype=torch.float64) * 1e-9)
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([40.0, 41.0, 19.5, 14.5]))
    T_BS = np.array(
        [
            [0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975],
            [0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768],
            [-0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    expected = se3_to_matrix(world_from_body).numpy() @ T_BS
    np.testing.assert_allclose(se3_to_matrix(seq.world_from_cam).numpy(), expected, atol=1e-9)
    image = seq[0].image
    assert torch.equal(image, read_euroc(tmp_path, undistort=False)[0].image)  # k1 = 0: nothing to undistort


def test_undistortion_matches_opencv(tmp_path):
    _write_euroc(tmp_path, n=1, h=60, w=80, k1=-0.2)
    seq = read_euroc(tmp_path, groundtruth=False)
    raw = read_euroc(tmp_path, groundtruth=False, undistort=False)[0].image[0].numpy()
    got = seq[0].image[0].numpy()
    expected = _opencv_undistort(raw, K_VEC, np.array([-0.2, 0, 0, 0]))
    inner = (slice(5, -5), slice(5, -5))  # borders differ in how each treats samples at the image edge
    np.testing.assert_allclose(got[inner], expected[inner], atol=1e-4)
    assert np.abs(raw - got)[inner].mean() > 0.05  # the distortion is not negligible


def test_resolution_mismatch(tmp_path):
    _write_euroc(tmp_path, resolution=(752, 480))
    with pytest.raises(VokitError, match="calibration does not match the image size") as err:
        read_euroc(tmp_path)
    assert err.value.path.name == "sensor.yaml"


def test_real_euroc_micro_sample():
    root = shared_data("euroc_V101_micro_95f")
    raw = read_euroc(root, undistort=False)
    assert len(raw) == 95 and not raw.has_poses and raw.image_size == (480, 752)
    torch.testing.assert_close(raw.intrinsics[0], torch.tensor([458.654, 457.296, 367.215, 248.375]))
    assert raw.timestamps[0].item() == pytest.approx(1403715273.262142976, abs=1e-6)
    assert float(raw.timestamps.diff().mean()) == pytest.approx(0.05, abs=1e-4)
    gt_file = root / "groundtruth_cam0_tum_DERIVED.txt"
    with pytest.warns(UserWarning, match="dropped 21 of 95 frames"):
        seq = read_euroc(root, groundtruth=gt_file)
    assert len(seq) == 74  # SOURCE.txt: exact timestamp match for the 74 frames from t = 1403715274.312 s
    gt_t, gt_p = read_trajectory(gt_file, "tum")
    torch.testing.assert_close(seq.timestamps, gt_t, rtol=0, atol=1e-6)
    torch.testing.assert_close(seq.world_from_cam, gt_p)
    # The undistorted image follows OpenCV's undistortion map of the raw image.
    k = np.array([458.654, 457.296, 367.215, 248.375])
    dist = np.array([-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05])
    expected = _opencv_undistort(raw[21].image[0].numpy(), k, dist)
    inner = (slice(5, -5), slice(5, -5))
    np.testing.assert_allclose(seq[0].image[0].numpy()[inner], expected[inner], atol=1e-4)
