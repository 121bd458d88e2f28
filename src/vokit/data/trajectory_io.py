"""Trajectory files: TUM, KITTI odometry and EuRoC csv, read into and written from ``world_from_cam`` tensors.

Formats (METHODS.md section 1):

- ``tum``: one pose per line, ``t tx ty tz qx qy qz qw`` (seconds, ``world_from_cam``, quaternion xyzw).
- ``kitti``: 12 numbers per line, the row-major 3x4 ``world_from_cam`` matrix. There are no timestamps in the
  file: the frame index (0, 1, 2, ...) is returned unless a ``times.txt`` path is given.
- ``euroc``: ASL csv, ``t_ns, px, py, pz, qw, qx, qy, qz[, ...]`` with nanosecond stamps and a **wxyz**
  quaternion of ``world_from_body`` (the IMU). Pass ``body_from_cam`` (EuRoC's ``T_BS`` of the camera) to get
  the camera's pose ``world_from_cam = world_from_body @ body_from_cam``. Nanosecond stamps become float64
  seconds, which resolve about 0.25 us at EuRoC's epoch times.

Comment lines (starting with ``#``) and blank lines are ignored. Everything else must parse: a malformed row, a
non-finite value, a quaternion whose norm is not 1 (within 1e-2), a rotation that is not orthonormal (within
1e-3) or timestamps that decrease raise `VokitError` naming the file and line.
"""

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from vokit.data.file_io import parse_float, parse_int, read_lines
from vokit.errors import VokitError
from vokit.geometry.lie import matrix_to_quat, se3_compose, se3_to_matrix

TrajectoryFormat = Literal["tum", "kitti", "euroc"]

QUAT_NORM_TOL = 1e-2
"""Largest accepted | |q| - 1 | in a file (TUM files print quaternions with only 4 decimals)."""
ORTHONORMAL_TOL = 1e-3
"""Largest accepted entry of |R^T R - I| for rotation matrices in files (KITTI prints 7 significant digits)."""


