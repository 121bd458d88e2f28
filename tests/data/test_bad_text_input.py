"""Issue 12: bad text, YAML, .npy and synthetic-world input gives one VokitError naming the file, never a traceback.

Rows 2 (non-UTF-8 text), 3 (wrongly typed sensor.yaml values), 8 (truncated .npy), 9 and 10 (synthetic seed and
image size, library side) and 13 (alignment message, FIFO, ``1_000``).
"""

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.support.readers import SENSOR_YAML, TEXT_READERS

from vokit.data.file_io import load_npy, parse_float, parse_int, read_lines, read_text
from vokit.data.readers import read_image_folder, read_split_file
from vokit.data.readers.calibration import calibration_from_yaml, parse_calib
from vokit.data.readers.euroc import read_body_from_cam
from vokit.data.readers.files import load_depth_npy
from vokit.data.synthetic import MAX_SEED, SyntheticWorld, check_image_size, check_seed, make_sequence
from vokit.data.trajectory_io import read_times, read_trajectory
from vokit.errors import VokitError
from vokit.metrics.trajectory import absolute_trajectory_error

READER_IDS = [r[0] for r in TEXT_READERS]


@pytest.mark.parametrize(("name", "file_name", "text", "read"), TEXT_READERS, ids=READER_IDS)
def test_valid_files_read(tmp_path: Path, name: str, file_name: str, text: str, read: Callable) -> None:
    path = tmp_path / file_name
    path.write_text(text, encoding="utf-8")
    read(path)  # the fixtures themselves are valid
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # a UTF-8 byte-order mark is accepted
    read(path)


@pytest.mark.parametrize(("name", "file_name", "text", "read"), TEXT_READERS, ids=READER_IDS)
def test_latin1_text_names_file_line_and_byte(tmp_path: Path, name: str, file_name: str, text: str,
                                              read: Callable) -> None:
    lines = text.splitlines(keepends=True)
    bad = lines[0] + "# caf\u00e9 au lait\n" + "".join(lines[1:])
    path = tmp_path / file_name
    path.write_bytes(bad.encode("latin-1"))
    with pytest.raises(VokitError, match=r"not UTF-8 text: invalid byte 0xe9 at byte offset \d+") as err:
        read(path)
    assert err.value.path == path and err.value.line == 2
    assert f"{path}:2:" in str(err.value) and "Latin-1" in str(err.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize(("name", "file_name", "text", "read"), TEXT_READERS, ids=READER_IDS)
def test_utf16_text_is_named(tmp_path: Path, encoding: str, name: str, file_name: str, text: str,
                             read: Callable) -> None:
    path = tmp_path / file_name
    path.write_bytes(text.encode(encoding))
    with pytest.raises(VokitError, match="UTF-(16|32).*save it as UTF-8 or ASCII") as err:
        read(path)
    assert err.value.path == path


def test_calib_pointing_at_a_jpeg(tmp_path: Path) -> None:
    jpeg = tmp_path / "frame.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(jpeg)
    with pytest.raises(VokitError, match="not UTF-8 text: invalid byte 0xff at byte offset 0") as err:
        parse_calib(str(jpeg))
    assert err.value.path == jpeg and err.value.line == 1
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{i:06d}.png")
    with pytest.raises(VokitError, match="not UTF-8 text") as err:
        read_image_folder(folder, calib=jpeg)
    assert err.value.path == jpeg


def test_utf8_bom_is_accepted_not_quoted_in_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "traj.txt"
    path.write_text("\ufeff1000.0 0 0 0 0 0 0 1\n1000.1 1 0 0 0 0 0 1\n", encoding="utf-8")
    stamps, poses = read_trajectory(path, "tum")
    assert stamps.tolist() == [1000.0, 1000.1] and poses.shape == (2, 7)
    times = tmp_path / "times.txt"
    times.write_text("\ufeff0.5\n0.6\n", encoding="utf-8")
    assert read_times(times).tolist() == [0.5, 0.6]
    assert read_text(times) == "0.5\n0.6\n"


def test_line_numbers_count_cr_and_crlf_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"0.0\r\n0.1\r0.2\n\xff\n")
    with pytest.raises(VokitError) as err:
        read_lines(path)
    assert err.value.line == 4
    path.write_bytes(b"0.0\r\n0.1\r0.2\n")
    assert read_lines(path) == ["0.0", "0.1", "0.2"]


