"""``vokit run`` and ``vokit demo`` through the command dispatcher: outputs, summaries and exit status 2 errors."""

import json
import shutil
from pathlib import Path

import pytest
from tests.app.test_pipeline import write_tiny_checkpoint, write_tiny_street

from vokit.app import pipeline
from vokit.cli import demo as demo_cli
from vokit.cli import main as cli_main
from vokit.cli.run import parse_calib_arg
from vokit.errors import VokitError


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_run")
    street = write_tiny_street(root / "street", n_frames=3)
    images = root / "images"
    images.mkdir()
    for k in range(3):
        shutil.copy(street / "image_2" / f"{k:06d}.png", images / f"{k:04d}.png")
    return {
        "root": root,
        "street": street,
        "images": images,
        "coopnet": write_tiny_checkpoint("coopnet-synthetic", root / "coopnet.pt"),
        "monodepth2": write_tiny_checkpoint("monodepth2-synthetic", root / "monodepth2.pt", seed=1),
    }


def _vokit(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_on_a_dataset_sequence(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "run-kitti"
    code, stdout, _ = _vokit(["run", str(files["street"]), "--weights", str(files["coopnet"]), "--out", str(out),
                              "--quiet"], capsys)
    assert code == 0
    assert "report:" in stdout and str(out / "report.html") in stdout
    assert "abs_rel" in stdout and "mask IoU" in stdout, "with ground truth the summary table is printed"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"depth", "depth_moving", "trajectory", "flow", "motion_mask"} <= set(metrics)
    for name in ("trajectory_tum.txt", "trajectory_kitti.txt", "config.yaml", "report.html"):
        assert (out / name).is_file()
    assert len(list((out / "depth").glob("*.png"))) == 3
    # Running again into the same folder needs --overwrite.
    code, _, err = _vokit(["run", str(files["street"]), "--weights", str(files["coopnet"]), "--out", str(out),
                           "--quiet"], capsys)
    assert code == 2 and "--overwrite" in err


def test_run_on_an_image_folder_with_calib(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "run-images"
    code, stdout, _ = _vokit(["run", str(files["images"]), "--calib", "40", "40", "39.5", "23.5", "--method",
                              "monodepth2", "--weights", str(files["monodepth2"]), "--out", str(out), "--quiet"],
                             capsys)
    assert code == 0 and "monodepth2" in stdout
    assert not (out / "metrics.json").exists()
    assert len(list((out / "depth_preview").glob("*.png"))) == 3
    assert (out / "report.html").is_file()


def test_missing_calibration_exits_2_naming_the_folder(files: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _vokit(["run", str(files["images"]), "--weights", str(files["coopnet"]), "--out",
                           str(files["root"] / "no-calib")], capsys)
    assert code == 2
    assert f"{files['images']}: no camera calibration" in err and "--calib fx fy cx cy" in err


def test_unreadable_image_exits_2_naming_the_file(files: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    shutil.copytree(files["images"], images)
    (images / "0001.png").write_text("garbage")
    code, _, err = _vokit(["run", str(images), "--calib", "40 40 39.5 23.5", "--weights", str(files["coopnet"]),
                           "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 2 and str(images / "0001.png") in err and "cannot read image" in err


def test_unwritable_output_exits_2_naming_the_folder(files: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "plain_file"
    blocker.write_text("x")
    code, _, err = _vokit(["run", str(files["street"]), "--weights", str(files["coopnet"]), "--out",
                           str(blocker / "run")], capsys)
    assert code == 2 and f"{blocker / 'run'}: cannot create or write the output folder" in err


def test_missing_or_corrupt_weights_exit_2(files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "bad.pt"
    corrupt.write_bytes(b"\x00\x01 not a checkpoint")
    code, _, err = _vokit(["run", str(files["street"]), "--weights", str(corrupt), "--out", str(tmp_path / "a")],
                          capsys)
    assert code == 2 and str(corrupt) in err
    shipped = tmp_path / "weights" / "coopnet-synthetic.pt"
    monkeypatch.setattr(pipeline, "shipped_weights_path", lambda method: shipped)
    code, _, err = _vokit(["run", str(files["street"]), "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and str(shipped) in err and "vokit train coopnet-synthetic" in err


def test_demo_end_to_end_with_baseline(files: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    code, stdout, _ = _vokit(["demo", "--out", str(out), "--frames", "3", "--weights", str(files["coopnet"]),
                              "--baseline-weights", str(files["monodepth2"]), "--quiet"], capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert any(line.startswith("coopnet ") for line in lines)
    assert any(line.startswith("monodepth2 (baseline)") for line in lines)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_frames"] == 3 and metrics["sequence"].startswith("synthetic-street-seed20000000")
    assert (out / pipeline.BASELINE_DIR / "metrics.json").is_file()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "monodepth2 (baseline)" in page and page.count("data:image/png;base64,") == 4


def test_demo_without_shipped_weights_says_how_to_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(pipeline, "shipped_weights_path", lambda method: tmp_path / f"{method}-synthetic.pt")
    code, _, err = _vokit(["demo", "--out", str(tmp_path / "demo")], capsys)
    assert code == 2 and "coopnet-synthetic.pt" in err and "vokit train coopnet-synthetic" in err


def test_cli_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_calib_arg(None) is None
    assert parse_calib_arg(["calib.txt"]) == "calib.txt"
    assert parse_calib_arg(["1", "2", "3.5", "4"]) == [1.0, 2.0, 3.5, 4.0]
    with pytest.raises(VokitError, match="--calib takes numbers"):
        parse_calib_arg(["1", "two"])
    assert demo_cli.DEMO_FRAMES == pipeline.DEMO_FRAMES
    for command in ("run", "demo"):
        with pytest.raises(SystemExit) as stop:
            cli_main.main([command, "--help"])
        assert stop.value.code == 0
        assert f"usage: vokit {command}" in capsys.readouterr().out
