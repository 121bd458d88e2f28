"""A folder of images, or a video file, with a user-given calibration (``--calib``).

The calibration is ``fx fy cx cy [k1 k2 p1 p2]`` in pixels of the images (numbers, a string of numbers or a
file; see `vokit.data.readers.calibration`), or a ``calib.txt`` beside the images. With distortion
coefficients the images are undistorted to the pinhole camera with the same intrinsics.

Frames of a folder are the image files in natural order (``frame2`` before ``frame10``); numbered file names
must run without gaps. Timestamps come from a ``times.txt`` beside the images (one per image, seconds) or are
spaced by ``1 / frame_rate_hz``. Video frames are decoded with OpenCV, sequentially when read in order.
"""

import re
from collections.abc import Callable
from collections.abc import Sequence as SequenceOf
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import Calibration, Undistorter, check_calibration, parse_calib
from vokit.data.readers.files import check_consecutive, list_images, rgb_loader
from vokit.data.sequence import Sequence
from vokit.data.trajectory_io import read_times
from vokit.errors import VokitError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
CalibArg = str | Path | SequenceOf[float] | Calibration | None


def _calibration_words(calib: CalibArg) -> str:
    return "the calibration given (--calib)" if calib is not None else "calib.txt beside the images"


def _calibration(calib: CalibArg, folder: Path) -> Calibration:
    if calib is not None:
        return parse_calib(calib)
    if (folder / "calib.txt").is_file():
        return parse_calib(folder / "calib.txt")
    raise VokitError(
        "no calibration: pass calib='fx fy cx cy [k1 k2 p1 p2]' (or a calibration file), or put a calib.txt "
        "with those numbers beside the images",
        folder,
    )


def _numbered(files: list[Path]) -> None:
    """If every file name is one number with a common prefix/suffix, require the numbers to run without gaps."""
    matches = [re.fullmatch(r"(\D*)(\d+)(\D*)", p.name) for p in files]
    parts = [(m.group(1), m.group(2), m.group(3)) for m in matches if m is not None]
    if len(parts) != len(files) or len({(prefix, suffix) for prefix, _, suffix in parts}) != 1:
        return
    prefix, digits, suffix = parts[0]
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
    check_consecutive(files, pattern, lambda k: f"{prefix}{k:0{len(digits)}d}{suffix}")


def read_image_folder(
    path: str | Path,
    calib: CalibArg = None,
    frame_rate_hz: float = 10.0,
    undistort: bool = True,
    check_numbering: bool = True,
    name: str | None = None,
) -> Sequence:
    """Read a folder of images as a `Sequence` without ground truth.

    Args:
        path: the folder.
        calib: the calibration (module docstring); required unless ``calib.txt`` is in the folder.
        frame_rate_hz: frame rate used for the timestamps when there is no ``times.txt``.
        undistort: undistort images when the calibration has distortion coefficients.
        check_numbering: require numbered file names to run without gaps (a gap is a missing frame).
        name: sequence name; the folder name by default.

    Raises:
        VokitError: on an empty folder, a gap in numbered frames, no or bad calibration, or a calibration that
            does not fit the images.
    """
    folder = Path(path)
    files = list_images(folder)
    if check_numbering:
        _numbered(files)
    cal = _calibration(calib, folder)
    image_size = image_size_of(files[0])
    if cal.image_size is not None and cal.image_size != image_size:
        raise VokitError(
            f"calibration does not match the image size: it is for {cal.image_size[1]}x{cal.image_size[0]} but "
            f"{files[0].name} is {image_size[1]}x{image_size[0]}",
            cal.source or folder,
        )
    check_calibration(cal.intrinsics, image_size, cal.source or folder)
    stamps = np.arange(len(files), dtype=np.float64) / frame_rate_hz
    if (folder / "times.txt").is_file():
        stamps = read_times(folder / "times.txt")
        if len(stamps) != len(files):
            raise VokitError(f"{len(stamps)} times for {len(files)} images", folder / "times.txt")
    load_image = rgb_loader(files, image_size)
    if undistort and cal.distortion is not None:
        undistorter = Undistorter(cal.intrinsics, cal.distortion, image_size)
        load_raw = load_image
        load_image = lambda i: undistorter(load_raw(i))  # noqa: E731
    return Sequence(
        name=name or folder.name,
        timestamps=stamps,
        intrinsics=torch.as_tensor(cal.intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=load_image,
        source=folder,
        calibration_source=_calibration_words(calib),
    )


class _VideoFrames:
    """Decodes frames of a video on demand, sequentially when possible (seeking only on jumps)."""

    def __init__(self, path: Path) -> None:
        try:
            import cv2
        except ImportError:
            raise VokitError("reading videos needs OpenCV (pip install opencv-python-headless)", path) from None
        self.cv2 = cv2
        self.path = path
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise VokitError("OpenCV cannot open this video", path)
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS)) or 0.0
        self.count = 0
        while self.capture.grab():
            self.count += 1
        if self.count == 0:
            raise VokitError("video holds no decodable frames", path)
        self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self.next_index = 0

    def __call__(self, i: int) -> Tensor:
        if i != self.next_index:
            self.capture.set(self.cv2.CAP_PROP_POS_FRAMES, i)
        ok, bgr = self.capture.read()
        if not ok:
            raise VokitError(f"cannot decode frame {i} of {self.count}", self.path)
        self.next_index = i + 1
        rgb = self.cv2.cvtColor(bgr, self.cv2.COLOR_BGR2RGB)
        return torch.from_numpy(rgb).permute(2, 0, 1).to(torch.float32) / 255.0


def read_video(
    path: str | Path,
    calib: CalibArg = None,
    frame_rate_hz: float | None = None,
    undistort: bool = True,
    name: str | None = None,
) -> Sequence:
    """Read a video file as a `Sequence` without ground truth (OpenCV decoding).

    Args:
        path: the video file.
        calib: the calibration (module docstring); required unless a ``calib.txt`` sits beside the video.
        frame_rate_hz: overrides the frame rate stored in the video (used for the timestamps).
        undistort: undistort frames when the calibration has distortion coefficients.
        name: sequence name; the file stem by default.

    Raises:
        VokitError: on a missing or undecodable video, no or bad calibration, or one that does not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise VokitError("video file not found", path)
    frames = _VideoFrames(path)
    cal = _calibration(calib, path.parent)
    first = frames(0)
    image_size = (int(first.shape[1]), int(first.shape[2]))
    check_calibration(cal.intrinsics, image_size, cal.source or path)
    rate = frame_rate_hz or frames.fps
    if not rate or rate <= 0:
        raise VokitError("the video states no frame rate: pass frame_rate_hz", path)
    load_image: Callable[[int], Tensor] = frames
    if undistort and cal.distortion is not None:
        undistorter = Undistorter(cal.intrinsics, cal.distortion, image_size)
        load_image = lambda i: undistorter(frames(i))  # noqa: E731
    return Sequence(
        name=name or path.stem,
        timestamps=np.arange(frames.count, dtype=np.float64) / rate,
        intrinsics=torch.as_tensor(cal.intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=load_image,
        source=path,
        calibration_source=_calibration_words(calib),
    )
