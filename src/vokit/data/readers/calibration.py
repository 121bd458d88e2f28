"""Camera calibration given by the user (``--calib``) or found beside the images, and undistortion.

A calibration is ``fx fy cx cy`` in pixels, optionally followed by radial-tangential ``k1 k2 p1 p2``
(OpenCV/Kalibr ``radtan``). It can be given as numbers, as a string of numbers, or as a file holding
either those 4 or 8 numbers, a 3x3 ``K`` (9 numbers, optionally followed by ``k1 k2 p1 p2``), or a
Kalibr/EuRoC ``sensor.yaml`` (``intrinsics``, ``distortion_coefficients``, ``resolution``).
"""

import os
import re
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from torch import Tensor

from vokit.data.file_io import parse_float, read_text
from vokit.errors import VokitError
from vokit.geometry.camera import Undistorter as Undistorter  # the tested copy, re-exported for the readers


@dataclass(frozen=True)
class Calibration:
    """A pinhole calibration with optional radial-tangential distortion.

    Attributes:
        intrinsics: (fx, fy, cx, cy) in pixels, float64 (4,).
        distortion: (k1, k2, p1, p2) float64 (4,), or None for an undistorted (rectified) camera.
        image_size: (H, W) the calibration is for, when the source states it.
        source: the file it was read from, if any.
    """

    intrinsics: np.ndarray
    distortion: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    source: Path | None = None


def _numbers(text: str, path: Path | None) -> list[float]:
    tokens = [t for t in re.split(r"[\s,;\[\]]+", text) if t]
    try:
        return [parse_float(t) for t in tokens]
    except ValueError as err:
        raise VokitError(f"cannot parse calibration numbers: {err}", path) from None


def _from_numbers(values: list[float], path: Path | None) -> Calibration:
    v = np.asarray(values, dtype=np.float64)
    if len(v) in (9, 13):
        K = v[:9].reshape(3, 3)
        if abs(K[0, 1]) > 1e-9 or np.abs(K[2] - [0, 0, 1]).max() > 1e-9 or abs(K[1, 0]) > 1e-9:
            raise VokitError("9 calibration numbers must form a pinhole K [[fx,0,cx],[0,fy,cy],[0,0,1]]", path)
        v = np.concatenate([[K[0, 0], K[1, 1], K[0, 2], K[1, 2]], v[9:]])
    if len(v) not in (4, 8):
        raise VokitError(
            f"calibration needs fx fy cx cy [k1 k2 p1 p2] (4 or 8 numbers) or a 3x3 K, got {len(values)} numbers",
            path,
        )
    if not np.isfinite(v).all() or v[0] <= 0 or v[1] <= 0:
        raise VokitError(f"calibration must be finite with positive focal lengths, got {v[:4].tolist()}", path)
    dist = v[4:8] if len(v) == 8 and np.any(v[4:8] != 0) else None
    return Calibration(intrinsics=v[:4], distortion=dist, source=path)


def read_sensor_yaml(path: Path) -> dict:
    """Read a Kalibr/EuRoC ``sensor.yaml`` (its OpenCV ``%YAML:1.0`` directive is not valid YAML and is dropped).

    Raises:
        VokitError: a missing file, text that is not UTF-8, invalid YAML, or a document that is not a mapping.
    """
    text = read_text(path, "calibration file")
    # Blank the directive rather than drop it, so that YAML's line numbers stay those of the file.
    text = "\n".join("" if line.startswith("%YAML") else line for line in text.splitlines())
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).strip().splitlines()[0]
        context = getattr(err, "context", None)
        line = None if mark is None else mark.line + 1
        raise VokitError(f"cannot parse YAML: {problem}" + (f" ({context})" if context else ""), path, line) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as err:  # e.g. a date such as 2020-13-45
        raise VokitError(f"cannot parse YAML: {type(err).__name__}: {err}", path) from None
    if not isinstance(data, dict):
        raise VokitError(f"calibration YAML must be a mapping of keys to values, got {_describe(data)}", path)
    return data


