"""EuRoC MAV (ASL) sequences: ``mav0/cam0/data.csv``, ``sensor.yaml`` (pinhole + radtan, ``T_BS``), ground truth.

Images are grey 752x480 PNGs named by their nanosecond stamp. ``sensor.yaml`` gives ``intrinsics: [fu, fv,
cu, cv]``, ``distortion_coefficients: [k1, k2, p1, p2]`` (radial-tangential), ``resolution: [W, H]`` and
``T_BS``, the camera's pose in the IMU body frame (``body_from_cam``). By default images are undistorted to
the pinhole image with the same intrinsics (`vokit.geometry.camera.undistortion_map`, bilinear, black
outside).

Ground truth: ``mav0/state_groundtruth_estimate0/data.csv`` (ns, position, quaternion **wxyz** of
``world_from_body``), converted to the camera as ``world_from_cam = world_from_body @ T_BS``; or a TUM file of
``world_from_cam`` given as ``groundtruth=``. Each frame takes the pose of nearest time within
``max_pose_difference`` (no interpolation); frames without one are dropped with a warning or raise
(``unmatched``).
"""

from pathlib import Path

import numpy as np
import torch

from vokit.data.file_io import is_ascii_int, read_lines
from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import (
    Undistorter,
    calibration_from_yaml,
    check_calibration,
    read_sensor_yaml,
    yaml_numbers,
)
from vokit.data.readers.files import apply_unmatched_policy, nearest_within, rgb_loader
from vokit.data.sequence import Sequence
from vokit.data.trajectory_io import checked_rotation, matrices_to_poses, read_trajectory
from vokit.errors import VokitError


def _find_mav0(root: Path) -> Path:
    for candidate in (root / "mav0", root):
        if (candidate / "cam0").is_dir() or (candidate / "cam1").is_dir():
            return candidate
    raise VokitError("no mav0/cam0 folder: not a EuRoC sequence", root)


def _read_data_csv(csv_path: Path) -> tuple[np.ndarray, list[Path]]:
    stamps: list[int] = []
    files: list[Path] = []
    for line_no, line in enumerate(read_lines(csv_path, "camera list data.csv"), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split(",")]
        if len(fields) != 2 or not is_ascii_int(fields[0]):
            raise VokitError("cannot parse row: expected 'timestamp_ns,filename'", csv_path, line_no)
        path = csv_path.parent / "data" / fields[1]
        if not path.is_file():
            raise VokitError(f"listed image data/{fields[1]} does not exist (missing frame)", csv_path, line_no)
        if stamps and int(fields[0]) <= stamps[-1]:
            raise VokitError("timestamps must increase", csv_path, line_no)
        stamps.append(int(fields[0]))
        files.append(path)
    if not files:
        raise VokitError("data.csv lists no images", csv_path)
    return np.asarray(stamps, dtype=np.float64) * 1e-9, files


def read_body_from_cam(sensor_yaml: Path) -> torch.Tensor:
    """The camera extrinsic ``T_BS`` of a EuRoC ``sensor.yaml`` as ``body_from_cam`` [t, q_xyzw] float64."""
    data = read_sensor_yaml(sensor_yaml)
    t_bs = data.get("T_BS")
    if not isinstance(t_bs, dict):
        raise VokitError("sensor.yaml has no valid 4x4 T_BS: 'T_BS' must be a mapping with 'data' (16 numbers)",
                         sensor_yaml)
    for key in ("rows", "cols"):
        if key in t_bs and (t_bs[key] != 4 or isinstance(t_bs[key], bool)):
            raise VokitError(f"sensor.yaml has no valid 4x4 T_BS: 'T_BS.{key}' must be 4, got {t_bs[key]!r}",
                             sensor_yaml)
    matrix = np.asarray(yaml_numbers(t_bs, "data", sensor_yaml, (16,), "T_BS, a row-major 4x4 matrix"))
    matrix = matrix.reshape(4, 4)
    if not np.isfinite(matrix).all() or np.abs(matrix[3] - [0, 0, 0, 1]).max() > 1e-6:
        raise VokitError("sensor.yaml has no valid 4x4 T_BS: it must be finite with last row 0 0 0 1", sensor_yaml)
    checked_rotation(matrix[:3, :3], sensor_yaml, None)
    return matrices_to_poses(matrix[None])[0]


def read_euroc(
    path: str | Path,
    camera: str = "cam0",
    groundtruth: str | Path | bool = True,
    undistort: bool = True,
    max_pose_difference: float = 0.01,
    unmatched: str = "drop",
    name: str | None = None,
) -> Sequence:
    """Read a EuRoC sequence (the folder holding ``mav0``, or ``mav0`` itself).

    Args:
        path: the sequence folder.
        camera: ``"cam0"`` or ``"cam1"``.
        groundtruth: True for ``state_groundtruth_estimate0/data.csv`` when present, False for none, or a
            path: a ``.csv`` in the ASL format (body frame, converted with ``T_BS``) or a TUM file of
            ``world_from_cam``.
        undistort: resample images to the undistorted pinhole camera (otherwise the raw images are returned
            with the pinhole intrinsics and the distortion ignored).
        max_pose_difference: frame-to-pose time tolerance, seconds.
        unmatched: ``"drop"`` (warn) or ``"error"`` for frames without a pose.
        name: sequence name; the folder name by default.

    Raises:
        VokitError: on missing or unreadable files, missing frames, a calibration that does not fit the
            images, or unmatched frames with ``unmatched="error"``.
    """
    root = Path(path)
    mav0 = _find_mav0(root)
    cam_dir = mav0 / camera
    stamps, files = _read_data_csv(cam_dir / "data.csv")
    sensor_yaml = cam_dir / "sensor.yaml"
    calib = calibration_from_yaml(sensor_yaml)
    image_size = image_size_of(files[0])
    if calib.image_size is not None and calib.image_size != image_size:
        raise VokitError(
            f"calibration does not match the image size: resolution {calib.image_size[1]}x{calib.image_size[0]} "
            f"but {files[0].name} is {image_size[1]}x{image_size[0]}",
            sensor_yaml,
        )
    check_calibration(calib.intrinsics, image_size, sensor_yaml)

    poses = None
    gt_path: Path | None = None
    if groundtruth is True:
        default = mav0 / "state_groundtruth_estimate0" / "data.csv"
        gt_path = default if default.is_file() else None
    elif groundtruth:
        gt_path = Path(groundtruth)
    if gt_path is not None:
        if gt_path.suffix.lower() == ".csv":
            gt_stamps, gt_poses = read_trajectory(gt_path, "euroc", body_from_cam=read_body_from_cam(sensor_yaml))
        else:
            gt_stamps, gt_poses = read_trajectory(gt_path, "tum")
        near = nearest_within(stamps, gt_stamps.numpy(), max_pose_difference)
        keep = apply_unmatched_policy(
            near >= 0, unmatched, f"ground-truth pose within {max_pose_difference} s", gt_path
        )
        stamps, files = stamps[keep], [files[int(k)] for k in keep]
        poses = gt_poses[torch.as_tensor(near[keep])]

    load_raw = rgb_loader(files, image_size)
    load_image = load_raw
    if undistort and calib.distortion is not None:
        undistorter = Undistorter(calib.intrinsics, calib.distortion, image_size)
        load_image = lambda i: undistorter(load_raw(i))  # noqa: E731
    return Sequence(
        name=name or (root.name if root.name != "mav0" else root.parent.name),
        timestamps=stamps,
        intrinsics=torch.as_tensor(calib.intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=load_image,
        world_from_cam=poses,
        source=root,
        calibration_source=f"{camera}/sensor.yaml",
    )
