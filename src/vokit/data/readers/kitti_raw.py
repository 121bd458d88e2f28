"""KITTI raw drives: ``<date>/<date>_drive_XXXX_sync/image_02/data/*.png``, calibration, velodyne depth, Eigen splits.

Layout::

    <root>/<date>/calib_cam_to_cam.txt     P_rect_0i (3x4), R_rect_00 (3x3), S_rect_0i (W H), ...
    <root>/<date>/calib_velo_to_cam.txt    R (3x3), T (3)
    <root>/<date>/<drive>/image_0i/data/0000000000.png ... and image_0i/timestamps.txt
    <root>/<date>/<drive>/velodyne_points/data/0000000000.bin   float32 (x, y, z, reflectance) rows

Sparse depth is the velodyne scan projected into the rectified camera i: ``P_rect_0i @ R_rect_00 @
velo_from_cam^-1`` applied to the points with x >= 0 (in front of the scanner), the z of the projection as
depth, the nearest point kept where several land in one pixel. With ``match_monodepth2=True`` (the default)
pixel positions and duplicate handling follow nianticlabs/monodepth2 ``kitti_utils.generate_depth_map``
exactly, including its ``round(u) - 1`` shift (inherited from the KITTI MATLAB code) and its duplicate
detection, so that Eigen-split ground truth matches the published evaluations; ``False`` rounds to the
nearest pixel centre under vokit's convention (integers at pixel centres) and keeps the nearest point per
pixel.

OXTS poses are not converted: KITTI raw sequences carry no ``world_from_cam``.
"""

import datetime as dt
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vokit.data.file_io import is_ascii_int, parse_float, read_lines
from vokit.data.image_io import image_size_of
from vokit.data.readers.calibration import check_calibration
from vokit.data.readers.files import check_consecutive, list_images, require_files, rgb_loader
from vokit.data.sequence import Sequence
from vokit.errors import VokitError

_FRAME = re.compile(r"(\d{10})\.(?:png|jpg)")


def read_calib_file(path: Path) -> dict[str, np.ndarray]:
    """Read a KITTI raw ``key: numbers`` calibration file; keys whose values are not numbers (dates) are kept out.

    Raises:
        VokitError: if the file is missing.
    """
    out: dict[str, np.ndarray] = {}
    for line in read_lines(path, "calibration file"):
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        try:
            out[key.strip()] = np.array([parse_float(x) for x in rest.split()], dtype=np.float64)
        except ValueError:
            continue  # calib_time and similar text entries
    return out


def _entry(calib: dict[str, np.ndarray], key: str, size: int, path: Path) -> np.ndarray:
    if key not in calib:
        raise VokitError(f"calibration has no {key}", path)
    if calib[key].size != size:
        raise VokitError(f"calibration entry {key} has {calib[key].size} numbers, expected {size}", path)
    return calib[key]


