"""Dataset readers: each turns one on-disk layout into a `vokit.data.sequence.Sequence`."""

from vokit.data.readers.euroc import read_euroc
from vokit.data.readers.images import read_image_folder, read_video
from vokit.data.readers.kitti_odometry import read_kitti_odometry
from vokit.data.readers.kitti_raw import read_kitti_raw, read_kitti_raw_split, read_split_file
from vokit.data.readers.registry import READERS, detect_format, open_sequence, register_format
from vokit.data.readers.seven_scenes import read_seven_scenes
from vokit.data.readers.tartanair import read_tartanair
from vokit.data.readers.tum import read_tum_rgbd

__all__ = [
    "READERS",
    "detect_format",
    "open_sequence",
    "read_euroc",
    "read_image_folder",
    "read_kitti_odometry",
    "read_kitti_raw",
    "read_kitti_raw_split",
    "read_seven_scenes",
    "read_split_file",
    "read_tartanair",
    "read_tum_rgbd",
    "read_video",
    "register_format",
]
