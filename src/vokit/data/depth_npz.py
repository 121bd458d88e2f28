"""Monodepth2's ``gt_depths.npz``: per-image ground-truth depth maps, read without running arbitrary pickles.

nianticlabs/monodepth2 ``export_gt_depth.py`` writes ``np.savez_compressed(path, data=np.array(gt_depths))``
with one float32 (H, W) map per image, metres, 0 = no LiDAR return. With equal-sized maps ``data`` is a plain
(N, H, W) array; the KITTI Eigen split mixes image sizes (375 x 1242, 370 x 1226, ...), so there ``data`` is a
1-D *object* array of maps, which ``.npy`` stores as a pickle (Monodepth2 reads it with ``allow_pickle=True``).

Unpickling an untrusted file can run any code. This reader never does that: number arrays are read with
``allow_pickle=False``, and an object array is unpickled by a restricted unpickler that resolves only the globals
numpy's own array pickles use (``numpy.ndarray``, ``numpy.dtype`` and ``multiarray._reconstruct``); any other
global (``os.system``, ``builtins.eval``, ...) is refused with an error before it is called. The maps must be
2-D number arrays.
"""

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vokit.data.file_io import require_file
from vokit.errors import VokitError

NPZ_KEY = "data"
"""The archive member Monodepth2 stores the maps under."""

MAX_NPZ_MEMBER_BYTES = 1 << 34
"""Largest uncompressed ``data.npy`` read (16 GiB): a guard against decompression bombs."""


def _reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals of numpy array pickles; everything else raises ``pickle.UnpicklingError``."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name} (only numpy arrays are read)")
        return {"ndarray": np.ndarray, "dtype": np.dtype, "_reconstruct": _reconstruct()}[name]


def _read_member(path: Path, key: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.removesuffix(".npy"): n for n in archive.namelist()}
            if key not in names:
                raise VokitError(f"the .npz archive has no {key!r} array (it holds: {', '.join(sorted(names))})",
                                 path)
            info = archive.getinfo(names[key])
            if info.file_size > MAX_NPZ_MEMBER_BYTES:
                raise VokitError(f"the {key!r} array is {info.file_size} bytes uncompressed; refusing to read it",
                                 path)
            return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise VokitError(f"not a readable .npz archive: {err}", path) from None


def _parse_npy(data: bytes, path: Path) -> np.ndarray:
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in header:
            raise ValueError(f".npy format version {version} is not supported")
        shape, fortran, dtype = header[version](f)
        if not dtype.hasobject:
            return np.load(io.BytesIO(data), allow_pickle=False)
        array = _ArrayOnlyUnpickler(f).load()
    except (ValueError, EOFError, SyntaxError, TypeError, AttributeError, pickle.UnpicklingError) as err:
        raise VokitError(f"cannot read the depth maps of this .npz: {err}", path) from None
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise VokitError(f"the .npz object array does not match its header shape {tuple(shape)}", path)
    return array


def read_gt_depths_npz(path: str | Path, key: str = NPZ_KEY) -> list[np.ndarray]:
    """Per-image depth maps of a Monodepth2 ``gt_depths.npz`` (plain or object array), safely.

    Args:
        path: the ``.npz`` file.
        key: the array's name in the archive (Monodepth2: ``data``).

    Returns:
        One float64 (H, W) map per image, in the file's units (Monodepth2: metres, 0 = invalid).

    Raises:
        VokitError: naming the file, for a missing or corrupt archive, a missing key, a pickle that refers to
            anything but numpy arrays, or maps that are not finite 2-D number arrays.
    """
    path = Path(path)
    require_file(path, "ground-truth depth .npz")
    array = _parse_npy(_read_member(path, key), path)
    if array.dtype.hasobject:
        items = list(array.reshape(-1))
    elif array.ndim == 3:
        items = list(array)
    elif array.ndim == 2:
        items = [array]
    else:
        raise VokitError(f"expected (N, H, W) depth maps in {key!r}, got shape {array.shape}", path)
    maps = []
    for k, item in enumerate(items):
        if not isinstance(item, np.ndarray) or item.ndim != 2 or not (
            np.issubdtype(item.dtype, np.floating) or np.issubdtype(item.dtype, np.integer)
        ):
            what = f"shape {item.shape} {item.dtype}" if isinstance(item, np.ndarray) else type(item).__name__
            raise VokitError(f"map {k} of {key!r} is not a 2-D number array ({what})", path)
        item = item.astype(np.float64)
        if not np.isfinite(item).all():
            raise VokitError(f"map {k} of {key!r} contains NaN or infinite values", path)
        maps.append(item)
    if not maps:
        raise VokitError(f"the {key!r} array holds no depth maps", path)
    return maps
