"""`open_sequence(calib=...)`: accepted for TUM-format and other layouts without a calibration of their own, refused
for KITTI / EuRoC unless overridden, and the sequence says where its intrinsics came from (issue 19, part 2)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.data.readers.test_euroc import _write_euroc

from vokit.data.readers import open_sequence
from vokit.data.readers.calibration import Undistorter
from vokit.data.synthetic import make_sequence
from vokit.data.writers import write_sequence
from vokit.errors import VokitError

CALIB = [30.0, 31.0, 20.0, 15.0]


def _synth(folder: Path, layout: str) -> Path:
    return write_sequence(make_sequence("room", n_frames=3, seed=0, height=30, width=40), folder, layout)


def test_tum_layout_takes_a_calibration_and_records_it(tmp_path: Path) -> None:
    root = _synth(tmp_path / "tum", "tum")
    own = open_sequence(root)
    assert own.calibration_source == "calib.txt in the folder"
    seq = open_sequence(root, calib=CALIB)
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor(CALIB))
    assert seq.calibration_source == "the calibration given (--calib)"
    assert seq.has_poses and seq.has_depth  # ground truth is kept


@pytest.mark.parametrize(("layout", "own"), [("kitti", "calib.txt")])
def test_kitti_calibration_is_authoritative_unless_overridden(tmp_path: Path, layout: str, own: str) -> None:
    root = _synth(tmp_path / layout, layout)
    with pytest.raises(VokitError, match=rf"own calibration \({own}\).*--calib-override") as err:
        open_sequence(root, calib=CALIB)
    assert err.value.path == root
    seq = open_sequence(root, calib=CALIB, calib_override=True)
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor(CALIB))
    assert seq.calibration_source == f"the calibration given (--calib), replacing the dataset's {own}"
    assert open_sequence(root).calibration_source == "calib.txt (P2)"


def test_euroc_override_undistorts_with_the_given_calibration(tmp_path: Path) -> None:
    _write_euroc(tmp_path, n=2, h=60, w=80, k1=-0.2)
    with pytest.raises(VokitError, match="sensor.yaml"):
        open_sequence(tmp_path, calib=CALIB)
    given = [50.0, 50.0, 40.0, 30.0, 0.1, 0.0, 0.0, 0.0]
    seq = open_sequence(tmp_path, calib=given, calib_override=True)
    raw = open_sequence(tmp_path, undistort=False)
    expected = Undistorter(np.array(given[:4]), np.array(given[4:]), (60, 80))(raw.image(0))
    # same undistortion of the same raw image: equal up to float32 round-off
    torch.testing.assert_close(seq.image(0), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(seq.intrinsics[1], torch.tensor(given[:4]))
    assert "replacing the dataset's sensor.yaml" in (seq.calibration_source or "")


def test_bad_calibration_names_the_problem(tmp_path: Path) -> None:
    root = _synth(tmp_path / "tum", "tum")
    with pytest.raises(VokitError, match="principal point"):
        open_sequence(root, calib=[30.0, 30.0, 500.0, 15.0])
