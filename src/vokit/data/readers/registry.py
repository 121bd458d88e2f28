"""`open_sequence`: detect a dataset layout (or take it by name) and read it as a `Sequence`.

Format names (the ``SOURCE`` kinds of ``vokit run``): ``kitti-odom``, ``kitti-raw``, ``tum``, ``euroc``,
``tartanair``, ``7scenes``, ``images``, ``video``. More can be added with `register_format` (the registry maps
names to reader functions; nothing is looked up by evaluating strings).
"""

import re
from collections.abc import Callable
from pathlib import Path

from vokit.data.image_io import IMAGE_EXTENSIONS
from vokit.data.readers.euroc import read_euroc
from vokit.data.readers.images import VIDEO_EXTENSIONS, read_image_folder, read_video
from vokit.data.readers.kitti_odometry import read_kitti_odometry
from vokit.data.readers.kitti_raw import read_kitti_raw
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
    "images": read_image_folder,
    "video": read_video,
}

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
    subdirs = [d for d in p.iterdir() if d.is_dir()]
    if _has_frames_7scenes(p) or any(_has_frames_7scenes(d) for d in subdirs):
        return "7scenes"
    if any(f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS for f in p.iterdir()):
        return "images"
    if not any(p.iterdir()):
        raise VokitError("folder is empty", p)
    raise VokitError(
        "unrecognised layout: expected a KITTI odometry or raw folder, TUM RGB-D (rgb.txt), EuRoC (mav0), "
        "TartanAir (image_left, pose_left.txt), 7-Scenes (frame-*.color.*), a folder of images or a video",
        p,
    )


def open_sequence(path: str | Path, format: str | None = None, **kwargs: object) -> Sequence:
    """Read a dataset sequence, image folder or video as a `Sequence`.

    Args:
        path: the sequence folder or video file.
        format: one of `READERS` (``kitti-odom``, ``kitti-raw``, ``tum``, ``euroc``, ``tartanair``, ``7scenes``,
            ``images``, ``video``); detected from the layout when None.
        **kwargs: passed to the reader (e.g. ``calib=`` for images and videos, ``camera=`` for KITTI).

    Raises:
        VokitError: for an unknown format, an undetectable layout, or anything the reader rejects.
    """
    name = format if format is not None else detect_format(path)
    if name not in READERS:
        raise VokitError(f"unknown format {name!r}; known: {', '.join(sorted(READERS))}", path)
    return READERS[name](path, **kwargs)
