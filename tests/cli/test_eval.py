"""``vokit eval``: evo's numbers on the shared KITTI / TUM / EuRoC data, depth and flow files, exit code 2."""

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.metrics.reference_data import SHARED_REF_DIR, agrees, parse_evo_reference
from tests.support.data import shared_data

from vokit.cli import main as cli_main
from vokit.cli.eval import main as eval_main

EVO_FILE = SHARED_REF_DIR / "REFERENCE_VALUES_evo-1.38.1.txt"


def _evo(command: str) -> dict[str, float]:
    blocks = {b.command: b for b in parse_evo_reference(EVO_FILE)}
    return blocks[command].stats


def _assert_evo(ours: dict, command: str) -> None:
    for key, ref in _evo(command).items():
        assert agrees(ours[key], ref), f"{command} {key}: vokit {ours[key]} vs evo {ref}"


def test_traj_on_kitti00_orb_gives_evos_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data("evo_trajectories")
    out = tmp_path / "kitti"
    argv = ["traj", str(folder / "KITTI_00_gt.txt"), str(folder / "KITTI_00_ORB.txt"), "--format", "kitti",
            "--align", "se3", "--rpe-delta", "10", "--rpe-unit", "m", "--out", str(out)]
    assert eval_main(argv) == 0
    result = json.loads((out / "metrics.json").read_text())
    _assert_evo(result["ape"]["translation_m"], "evo_ape kitti KITTI_00_gt.txt KITTI_00_ORB.txt -a")
    _assert_evo(result["ape"]["full_transformation"], "evo_ape kitti KITTI_00_gt.txt KITTI_00_ORB.txt -a -r full")
    _assert_evo(result["rpe"]["translation_m"],
                "evo_rpe kitti KITTI_00_gt.txt KITTI_00_ORB.txt --delta 10 --delta_unit m")
    assert result["association"]["method"] == "index" and result["rpe"]["n_pairs"] == 354
    assert result["kitti"]["precision"] == "devkit" and result["kitti"]["n_segments"] == 3283
    assert result["kitti"]["t_err_pct"] / 100 == pytest.approx(0.0069973371, rel=1e-7)  # official devkit
    for name in ("summary.png", "trajectory.png", "ape.png", "rpe.png", "kitti_segments.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "1.303450" in printed and "0.236763" in printed  # the table shows evo's rounded values


@pytest.mark.parametrize(
    ("fmt", "ref", "est", "align", "command"),
    [
        ("tum", "freiburg1_xyz-groundtruth.txt", "freiburg1_xyz-rgbdslam.txt", "se3",
         "evo_ape tum freiburg1_xyz-groundtruth.txt freiburg1_xyz-rgbdslam.txt -a"),
        ("euroc", "V102_groundtruth.csv", "V102.txt", "sim3", "evo_ape euroc V102_groundtruth.csv V102.txt -as"),
    ],
)
def test_traj_on_tum_and_euroc_gives_evos_numbers(tmp_path: Path, fmt: str, ref: str, est: str, align: str,
                                                  command: str) -> None:
    folder = shared_data("evo_trajectories")
    argv = ["traj", str(folder / ref), str(folder / est), "--format", fmt, "--align", align, "--out", str(tmp_path)]
    assert eval_main(argv) == 0
    result = json.loads((tmp_path / "metrics.json").read_text())
    _assert_evo(result["ape"]["translation_m"], command)
    assert result["association"]["method"] == "evo" and result["association"]["max_diff_s"] == 0.01


def test_malformed_trajectory_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "gt.txt"
    good.write_text("".join(f"{i * 0.1} {i} 0 0 0 0 0 1\n" for i in range(5)))
    bad = tmp_path / "broken_est.txt"
    bad.write_text("0.0 0 0 0 0 0 0 1\n0.1 1 0 zero 0 0 0 1\n")
    assert cli_main.main(["eval", "traj", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken_est.txt:2" in err and "cannot parse" in err
    assert cli_main.main(["eval", "traj", str(good), str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    later = tmp_path / "later_est.txt"
    later.write_text("".join(f"{100 + i * 0.1} {i} 0 0 0 0 0 1\n" for i in range(5)))
    assert cli_main.main(["eval", "traj", str(good), str(later)]) == 2
    err = capsys.readouterr().err
    assert "later_est.txt" in err and "no matching timestamps" in err


def test_depth_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    gt = np.array([[1.0, 2.0], [4.0, 8.0]])
    np.save(gt_dir / "000.npy", gt)
    np.save(pred_dir / "000.npy", np.array([[1.0, 1.0], [8.0, 8.0]]) / 3.0)
    argv = ["depth", str(gt_dir), str(pred_dir), "--crop", "none", "--median-scaling", "--out", str(tmp_path / "o")]
    assert eval_main(argv) == 0
    result = json.loads((tmp_path / "o" / "metrics.json").read_text())
    # median(gt) = 3, median(pred) = (1/3 + 8/3) / 2 = 1.5 -> ratio 2: scaled pred (2/3, 2/3, 16/3, 16/3)
    assert result["ratio_median"] == pytest.approx(2.0)
    assert result["metrics"]["abs_rel"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 3 + 1 / 3) / 4)
    assert (tmp_path / "o" / "depth_error_hist.png").exists()
    assert "abs_rel" in capsys.readouterr().out
    np.save(pred_dir / "001.npy", gt)
    assert cli_main.main(["eval", "depth", str(gt_dir), str(pred_dir), "--crop", "none"]) == 2


def test_flow_command(tmp_path: Path) -> None:
    from vokit.data.flow_io import write_flo

    gt = torch.zeros(4, 5, 2)
    gt[..., 0] = 10.0
    pred = gt.clone()
    pred[0, 0] = torch.tensor([10.0, 4.0])  # EPE 4 > 3 px and 40 % of 10 px: one outlier of 20 pixels
    write_flo(tmp_path / "gt.flo", gt)
    write_flo(tmp_path / "pred.flo", pred)
    assert eval_main(["flow", str(tmp_path / "gt.flo"), str(tmp_path / "pred.flo"), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["epe_pooled"] == pytest.approx(4 / 20) and result["fl_all_pct"] == pytest.approx(5.0)
    assert math.isclose(result["epe_image_mean"], result["epe_pooled"])


def _traj_pair(tmp_path: Path) -> tuple[Path, Path]:
    gt, est = tmp_path / "gt.txt", tmp_path / "est.txt"
    gt.write_text("".join(f"{i * 0.1} {i} {i % 2} 0 0 0 0 1\n" for i in range(6)))
    est.write_text("".join(f"{i * 0.1} {i} {i % 2} 0.01 0 0 0 1\n" for i in range(6)))
    return gt, est


def test_out_that_is_a_file_fails_before_computing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12 row 7: --out under a file or read-only gave the metrics, then a traceback and no metrics.json."""
    gt, est = _traj_pair(tmp_path)
    some_file = tmp_path / "some_file"
    some_file.write_text("x")
    assert cli_main.main(["eval", "traj", str(gt), str(est), "--out", str(some_file)]) == 2
    captured = capsys.readouterr()
    assert "--out must be a folder, but this is a file" in captured.err and str(some_file) in captured.err
    assert "Traceback" not in captured.err and "APE" not in captured.out  # nothing computed, nothing lost
    assert cli_main.main(["eval", "traj", str(gt), str(est), "--out", str(some_file / "sub" / "dir")]) == 2
    assert f"{some_file} is a file, not a folder" in capsys.readouterr().err
    depth = tmp_path / "d.npy"
    np.save(depth, np.ones((4, 4)))
    assert cli_main.main(["eval", "depth", str(depth), str(depth), "--out", str(some_file / "o")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert some_file.read_text() == "x"


def test_out_that_is_read_only_fails_before_computing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, est = _traj_pair(tmp_path)
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out = locked / "out"
    else:  # root writes anywhere chmod forbids; sysfs refuses new folders even to root
        out = Path("/sys/vokit-eval-out")
        try:
            out.mkdir()
        except OSError:
            pass
        else:
            out.rmdir()
            pytest.skip("running as root with no read-only folder to write into")
    assert cli_main.main(["eval", "traj", str(gt), str(est), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "--out folder is not writable" in captured.err and "Traceback" not in captured.err
    assert "APE" not in captured.out


def test_metrics_json_write_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Should writing fail after the up-front check (disk full), the error still names metrics.json."""
    from vokit.cli import eval as eval_cli

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    gt, est = _traj_pair(tmp_path)
    monkeypatch.setattr(eval_cli.Path, "write_text", fail)
    assert cli_main.main(["eval", "traj", str(gt), str(est), "--out", str(tmp_path / "o")]) == 2
    assert "metrics.json: cannot write metrics.json: No space left on device" in capsys.readouterr().err


def test_truncated_npy_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12 row 8: a cut .npy gave an EOFError traceback."""
    gt, pred = tmp_path / "gt.npy", tmp_path / "pred.npy"
    np.save(gt, np.ones((3, 8, 8)))
    np.save(pred, np.ones((3, 8, 8)))
    pred.write_bytes(pred.read_bytes()[:-50])
    assert cli_main.main(["eval", "depth", str(gt), str(pred), "--crop", "none"]) == 2
    err = capsys.readouterr().err
    assert f"{pred}: truncated .npy file" in err and "Traceback" not in err
    pred.write_bytes(b"\x93NUMPY garbage")
    assert cli_main.main(["eval", "depth", str(gt), str(pred), "--crop", "none"]) == 2
    assert f"{pred}: not a readable .npy file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fixed-scale", "nan"], "--fixed-scale must be a finite positive number, got nan"),
        (["--fixed-scale", "0"], "--fixed-scale must be a finite positive number"),
        (["--min-depth", "50", "--max-depth", "10"], r"--min-depth \(50\) must be less than --max-depth \(10\)"),
        (["--max-depth", "inf"], "--max-depth must be a finite positive number"),
        (["--min-depth", "-1"], "--min-depth must be a finite positive number"),
        (["--gt-png-scale", "0"], "--gt-png-scale must be a finite positive number"),
    ],
)
def test_depth_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str],
                                   message: str) -> None:
    """Issue 12 row 12: options were not checked, numbers silently wrong."""
    depth = tmp_path / "d.npy"
    np.save(depth, np.ones((4, 4)))
    assert cli_main.main(["eval", "depth", str(depth), str(depth), *options]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rpe-delta", "nan"], "--rpe-delta must be a finite positive number"),
        (["--rpe-delta", "0"], "--rpe-delta must be a finite positive number"),
        (["--rpe-delta", "1.5"], "--rpe-delta counts frames"),
        (["--max-diff", "-0.1"], "--max-diff must be a finite positive number"),
        (["--offset", "inf"], "--offset must be a finite number"),
        (["--n-align", "2"], "--n-align must be at least 3"),
    ],
)
def test_traj_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str],
                                  message: str) -> None:
    gt, est = _traj_pair(tmp_path)
    assert cli_main.main(["eval", "traj", str(gt), str(est), *options]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err


def test_one_matching_pose_says_alignment_needs_three(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12 row 13: 'alignment needs between 3 and 1 poses, got n_align=None'."""
    gt, est = tmp_path / "gt.txt", tmp_path / "est.txt"
    gt.write_text("0.0 0 0 0 0 0 0 1\n")
    est.write_text("0.0 0 0 0 0 0 0 1\n")
    assert cli_main.main(["eval", "traj", str(gt), str(est)]) == 2
    err = capsys.readouterr().err
    assert "between 3 and all of the associated poses, but only 1 are associated" in err
    assert "n_align=None" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_input_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pred.npy"
    os.mkfifo(fifo)
    depth = tmp_path / "d.npy"
    np.save(depth, np.ones((4, 4)))
    assert cli_main.main(["eval", "depth", str(depth), str(fifo)]) == 2
    assert "is a FIFO (named pipe), not a regular file" in capsys.readouterr().err
    gt, est = _traj_pair(tmp_path)
    assert cli_main.main(["eval", "traj", str(gt), str(fifo)]) == 2
    assert "trajectory file is a FIFO" in capsys.readouterr().err


def test_latin1_trajectory_exits_2_naming_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, est = _traj_pair(tmp_path)
    est.write_bytes("# r\u00e9sultat\n".encode("latin-1") + est.read_bytes())
    assert cli_main.main(["eval", "traj", str(gt), str(est)]) == 2
    err = capsys.readouterr().err
    assert f"{est}:1: not UTF-8 text: invalid byte 0xe9 at byte offset 3" in err
