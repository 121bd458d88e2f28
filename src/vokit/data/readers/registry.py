"""`open_sequence`: detect a dataset layout (or take it by name) and read it as a `Sequence`.

Format names (the ``SOURCE`` kinds of ``vokit run``): ``kitti-odom``, ``kitti-raw``, ``tum``, ``euroc``,
``tartanair``, ``7scenes``, ``scannet``, ``images``, ``video``. More can be added with `register_format` (the
registry maps names to reader functions; nothing is looked up by evaluating strings).
"""

import inspect
import re
from collections.abc import Callable
from pathlib import Path

from vokit.data.image_io import IMAGE_EXTENSIONS
from vokit.data.readers.calibration import Undistorter, check_calibration, parse_calib
from vokit.data.readers.euroc import read_euroc
from vokit.data.readers.images import VIDEO_EXTENSIONS, read_image_folder, read_video
from vokit.data.readers.kitti_odometry import read_kitti_odometry
from vokit.data.readers.kitti_raw import read_kitti_raw
from vokit.data.readers.scannet import is_scannet_scene, read_scannet
from vokit.data.readers.seven_scenes import read_seven_scenes
from vokit.data.readers.tartanair import read_tartanair
from vokit.data.readers.tum import read_tum_rgbd
from vokit.data.sequence import Sequence
from vokit.errors import VokitError

Reader = Callable[..., Sequence]

READERS: dict[str, Reader] = {
    "kitti-odom": read_kitti_odometry,
    "kitti-raw": read_kitti_raw,
    "tum": read_tum_rgbd,
    "euroc": read_euroc,
    "tartanair": read_tartanair,
    "7scenes": read_seven_scenes,
    "scannet": read_scannet,
    "images": read_image_folder,
    "video": read_video,
}

OWN_CALIBRATION: dict[str, str] = {
    "kitti-odom": "calib.txt",
    "kitti-raw": "calib_cam_to_cam.txt",
    "euroc": "sensor.yaml",
}
"""Formats whose calibration file is authoritative: a user calibration replaces it only with ``calib_override``.
Every other format takes a user calibration as it is (TUM-format recordings of other cameras, 7-Scenes,
TartanAir, image folders, videos)."""

_SEVEN_SCENES = re.compile(r"frame-\d+\.color\.(?:png|jpg)")
_EXTRA_DETECTORS: list[tuple[str, Callable[[Path], bool]]] = []


def register_format(name: str, reader: Reader, detect: Callable[[Path], bool] | None = None) -> None:
    """Add a reader under ``name``; with ``detect`` it also takes part in auto-detection (checked first)."""
    READERS[name] = reader
    if detect is not None:
        _EXTRA_DETECTORS.insert(0, (name, detect))


def _has_frames_7scenes(folder: Path) -> bool:
    return any(_SEVEN_SCENES.fullmatch(p.name) for p in folder.iterdir())


def detect_format(path: str | Path) -> str:
    """The format name of a file or folder, from its layout.

    Raises:
        VokitError: if the path is missing, empty, or matches no known layout.
    """
    p = Path(path)
    if not p.exists():
        raise VokitError("no such file or folder", p)
    for name, detect in _EXTRA_DETECTORS:
        if detect(p):
            return name
    if p.is_file():
        if p.suffix.lower() in VIDEO_EXTENSIONS:
            return "video"
        raise VokitError(f"a file must be a video ({', '.join(VIDEO_EXTENSIONS)})", p)
    if (p / "mav0").is_dir() or (p.name == "mav0" and (p / "cam0").is_dir()):
        return "euroc"
    if (p / "rgb.txt").is_file():
        return "tum"
    if (p / "image_left").is_dir() and (p / "pose_left.txt").is_file():
        return "tartanair"
    if (p / "image_02" / "data").is_dir() or (p / "image_00" / "data").is_dir():
        return "kitti-raw"
    if (p / "calib.txt").is_file() and any((p / d).is_dir() for d in ("image_0", "image_2", "image_l")):
        return "kitti-odom"
    if is_scannet_scene(p):
        return "scannet"
    subdirs = [d for d in p.iterdir() if d.is_dir()]
    if _has_frames_7scenes(p) or any(_has_frames_7scenes(d) for d in subdirs):
        return "7scenes"
    if any(f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS for f in p.iterdir()):
        return "images"
    if not any(p.iterdir()):
        raise VokitError("folder is empty", p)
    raise VokitError(
        "unrecognised layout: expected a KITTI odometry or raw folder, TUM RGB-D (rgb.txt), EuRoC (mav0), "
        "TartanAir (image_left, pose_left.txt), 7-Scenes (frame-*.color.*), a ScanNet scene export (color, pose, "
        "intrinsic), a folder of images or a video",
        p,
    )


