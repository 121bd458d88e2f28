"""`vokit gradvar` on tiny untrained checkpoints: table, JSON, plot; bad input exits 2."""

import json
from pathlib import Path

import pytest
from tests.engine.test_gradvar import tiny_checkpoint

from vokit.cli.main import main

TINY = ["--clips", "2", "--clip-frames", "3", "--update-calls", "1", "--patches", "4", "--height", "32",
        "--width", "48", "--arms", "weighted"]


def test_gradvar_writes_json_and_plot_over_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tiny_checkpoint(tmp_path / "a", step=0, seed=0)
    b = tiny_checkpoint(tmp_path / "b", step=30, seed=1)
    assert main(["gradvar", str(b), str(a), *TINY, "--out", str(tmp_path / "gv")]) == 0
    out = capsys.readouterr().out
    assert "SNR dB" in out and "delta_head" in out and "weight_head" in out
    payload = json.loads((tmp_path / "gv" / "gradvar.json").read_text())
    assert payload["db_convention"] == "20log10"
    assert [r["step"] for r in payload["results"]] == [0, 30]  # sorted by step
    assert {s["loss_arm"] for r in payload["results"] for s in r["snr"]} == {"weighted"}
    assert (tmp_path / "gv" / "gradvar_snr.png").read_bytes()[:4] == b"\x89PNG"


def test_gradvar_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradvar", str(tmp_path / "missing.pt"), "--clips", "2"]) == 2
    assert "gradvar" in capsys.readouterr().err
    ckpt = tiny_checkpoint(tmp_path)
    assert main(["gradvar", str(ckpt), "--clips", "2", "--height", "30", "--width", "48"]) == 2
    assert "multiples of 4" in capsys.readouterr().err
