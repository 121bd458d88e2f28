import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from vokit.data.readers import detect_format, open_sequence, read_image_folder, read_video
from vokit.data.readers.calibration import parse_calib
from vokit.errors import VokitError


def _write_frames(folder, n=5, h=24, w=32, name="frame{:d}.png"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / name.format(i))
        frames.append(image)
    return frames


def test_folder_with_calib_string_natural_order(tmp_path):
    frames = _write_frames(tmp_path / "imgs", n=12)
    seq = open_sequence(tmp_path / "imgs", calib="30 31 15.5 11.5", frame_rate_hz=20.0)
    assert len(seq) == 12 and seq.image_size == (24, 32)
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([30.0, 31.0, 15.5, 11.5]))
    assert seq.timestamps[10].item() == pytest.approx(0.5)
    # frame10.png comes after frame9.png, not after frame1.png.
    np.testing.assert_array_equal((seq[10].image.permute(1, 2, 0) * 255).round().byte().numpy(), frames[10])


@pytest.mark.parametrize(
    "text",
    ["30 31 15.5 11.5", "30 0 15.5\n0 31 11.5\n0 0 1\n", "[30, 31, 15.5, 11.5]"],
)
def test_calibration_files(tmp_path, text):
    (tmp_path / "calib.txt").write_text(text)
    calib = parse_calib(tmp_path / "calib.txt")
    np.testing.assert_array_equal(calib.intrinsics, [30.0, 31.0, 15.5, 11.5])
    assert calib.distortion is None


def test_calib_txt_beside_images_and_distortion(tmp_path):
    _write_frames(tmp_path / "imgs", n=2, h=40, w=60)
    (tmp_path / "imgs" / "calib.txt").write_text("50 50 29.5 19.5 -0.3 0.05 0.001 0.0\n")
    seq = read_image_folder(tmp_path / "imgs")
    raw = read_image_folder(tmp_path / "imgs", undistort=False)
    image, image_raw = seq[0].image, raw[0].image
    K = np.array([[50.0, 0, 29.5], [0, 50.0, 19.5], [0, 0, 1]])
    map_x, map_y = cv2.initUndistortRectifyMap(K, np.array([-0.3, 0.05, 0.001, 0.0]), None, K, (60, 40), cv2.CV_32FC1)
    # Sample the centre pixel's source location bilinearly by hand and compare.
    x, y = float(map_x[20, 30]), float(map_y[20, 30])
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    a, b = x - x0, y - y0
    src = image_raw.double()
    expected = (
        (1 - a) * (1 - b) * src[:, y0, x0]
        + a * (1 - b) * src[:, y0, x0 + 1]
        + (1 - a) * b * src[:, y0 + 1, x0]
        + a * b * src[:, y0 + 1, x0 + 1]
    )
    torch.testing.assert_close(image[:, 20, 30].double(), expected, atol=2e-4, rtol=0)
    assert not torch.equal(image, image_raw)


def test_folder_with_times_and_missing_calibration(tmp_path):
    _write_frames(tmp_path / "imgs", n=3, name="{:04d}.jpg")
    with pytest.raises(VokitError, match="no calibration"):
        read_image_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "times.txt").write_text("0.0\n0.04\n0.09\n")
    seq = read_image_folder(tmp_path / "imgs", calib=[30.0, 31.0, 15.5, 11.5])
    assert seq.timestamps.tolist() == [0.0, 0.04, 0.09]


def test_video_file(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (64, 48))
    assert writer.isOpened()
    frames = []
    for i in range(6):
        image = np.zeros((48, 64, 3), np.uint8)
        image[:, :, 0] = 40 * i  # blue in BGR
        image[8:24, 8 + 4 * i : 24 + 4 * i, 1] = 200
        writer.write(image)
        frames.append(image[:, :, ::-1])  # RGB
    writer.release()
    assert detect_format(path) == "video"
    seq = open_sequence(path, calib="60 60 31.5 23.5")
    assert len(seq) == 6 and seq.image_size == (48, 64)
    assert seq.timestamps[3].item() == pytest.approx(3 / 15.0)
    for i in (0, 1, 5, 2):  # sequential and random access
        got = (seq[i].image.permute(1, 2, 0) * 255).numpy()
        assert np.abs(got - frames[i]).mean() < 6  # MJPG is lossy
    with pytest.raises(VokitError, match="no calibration"):
        read_video(path)
