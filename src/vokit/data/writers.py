"""Writers: trajectories, 16-bit depth PNGs, PLY point clouds, and whole sequences in the KITTI or TUM layout.

`write_sequence` writes a `Sequence` so that the matching reader (`read_kitti_odometry` / `read_tum_rgbd`)
reads it back with the same timestamps, intrinsics, poses and ground truth. Images are stored as 8-bit PNGs,
so they come back rounded to multiples of 1/255 (exactly equal when they already were); depth, flow and
motion masks go to vokit's lossless extra folders (`vokit.data.readers.extras`).
"""

from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from vokit.data.flow_io import write_flo
from vokit.data.image_io import write_image_rgb, write_mask_png, write_png16
from vokit.data.output_folder import prepare_output_folder, recording
from vokit.data.readers.extras import DEPTH_DIR, FLOW_DIR, MOTION_MASK_DIR
from vokit.data.readers.tum import TUM_DEPTH_FACTOR
from vokit.data.sequence import Frame, Sequence
from vokit.data.trajectory_io import write_trajectory
from vokit.errors import VokitError

DEPTH_PNG_UNITS_PER_METRE = 256.0
"""Default depth PNG scale (the KITTI depth benchmark's): depth_m = value / 256, 0 = invalid, up to 255.99 m."""


def write_tum_trajectory(
    path: str | Path, timestamps: Float[Tensor, " N"], world_from_cam: Float[Tensor, "N 7"]
) -> None:
    """Write a TUM trajectory file: ``t tx ty tz qx qy qz qw`` per line (seconds, ``world_from_cam``)."""
    write_trajectory(path, timestamps, world_from_cam, "tum")


def write_kitti_trajectory(path: str | Path, world_from_cam: Float[Tensor, "N 7"]) -> None:
    """Write a KITTI trajectory file: the row-major 3x4 ``world_from_cam`` per line."""
    write_trajectory(path, torch.zeros(world_from_cam.shape[0], dtype=torch.float64), world_from_cam, "kitti")


def write_depth_png(
    path: str | Path, depth: Float[Tensor, "H W"], units_per_metre: float = DEPTH_PNG_UNITS_PER_METRE,
    compress_level: int = 6,
) -> int:
    """Write z-depth in metres as a 16-bit PNG: ``value = round(depth * units_per_metre)``, 0 = invalid.

    The scale is also stored in the PNG as a ``tEXt`` entry (``vokit_depth``). Read back with
    `vokit.data.readers.files.load_depth_png` and ``metres_per_unit = 1 / units_per_metre``.

    Args:
        path: output file.
        depth: metres; 0, negative or non-finite pixels are written as 0 (invalid).
        units_per_metre: the scale (256 by default; TUM uses 5000, 7-Scenes 1000).
        compress_level: zlib level, 0-9 (``vokit run`` writes with 1, for speed).

    Returns:
        How many valid pixels lay beyond the encodable range (65535 / units_per_metre) and were written as 0.
    """
    d = depth.detach().cpu().to(torch.float64).numpy()
    valid = np.isfinite(d) & (d > 0)
    values = np.round(np.where(valid, d, 0.0) * units_per_metre)
    too_far = valid & (values > 65535)
    values[too_far | ~valid] = 0
    note = f"depth_m = value / {units_per_metre:g}; 0 = invalid"
    write_png16(path, values.astype(np.uint16), text={"vokit_depth": note}, compress_level=compress_level)
    return int(too_far.sum())


