"""Issue 12 rows 9 and 10 through ``vokit synth``: a negative seed or a huge image is a one-line error, exit 2."""

import time
from pathlib import Path

import pytest

from vokit.cli import main as cli_main


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_seed_out_of_range_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: str) -> None:
    out = tmp_path / "x"
    assert cli_main.main(["synth", "--seed", seed, "--frames", "2", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--seed must be in [0, 4294967295], got {seed}" in err and "Traceback" not in err
    assert not out.exists()


def test_library_seed_check_reaches_the_synth_function(tmp_path: Path) -> None:
    from vokit.cli.synth import synth
    from vokit.errors import VokitError

    with pytest.raises(VokitError, match=r"seed must be in \[0, 4294967295\], got -1"):
        synth(tmp_path / "x", frames=2, seed=-1, height=16, width=16, progress=False)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("height", "width"), [("20000", "20000"), ("8193", "64"), ("4100", "4100")])
def test_huge_image_exits_2_before_allocating(tmp_path: Path, capsys: pytest.CaptureFixture[str], height: str,
                                               width: str) -> None:
    out = tmp_path / "x"
    start = time.perf_counter()
    argv = ["synth", "--height", height, "--width", width, "--frames", "2", "--out", str(out), "--quiet"]
    assert cli_main.main(argv) == 2
    assert time.perf_counter() - start < 5.0  # refused up front, not after trying to allocate tens of GB
    err = capsys.readouterr().err
    assert f"synthetic image {height}x{width} is too large" in err and "at most 8192" in err
    assert not out.exists()


def test_too_small_image_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["synth", "--height", "4", "--frames", "2", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "at least 8x8" in capsys.readouterr().err
