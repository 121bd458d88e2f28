import dataclasses

import pytest
from tests.engine.tiny import tiny_config

from vokit.cli import main as cli_main
from vokit.cli import train as cli_train
from vokit.engine.config_io import save_config
from vokit.engine.presets import PRESETS, get_preset


def test_help_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli_train.parse_config(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    assert "--resume" in out and "torchrun" in out


def test_preset_help_shows_documented_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_train.parse_config(["coopnet-synthetic", "--help"])
    out = capsys.readouterr().out
    for flag in ("--train.steps", "--optim.lr", "--data.batch-size", "--resume", "--out", "--device"):
        assert flag in out
    assert "Peak learning rate" in out  # attribute docstrings become help text


def test_overrides_and_short_aliases() -> None:
    config = cli_train.parse_config([
        "coopnet-synthetic", "--train.steps", "7", "--out", "/tmp/runs", "--device", "cpu",
        "--optim.milestones", "0.5", "0.9", "--model.flow-levels", "4", "--data.root", "/data/x",
    ])
    base = get_preset("coopnet-synthetic")
    assert config.preset == "coopnet-synthetic"
    assert config.train == dataclasses.replace(base.train, steps=7, out_dir="/tmp/runs", device="cpu")
    assert config.optim.milestones == (0.5, 0.9) and config.model.flow_levels == 4 and config.data.root == "/data/x"
    assert config.loss == base.loss


def test_resume_alone_starts_from_the_saved_config(tmp_path) -> None:
    saved = tiny_config("monodepth2-synthetic", tmp_path, steps=3)
    run = tmp_path / "run"
    run.mkdir()
    save_config(saved, run / "config.yaml")
    config = cli_train.parse_config(["--resume", str(run), "--train.steps", "9"])
    assert config == dataclasses.replace(saved, train=dataclasses.replace(saved.train, resume=str(run), steps=9))


def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch) -> None:
    assert cli_main.main(["train", "no-such-preset"]) == 2
    assert "coopnet-synthetic" in capsys.readouterr().err  # the error lists the known presets
    monkeypatch.delenv("VOKIT_DATA_ROOT", raising=False)
    assert cli_main.main(["train", "coopnet-kitti", "--out", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
    assert cli_main.main(["train", "--resume", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        cli_main.main(["train", "coopnet-synthetic", "--optim.lr", "fast"])
    assert stop.value.code == 2


def test_vokit_train_runs_a_preset(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    args = ["train", "monodepth2-synthetic", "--out", str(tmp_path), "--device", "cpu", "--train.steps", "1",
            "--train.run-name", "cli", "--data.height", "64", "--data.width", "96", "--data.n-sequences", "1",
            "--data.sequence-frames", "3", "--data.batch-size", "1", "--model.width", "0.125",
            "--log.no-use-progress-bar"]
    assert cli_main.main(args) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "cli") in out and "tensorboard --logdir" in out
    assert (tmp_path / "cli" / "checkpoints" / "step_00000001.pt").is_file()