def write_ply(
    path: str | Path,
    points: Float[Tensor, "P 3"],
    colors: Float[Tensor, "P 3"] | None = None,
    binary: bool = True,
) -> None:
    """Write a point cloud as PLY (binary little-endian or ASCII), float32 x y z and optional uchar RGB.

    Args:
        path: output file (parent folders are created).
        points: positions in metres (in whatever frame the caller chose, usually ``world``).
        colors: RGB in [0, 1] per point.
        binary: binary little-endian (compact) or ASCII (readable).
    """
    xyz = points.detach().cpu().to(torch.float32).numpy()
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    rows = np.zeros(len(xyz), dtype=fields)
    rows["x"], rows["y"], rows["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if colors is not None:
        rgb = (colors.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        rows["red"], rows["green"], rows["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    props = "".join(f"property {'float' if t == '<f4' else 'uchar'} {n}\n" for n, t in fields)
    fmt = "binary_little_endian" if binary else "ascii"
    header = f"ply\nformat {fmt} 1.0\ncomment written by vokit\nelement vertex {len(xyz)}\n{props}end_header\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        if binary:
            f.write(rows.tobytes())
        else:
            for row in rows:
                f.write((" ".join(repr(float(v)) if i < 3 else str(int(v)) for i, v in enumerate(row)) + "\n").encode())


def _common_intrinsics(seq: Sequence) -> np.ndarray:
    k = seq.intrinsics.to(torch.float64)
    if not bool(torch.all(k == k[0])):
        raise VokitError(f"sequence {seq.name!r} has per-frame intrinsics; the KITTI and TUM layouts hold one camera")
    return k[0].numpy()


def _write_extras(out_dir: Path, stem: str, frame: Frame) -> None:
    if frame.depth is not None:
        depth = frame.depth.detach().cpu().to(torch.float32).numpy()
        (out_dir / DEPTH_DIR).mkdir(exist_ok=True)
        np.save(out_dir / DEPTH_DIR / f"{stem}.npy", depth)
    if frame.flow is not None:
        known = torch.isfinite(frame.flow).all(dim=-1)
        if bool(known.any()):
            write_flo(out_dir / FLOW_DIR / f"{stem}.flo", torch.nan_to_num(frame.flow), known)
    if frame.motion_mask is not None:
        write_mask_png(out_dir / MOTION_MASK_DIR / f"{stem}.png", frame.motion_mask.detach().cpu().numpy())


def _write_kitti(seq: Sequence, out_dir: Path) -> None:
    fx, fy, cx, cy = _common_intrinsics(seq)
    p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    row = " ".join(repr(float(x)) for x in p)
    (out_dir / "calib.txt").write_text("".join(f"P{i}: {row}\n" for i in range(4)), encoding="utf-8")
    (out_dir / "times.txt").write_text("".join(f"{float(t)!r}\n" for t in seq.timestamps), encoding="utf-8")
    if seq.world_from_cam is not None:
        write_trajectory(out_dir / "poses.txt", seq.timestamps, seq.world_from_cam, "kitti")
    for i in range(len(seq)):
        frame = seq[i]
        stem = f"{i:06d}"
        write_image_rgb(out_dir / "image_2" / f"{stem}.png", frame.image)
        _write_extras(out_dir, stem, frame)


def _write_tum(seq: Sequence, out_dir: Path) -> None:
    fx, fy, cx, cy = _common_intrinsics(seq)
    (out_dir / "calib.txt").write_text(" ".join(repr(float(x)) for x in (fx, fy, cx, cy)) + "\n", encoding="utf-8")
    stems = [f"{float(t):.6f}" for t in seq.timestamps]
    if len(set(stems)) != len(stems):
        raise VokitError(f"sequence {seq.name!r} has timestamps closer than 1 us; the TUM layout names files by them")
    rgb_rows, depth_rows = [], []
    for i, stem in enumerate(stems):
        frame = seq[i]
        t = repr(float(seq.timestamps[i]))
        write_image_rgb(out_dir / "rgb" / f"{stem}.png", frame.image)
        rgb_rows.append(f"{t} rgb/{stem}.png\n")
        if frame.depth is not None:
            write_depth_png(out_dir / "depth" / f"{stem}.png", frame.depth, TUM_DEPTH_FACTOR)
            depth_rows.append(f"{t} depth/{stem}.png\n")
        _write_extras(out_dir, stem, frame)
    header = "# timestamp filename (written by vokit)\n"
    (out_dir / "rgb.txt").write_text(header + "".join(rgb_rows), encoding="utf-8")
    if depth_rows:
        note = f"# depth PNG: metres = value / {TUM_DEPTH_FACTOR:g}; lossless depth in {DEPTH_DIR}/\n"
        (out_dir / "depth.txt").write_text(header + note + "".join(depth_rows), encoding="utf-8")
    if seq.world_from_cam is not None:
        write_trajectory(out_dir / "groundtruth.txt", seq.timestamps, seq.world_from_cam, "tum")


def write_sequence(seq: Sequence, out_dir: str | Path, layout: str = "kitti", overwrite: bool = False) -> Path:
    """Write a whole sequence (images, calibration, timestamps, poses and ground-truth extras) to a folder.

    KITTI layout: ``image_2/NNNNNN.png``, ``calib.txt`` (P0..P3 all ``[K | 0]``), ``times.txt``,
    ``poses.txt`` (3x4 ``world_from_cam`` rows). TUM layout: ``rgb/<t>.png`` with ``rgb.txt``, ``depth/<t>.png``
    (5000 units per metre, beyond 13.1 m written as invalid) with ``depth.txt``, ``groundtruth.txt``, and
    ``calib.txt`` (``fx fy cx cy``). Both add the extras ``gt_depth/`` (float32 .npy), ``gt_flow/`` (.flo;
    frames whose flow is entirely unknown, such as the last, get no file) and ``gt_motion_mask/`` (PNG).

    Args:
        seq: the sequence; every frame is loaded once.
        out_dir: the output folder.
        layout: ``"kitti"`` or ``"tum"``.
        overwrite: replace an earlier ``write_sequence`` output in ``out_dir``: exactly the files its manifest lists
            (`vokit.data.output_folder`); a folder holding anything else is refused.

    Returns:
        ``out_dir`` as a Path; it also holds the manifest ``.vokit-manifest.json`` (kind ``synth``).

    Raises:
        VokitError: if ``out_dir`` is not empty (or, with ``overwrite``, holds files vokit did not write there), the
            intrinsics vary per frame, or (TUM) timestamps collide.
    """
    out = Path(out_dir)
    if layout not in ("kitti", "tum"):
        raise VokitError(f"unknown layout {layout!r}; use kitti or tum", out)
    with recording(prepare_output_folder(out, "synth", overwrite)):
        if layout == "kitti":
            _write_kitti(seq, out)
        else:
            _write_tum(seq, out)
    return out