def _describe(value: object) -> str:
    """A YAML value in words, for messages: ``null``, ``the number 243.5``, ``a list of 3 items``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def yaml_numbers(data: dict, key: str, path: Path, lengths: tuple[int, ...], what: str) -> list[float]:
    """The list of numbers at ``data[key]`` of a parsed YAML mapping, type-checked.

    Args:
        data: the parsed YAML mapping.
        key: the key (must be present).
        path: the file, for the message.
        lengths: accepted list lengths.
        what: what the numbers are, for the message (``"fu fv cu cv"``).

    Raises:
        VokitError: naming the file and key unless the value is a list of ``lengths`` numbers (not booleans or
            strings).
    """
    value = data.get(key)
    n = " or ".join(str(k) for k in lengths)
    if (
        not isinstance(value, list)
        or len(value) not in lengths
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise VokitError(f"'{key}' must be a list of {n} numbers ({what}), got {_describe(value)}", path)
    return [float(v) for v in value]


def _yaml_string(data: dict, key: str, default: str, path: Path) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise VokitError(f"'{key}' must be a string, got {_describe(value)}", path)
    return value


def calibration_from_yaml(path: Path) -> Calibration:
    """A `Calibration` from a Kalibr/EuRoC ``sensor.yaml`` (pinhole camera, radial-tangential or no distortion).

    Every value is type-checked: ``intrinsics`` a list of 4 numbers, ``distortion_coefficients`` 4 numbers (a
    fifth, k3, only if 0), ``resolution`` 2 positive integers, ``camera_model`` and ``distortion_model``
    strings.

    Raises:
        VokitError: naming the file and the key of a missing or wrongly typed value.
    """
    data = read_sensor_yaml(path)
    if "intrinsics" not in data:
        raise VokitError("calibration YAML has no 'intrinsics' entry (fu fv cu cv)", path)
    model = _yaml_string(data, "camera_model", "pinhole", path)
    if model != "pinhole":
        raise VokitError(f"camera_model {model!r} is not supported (only pinhole)", path)
    dist_model = _yaml_string(data, "distortion_model", "radial-tangential", path)
    if dist_model not in ("radial-tangential", "radtan", "plumb_bob", "none"):
        raise VokitError(f"distortion_model {dist_model!r} is not supported (only radial-tangential)", path)
    values = yaml_numbers(data, "intrinsics", path, (4,), "fu fv cu cv")
    if dist_model != "none" and "distortion_coefficients" in data:
        dist = yaml_numbers(data, "distortion_coefficients", path, (4, 5), "k1 k2 p1 p2")
        if len(dist) == 5 and dist[4] != 0:
            raise VokitError(f"distortion_coefficients has k3 = {dist[4]!r}; only k1 k2 p1 p2 are supported", path)
        values += dist[:4]
    calib = _from_numbers(values, path)
    size = None
    if "resolution" in data:
        resolution = data["resolution"]
        if (
            not isinstance(resolution, list)
            or len(resolution) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in resolution)
        ):
            raise VokitError(
                f"'resolution' must be a list of 2 positive integers (width height), got {_describe(resolution)}"
                + (f" {resolution}" if isinstance(resolution, list) and len(resolution) <= 8 else ""),
                path,
            )
        w, h = resolution
        size = (h, w)
    return Calibration(calib.intrinsics, calib.distortion, size, path)


def parse_calib(calib: str | Path | SequenceOf[float] | Calibration) -> Calibration:
    """Parse a calibration given as numbers, a string of numbers, or a file (see the module docstring).

    Raises:
        VokitError: if it cannot be read or does not describe a pinhole camera.
    """
    if isinstance(calib, Calibration):
        return calib
    if isinstance(calib, (str, Path)):
        path = Path(calib)
        if path.suffix.lower() in (".yaml", ".yml"):
            return calibration_from_yaml(path)
        if os.path.lexists(path):  # a file (a folder or FIFO is reported as such by read_text)
            return _from_numbers(_numbers(read_text(path, "calibration file"), path), path)
        if isinstance(calib, Path) or not re.fullmatch(r"[\s,;\[\]0-9eE.+-]+", calib):
            raise VokitError("calibration file not found (or give the numbers 'fx fy cx cy [k1 k2 p1 p2]')", path)
        return _from_numbers(_numbers(calib, None), None)
    return _from_numbers([float(x) for x in calib], None)


def check_calibration(intrinsics: np.ndarray | Tensor, image_size: tuple[int, int], path: Path | None) -> None:
    """Raise `VokitError` if a calibration cannot belong to images of ``image_size`` = (H, W).

    The principal point must lie inside the image and the focal lengths must be positive.
    """
    fx, fy, cx, cy = (float(x) for x in intrinsics)
    h, w = image_size
    if fx <= 0 or fy <= 0 or not (0 <= cx < w and 0 <= cy < h):
        raise VokitError(
            f"calibration does not match the image size: principal point ({cx:g}, {cy:g}) lies outside the "
            f"{w}x{h} image (or focal length fx={fx:g}, fy={fy:g} is not positive)",
            path,
        )


