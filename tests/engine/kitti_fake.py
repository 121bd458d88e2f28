"""A tiny fake KITTI raw tree (one date, one drive, left colour camera) for the coopnet-kitti data path."""

from pathlib import Path

import numpy as np
from PIL import Image

DATE = "2011_09_26"
DRIVE = f"{DATE}/{DATE}_drive_0001_sync"
HEIGHT, WIDTH = 48, 160
FX, FY, CX, CY = 100.0, 100.0, 79.5, 23.5


def make_kitti_raw_tree(root: Path, n_frames: int = 6, split_frames: tuple[int, ...] = (0, 1, 3, 5)) -> Path:
    """Write images, calibration and ``splits/eigen_zhou/train_files.txt``; returns ``root``."""
    date_dir = root / DATE
    image_dir = root / DRIVE / "image_02" / "data"
    image_dir.mkdir(parents=True)
    (date_dir / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\n"
        f"P_rect_02: {FX} 0 {CX} 0 0 {FY} {CY} 0 0 0 1 0\n"
        "R_rect_00: 1 0 0 0 1 0 0 0 1\n"
        f"S_rect_02: {float(WIDTH)} {float(HEIGHT)}\n"
    )
    (date_dir / "calib_velo_to_cam.txt").write_text("R: 1 0 0 0 1 0 0 0 1\nT: 0 0 0\n")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(HEIGHT, WIDTH + 2 * n_frames, 3), dtype=np.uint8)
    for k in range(n_frames):
        Image.fromarray(np.ascontiguousarray(base[:, 2 * k : 2 * k + WIDTH])).save(image_dir / f"{k:010d}.png")
    split = root / "splits" / "eigen_zhou" / "train_files.txt"
    split.parent.mkdir(parents=True)
    split.write_text("".join(f"{DRIVE} {k} l\n" for k in split_frames))
    return root
