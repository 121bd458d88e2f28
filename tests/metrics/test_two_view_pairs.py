"""Two-view metrics over the frame pairs of trajectories, and ``vokit eval pairs``."""

import json
from pathlib import Path

import pytest
import torch

from vokit.cli.main import main as vokit_main
from vokit.data.trajectory_io import write_trajectory
from vokit.errors import VokitError
from vokit.geometry import lie
from vokit.metrics.two_view import relative_pose_errors, summarize_two_view, trajectory_pairs


def _trajectory(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return lie.se3_exp(0.3 * torch.randn(n, 6, generator=gen, dtype=torch.float64))


def test_trajectory_pairs_are_matrix_products() -> None:
    poses = _trajectory(5)
    rel = trajectory_pairs(poses, delta=2)
    m = lie.se3_to_matrix(poses)
    expected = torch.linalg.inv(m[2:]) @ m[:-2]
    torch.testing.assert_close(lie.se3_to_matrix(rel), expected)
    with pytest.raises(VokitError):
        trajectory_pairs(poses, delta=5)


def test_summary_of_a_perfect_and_a_rotated_estimate() -> None:
    gt = trajectory_pairs(_trajectory(6))
    perfect = summarize_two_view(relative_pose_errors(gt, gt))
    assert perfect.n_pairs == 5 and perfect.rot_err_deg[0] < 1e-5 and perfect.auc == pytest.approx((1.0,) * 3)
    # every estimate rotated by 2 deg more about z: rotation error exactly 2 deg
    extra = lie.se3_exp(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, torch.pi / 90], dtype=torch.float64))
    off = lie.se3_compose(extra.expand(5, -1), gt)
    summary = summarize_two_view(relative_pose_errors(gt, off))
    assert summary.rot_err_deg == pytest.approx((2.0, 2.0), abs=1e-9)


def test_vokit_eval_pairs_prints_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    poses = _trajectory(8)
    stamps = torch.arange(8, dtype=torch.float64) / 10
    write_trajectory(tmp_path / "gt.txt", stamps, poses, "tum")
    scaled = poses.clone()
    scaled[:, :3] *= 0.5  # a monocular estimate: right up to scale
    write_trajectory(tmp_path / "est.txt", stamps, scaled, "tum")
    gt, est = str(tmp_path / "gt.txt"), str(tmp_path / "est.txt")
    rc = vokit_main(["eval", "pairs", gt, est, "--out", str(tmp_path / "o")])
    assert rc == 0
    assert "7 pairs" in capsys.readouterr().out
    data = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert data["n_pairs"] == 7 and data["t_cm"]["mean"] < 1e-6 and data["t_err_deg"]["mean"] < 1e-4
    rc = vokit_main(["eval", "pairs", gt, est, "--delta", "0"])
    assert rc == 2 and "--delta" in capsys.readouterr().err
