"""KITTI odometry sequences: ``image_0..3/NNNNNN.png``, ``calib.txt`` (P0..P3), ``times.txt``, poses.

Layout (``dataset/sequences/NN``)::

    calib.txt        P0: .. P3: 12 numbers each (3x4 rectified projection matrices); unlabelled rows are P0, P1, ...
    times.txt        one time in seconds per frame (optional; 10 Hz frame indices otherwise)
    image_0 .. image_3/000000.png ...   (also image_l / image_r, read as cameras 0 / 1)
    poses.txt        optional, or ../../poses/NN.txt: 3x4 world_from_cam0 per frame

KITTI poses are those of camera 0. For camera i the reader returns ``world_from_cam_i = world_from_cam0 @
cam0_from_cam_i`` with ``cam_i_from_cam0 = [I | K_i^-1 P_i[:, 3]]`` (the rectified cameras share one rotation).
"""

import re
from pathlib import Path

import numpy as np
import torch

from vokit.data.file_io import parse_float, read_lines
from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import check_calibration
from vokit.data.readers.extras import extra_loaders
from vokit.data.readers.files import check_consecutive, list_images, rgb_loader
from vokit.data.sequence import Sequence
from vokit.data.trajectory_io import read_times, read_trajectory
from vokit.errors import VokitError
from vokit.geometry.lie import se3_compose

FRAME_RATE_HZ = 10.0
_FRAME = re.compile(r"(\d+)\.png")
_IMAGE_DIRS = {"image_2": 2, "image_0": 0, "image_3": 3, "image_1": 1, "image_l": 0, "image_r": 1}


def read_kitti_calib(path: Path) -> dict[str, np.ndarray]:
    """Read the 3x4 projection matrices of a KITTI odometry ``calib.txt`` as ``{"P0": (3, 4), ...}``.

    Labelled rows (``P0: ...``) keep their label (``Tr`` too); unlabelled rows of 12 numbers are P0, P1, ...
    in order.

    Raises:
        VokitError: on a missing file or a row that is not 12 numbers.
    """
    mats: dict[str, np.ndarray] = {}
    unlabelled = 0
    for line_no, line in enumerate(read_lines(path, "calibration file calib.txt"), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        label, sep, rest = text.partition(":")
        if not sep:
            label, rest = f"P{unlabelled}", text
            unlabelled += 1
        try:
            values = [parse_float(x) for x in rest.split()]
        except ValueError as err:
            raise VokitError(f"cannot parse calibration row {label}: {err}", path, line_no) from None
        if len(values) != 12:
            raise VokitError(f"calibration row {label} has {len(values)} numbers, expected 12", path, line_no)
        mats[label.strip()] = np.array(values, dtype=np.float64).reshape(3, 4)
    return mats


def camera_from_projection(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics (fx, fy, cx, cy) and the translation of ``cam_i_from_cam0`` of a rectified 3x4 ``P_i``."""
    K = P[:, :3]
    return np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]]), np.linalg.solve(K, P[:, 3])


def _find_poses(root: Path) -> Path | None:
    for candidate in (root / "poses.txt", root.parent.parent / "poses" / f"{root.name}.txt"):
        if candidate.is_file():
            return candidate
    return None


def _choose_images(root: Path, camera: int | None, image_dir: str | None) -> tuple[Path, int]:
    if image_dir is not None:
        folder = root / image_dir
        if camera is None:
            camera = _IMAGE_DIRS.get(image_dir, 0)
        return folder, camera
    if camera is not None:
        return root / f"image_{camera}", camera
    for name, cam in _IMAGE_DIRS.items():
        if (root / name).is_dir():
            return root / name, cam
    raise VokitError("no image_0..image_3 (or image_l / image_r) folder: not a KITTI odometry sequence", root)


def read_kitti_odometry(
    path: str | Path,
    camera: int | None = None,
    image_dir: str | None = None,
    poses: str | Path | bool = True,
    max_frames: int | None = None,
    name: str | None = None,
) -> Sequence:
    """Read a KITTI odometry sequence folder.

    Args:
        path: the sequence folder (holding ``calib.txt`` and the image folders).
        camera: which camera (0-3) and projection matrix; by default the first present of image_2, image_0,
            image_3, image_1, image_l (0), image_r (1).
        image_dir: image folder name when it is not ``image_<camera>`` (e.g. ``"image_l"``).
        poses: True to use ``poses.txt`` in the folder or ``../../poses/<name>.txt`` when present, False for
            none, or a path.
        max_frames: read only the first frames (e.g. when ground truth covers fewer frames than the images).
        name: sequence name; the folder name by default.

    Returns:
        The `Sequence`, with ``world_from_cam`` of the chosen camera when poses exist, and any vokit
        ground-truth extras (`vokit.data.readers.extras`).

    Raises:
        VokitError: on missing or misnumbered frames, bad calibration, a calibration that does not fit the
            images, a times/poses file with fewer rows than frames, or malformed pose rows.
    """
    root = Path(path)
    if not root.is_dir():
        raise VokitError("KITTI sequence folder not found", root)
    folder, camera = _choose_images(root, camera, image_dir)
    files = list_images(folder, (".png", ".jpg"))
    check_consecutive(files, re.compile(r"(\d+)\.(?:png|jpg)"), lambda k: f"{k:06d}{files[0].suffix}")
    if max_frames is not None:
        files = files[:max_frames]
    n = len(files)
    calib_path = root / "calib.txt"
    mats = read_kitti_calib(calib_path)
    if f"P{camera}" not in mats:
        raise VokitError(f"calib.txt has no P{camera} for camera {camera} ({folder.name})", calib_path)
    intrinsics, cam_from_cam0_t = camera_from_projection(mats[f"P{camera}"])
    image_size = image_size_of(files[0])
    check_calibration(intrinsics, image_size, calib_path)

    times_path = root / "times.txt"
    stamps = np.arange(n, dtype=np.float64) / FRAME_RATE_HZ
    if times_path.is_file():
        times = read_times(times_path)
        if len(times) < n or (max_frames is None and len(times) != n):
            raise VokitError(f"times.txt has {len(times)} rows for {n} images in {folder.name}", times_path)
        stamps = times[:n]

    world_from_cam = None
    pose_path = _find_poses(root) if poses is True else (Path(poses) if poses else None)
    if pose_path is not None:
        _, world_from_cam0 = read_trajectory(pose_path, "kitti")
        if len(world_from_cam0) < n:
            raise VokitError(
                f"{len(world_from_cam0)} poses for {n} images in {folder.name}: pass max_frames="
                f"{len(world_from_cam0)} to read only the frames with ground truth, or poses=False",
                pose_path,
            )
        if max_frames is None and len(world_from_cam0) > n:
            missing = folder / f"{n:06d}{files[0].suffix}"
            raise VokitError(f"{len(world_from_cam0)} poses but only {n} images (missing frame)", missing)
        cam0_from_cam = torch.tensor([*(-cam_from_cam0_t), 0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
        world_from_cam = se3_compose(world_from_cam0[:n], cam0_from_cam.expand(n, 7))

    extras = extra_loaders(root, [f.stem for f in files], image_size)
    return Sequence(
        name=name or root.name,
        timestamps=stamps,
        intrinsics=torch.as_tensor(intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=rgb_loader(files, image_size),
        world_from_cam=world_from_cam,
        load_depth=extras["depth"],
        load_flow=extras["flow"],
        load_motion_mask=extras["motion_mask"],
        source=root,
        calibration_source=f"calib.txt (P{camera})",
    )
