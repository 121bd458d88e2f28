"""ScanNet scenes as exported by ScanNet's ``SensReader``.

The export is ``reader.py --export_color_images --export_depth_images --export_poses --export_intrinsics``.

Layout of one scene folder (``scene0000_00``)::

    color/<k>.jpg           colour frames (k: frame number; the export may skip frames, e.g. every 10th)
    depth/<k>.png           16-bit depth in millimetres, 0 invalid (640x480)
    pose/<k>.txt            4x4 world_from_cam (camera-to-world); tracking failures hold -inf
    intrinsic/intrinsic_color.txt   4x4 (or 3x3) K of the colour camera

Frames whose pose is not finite (ScanNet marks tracking failures with ``-inf``) are left out. Depth is registered
to the colour viewpoint but stored at its own size; the reader resizes it to the colour size by nearest neighbour
(ScanNet's depth intrinsics are, up to a pixel, the colour ones scaled). Timestamps are the frame number / 30 Hz.
"""

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vokit.data.file_io import read_text
from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import check_calibration, parse_calib
from vokit.data.readers.files import load_depth_png, require_files, rgb_loader
from vokit.data.readers.seven_scenes import read_pose_matrix
from vokit.data.sequence import Sequence
from vokit.data.trajectory_io import matrices_to_poses
from vokit.errors import VokitError

FRAME_RATE_HZ = 30.0
_COLOR = re.compile(r"(\d+)\.(?:jpg|png)")


def is_scannet_scene(path: Path) -> bool:
    """True for a folder with ``color/``, ``pose/`` and ``intrinsic/`` sub-folders (a SensReader export)."""
    return path.is_dir() and all((path / d).is_dir() for d in ("color", "pose", "intrinsic"))


def read_intrinsics_file(path: Path) -> np.ndarray:
    """``(fx, fy, cx, cy)`` from ScanNet's 4x4 (or a 3x3) ``intrinsic_color.txt``.

    Raises:
        VokitError: missing file or not a pinhole K.
    """
    values = read_text(path, "intrinsics file").split()
    if len(values) == 16:  # [[K, 0], [0, 1]]: keep the 3x3 block
        values = [v for r in range(3) for v in values[4 * r : 4 * r + 3]]
    try:
        return parse_calib(" ".join(values)).intrinsics
    except VokitError as err:
        raise VokitError(f"intrinsics must be a 4x4 or 3x3 pinhole K: {err.message}", path) from None


def _pose_is_finite(path: Path) -> bool:
    text = read_text(path, "pose file").lower()
    return "inf" not in text and "nan" not in text


def _depth_loader(paths: list[Path], image_size: tuple[int, int]) -> Callable[[int], Tensor]:
    def load(i: int) -> Tensor:
        depth = load_depth_png(paths[i], 1e-3)
        if tuple(depth.shape) == image_size:
            return depth
        return F.interpolate(depth[None, None], size=image_size, mode="nearest")[0, 0]

    return load


def read_scannet(
    path: str | Path,
    use_depth: bool = True,
    frame_rate_hz: float = FRAME_RATE_HZ,
    max_frames: int | None = None,
    name: str | None = None,
) -> Sequence:
    """Read an exported ScanNet scene folder (see the module docstring).

    Args:
        path: the scene folder (holding ``color/``, ``pose/``, ``intrinsic/`` and optionally ``depth/``).
        use_depth: read the depth PNGs (millimetres, 0 invalid).
        frame_rate_hz: frame rate of the timestamps (frame number / rate).
        max_frames: read only the first frames (after dropping frames without a pose).
        name: sequence name; the folder name by default.

    Raises:
        VokitError: not a scene folder, no colour frames, missing pose or depth files, bad matrices, or no frame
            with a finite pose.
    """
    folder = Path(path)
    if not is_scannet_scene(folder):
        raise VokitError("not a ScanNet scene export: expected color/, pose/ and intrinsic/ folders", folder)
    files = sorted((p for p in (folder / "color").iterdir() if _COLOR.fullmatch(p.name)), key=lambda p: int(p.stem))
    if not files:
        raise VokitError("no colour frames (<number>.jpg) in color/", folder / "color")
    pose_files = [folder / "pose" / f"{p.stem}.txt" for p in files]
    require_files(pose_files, "pose")
    keep = [k for k, p in enumerate(pose_files) if _pose_is_finite(p)]
    if not keep:
        raise VokitError("no frame has a finite pose (all tracking failures)", folder / "pose")
    keep = keep[:max_frames] if max_frames is not None else keep
    files, pose_files = [files[k] for k in keep], [pose_files[k] for k in keep]
    poses = matrices_to_poses(np.stack([read_pose_matrix(p) for p in pose_files]))
    image_size = image_size_of(files[0])
    intrinsics_file = folder / "intrinsic" / "intrinsic_color.txt"
    intrinsics = read_intrinsics_file(intrinsics_file)
    check_calibration(intrinsics, image_size, intrinsics_file)
    load_depth = None
    if use_depth:
        depth_files = [folder / "depth" / f"{p.stem}.png" for p in files]
        require_files(depth_files, "depth")
        load_depth = _depth_loader(depth_files, image_size)
    return Sequence(
        name=name or folder.name,
        timestamps=np.array([int(p.stem) for p in files], dtype=np.float64) / frame_rate_hz,
        intrinsics=torch.as_tensor(intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=rgb_loader(files, image_size),
        world_from_cam=poses,
        load_depth=load_depth,
        source=folder,
        calibration_source="intrinsic/intrinsic_color.txt",
    )