def _numeric_rows(path: Path, sep: str | None, what: str = "trajectory file") -> list[tuple[int, list[str]]]:
    rows = []
    for line_no, line in enumerate(read_lines(path, what), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split(sep) if sep else text.split()
        rows.append((line_no, [x.strip() for x in fields]))
    if not rows:
        raise VokitError("file holds no poses" if what == "trajectory file" else f"{what} holds no rows", path)
    return rows


def _parse(path: Path, line_no: int, fields: list[str], n_min: int, n_max: int | None, what: str) -> list[float]:
    if len(fields) < n_min or (n_max is not None and len(fields) > n_max):
        expected = f"{n_min}" if n_max == n_min else f"at least {n_min}"
        raise VokitError(f"cannot parse pose row: {len(fields)} fields, expected {expected} ({what})", path, line_no)
    try:
        values = [parse_float(x) for x in fields]
    except ValueError as err:
        raise VokitError(f"cannot parse pose row: {err} ({what})", path, line_no) from None
    if not all(np.isfinite(values)):
        raise VokitError("pose row contains non-finite values", path, line_no)
    return values


def checked_quaternion(q_xyzw: np.ndarray, path: Path | None, line: int | None) -> np.ndarray:
    """Normalise a quaternion read from a file after checking that it is a rotation.

    Args:
        q_xyzw: (4,) quaternion, xyzw.
        path: the file it came from (for the error message).
        line: its 1-based line number.

    Returns:
        The unit quaternion (4,), xyzw.

    Raises:
        VokitError: if its norm differs from 1 by more than `QUAT_NORM_TOL`.
    """
    norm = float(np.linalg.norm(q_xyzw))
    if abs(norm - 1.0) > QUAT_NORM_TOL:
        raise VokitError(f"quaternion has norm {norm:.6g}, not 1: not a rotation", path, line)
    return q_xyzw / norm


def checked_rotation(rotation: np.ndarray, path: Path | None, line: int | None) -> None:
    """Raise `VokitError` unless a 3x3 matrix read from a file is a rotation (orthonormal, det +1)."""
    error = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    if error > ORTHONORMAL_TOL or np.linalg.det(rotation) < 0:
        raise VokitError(
            f"rotation is not orthonormal (max |R^T R - I| = {error:.3g}, det = {np.linalg.det(rotation):.4g})",
            path,
            line,
        )


def matrices_to_poses(matrices: np.ndarray) -> Tensor:
    """Convert checked (N, 3 or 4, 4) float64 pose matrices into (N, 7) [t, q_xyzw] float64 tensors."""
    m = torch.as_tensor(np.asarray(matrices, dtype=np.float64))
    q = matrix_to_quat(m[:, :3, :3])
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.cat([m[:, :3, 3], q], dim=-1)


def _check_increasing(path: Path, stamps: list[float], lines: list[int]) -> None:
    d = np.diff(np.asarray(stamps, dtype=np.float64))
    bad = np.nonzero(d < 0)[0]
    if bad.size:
        k = int(bad[0]) + 1
        raise VokitError(
            f"timestamps must not decrease: {stamps[k]!r} follows {stamps[k - 1]!r} (line {lines[k - 1]})",
            path,
            lines[k],
        )


def _read_tum(path: Path) -> tuple[Tensor, Tensor]:
    rows = _numeric_rows(path, None)
    vals = np.array([_parse(path, ln, f, 8, 8, "t tx ty tz qx qy qz qw") for ln, f in rows], dtype=np.float64)
    lines = [ln for ln, _ in rows]
    quats = np.stack([checked_quaternion(v[4:8], path, ln) for v, ln in zip(vals, lines, strict=True)])
    _check_increasing(path, vals[:, 0].tolist(), lines)
    return torch.as_tensor(vals[:, 0]), torch.as_tensor(np.concatenate([vals[:, 1:4], quats], axis=1))


def read_kitti_matrices(
    path: str | Path, times_path: str | Path | None = None
) -> tuple[Float[Tensor, " N"], Float[Tensor, "N 3 4"]]:
    """Read a KITTI trajectory file as its raw rows: ``world_from_cam`` 3x4 matrices, exactly as written.

    The rows of real KITTI files are orthonormal only to about 1e-7; evo and the KITTI devkit use them as they
    are, so digit-exact metrics need the matrices rather than quaternions. Rows are validated as in
    :func:`read_trajectory`.

    Args:
        path: the file, 12 numbers per line.
        times_path: a ``times.txt`` with one time in seconds per pose; without it the frame index.

    Returns:
        timestamps: (N,) float64 seconds (or frame indices).
        matrices: (N, 3, 4) float64 ``[R | t]``, metres.

    Raises:
        VokitError: on a missing file, a malformed row, a non-rotation, or a times file of another length.
    """
    path = Path(path)
    rows = _numeric_rows(path, None)
    mats = np.zeros((len(rows), 3, 4))
    for k, (ln, f) in enumerate(rows):
        mats[k] = np.array(_parse(path, ln, f, 12, 12, "12 numbers of a 3x4 matrix")).reshape(3, 4)
        checked_rotation(mats[k, :, :3], path, ln)
    stamps = np.arange(len(rows), dtype=np.float64)
    if times_path is not None:
        stamps = read_times(times_path)
        if len(stamps) != len(rows):
            raise VokitError(f"{len(stamps)} times for {len(rows)} poses in {path}", times_path)
    return torch.as_tensor(stamps), torch.as_tensor(mats)


def _read_kitti(path: Path, times_path: str | Path | None) -> tuple[Tensor, Tensor]:
    stamps, mats = read_kitti_matrices(path, times_path)
    return stamps, matrices_to_poses(mats.numpy())


def _stamp_ns(token: str) -> int:
    try:
        return parse_int(token)
    except ValueError:  # a float stamp (already checked by _parse)
        return int(round(parse_float(token)))


def _read_euroc(path: Path, body_from_cam: Tensor | None) -> tuple[Tensor, Tensor]:
    rows = _numeric_rows(path, ",")
    lines = [ln for ln, _ in rows]
    vals = np.array([_parse(path, ln, f, 8, None, "t_ns, px, py, pz, qw, qx, qy, qz")[:8] for ln, f in rows])
    # Parse the stamps as integers: float64 cannot hold 19-digit nanosecond values exactly.
    stamps_ns = [_stamp_ns(f[0]) for _, f in rows]
    stamps = np.asarray(stamps_ns, dtype=np.float64) * 1e-9
    _check_increasing(path, stamps.tolist(), lines)
    q_xyzw = vals[:, [5, 6, 7, 4]]
    quats = np.stack([checked_quaternion(q, path, ln) for q, ln in zip(q_xyzw, lines, strict=True)])
    poses = torch.as_tensor(np.concatenate([vals[:, 1:4], quats], axis=1))
    if body_from_cam is not None:
        poses = se3_compose(poses, body_from_cam.to(torch.float64).expand_as(poses))
    return torch.as_tensor(stamps), poses


def read_trajectory(
    path: str | Path,
    format: str,
    times_path: str | Path | None = None,
    body_from_cam: Float[Tensor, "7"] | None = None,
) -> tuple[Float[Tensor, " N"], Float[Tensor, "N 7"]]:
    """Read a trajectory file.

    Args:
        path: the file.
        format: ``"tum"``, ``"kitti"`` or ``"euroc"`` (see the module docstring).
        times_path: KITTI only: a ``times.txt`` with one time in seconds per pose; without it the frame index.
        body_from_cam: EuRoC only: the camera's extrinsic ``T_BS`` [t, q_xyzw]; without it the body poses are
            returned.

    Returns:
        timestamps: (N,) float64 seconds (KITTI without ``times_path``: frame indices).
        world_from_cam: (N, 7) float64 [t, q_xyzw] poses, metres.

    Raises:
        VokitError: on a missing file, a malformed row, a non-rotation or decreasing timestamps.
    """
    path = Path(path)
    if format == "tum":
        return _read_tum(path)
    if format == "kitti":
        return _read_kitti(path, times_path)
    if format == "euroc":
        return _read_euroc(path, body_from_cam)
    raise VokitError(f"unknown trajectory format {format!r}; use tum, kitti or euroc", path)


def read_times(path: str | Path) -> np.ndarray:
    """Read a KITTI ``times.txt`` (one time in seconds per line) into a float64 array (N,)."""
    path = Path(path)
    rows = _numeric_rows(path, None, "times file")
    return np.array([_parse(path, ln, f, 1, 1, "one time in seconds")[0] for ln, f in rows], dtype=np.float64)


def _fmt(x: float) -> str:
    # repr gives the shortest string that reads back to the identical float64.
    return repr(float(x))


def write_trajectory(
    path: str | Path,
    timestamps: Float[Tensor, " N"] | np.ndarray,
    world_from_cam: Float[Tensor, "N 7"],
    format: str,
) -> None:
    """Write a trajectory file that `read_trajectory` reads back to the same values (to float64 rounding).

    Args:
        path: the output file (parent folders are created).
        timestamps: (N,) seconds (ignored by ``kitti``, whose rows are implicitly frames 0..N-1).
        world_from_cam: (N, 7) [t, q_xyzw] poses, metres.
        format: ``"tum"``, ``"kitti"`` or ``"euroc"`` (EuRoC rows get the pose as given, with a wxyz quaternion
            and the timestamp rounded to integer nanoseconds).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    poses = torch.as_tensor(world_from_cam).detach().to("cpu", torch.float64)
    stamps = np.asarray(torch.as_tensor(timestamps).detach().cpu(), dtype=np.float64).reshape(-1)
    if poses.ndim != 2 or poses.shape[1] != 7 or (format != "kitti" and len(stamps) != poses.shape[0]):
        raise ValueError(f"need (N,) timestamps and (N, 7) poses, got {stamps.shape} and {tuple(poses.shape)}")
    p = poses.numpy()
    lines = []
    if format == "tum":
        header = "# timestamp[s] tx ty tz qx qy qz qw (world_from_cam)\n"
        lines = [" ".join(_fmt(x) for x in (t, *row)) for t, row in zip(stamps, p, strict=True)]
    elif format == "kitti":
        header = ""
        mats = se3_to_matrix(poses).numpy()
        lines = [" ".join(_fmt(x) for x in m[:3, :].reshape(-1)) for m in mats]
    elif format == "euroc":
        header = "#timestamp [ns],p_RS_R_x [m],p_RS_R_y [m],p_RS_R_z [m],q_RS_w [],q_RS_x [],q_RS_y [],q_RS_z []\n"
        lines = [
            ",".join([str(int(round(t * 1e9)))] + [_fmt(x) for x in (*row[:3], row[6], *row[3:6])])
            for t, row in zip(stamps, p, strict=True)
        ]
    else:
        raise VokitError(f"unknown trajectory format {format!r}; use tum, kitti or euroc", path)
    path.write_text(header + "".join(line + "\n" for line in lines), encoding="utf-8")


__all__ = ["TrajectoryFormat", "read_times", "read_trajectory", "write_trajectory"]