def _accepts(reader: Reader, name: str) -> bool:
    try:
        return name in inspect.signature(reader).parameters
    except (TypeError, ValueError):
        return False


def _override_calibration(sequence: Sequence, calib: object, replaced: str | None) -> Sequence:
    """The sequence with a user calibration (intrinsics, and undistortion when it has distortion)."""
    cal = parse_calib(calib)  # type: ignore[arg-type]
    where = cal.source or sequence.source
    if cal.image_size is not None and cal.image_size != sequence.image_size:
        raise VokitError(f"the calibration is for {cal.image_size[1]}x{cal.image_size[0]} images, these are "
                         f"{sequence.image_size[1]}x{sequence.image_size[0]}", where)
    check_calibration(cal.intrinsics, sequence.image_size, where)
    transform = None if cal.distortion is None else Undistorter(cal.intrinsics, cal.distortion, sequence.image_size)
    words = "the calibration given (--calib)" + (f", replacing the dataset's {replaced}" if replaced else "")
    return sequence.with_calibration(cal.intrinsics, words, transform)


def open_sequence(path: str | Path, format: str | None = None, calib: object = None, calib_override: bool = False,
                  **kwargs: object) -> Sequence:
    """Read a dataset sequence, image folder or video as a `Sequence`.

    Args:
        path: the sequence folder or video file.
        format: one of `READERS` (``kitti-odom``, ``kitti-raw``, ``tum``, ``euroc``, ``tartanair``, ``7scenes``,
            ``images``, ``video``); detected from the layout when None.
        calib: a user calibration, ``fx fy cx cy [k1 k2 p1 p2]`` in pixels (numbers, a string) or a calibration
            file (`vokit.data.readers.calibration.parse_calib`). Readers that take ``calib=`` get it; for the
            others it replaces the sequence's intrinsics afterwards (images undistorted with its distortion; ground
            truth is not resampled). Refused for the formats in `OWN_CALIBRATION` unless ``calib_override``.
        calib_override: let ``calib`` replace an authoritative calibration file (`OWN_CALIBRATION`).
        **kwargs: passed to the reader (e.g. ``camera=`` for KITTI).

    Returns:
        The sequence; ``sequence.calibration_source`` says where its intrinsics came from.

    Raises:
        VokitError: for an unknown format, an undetectable layout, a refused calibration, or anything the reader
            rejects.
    """
    name = format if format is not None else detect_format(path)
    if name not in READERS:
        raise VokitError(f"unknown format {name!r}; known: {', '.join(sorted(READERS))}", path)
    reader = READERS[name]
    if calib is None:
        return reader(path, **kwargs)
    own = OWN_CALIBRATION.get(name)
    if own is not None and not calib_override:
        raise VokitError(f"this {name} sequence has its own calibration ({own}), which is authoritative; "
                         "pass --calib-override to replace it with --calib", path)
    if _accepts(reader, "calib"):
        return reader(path, calib=calib, **kwargs)
    if own is not None and _accepts(reader, "undistort"):
        kwargs = {**kwargs, "undistort": False}  # the user's calibration undistorts instead
    return _override_calibration(reader(path, **kwargs), calib, own)
