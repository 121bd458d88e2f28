"""TartanAir trajectories: ``image_left/NNNNNN_left.png``, ``depth_left/NNNNNN_left_depth.npy``, ``pose_left.txt``.

``pose_left.txt`` holds one ``tx ty tz qx qy qz qw`` row per frame: the left camera's pose in TartanAir's NED
convention, where both the world and the camera body use x forward, y right, z down. vokit's camera frame is
x right, y down, z forward, so with the axis permutation

    P = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]   (p_vokit = P p_ned: x <- y_ned, y <- z_ned, z <- x_ned)

the reader returns ``world_from_cam = P @ T_ned @ P^T``: the translation becomes ``(ty, tz, tx)`` and the
quaternion ``(qy, qz, qx, qw)`` (P is a rotation, so conjugating by it permutes the quaternion's vector part
the same way). The world frame is re-expressed in the same axes. This is the permutation of
castacks/tartanair_tools ``ned2cam`` and of DPVO's TartanAir loader (columns ``[1, 2, 0, 4, 5, 3, 6]``).

Intrinsics are fixed by the dataset: fx = fy = 320, cx = 320, cy = 240 for 640x480 images. Depth is float32
metres in ``.npy``. TartanAir has no timestamps; frames are spaced by ``1 / frame_rate_hz``.
"""

import re
from pathlib import Path

import numpy as np
import torch

from vokit.data.file_io import parse_float, read_lines
from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import check_calibration
from vokit.data.readers.files import check_consecutive, list_images, load_depth_npy, require_files, rgb_loader
from vokit.data.sequence import Sequence
from vokit.data.trajectory_io import checked_quaternion
from vokit.errors import VokitError

TARTANAIR_INTRINSICS = (320.0, 320.0, 320.0, 240.0)
FRAME_RATE_HZ = 10.0
NED_TO_CAM_COLUMNS = (1, 2, 0, 4, 5, 3, 6)
"""Columns of a NED ``[t, q_xyzw]`` row that give vokit's ``[t, q_xyzw]`` (see the module docstring)."""


def ned_to_cam(pose_ned: torch.Tensor) -> torch.Tensor:
    """Convert (..., 7) TartanAir NED poses [t, q_xyzw] to vokit's camera axes: ``P @ T @ P^T``."""
    return pose_ned[..., list(NED_TO_CAM_COLUMNS)]


def read_ned_poses(path: Path) -> torch.Tensor:
    """Read a TartanAir ``pose_*.txt`` (``tx ty tz qx qy qz qw`` per line, NED) as (N, 7) float64, unconverted.

    Raises:
        VokitError: on a missing file, no rows, or a row that is not 7 finite numbers with a unit quaternion.
    """
    rows = []
    for line_no, line in enumerate(read_lines(path, "pose file"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            values = np.array([parse_float(x) for x in line.split()], dtype=np.float64)
        except ValueError as err:
            raise VokitError(f"cannot parse pose row: {err} (tx ty tz qx qy qz qw)", path, line_no) from None
        if len(values) != 7 or not np.isfinite(values).all():
            raise VokitError(f"cannot parse pose row: expected 7 finite numbers, got {len(values)}", path, line_no)
        rows.append(np.concatenate([values[:3], checked_quaternion(values[3:], path, line_no)]))
    if not rows:
        raise VokitError("file holds no poses", path)
    return torch.as_tensor(np.stack(rows))


def read_tartanair(
    path: str | Path,
    side: str = "left",
    use_depth: bool = True,
    frame_rate_hz: float = FRAME_RATE_HZ,
    name: str | None = None,
) -> Sequence:
    """Read a TartanAir trajectory folder (e.g. ``abandonedfactory/Easy/P000``).

    Args:
        path: the trajectory folder.
        side: ``"left"`` or ``"right"`` camera.
        use_depth: read ``depth_<side>/*.npy`` when present.
        frame_rate_hz: frame rate used for the timestamps.
        name: sequence name; the folder name by default.

    Raises:
        VokitError: on missing frames, a pose file whose row count differs from the frame count, malformed
            pose rows, or NaN / negative depth (when a frame is loaded).
    """
    root = Path(path)
    folder = root / f"image_{side}"
    files = list_images(folder, (".png",))
    check_consecutive(files, re.compile(rf"(\d+)_{side}\.png"), lambda k: f"{k:06d}_{side}.png")
    n = len(files)
    image_size = image_size_of(files[0])
    check_calibration(np.array(TARTANAIR_INTRINSICS), image_size, folder)
    poses = None
    pose_path = root / f"pose_{side}.txt"
    if pose_path.is_file():
        poses = ned_to_cam(read_ned_poses(pose_path))
        if len(poses) != n:
            raise VokitError(f"{len(poses)} pose rows for {n} images in {folder.name}", pose_path)
    load_depth = None
    depth_dir = root / f"depth_{side}"
    if use_depth and depth_dir.is_dir():
        depth_files = [depth_dir / f"{f.stem}_depth.npy" for f in files]
        require_files(depth_files, "depth")
        load_depth = lambda i: load_depth_npy(depth_files[i])  # noqa: E731
    return Sequence(
        name=name or "_".join(root.parts[-3:]),
        timestamps=np.arange(n, dtype=np.float64) / frame_rate_hz,
        intrinsics=torch.tensor(TARTANAIR_INTRINSICS),
        image_size=image_size,
        load_image=rgb_loader(files, image_size),
        world_from_cam=poses,
        load_depth=load_depth,
        source=root,
        calibration_source="TartanAir's published pinhole intrinsics",
    )