def test_numbers_are_plain_ascii_decimals() -> None:
    assert parse_float("-1.5e3") == -1500.0 and parse_float(".5") == 0.5 and parse_float("7.") == 7.0
    assert np.isnan(parse_float("nan")) and parse_float("-inf") == -np.inf
    for bad in ("1_000", " 1", "\u0661", "0x10", "1e", "", "--1", "\u00b2"):
        with pytest.raises(ValueError, match="could not convert"):
            parse_float(bad)
    assert parse_int("-12") == -12
    for bad in ("1_000", "\u00b2", "+", "1.0"):
        with pytest.raises(ValueError):
            parse_int(bad)


def test_underscore_number_in_a_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "times.txt"
    path.write_text("0.0\n1_000\n")
    with pytest.raises(VokitError, match="could not convert string to float: '1_000'") as err:
        read_times(path)
    assert err.value.line == 2
    calib = tmp_path / "calib.txt"
    calib.write_text("5_00 500 320 240\n")
    with pytest.raises(VokitError, match="'5_00'"):
        parse_calib(calib)


def test_superscript_digit_stamp_is_an_error_not_a_crash(tmp_path: Path) -> None:
    # str.isdigit() is True for '²', and int('²') raises: the EuRoC and split readers used that pair.
    path = tmp_path / "gt.csv"
    path.write_text("\u00b2,0,0,0,1,0,0,0\n")
    with pytest.raises(VokitError, match="cannot parse pose row"):
        read_trajectory(path, "euroc")
    split = tmp_path / "split.txt"
    split.write_text("2011_09_26/drive \u00b2 l\n")
    with pytest.raises(VokitError, match="cannot parse split row"):
        read_split_file(split)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_not_a_regular_file_rather_than_not_found(tmp_path: Path) -> None:
    fifo = tmp_path / "traj.txt"
    os.mkfifo(fifo)
    with pytest.raises(VokitError, match="trajectory file is a FIFO \\(named pipe\\), not a regular file") as err:
        read_trajectory(fifo, "tum")
    assert err.value.path == fifo
    with pytest.raises(VokitError, match="FIFO"):
        parse_calib(str(fifo))
    with pytest.raises(VokitError, match="FIFO"):
        load_npy(fifo)
    with pytest.raises(VokitError, match="trajectory file is a folder, not a regular file"):
        read_trajectory(tmp_path, "tum")
    with pytest.raises(VokitError, match="trajectory file not found"):
        read_trajectory(tmp_path / "missing.txt", "tum")


# Row 3: sensor.yaml values of the wrong type.
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("resolution: [416, 128, 3]", "'resolution' must be a list of 2 positive integers .*a list of 3 items"),
        ("resolution: [416.5, 128]", "'resolution' must be a list of 2 positive integers"),
        ("resolution: 416", "'resolution' must be a list of 2 positive integers .*the number 416"),
        ("intrinsics: 243.5", "'intrinsics' must be a list of 4 numbers \\(fu fv cu cv\\), got the number 243.5"),
        ("intrinsics: [1, 2, 3]", "'intrinsics' must be a list of 4 numbers .*a list of 3 items"),
        ("intrinsics: ['458', 457, 367, 248]", "'intrinsics' must be a list of 4 numbers"),
        ("intrinsics: [true, 457, 367, 248]", "'intrinsics' must be a list of 4 numbers"),
        ("distortion_coefficients: null", "'distortion_coefficients' must be a list of 4 or 5 numbers .*got null"),
        ("distortion_coefficients: {k1: 0}", "'distortion_coefficients' .*got a mapping"),
        ("distortion_coefficients: [0.1, 0, 0, 0, 0.3]", "k3 = 0.3"),
        ("camera_model: [pinhole]", "'camera_model' must be a string"),
        ("distortion_model: 7", "'distortion_model' must be a string"),
    ],
)
def test_sensor_yaml_wrongly_typed_values(tmp_path: Path, line: str, message: str) -> None:
    key = line.split(":")[0]
    text = "\n".join(line if row.startswith(f"{key}:") else row for row in SENSOR_YAML.splitlines()) + "\n"
    path = tmp_path / "sensor.yaml"
    path.write_text(text)
    with pytest.raises(VokitError, match=message) as err:
        calibration_from_yaml(path)
    assert err.value.path == path and str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("t_bs", "message"),
    [
        ("T_BS: 5", "'T_BS' must be a mapping"),
        ("T_BS:\n  data: null", "'data' must be a list of 16 numbers .*got null"),
        ("T_BS:\n  data: [1, 2, 3]", "'data' must be a list of 16 numbers .*a list of 3 items"),
        ("T_BS:\n  rows: 3\n  data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]", "'T_BS.rows' must be 4"),
        ("T_BS:\n  data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1]", "last row 0 0 0 1"),
    ],
)
def test_sensor_yaml_bad_t_bs(tmp_path: Path, t_bs: str, message: str) -> None:
    path = tmp_path / "sensor.yaml"
    path.write_text(f"intrinsics: [1, 1, 0, 0]\n{t_bs}\n")
    with pytest.raises(VokitError, match=message) as err:
        read_body_from_cam(path)
    assert err.value.path == path


