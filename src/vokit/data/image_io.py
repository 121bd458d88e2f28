"""Image files: 8-bit colour/grey images to float RGB tensors, and 16-bit PNGs read and written exactly.

8-bit images go through Pillow. Single-channel 16-bit PNGs (depth) are read through Pillow's ``I;16`` mode;
16-bit colour PNGs (KITTI flow) need OpenCV (``IMREAD_UNCHANGED``), because Pillow truncates them to 8 bits.
16-bit PNGs are written by a small encoder here (zlib, "Up" filter), so writing needs neither OpenCV nor
Pillow's 16-bit support.
"""

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from vokit.data.file_io import require_file
from vokit.errors import VokitError

PIL_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
"""What Pillow raises on a corrupt, truncated or oversized image file (SyntaxError: a broken PNG chunk)."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff")
"""File extensions treated as images by the folder readers (case-insensitive)."""


def read_image_rgb(path: str | Path) -> Float[Tensor, "3 H W"]:
    """Read an 8-bit image file as float RGB in [0, 1]; grey images are repeated into three channels.

    Raises:
        VokitError: if the file is missing or not a readable image.
    """
    path = Path(path)
    require_file(path, "image file", " (missing frame)")
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I", "F"):
                raise VokitError(f"expected an 8-bit image, found mode {im.mode}", path)
            array = np.asarray(im.convert("RGB"))
    except PIL_ERRORS as err:
        raise VokitError(f"cannot read image: {err}", path) from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32) / 255.0


def image_size_of(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image file, read from its header only."""
    path = Path(path)
    require_file(path, "image file")
    try:
        with Image.open(path) as im:
            w, h = im.size
    except PIL_ERRORS as err:
        raise VokitError(f"cannot read image: {err}", path) from None
    return int(h), int(w)


def write_image_rgb(path: str | Path, image: Float[Tensor, "3 H W"]) -> None:
    """Write float RGB in [0, 1] as an 8-bit image (PNG for lossless; values are rounded to k/255)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = (image.detach().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(np.ascontiguousarray(array)).save(path)


def _png_header(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise VokitError("not a PNG file", path)
    return head[24], head[25]


def _opencv() -> Any:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def read_png16(path: str | Path) -> np.ndarray:
    """Read a 16-bit PNG exactly, as uint16 (H, W) for grey or (H, W, 3) in **RGB** order for colour.

    Raises:
        VokitError: if the file is missing, not a PNG, not 16-bit, or a 16-bit colour PNG without OpenCV.
    """
    path = Path(path)
    require_file(path, "PNG file", " (missing frame)")
    bit_depth, color_type = _png_header(path)
    if bit_depth != 16:
        raise VokitError(f"expected a 16-bit PNG, found bit depth {bit_depth}", path)
    if color_type == 0:
        try:
            with Image.open(path) as im:
                if im.mode not in ("I;16", "I;16B", "I;16L", "I"):
                    raise VokitError(f"expected a 16-bit grey PNG, found mode {im.mode}", path)
                return np.asarray(im, dtype=np.uint16).copy()
        except PIL_ERRORS as err:
            raise VokitError(f"cannot decode PNG: {err}", path) from None
    cv2 = _opencv()
    if cv2 is None:
        raise VokitError("reading 16-bit colour PNGs needs OpenCV (pip install opencv-python-headless)", path)
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None or array.ndim != 3:
        raise VokitError("OpenCV cannot decode this PNG as a 16-bit colour image", path)
    return np.ascontiguousarray(array[..., :3][..., ::-1].astype(np.uint16))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bytes(rows: np.ndarray, width: int, bit_depth: int, rgb: bool, text: dict[str, str] | None,
               compress_level: int) -> bytes:
    """A whole PNG file from its image rows as bytes (H, W * channels * bytes per sample), "Up"-filtered."""
    h = rows.shape[0]
    # "Up" filter (type 2): each byte minus the byte above, modulo 256; compresses smooth depth, flow and previews
    # well, and costs one subtraction (encoders that try every filter per row are several times slower).
    filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    ihdr = struct.pack(">IIBBBBB", width, h, bit_depth, 2 if rgb else 0, 0, 0, 0)
    texts = b"".join(_chunk(b"tEXt", f"{k}\0{v}".encode("latin-1")) for k, v in (text or {}).items())
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + texts
    return data + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), compress_level)) + _chunk(b"IEND", b"")


def write_png8(
    path: str | Path, array: np.ndarray, text: dict[str, str] | None = None, compress_level: int = 1
) -> None:
    """Write a uint8 array (H, W) grey or (H, W, 3) RGB as an 8-bit PNG, quickly (previews, masks).

    Args:
        path: the output file (parent folders are created).
        array: uint8 values.
        text: optional ``tEXt`` entries (Latin-1 keyword -> text).
        compress_level: zlib level, 0-9.
    """
    a = np.ascontiguousarray(array)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"need uint8 (H, W) or (H, W, 3), got {a.dtype} {a.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png_bytes(a.reshape(a.shape[0], -1), a.shape[1], 8, a.ndim == 3, text, compress_level))


def write_png16(
    path: str | Path, array: np.ndarray, text: dict[str, str] | None = None, compress_level: int = 6
) -> None:
    """Write a uint16 array (H, W) grey or (H, W, 3) RGB as a 16-bit PNG, losslessly.

    Args:
        path: the output file (parent folders are created).
        array: uint16 values; other integer types are accepted when they fit in [0, 65535].
        text: optional ``tEXt`` entries (Latin-1 keyword -> text), e.g. the depth scale.
        compress_level: zlib level, 0-9 (1: several times faster, somewhat larger files).
    """
    a = np.asarray(array)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"need (H, W) or (H, W, 3), got {a.shape}")
    if a.dtype != np.uint16:
        if not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() > 65535:
            raise ValueError("write_png16 needs integers in [0, 65535]")
        a = a.astype(np.uint16)
    data = _png_bytes(a.astype(">u2").view(np.uint8).reshape(a.shape[0], -1), a.shape[1], 16, a.ndim == 3, text,
                      compress_level)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def read_mask_png(path: str | Path) -> np.ndarray:
    """Read an 8-bit mask PNG as bool (H, W): True where the value is non-zero."""
    path = Path(path)
    require_file(path, "mask file", " (missing frame)")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L")) > 0
    except PIL_ERRORS as err:
        raise VokitError(f"cannot read mask image: {err}", path) from None


def write_mask_png(path: str | Path, mask: np.ndarray) -> None:
    """Write a bool (H, W) mask as an 8-bit PNG with values 0 and 255."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8)).save(path)
