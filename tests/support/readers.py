"""Every file reader of the data layer with a small valid file for it, for the bad-input and fuzz tests."""

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vokit.data.flow_io import read_flo, write_flo
from vokit.data.image_io import write_png16
from vokit.data.readers import read_split_file
from vokit.data.readers.calibration import calibration_from_yaml, parse_calib
from vokit.data.readers.euroc import read_body_from_cam
from vokit.data.readers.files import load_depth_npy, load_depth_png, read_stamped_list
from vokit.data.readers.kitti_odometry import read_kitti_calib
from vokit.data.readers.kitti_raw import read_calib_file, read_raw_timestamps
from vokit.data.readers.seven_scenes import read_pose_matrix
from vokit.data.readers.tartanair import read_ned_poses
from vokit.data.trajectory_io import read_times, read_trajectory

Reader = Callable[[Path], object]

IDENTITY_ROW = "0 0 0 0 0 0 1"
P_ROW = "1 0 0 0 0 1 0 0 0 0 1 0"
SENSOR_YAML = """%YAML:1.0
sensor_type: camera
T_BS:
  cols: 4
  rows: 4
  data: [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
rate_hz: 20
resolution: [752, 480]
camera_model: pinhole
intrinsics: [458.654, 457.296, 367.215, 248.375]
distortion_model: radial-tangential
distortion_coefficients: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]
"""

TEXT_READERS: list[tuple[str, str, str, Reader]] = [
    ("tum", "traj.txt", "# t x y z qx qy qz qw\n0.0 0 0 0 0 0 0 1\n0.1 1 0 0 0 0 0 1\n",
     lambda p: read_trajectory(p, "tum")),
    ("kitti", "poses.txt", f"{P_ROW}\n{P_ROW}\n", lambda p: read_trajectory(p, "kitti")),
    ("euroc", "gt.csv", "#t,x\n1000,0,0,0,1,0,0,0\n2000,1,0,0,1,0,0,0\n", lambda p: read_trajectory(p, "euroc")),
    ("times", "times.txt", "0.0\n0.1\n", read_times),
    ("calib-numbers", "calib.txt", "500 500 320 240\n", parse_calib),
    ("sensor-yaml", "sensor.yaml", SENSOR_YAML, calibration_from_yaml),
    ("T_BS", "cam.yaml", SENSOR_YAML, read_body_from_cam),
    ("rgb.txt", "rgb.txt", "# list\n0.0 rgb/0.png\n0.1 rgb/1.png\n", read_stamped_list),
    ("kitti-calib", "calib.txt", f"P0: {P_ROW}\n", read_kitti_calib),
    ("kitti-raw-calib", "calib_cam_to_cam.txt", "calib_time: 09-Jan-2012\nS_00: 1.4e3 3.7e2\n", read_calib_file),
    ("kitti-raw-times", "timestamps.txt", "2011-09-26 13:02:25.964389445\n", read_raw_timestamps),
    ("kitti-split", "test_files.txt", "2011_09_26/2011_09_26_drive_0002_sync 69 l\n", read_split_file),
    ("7scenes-pose", "frame-000000.pose.txt", "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", read_pose_matrix),
    ("tartanair-pose", "pose_left.txt", f"{IDENTITY_ROW}\n{IDENTITY_ROW}\n", read_ned_poses),
]
"""(name, file name, valid text, read function) of every text reader."""


def _npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.linspace(0.5, 9.0, 12, dtype=np.float32).reshape(3, 4))
    return buffer.getvalue()


def _bytes_written(write: Callable[[Path], None], tmp: Path) -> bytes:
    write(tmp)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def binary_readers(tmp: Path) -> list[tuple[str, str, bytes, Reader]]:
    """(name, file name, valid bytes, read function) of the binary readers: .flo, depth .npy and depth PNG.

    Args:
        tmp: a scratch folder for writing the valid samples.
    """
    flow = torch.arange(24, dtype=torch.float32).reshape(3, 4, 2)
    return [
        ("flo", "a.flo", _bytes_written(lambda p: write_flo(p, flow), tmp / "s.flo"), read_flo),
        ("depth-npy", "d.npy", _npy_bytes(), load_depth_npy),
        ("depth-png", "d.png",
         _bytes_written(lambda p: write_png16(p, np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000), tmp / "s.png"),
         lambda p: load_depth_png(p, 1.0 / 5000.0)),
    ]
