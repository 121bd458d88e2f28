"""TUM RGB-D sequences: ``rgb.txt``, ``depth.txt`` (16-bit PNG, 5000 units per metre), ``groundtruth.txt``.

Association follows the TUM tools: each colour frame is paired one-to-one with the depth image of nearest
time (greedy over sorted differences, ``associate.py``) within ``max_difference`` seconds, and with the nearest
ground-truth pose within ``max_pose_difference`` seconds (no interpolation). Colour frames without a partner
are dropped with a warning (``unmatched="drop"``, the TUM-tools behaviour) or raise (``unmatched="error"``).

The dataset ships no calibration file. The intrinsics come from, in order: the ``calib`` argument; a
``calib.txt`` in the folder (``fx fy cx cy``, as `vokit.data.writers.write_sequence` writes); the published
values for ``freiburg1/2/3`` when the folder name contains it (the calibrated pinhole values of the TUM RGB-D
web page; their small lens distortion is not corrected).
"""

from pathlib import Path

import numpy as np
import torch

from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import Calibration, check_calibration, parse_calib
from vokit.data.readers.extras import extra_loaders
from vokit.data.readers.files import (
    apply_unmatched_policy,
    associate_one_to_one,
    load_depth_png,
    nearest_within,
    read_stamped_list,
    require_files,
    rgb_loader,
)
from vokit.data.sequence import Sequence
from vokit.data.trajectory_io import read_trajectory
from vokit.errors import VokitError

TUM_DEPTH_FACTOR = 5000.0
"""Depth PNG units per metre in TUM RGB-D."""
FREIBURG_INTRINSICS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}


def _intrinsics(root: Path, calib: str | Path | list[float] | Calibration | None
                ) -> tuple[np.ndarray, Path | None, str]:
    """The intrinsics, the file they came from (if any) and their source in words."""
    if calib is not None:
        parsed = parse_calib(calib)
        return parsed.intrinsics, parsed.source, "the calibration given (--calib)"
    if (root / "calib.txt").is_file():
        return parse_calib(root / "calib.txt").intrinsics, root / "calib.txt", "calib.txt in the folder"
    for key, values in FREIBURG_INTRINSICS.items():
        if key in root.resolve().name:
            return np.array(values), None, f"the published TUM {key} intrinsics (from the folder name)"
    raise VokitError(
        "no calibration: pass calib='fx fy cx cy' (or a file), put a calib.txt in the folder, or keep the "
        "freiburg1/2/3 folder name",
        root,
    )


def read_tum_rgbd(
    path: str | Path,
    calib: str | Path | list[float] | Calibration | None = None,
    use_depth: bool = True,
    use_groundtruth: bool = True,
    max_difference: float = 0.02,
    max_pose_difference: float = 0.02,
    unmatched: str = "drop",
    depth_factor: float = TUM_DEPTH_FACTOR,
    name: str | None = None,
) -> Sequence:
    """Read a TUM RGB-D sequence folder.

    Args:
        path: folder holding ``rgb.txt`` (and optionally ``depth.txt``, ``groundtruth.txt``).
        calib: intrinsics override (see the module docstring).
        use_depth: read depth from ``depth.txt`` (vokit's lossless ``gt_depth/`` extra wins when present).
        use_groundtruth: read ``groundtruth.txt`` when present.
        max_difference: colour-depth association tolerance, seconds (TUM tools: 0.02).
        max_pose_difference: colour-pose tolerance, seconds.
        unmatched: ``"drop"`` (warn) or ``"error"`` for colour frames without depth or pose.
        depth_factor: depth PNG units per metre.
        name: sequence name; the folder name by default.

    Raises:
        VokitError: on missing list files or frames, unparsable rows, bad calibration, or unmatched frames
            with ``unmatched="error"``.
    """
    root = Path(path)
    rgb_list = root / "rgb.txt"
    if not rgb_list.is_file():
        raise VokitError("rgb.txt not found: not a TUM RGB-D sequence folder", root)
    rows = read_stamped_list(rgb_list)
    stamps = np.array([t for _, t, _ in rows])
    files = [root / f for _, _, f in rows]
    for (line, _, _), f in zip(rows, files, strict=True):
        if not f.is_file():
            raise VokitError(f"listed image {f.name} does not exist (missing frame)", rgb_list, line)
    keep = np.arange(len(rows))

    depth_files: list[Path] | None = None
    depth_list = root / "depth.txt"
    if use_depth and depth_list.is_file():
        depth_rows = read_stamped_list(depth_list)
        match = associate_one_to_one(stamps, np.array([t for _, t, _ in depth_rows]), max_difference)
        has = np.array([i in match for i in range(len(rows))])
        keep = keep[apply_unmatched_policy(has, unmatched, f"depth image within {max_difference} s", depth_list)]
        depth_files = [root / depth_rows[match[int(i)]][2] for i in keep]
        require_files(depth_files, "depth")

    poses = None
    gt_path = root / "groundtruth.txt"
    if use_groundtruth and gt_path.is_file():
        gt_stamps, gt_poses = read_trajectory(gt_path, "tum")
        near = nearest_within(stamps[keep], gt_stamps.numpy(), max_pose_difference)
        sel = apply_unmatched_policy(near >= 0, unmatched, f"ground-truth pose within {max_pose_difference} s", gt_path)
        keep, near = keep[sel], near[sel]
        if depth_files is not None:
            depth_files = [depth_files[int(k)] for k in sel]
        poses = gt_poses[torch.as_tensor(near)]

    files = [files[int(i)] for i in keep]
    image_size = image_size_of(files[0])
    intrinsics, calib_path, calib_words = _intrinsics(root, calib)
    check_calibration(intrinsics, image_size, calib_path or rgb_list)
    extras = extra_loaders(root, [f.stem for f in files], image_size)
    load_depth = extras["depth"]
    if load_depth is None and depth_files is not None:
        paths = depth_files
        load_depth = lambda i: load_depth_png(paths[i], 1.0 / depth_factor)  # noqa: E731
    return Sequence(
        name=name or root.name,
        timestamps=stamps[keep],
        intrinsics=torch.as_tensor(intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=rgb_loader(files, image_size),
        world_from_cam=poses,
        load_depth=load_depth,
        load_flow=extras["flow"],
        load_motion_mask=extras["motion_mask"],
        source=root,
        calibration_source=calib_words,
    )
