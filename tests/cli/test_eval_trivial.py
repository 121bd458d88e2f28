"""``vokit eval traj`` / ``depth`` report the trivial predictors beside the estimate and flag a trivial result."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vokit.cli.eval import main as eval_main
from vokit.data.trajectory_io import write_trajectory
from vokit.geometry.lie import so3_exp

F64 = torch.float64


def _drive(n: int = 30) -> torch.Tensor:
    """A forward drive along +z bending to the side, with small rotations; [t, q_xyzw]."""
    s = torch.arange(n, dtype=F64)
    q = so3_exp(0.02 * torch.stack([torch.sin(s), torch.cos(s), s / n], dim=-1))
    return torch.cat([torch.stack([0.01 * s**2, 0.05 * torch.sin(s), s], dim=-1), q], dim=-1)


def _write(path: Path, poses: torch.Tensor) -> Path:
    write_trajectory(path, torch.arange(poses.shape[0], dtype=F64) * 0.1, poses, "tum")
    return path


def test_good_estimate_is_reported_beside_trivial_trajectories(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    gt = _drive()
    est = gt.clone()
    est[:, :3] += 0.01 * torch.randn(gt.shape[0], 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    argv = ["traj", str(_write(tmp_path / "gt.txt", gt)), str(_write(tmp_path / "est.txt", est)),
            "--align", "sim3", "--out", str(tmp_path / "out")]
    assert eval_main(argv) == 0
    printed = capsys.readouterr().out
    assert "static camera" in printed and "constant-velocity line" in printed
    assert "better than a static camera and a constant-velocity line" in printed
    trivial = json.loads((tmp_path / "out" / "metrics.json").read_text())["trivial"]
    assert trivial["beats_trivial"] is True and trivial["align"] == "sim3"
    assert trivial["estimate"]["ate_rmse_m"] < trivial["constant-velocity line"]["ate_rmse_m"]
    assert trivial["line_speed_m_s"] == pytest.approx(float(torch.linalg.vector_norm(
        gt[1:, :3] - gt[:-1, :3], dim=-1).sum()) / 2.9, rel=1e-6)


def test_a_static_estimate_is_flagged_trivial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = _drive()
    est = gt[:1].repeat(gt.shape[0], 1)
    est[:, :3] += 1e-3 * torch.randn(gt.shape[0], 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    argv = ["traj", str(_write(tmp_path / "gt.txt", gt)), str(_write(tmp_path / "est.txt", est)),
            "--align", "sim3", "--out", str(tmp_path / "out")]
    assert eval_main(argv) == 0
    assert "TRIVIAL: not better than a constant-velocity line" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["trivial"]["beats_trivial"] is False


def test_depth_reports_the_constant_predictor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    gt = 1.0 + 9.0 * rng.random((3, 8, 10))
    np.save(tmp_path / "gt.npy", gt)
    np.save(tmp_path / "flat.npy", np.full_like(gt, 2.0))
    argv = ["depth", str(tmp_path / "gt.npy"), str(tmp_path / "flat.npy"), "--crop", "none", "--median-scaling",
            "--out", str(tmp_path / "out")]
    assert eval_main(argv) == 0
    assert "TRIVIAL: abs_rel not better than a constant depth" in capsys.readouterr().out
    payload = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert payload["constant_depth_metrics"]["abs_rel"] == pytest.approx(payload["metrics"]["abs_rel"], rel=1e-6)
    np.save(tmp_path / "good.npy", gt * 1.5)  # exact up to scale
    assert eval_main([*argv[:2], str(tmp_path / "good.npy"), *argv[3:]]) == 0
    assert "TRIVIAL" not in capsys.readouterr().out


def test_failed_evaluation_leaves_no_empty_out(tmp_path: Path) -> None:
    gt = _write(tmp_path / "gt.txt", _drive())
    est = tmp_path / "est.txt"
    est.write_text("# nothing\n")
    from vokit.errors import VokitError

    with pytest.raises(VokitError):
        eval_main(["traj", str(gt), str(est), "--out", str(tmp_path / "new")])
    assert not (tmp_path / "new").exists()
