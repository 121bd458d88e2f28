"""A tiny fake ScanNet SensReader export (colour, 16-bit depth, poses, 4x4 intrinsics) for readers and training."""

from pathlib import Path

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 48, 64
FX, FY, CX, CY = 50.0, 52.0, 31.5, 23.5


def make_scannet_scene(folder: Path, numbers: tuple[int, ...] = (0, 10, 20, 30), bad_pose: int | None = None,
                       depth_size: tuple[int, int] = (24, 32)) -> Path:
    """Write ``color/<k>.jpg``, ``depth/<k>.png`` (mm, ``depth_size``), ``pose/<k>.txt`` and the intrinsics.

    Frame k sits at x = k / 100 m with depth 1.5 m + k mm everywhere; ``bad_pose`` gets ScanNet's -inf pose.
    """
    for sub in ("color", "depth", "pose", "intrinsic"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    k4 = np.array([[FX, 0, CX, 0], [0, FY, CY, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    np.savetxt(folder / "intrinsic" / "intrinsic_color.txt", k4, fmt="%.6f")
    rng = np.random.default_rng(0)
    for k in numbers:
        image = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / "color" / f"{k}.jpg")
        Image.fromarray(np.full(depth_size, 1500 + k, dtype=np.uint16)).save(folder / "depth" / f"{k}.png")
        pose = np.eye(4)
        pose[0, 3] = k / 100
        if k == bad_pose:
            pose[:] = -np.inf
        np.savetxt(folder / "pose" / f"{k}.txt", pose, fmt="%f")
    return folder