def velo_projection(date_dir: Path, camera: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The 3x4 velodyne-to-image projection, camera intrinsics and (H, W) of rectified camera ``camera``."""
    c2c_path, v2c_path = date_dir / "calib_cam_to_cam.txt", date_dir / "calib_velo_to_cam.txt"
    c2c, v2c = read_calib_file(c2c_path), read_calib_file(v2c_path)
    p_rect = _entry(c2c, f"P_rect_0{camera}", 12, c2c_path).reshape(3, 4)
    r_rect = np.eye(4)
    r_rect[:3, :3] = _entry(c2c, "R_rect_00", 9, c2c_path).reshape(3, 3)
    cam_from_velo = np.eye(4)
    cam_from_velo[:3, :3] = _entry(v2c, "R", 9, v2c_path).reshape(3, 3)
    cam_from_velo[:3, 3] = _entry(v2c, "T", 3, v2c_path)
    w, h = (int(x) for x in _entry(c2c, f"S_rect_0{camera}", 2, c2c_path))
    intrinsics = np.array([p_rect[0, 0], p_rect[1, 1], p_rect[0, 2], p_rect[1, 2]])
    return p_rect @ r_rect @ cam_from_velo, intrinsics, (h, w)


def velodyne_depth(
    points: np.ndarray, im_from_velo: np.ndarray, image_size: tuple[int, int], match_monodepth2: bool = True
) -> Tensor:
    """Project velodyne points (P, >= 3) into a sparse depth map (H, W) in metres, 0 where no point lands.

    Args:
        points: velodyne points (x forward, y left, z up), metres; extra columns are ignored.
        im_from_velo: 3x4 projection to rectified image pixels.
        image_size: (H, W).
        match_monodepth2: reproduce monodepth2's pixel shift and duplicate handling (module docstring).
    """
    h, w = image_size
    pts = points[points[:, 0] >= 0, :3].astype(np.float64)
    proj = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ im_from_velo.T
    z = proj[:, 2]
    u, v = proj[:, 0] / z, proj[:, 1] / z
    shift = 1.0 if match_monodepth2 else 0.0
    col, row = np.round(u) - shift, np.round(v) - shift
    inside = (col >= 0) & (row >= 0) & (col < w) & (row < h)
    col, row, z = col[inside].astype(np.int64), row[inside].astype(np.int64), z[inside]
    depth = np.zeros((h, w), dtype=np.float64)
    if match_monodepth2:
        depth[row, col] = z  # numpy keeps the last write, as in monodepth2
        # monodepth2's sub2ind uses (W - 1) as the row stride; points sharing that key get the minimum depth,
        # written at the pixel of the first of them.
        key = row * (w - 1) + col - 1
        order = np.argsort(key, kind="stable")
        uniq, start, count = np.unique(key[order], return_index=True, return_counts=True)
        groups = count > 1
        mins = np.minimum.reduceat(z[order], start)[groups] if len(uniq) else np.zeros(0)
        first = order[start[groups]]
        depth[row[first], col[first]] = mins
    else:
        flat = row * w + col
        best = np.full(h * w, np.inf)
        np.minimum.at(best, flat, z)
        depth = np.where(np.isfinite(best), best, 0.0).reshape(h, w)
    depth[depth < 0] = 0.0
    return torch.from_numpy(depth.astype(np.float32))


def load_velodyne(path: Path) -> np.ndarray:
    """Read a KITTI velodyne ``.bin`` as float32 (P, 4) rows (x, y, z, reflectance)."""
    if not path.is_file():
        raise VokitError("velodyne file not found (missing frame)", path)
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 4:
        raise VokitError(f"velodyne file size {data.size * 4} bytes is not a multiple of 16", path)
    return data.reshape(-1, 4)


def read_raw_timestamps(path: Path) -> np.ndarray:
    """Read KITTI raw ``timestamps.txt`` (``YYYY-MM-DD hh:mm:ss.fffffffff``) as float64 seconds (UTC epoch)."""
    out = []
    for line_no, line in enumerate(read_lines(path, "timestamps.txt"), start=1):
        if not line.strip():
            continue
        try:
            day, clock = line.split()
            hms, _, frac = clock.partition(".")
            whole = dt.datetime.fromisoformat(f"{day}T{hms}").replace(tzinfo=dt.timezone.utc).timestamp()
            out.append(whole + (float(f"0.{frac}") if frac else 0.0))
        except ValueError as err:
            raise VokitError(f"cannot parse timestamp {line.strip()!r}: {err}", path, line_no) from None
    return np.asarray(out, dtype=np.float64)


def _sequence(
    drive_dir: Path, camera: int, frames: list[int] | None, use_depth: bool, match_monodepth2: bool, name: str
) -> Sequence:
    image_dir = drive_dir / f"image_0{camera}" / "data"
    files = list_images(image_dir, (".png", ".jpg"))
    all_numbers = check_consecutive(files, _FRAME, lambda k: f"{k:010d}{files[0].suffix}")
    im_from_velo, intrinsics, calib_size = velo_projection(drive_dir.parent, camera)
    image_size = image_size_of(files[0])
    calib_path = drive_dir.parent / "calib_cam_to_cam.txt"
    if image_size != calib_size:
        raise VokitError(
            f"calibration does not match the image size: S_rect_0{camera} is {calib_size[1]}x{calib_size[0]} but "
            f"{files[0].name} is {image_size[1]}x{image_size[0]}",
            calib_path,
        )
    check_calibration(intrinsics, image_size, calib_path)
    stamps_path = drive_dir / f"image_0{camera}" / "timestamps.txt"
    stamps = read_raw_timestamps(stamps_path) if stamps_path.is_file() else np.arange(len(files)) / 10.0
    if len(stamps) != len(files):
        raise VokitError(f"{len(stamps)} timestamps for {len(files)} images", stamps_path)
    pos = list(range(len(files)))
    if frames is not None:
        pos = [k - all_numbers[0] for k in frames]
        for k, p in zip(frames, pos, strict=True):
            if not 0 <= p < len(files):
                raise VokitError(f"frame {k} is not in this drive (missing frame)", image_dir / f"{k:010d}.png")
    files = [files[p] for p in pos]
    load_depth = None
    velo_dir = drive_dir / "velodyne_points" / "data"
    if use_depth and velo_dir.is_dir():
        velo_files = [velo_dir / f"{f.stem}.bin" for f in files]
        require_files(velo_files, "velodyne")
        load_depth = lambda i: velodyne_depth(  # noqa: E731
            load_velodyne(velo_files[i]), im_from_velo, image_size, match_monodepth2
        )
    return Sequence(
        name=name,
        timestamps=stamps[pos],
        intrinsics=torch.as_tensor(intrinsics, dtype=torch.float32),
        image_size=image_size,
        load_image=rgb_loader(files, image_size),
        load_depth=load_depth,
        source=drive_dir,
        calibration_source=f"calib_cam_to_cam.txt (P_rect_0{camera})",
    )


def read_kitti_raw(
    path: str | Path, camera: int = 2, use_depth: bool = True, match_monodepth2: bool = True, name: str | None = None
) -> Sequence:
    """Read one KITTI raw drive folder (``<root>/<date>/<date>_drive_XXXX_sync``).

    Args:
        path: the drive folder; the calibration files sit in its parent (the date folder).
        camera: rectified camera 0-3 (2 = left colour).
        use_depth: project the velodyne scans to sparse depth when ``velodyne_points`` is present.
        match_monodepth2: see the module docstring.
        name: sequence name; the drive folder name by default.

    Raises:
        VokitError: on missing frames, calibration, or a calibration whose ``S_rect`` differs from the images.
    """
    drive_dir = Path(path)
    if not drive_dir.is_dir():
        raise VokitError("KITTI raw drive folder not found", drive_dir)
    return _sequence(drive_dir, camera, None, use_depth, match_monodepth2, name or drive_dir.name)


def read_split_file(path: str | Path) -> list[tuple[str, int, int]]:
    """Read a monodepth2-style split file (``2011_09_26/2011_09_26_drive_0002_sync 0000000069 l`` per line).

    Returns:
        (drive path relative to the raw root, frame number, camera: 2 for ``l``, 3 for ``r``) per line.
    """
    path = Path(path)
    entries = []
    for line_no, line in enumerate(read_lines(path, "split file"), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not is_ascii_int(fields[1]) or fields[2] not in ("l", "r"):
            raise VokitError("cannot parse split row: expected 'date/drive frame l|r'", path, line_no)
        entries.append((fields[0], int(fields[1]), 2 if fields[2] == "l" else 3))
    if not entries:
        raise VokitError("split file holds no rows", path)
    return entries


def read_kitti_raw_split(
    root: str | Path, split_file: str | Path, use_depth: bool = True, match_monodepth2: bool = True
) -> list[Sequence]:
    """The frames of a split file (e.g. Eigen test) as one `Sequence` per (drive, camera), frames in file order.

    Image sizes differ between recording days, which is why a split is several sequences.
    """
    root = Path(root)
    groups: dict[tuple[str, int], list[int]] = {}
    for drive, frame, camera in read_split_file(split_file):
        groups.setdefault((drive, camera), []).append(frame)
    out = []
    for (drive, camera), frames in groups.items():
        drive_dir = root / drive
        if not drive_dir.is_dir():
            raise VokitError(f"drive {drive} listed in {split_file} not found", drive_dir)
        out.append(_sequence(drive_dir, camera, frames, use_depth, match_monodepth2, f"{drive}:image_0{camera}"))
    return out
