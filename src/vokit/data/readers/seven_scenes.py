"""Microsoft 7-Scenes sequences: ``frame-XXXXXX.color.png|jpg``, ``.depth.png``, ``.pose.txt``.

Depth PNGs are 16-bit millimetres with 0 and 65535 invalid. Each ``.pose.txt`` holds a 4x4 ``world_from_cam``
matrix (camera-to-world). The intrinsics are fx = fy = 585, cx = 320, cy = 240 for 640x480 unless a
``camera-intrinsics.txt`` (3x3 K) sits beside the frames. The Kinect's colour and depth images are not
registered: depth pixels are off from colour pixels by a few pixels. There are no timestamps; frames are
spaced by ``1 / frame_rate_hz`` (30 Hz).

The reader takes the folder holding the frames (``seq-01``), or a folder with exactly one sub-folder that
holds them.
"""

import re
from pathlib import Path

import numpy as np
import torch

from vokit.data.file_io import parse_float, read_lines
from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import check_calibration, parse_calib
from vokit.data.readers.files import check_consecutive, load_depth_png, require_files, rgb_loader
from vokit.data.sequence import Sequence
from vokit.data.trajectory_io import checked_rotation, matrices_to_poses
from vokit.errors import VokitError

SEVEN_SCENES_INTRINSICS = (585.0, 585.0, 320.0, 240.0)
FRAME_RATE_HZ = 30.0
_COLOR = re.compile(r"frame-(\d+)\.color\.(?:png|jpg)")


def _frames_folder(root: Path) -> Path:
    if not root.is_dir():
        raise VokitError("7-Scenes folder not found", root)
    if any(_COLOR.fullmatch(p.name) for p in root.iterdir()):
        return root
    subs = [d for d in sorted(root.iterdir()) if d.is_dir() and any(_COLOR.fullmatch(p.name) for p in d.iterdir())]
    if len(subs) == 1:
        return subs[0]
    if not subs:
        raise VokitError("no frame-XXXXXX.color.png/jpg files: not a 7-Scenes sequence (or an empty folder)", root)
    raise VokitError(f"several sequences here ({', '.join(d.name for d in subs)}): pass one of them", root)


def read_pose_matrix(path: Path) -> np.ndarray:
    """Read a 4x4 pose matrix file (16 numbers, last row 0 0 0 1) and check its rotation.

    Raises:
        VokitError: on a missing file, unparsable numbers, or a non-rotation (naming the line).
    """
    lines = [ln for ln in read_lines(path, "pose file", " (missing frame)") if ln.strip()]
    try:
        values = np.array([[parse_float(x) for x in ln.split()] for ln in lines], dtype=np.float64)
    except ValueError as err:
        raise VokitError(f"cannot parse pose matrix: {err}", path, None) from None
    if values.shape != (4, 4) or not np.isfinite(values).all():
        raise VokitError(f"pose file must hold a finite 4x4 matrix, got shape {values.shape}", path)
    if np.abs(values[3] - [0, 0, 0, 1]).max() > 1e-6:
        raise VokitError("last row of the pose matrix must be 0 0 0 1", path, 4)
    checked_rotation(values[:3, :3], path, 1)
    return values


def read_seven_scenes(
    path: str | Path,
    use_depth: bool = True,
    frame_rate_hz: float = FRAME_RATE_HZ,
    max_frames: int | None = None,
    name: str | None = None,
) -> Sequence:
    """Read a 7-Scenes sequence folder.

    Args:
        path: the folder holding ``frame-*`` files (or its parent with one such sub-folder).
        use_depth: read the depth PNGs (mm; 0 and 65535 invalid).
        frame_rate_hz: frame rate used for the timestamps.
        max_frames: read only the first frames.
        name: sequence name; the folder name by default.

    Raises:
        VokitError: on missing frames (colour, depth or pose), bad pose matrices, or a calibration that does
            not fit the images.
    """
    folder = _frames_folder(Path(path))
    files = sorted((p for p in folder.iterdir() if _COLOR.fullmatch(p.name)), key=lambda p: p.name)
    ext = files[0].suffix
    numbers = check_consecutive(files, _COLOR, lambda k: f"frame-{k:06d}.color{ext}")
    if max_frames is not None:
        files, numbers = files[:max_frames], numbers[:max_frames]
    stems = [f"frame-{k:06d}" for k in numbers]
    pose_files = [folder / f"{s}.pose.txt" for s in stems]
    require_files(pose_files, "pose")
    poses = matrices_to_poses(np.stack([read_pose_matrix(p) for p in pose_files]))
    image_size = image_size_of(files[0])
    intrinsics_file = folder / "camera-intrinsics.txt"
    intrinsics = np.array(SEVEN_SCENES_INTRINSICS)
    if intrinsics_file.is_file():
        intrinsics = parse_calib(intrinsics_file).intrinsics
    check_calibration(intrinsics, image_size, intrinsics_file if intrinsics_file.is_file() else folder)
    load_depth = None
    if use_depth:
        depth_files = [folder / f"{s}.depth.png" for s in stems]
        require_files(depth_files, "depth")
        load_depth = lambda i: load_depth_png(depth_files[i], 1e-3, invalid_values=(65535,))  # noqa: E731
    return Sequence(
        name=name or f"{folder.parent.name}-{folder.name}",
        timestamps=np.arange(len(files), dtype=np.float64) / frame_rate_hz,
        intrinsics=torch.as_tensor(intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=rgb_loader(files, image_size),
        world_from_cam=poses,
        load_depth=load_depth,
        source=folder,
        calibration_source="camera-intrinsics.txt" if intrinsics_file.is_file()
        else "7-Scenes' published Kinect intrinsics",
    )
