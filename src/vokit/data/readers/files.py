"""File-level helpers shared by the readers: listing frames, checking numbering, loading and checking depth.

Every check raises `VokitError` naming the file (and line) and the problem; nothing is skipped silently.
"""

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vokit.data.file_io import load_npy, parse_float, read_lines
from vokit.data.image_io import IMAGE_EXTENSIONS, read_image_rgb, read_png16
from vokit.errors import VokitError

_NUMBER = re.compile(r"(\d+)")


def natural_key(path: Path) -> list[object]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part for part in _NUMBER.split(path.name)]


def list_images(folder: Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files of a folder in natural order.

    Raises:
        VokitError: if the folder does not exist or holds no image files.
    """
    if not folder.is_dir():
        raise VokitError("image folder not found", folder)
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions), key=natural_key)
    if not files:
        raise VokitError(f"folder holds no image files ({', '.join(extensions)})", folder)
    return files


def frame_number(path: Path, pattern: re.Pattern[str]) -> int:
    """The frame number in a file name, matched by ``pattern`` (whose first group is the number)."""
    match = pattern.fullmatch(path.name)
    if match is None:
        raise VokitError(f"unexpected file name (expected {pattern.pattern})", path)
    return int(match.group(1))


def check_consecutive(files: list[Path], pattern: re.Pattern[str], name_of: Callable[[int], str]) -> list[int]:
    """Check that numbered frame files run without gaps and return their numbers.

    Args:
        files: the frame files, in order.
        pattern: regex whose first group is the frame number.
        name_of: frame number -> file name, used to name the first missing file.

    Raises:
        VokitError: naming the first missing frame file.
    """
    numbers = sorted(frame_number(p, pattern) for p in files)
    for expected, got in zip(range(numbers[0], numbers[0] + len(numbers)), numbers, strict=True):
        if got != expected:
            missing = files[0].parent / name_of(expected)
            raise VokitError(f"missing frame {expected} (frames {numbers[0]}..{numbers[-1]} must all exist)", missing)
    return numbers


def require_files(paths: list[Path], what: str) -> None:
    """Raise `VokitError` naming the first of ``paths`` that does not exist."""
    for path in paths:
        if not path.is_file():
            raise VokitError(f"missing {what} file (missing frame)", path)


def checked_depth(depth: np.ndarray, path: Path) -> Tensor:
    """Check a depth map (metres, 0 = invalid) for NaN, infinite and negative values; return float32 (H, W).

    Raises:
        VokitError: naming the file, the problem and the first bad pixel.
    """
    if depth.ndim == 3 and depth.shape[-1] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise VokitError(f"depth map must be 2-D, got shape {depth.shape}", path)
    bad = ~np.isfinite(depth)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise VokitError(f"depth holds {int(bad.sum())} non-finite values (NaN/inf), first at row {r} col {c}", path)
    neg = depth < 0
    if neg.any():
        r, c = np.argwhere(neg)[0]
        raise VokitError(f"depth holds {int(neg.sum())} negative values, first at row {r} col {c}", path)
    return torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))


def load_depth_npy(path: Path) -> Tensor:
    """Load a float depth map in metres from ``.npy`` (0 = invalid), checked with `checked_depth`."""
    depth = load_npy(path, "depth file", " (missing frame)")
    if not np.issubdtype(depth.dtype, np.floating) and not np.issubdtype(depth.dtype, np.integer):
        raise VokitError(f"depth .npy has dtype {depth.dtype}, expected a number type", path)
    return checked_depth(depth.astype(np.float64), path)


def load_depth_png(path: Path, metres_per_unit: float, invalid_values: tuple[int, ...] = (0,)) -> Tensor:
    """Load a 16-bit depth PNG: ``depth = value * metres_per_unit``, ``invalid_values`` (and 0) become 0."""
    raw = read_png16(path)
    if raw.ndim != 2:
        raise VokitError("a depth PNG must have one channel", path)
    depth = raw.astype(np.float64) * metres_per_unit
    depth[np.isin(raw, np.array(invalid_values + (0,), dtype=np.uint16))] = 0.0
    return torch.from_numpy(depth.astype(np.float32))


def rgb_loader(paths: list[Path], image_size: tuple[int, int]) -> Callable[[int], Tensor]:
    """I -> float RGB (3, H, W) of ``paths[i]``, raising `VokitError` naming the file if its size differs."""

    def load(i: int) -> Tensor:
        image = read_image_rgb(paths[i])
        if tuple(image.shape[-2:]) != image_size:
            h, w = image.shape[-2:]
            raise VokitError(
                f"image is {w}x{h} but the sequence (and its calibration) is {image_size[1]}x{image_size[0]}",
                paths[i],
            )
        return image

    return load


def read_stamped_list(path: Path) -> list[tuple[int, float, str]]:
    """Read a TUM-style list file (``timestamp filename`` per line, ``#`` comments) as (line, t, name) rows.

    Raises:
        VokitError: on a missing file, an unparsable row, no rows, or timestamps that do not increase.
    """
    rows: list[tuple[int, float, str]] = []
    for line_no, line in enumerate(read_lines(path, "list file"), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.replace(",", " ").split()
        if len(fields) < 2:
            raise VokitError("cannot parse row: expected 'timestamp filename'", path, line_no)
        try:
            stamp = parse_float(fields[0])
        except ValueError:
            raise VokitError(f"cannot parse timestamp {fields[0]!r}", path, line_no) from None
        if not math.isfinite(stamp):
            raise VokitError(f"timestamp {fields[0]!r} is not finite", path, line_no)
        if rows and stamp < rows[-1][1]:
            raise VokitError(f"timestamps must not decrease: {stamp!r} after {rows[-1][1]!r}", path, line_no)
        rows.append((line_no, stamp, fields[1]))
    if not rows:
        raise VokitError("list file holds no rows", path)
    return rows


def associate_one_to_one(stamps_a: np.ndarray, stamps_b: np.ndarray, max_difference: float) -> dict[int, int]:
    """Greedy one-to-one timestamp association of the TUM tools (``associate.py``).

    All pairs with ``|a - b| < max_difference`` are sorted by the difference and accepted greedily while both
    members are still free.

    Returns:
        index in ``stamps_a`` -> index in ``stamps_b``.
    """
    b_sorted = np.argsort(stamps_b)
    candidates = []
    for i, t in enumerate(stamps_a):
        lo = np.searchsorted(stamps_b[b_sorted], t - max_difference, side="left")
        hi = np.searchsorted(stamps_b[b_sorted], t + max_difference, side="right")
        for j in b_sorted[lo:hi]:
            diff = abs(t - stamps_b[j])
            if diff < max_difference:
                candidates.append((diff, i, int(j)))
    candidates.sort()
    matched: dict[int, int] = {}
    used_b: set[int] = set()
    for _, i, j in candidates:
        if i not in matched and j not in used_b:
            matched[i] = j
            used_b.add(j)
    return matched


def nearest_within(stamps_a: np.ndarray, stamps_b: np.ndarray, max_difference: float) -> np.ndarray:
    """For each stamp of ``a``, the index of the nearest stamp of sorted ``b`` if within ``max_difference``, else -1."""
    pos = np.clip(np.searchsorted(stamps_b, stamps_a), 1, len(stamps_b) - 1) if len(stamps_b) > 1 else None
    if pos is None:
        near = np.zeros(len(stamps_a), dtype=np.int64)
    else:
        left, right = pos - 1, pos
        near = np.where(np.abs(stamps_a - stamps_b[left]) <= np.abs(stamps_b[right] - stamps_a), left, right)
    ok = np.abs(stamps_b[near] - stamps_a) <= max_difference
    return np.where(ok, near, -1)


def apply_unmatched_policy(matched: np.ndarray, unmatched: str, what: str, path: Path) -> np.ndarray:
    """Indices of the frames to keep given which ones found a partner (ground truth, depth) in time.

    Args:
        matched: (N,) bool per frame.
        unmatched: ``"drop"`` keeps the matched frames and warns how many were dropped; ``"error"`` raises.
        what: what was looked for, for the message (``"a ground-truth pose within 0.01 s"``).
        path: the file that was searched.

    Raises:
        VokitError: with ``"error"`` when a frame is unmatched, or when no frame is matched at all.
    """
    import warnings

    n_missing = int((~matched).sum())
    if n_missing and unmatched == "error":
        first = int(np.argmin(matched))
        raise VokitError(f"{n_missing} of {len(matched)} frames have no {what} (first: frame {first})", path)
    if unmatched not in ("drop", "error"):
        raise ValueError(f"unmatched must be 'drop' or 'error', got {unmatched!r}")
    if not matched.any():
        raise VokitError(f"no frame has {what}", path)
    if n_missing:
        warnings.warn(
            f"{path}: dropped {n_missing} of {len(matched)} frames that have no {what} (pass unmatched='error' "
            "to fail instead)",
            stacklevel=3,
        )
    return np.nonzero(matched)[0]