@pytest.mark.parametrize("text", ["[1, 2]", "just a string", "", "a: [", "d: 2020-13-45", "- [" * 200])
def test_sensor_yaml_not_a_mapping_or_broken(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sensor.yaml"
    path.write_text(text)
    with pytest.raises(VokitError) as err:
        calibration_from_yaml(path)
    assert err.value.path == path


# Row 8: a truncated or corrupt .npy.
def test_truncated_npy_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "000000.npy"
    np.save(path, np.ones((48, 64), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(VokitError, match=r"truncated \.npy file: its header says shape \(48, 64\) float32") as err:
        load_depth_npy(path)
    assert err.value.path == path
    for cut in (5, 40, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(VokitError, match="not a readable .npy file") as err:
            load_depth_npy(path)
        assert err.value.path == path


def test_npy_that_is_an_npz_or_a_pickle(tmp_path: Path) -> None:
    npz = tmp_path / "a.npy"
    with open(npz, "wb") as f:
        np.savez(f, a=np.ones(3))
    with pytest.raises(VokitError, match="not a readable .npy file"):
        load_npy(npz)
    obj = tmp_path / "o.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(VokitError, match="Python objects"):
        load_npy(obj)


def test_npy_header_claiming_a_huge_array_is_not_allocated(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**8, 10**8)})
        f.write(b"\0" * 64)
    with pytest.raises(VokitError, match=r"truncated \.npy file: .*\(100000000, 100000000\) float64") as err:
        load_npy(path)
    assert err.value.path == path


# Rows 9 and 10: the synthetic world checks its seed and image size before building anything.
@pytest.mark.parametrize("seed", [-1, -(2**40), MAX_SEED + 1])
def test_synthetic_seed_out_of_range(seed: int) -> None:
    with pytest.raises(VokitError, match=r"seed must be in \[0, 4294967295\].*got " + str(seed)):
        SyntheticWorld("street", 2, seed, 16, 16)
    with pytest.raises(VokitError, match="seed must be in"):
        make_sequence("room", 2, seed, 16, 16)


def test_synthetic_seed_must_be_an_integer() -> None:
    with pytest.raises(VokitError, match="seed must be an integer, got 1.5"):
        check_seed(1.5)
    assert check_seed(np.int64(7)) == 7


def test_synthetic_largest_seed_renders() -> None:
    frame = make_sequence("room", 1, MAX_SEED, 8, 8)[0]
    assert frame.image.shape == (3, 8, 8) and bool(torch.isfinite(frame.image).all())


@pytest.mark.parametrize(("h", "w"), [(20000, 20000), (8193, 16), (16, 8193), (4097, 4096), (4, 64)])
def test_synthetic_image_size_limits(h: int, w: int) -> None:
    with pytest.raises(VokitError, match="too large|at least 8x8"):
        SyntheticWorld("street", 2, 0, h, w)
    with pytest.raises(VokitError):
        check_image_size(h, w)


def test_synthetic_image_size_limits_allow_the_largest() -> None:
    check_image_size(4096, 4096)
    check_image_size(8192, 2048)


# Row 13: the alignment message.
def test_alignment_of_one_pose_says_so() -> None:
    pose = torch.tensor([[0.0, 0, 0, 0, 0, 0, 1]], dtype=torch.float64)
    with pytest.raises(VokitError, match="se3 alignment needs between 3 and all .* poses, but only 1 are") as err:
        absolute_trajectory_error(pose, pose, align="se3")
    assert "n_align=None" not in str(err.value)
    poses = torch.zeros(5, 7, dtype=torch.float64)
    poses[:, 0] = torch.arange(5.0)
    poses[:, 6] = 1.0
    with pytest.raises(VokitError, match="n_align must be between 3 and the 5 associated poses, got n_align=9"):
        absolute_trajectory_error(poses, poses, align="se3", n_align=9)
