"""vokit's ground-truth extra folders, written by `vokit.data.writers.write_sequence` beside a KITTI or TUM layout.

Each frame's extras are keyed by the stem of its image file (``000000`` for KITTI, the timestamp name for
TUM):

- ``gt_depth/<stem>.npy``: float32 (H, W) z-depth in metres, 0 = invalid (lossless);
- ``gt_flow/<stem>.flo``: Middlebury flow to the next frame, pixels (exact float32); absent for the last frame,
  whose flow has no next frame to point to, unless the source sequence provided one;
- ``gt_motion_mask/<stem>.png``: 8-bit mask, 255 on independently moving pixels.

A folder that exists must hold a file for every frame (the last frame may lack flow): a missing file is a
missing frame, reported as an error.
"""

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from vokit.data.flow_io import read_flo
from vokit.data.image_io import read_mask_png
from vokit.data.readers.files import load_depth_npy, require_files

DEPTH_DIR = "gt_depth"
FLOW_DIR = "gt_flow"
MOTION_MASK_DIR = "gt_motion_mask"


def _flow_loader(paths: list[Path], image_size: tuple[int, int]) -> Callable[[int], Tensor]:
    def load(i: int) -> Tensor:
        if i == len(paths) - 1 and not paths[i].is_file():
            # The last frame has no next frame: its flow is unknown, NaN.
            return torch.full((*image_size, 2), float("nan"))
        flow, valid = read_flo(paths[i])
        return torch.where(valid[..., None], flow, torch.full_like(flow, float("nan")))

    return load


def extra_loaders(
    root: Path, stems: list[str], image_size: tuple[int, int]
) -> dict[str, Callable[[int], Tensor] | None]:
    """Loaders for the extra folders under ``root`` that exist, for frames with the given image stems.

    Args:
        root: the sequence folder.
        stems: image file stems, one per frame.
        image_size: (H, W) of the frames.

    Returns:
        ``{"depth": ..., "flow": ..., "motion_mask": ...}``, each i -> tensor or None when the folder is absent.
        Unknown flow (invalid pixels, and the last frame when it has no file) is NaN.
    """
    loaders: dict[str, Callable[[int], Tensor] | None] = {"depth": None, "flow": None, "motion_mask": None}
    if (root / DEPTH_DIR).is_dir():
        depth_paths = [root / DEPTH_DIR / f"{s}.npy" for s in stems]
        require_files(depth_paths, "ground-truth depth")
        loaders["depth"] = lambda i: load_depth_npy(depth_paths[i])
    if (root / FLOW_DIR).is_dir():
        flow_paths = [root / FLOW_DIR / f"{s}.flo" for s in stems]
        require_files(flow_paths[:-1], "ground-truth flow")
        loaders["flow"] = _flow_loader(flow_paths, image_size)
    if (root / MOTION_MASK_DIR).is_dir():
        mask_paths = [root / MOTION_MASK_DIR / f"{s}.png" for s in stems]
        require_files(mask_paths, "ground-truth motion mask")
        loaders["motion_mask"] = lambda i: torch.from_numpy(read_mask_png(mask_paths[i]))
    return loaders
