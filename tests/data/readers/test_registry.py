import pytest
from tests.support.sequences import make_sequence

from vokit.data.readers import READERS, detect_format, open_sequence, register_format, registry
from vokit.data.writers import write_sequence
from vokit.errors import VokitError


def test_detects_written_layouts(tmp_path):
    seq = make_sequence(n=2)
    assert detect_format(write_sequence(seq, tmp_path / "k", layout="kitti")) == "kitti-odom"
    assert detect_format(write_sequence(seq, tmp_path / "t", layout="tum")) == "tum"
    # An explicit format skips detection and reaches the same reader.
    assert len(open_sequence(tmp_path / "k", format="kitti-odom", max_frames=1)) == 1


def test_registered_format_takes_part_in_detection(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_EXTRA_DETECTORS", [])
    monkeypatch.setitem(READERS, "tiny", READERS["kitti-odom"])
    marker = tmp_path / "x.tiny"
    marker.write_text("")
    register_format("tiny", lambda path, **kw: make_sequence(n=1), detect=lambda p: p.suffix == ".tiny")
    assert detect_format(marker) == "tiny"
    assert len(open_sequence(marker)) == 1
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(VokitError, match="a file must be a video"):
        detect_format(tmp_path / "x.txt")
