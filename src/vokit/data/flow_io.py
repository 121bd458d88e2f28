"""Optical-flow files: Middlebury ``.flo`` and KITTI 16-bit flow PNG, read and written (METHODS.md section 9.4).

Flow is destination minus source in pixels, (H, W, 2) channels-last with (u, v) = (column, row) motion.
Every reader returns ``(flow, valid)``; invalid pixels hold 0 in ``flow``.

- ``.flo`` (Middlebury): the float32 magic 202021.25, int32 width and height, then row-major float32 (u, v)
  pairs, all little-endian. A component with ``|value| > 1e9`` marks an unknown pixel.
- KITTI PNG: 16-bit RGB with ``u = (R - 2**15) / 64``, ``v = (G - 2**15) / 64`` and ``valid = B > 0``; the
  encoding resolves 1/64 px over about +-512 px.
"""

from pathlib import Path

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.data.file_io import read_bytes
from vokit.data.image_io import read_png16, write_png16
from vokit.errors import VokitError

FLO_MAGIC = 202021.25
FLO_UNKNOWN = 1e9
"""A ``.flo`` component with a magnitude above this marks an unknown pixel."""
KITTI_FLOW_SCALE = 64.0
KITTI_FLOW_OFFSET = 2.0**15


def read_flo(path: str | Path) -> tuple[Float[Tensor, "H W 2"], Bool[Tensor, "H W"]]:
    """Read a Middlebury ``.flo`` file.

    Returns:
        flow: (H, W, 2) float32 pixels, 0 where invalid.
        valid: (H, W) True where both components are known and finite.

    Raises:
        VokitError: on a missing file, a wrong magic number, or a size that does not match the header.
    """
    path = Path(path)
    data = read_bytes(path, "flow file")
    if len(data) < 12:
        raise VokitError("file too short for a .flo header", path)
    magic = np.frombuffer(data[:4], "<f4")[0]
    if magic != np.float32(FLO_MAGIC):
        raise VokitError(f"not a .flo file: magic number {magic} instead of {FLO_MAGIC}", path)
    w, h = (int(x) for x in np.frombuffer(data[4:12], "<i4"))
    if w <= 0 or h <= 0 or len(data) != 12 + 8 * w * h:
        raise VokitError(f".flo header says {w}x{h}, which does not match the file size {len(data)} bytes", path)
    flow = np.frombuffer(data[12:], "<f4").reshape(h, w, 2).astype(np.float32)
    valid = np.asarray((np.abs(flow) <= FLO_UNKNOWN).all(axis=-1) & np.isfinite(flow).all(axis=-1), dtype=bool)
    flow = np.where(valid[..., None], flow, 0.0).astype(np.float32)
    return torch.from_numpy(flow), torch.from_numpy(valid)


def write_flo(path: str | Path, flow: Float[Tensor, "H W 2"], valid: Bool[Tensor, "H W"] | None = None) -> None:
    """Write a Middlebury ``.flo`` file (float32); invalid pixels are written as 1e10 (unknown).

    Args:
        path: the output file (parent folders are created).
        flow: (H, W, 2) pixels.
        valid: (H, W) mask; None means all valid.
    """
    f = flow.detach().cpu().to(torch.float32).numpy().copy()
    if valid is not None:
        f[~valid.detach().cpu().numpy()] = 1e10
    h, w = f.shape[:2]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    path.write_bytes(header + f.astype("<f4").tobytes())


def read_kitti_flow_png(path: str | Path) -> tuple[Float[Tensor, "H W 2"], Bool[Tensor, "H W"]]:
    """Read a KITTI 16-bit flow PNG (read as 16 bit, never through an 8-bit path).

    Returns:
        flow: (H, W, 2) float32 pixels, 0 where invalid.
        valid: (H, W) True where the blue channel is non-zero.

    Raises:
        VokitError: on a missing file or a PNG that is not 16-bit 3-channel.
    """
    raw = read_png16(path)
    if raw.ndim != 3:
        raise VokitError("a KITTI flow PNG must have 3 channels (u, v, valid)", path)
    valid = raw[..., 2] > 0
    flow = (raw[..., :2].astype(np.float32) - KITTI_FLOW_OFFSET) / KITTI_FLOW_SCALE
    flow = np.where(valid[..., None], flow, 0.0).astype(np.float32)
    return torch.from_numpy(flow), torch.from_numpy(valid)


def write_kitti_flow_png(
    path: str | Path, flow: Float[Tensor, "H W 2"], valid: Bool[Tensor, "H W"] | None = None
) -> None:
    """Write a KITTI 16-bit flow PNG: values rounded to 1/64 px and clipped to the encodable range.

    Args:
        path: the output file (parent folders are created).
        flow: (H, W, 2) pixels.
        valid: (H, W) mask; None means all valid. Non-finite flow is written as invalid.
    """
    f = flow.detach().cpu().to(torch.float64).numpy()
    ok = np.isfinite(f).all(axis=-1)
    if valid is not None:
        ok &= valid.detach().cpu().numpy()
    encoded = np.clip(np.round(np.nan_to_num(f) * KITTI_FLOW_SCALE + KITTI_FLOW_OFFSET), 0, 65535)
    encoded = np.where(ok[..., None], encoded, 0)
    out = np.concatenate([encoded, ok[..., None].astype(np.float64)], axis=-1).astype(np.uint16)
    write_png16(path, out)


def read_flow(path: str | Path) -> tuple[Float[Tensor, "H W 2"], Bool[Tensor, "H W"]]:
    """Read a flow file by its extension: ``.flo`` (Middlebury) or ``.png`` (KITTI 16-bit)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".flo":
        return read_flo(path)
    if suffix == ".png":
        return read_kitti_flow_png(path)
    raise VokitError(f"unknown flow file type {suffix!r}: expected .flo or a KITTI .png", path)


def write_flow(path: str | Path, flow: Float[Tensor, "H W 2"], valid: Bool[Tensor, "H W"] | None = None) -> None:
    """Write a flow file by its extension: ``.flo`` (Middlebury, exact float32) or ``.png`` (KITTI 16-bit)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".flo":
        write_flo(path, flow, valid)
    elif suffix == ".png":
        write_kitti_flow_png(path, flow, valid)
    else:
        raise VokitError(f"unknown flow file type {suffix!r}: expected .flo or .png", path)
