"""``vokit eval`` options: kitti-odom-eval / rpg alignments, flow fg/bg masks, Monodepth2's gt_depths.npz."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.support.data import shared_data

from vokit.cli import main as cli_main
from vokit.cli.eval import ALIGN_CHOICES
from vokit.cli.eval import main as eval_main
from vokit.metrics.trajectory import ALIGN_MODES


def test_align_choices_are_the_library_modes() -> None:
    assert ALIGN_CHOICES == ALIGN_MODES


@pytest.mark.parametrize(("align", "kitti_name"), [("kitti_scale", "scale"), ("scale_7dof", "scale_7dof"),
                                                   ("7dof", "7dof")])
def test_kitti_odom_eval_modes_on_kitti00(tmp_path: Path, align: str, kitti_name: str) -> None:
    """ATE and the float64 segment errors equal vokit's port of kitti-odom-eval under the same alignment."""
    from vokit.data.trajectory_io import read_kitti_matrices
    from vokit.metrics import kitti_odom_eval

    folder = shared_data("evo_trajectories")
    gt, est = folder / "KITTI_00_gt.txt", folder / "KITTI_00_ORB.txt"
    out = tmp_path / align
    assert eval_main(["traj", str(gt), str(est), "--format", "kitti", "--align", align, "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    _, ref_m = read_kitti_matrices(gt, None)
    _, est_m = read_kitti_matrices(est, None)
    expected = kitti_odom_eval(ref_m, est_m, alignment=kitti_name)  # type: ignore[arg-type]
    assert result["alignment"]["mode"] == align
    # KITTI rows are orthonormal to ~1e-7 only: the tool fits on re-anchored centres (general 4x4 inverses),
    # vokit fits the same similarity in the original frames, so the two agree to that level
    assert result["ape"]["translation_m"]["rmse"] == pytest.approx(expected.ate_m, rel=1e-5)
    assert result["alignment"]["scale"] == pytest.approx(expected.scale, rel=1e-5)
    # vokit's table uses the devkit's float32 arithmetic; kitti-odom-eval float64: equal to ~1e-4 relative
    assert result["kitti"]["t_err_pct"] == pytest.approx(expected.segments.t_err_pct, rel=1e-3)


def test_posyaw_on_euroc_fits_fewer_dof_than_se3(tmp_path: Path) -> None:
    folder = shared_data("evo_trajectories")
    ate = {}
    for align in ("posyaw", "se3"):
        out = tmp_path / align
        argv = ["traj", str(folder / "V102_groundtruth.csv"), str(folder / "V102.txt"), "--format", "euroc",
                "--align", align, "--out", str(out)]
        assert eval_main(argv) == 0
        result = json.loads((out / "metrics.json").read_text())
        assert result["alignment"]["mode"] == align and result["alignment"]["scale"] == 1.0
        ate[align] = result["ape"]["translation_m"]["rmse"]
    assert ate["se3"] <= ate["posyaw"] < 2 * ate["se3"]  # EuRoC's estimate is gravity-aligned: yaw is most of it


def test_flow_foreground_masks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vokit.data.flow_io import write_flo
    from vokit.data.image_io import write_mask_png

    gt = torch.zeros(4, 5, 2)
    gt[..., 0] = 10.0
    pred = gt.clone()
    pred[0, 0] = torch.tensor([10.0, 4.0])  # EPE 4, an outlier, on a foreground pixel
    pred[3, 4] = torch.tensor([11.0, 0.0])  # EPE 1 on a background pixel
    write_flo(tmp_path / "gt.flo", gt)
    write_flo(tmp_path / "pred.flo", pred)
    obj_map = np.zeros((4, 5), dtype=bool)
    obj_map[:2, :2] = True  # 4 foreground pixels
    write_mask_png(tmp_path / "obj_map" / "000000_10.png", obj_map)
    argv = ["flow", str(tmp_path / "gt.flo"), str(tmp_path / "pred.flo"), "--obj-map", str(tmp_path / "obj_map"),
            "--out", str(tmp_path / "o")]
    assert eval_main(argv) == 0
    result = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert result["epe_fg"] == pytest.approx(4 / 4) and result["fl_fg_pct"] == pytest.approx(25.0)
    assert result["epe_bg"] == pytest.approx(1 / 16) and result["fl_bg_pct"] == pytest.approx(0.0)
    assert result["n_fg_pixels"] == 4 and "foreground (4 px)" in capsys.readouterr().out
    write_mask_png(tmp_path / "obj_map" / "000001_10.png", obj_map)
    assert cli_main.main(["eval", "flow", str(tmp_path / "gt.flo"), str(tmp_path / "pred.flo"), "--fg-mask",
                          str(tmp_path / "obj_map")]) == 2
    assert "2 foreground masks for 1" in capsys.readouterr().err
    assert cli_main.main(["eval", "flow", str(tmp_path / "gt.flo"), str(tmp_path / "pred.flo"), "--fg-mask",
                          str(tmp_path / "missing")]) == 2


def test_depth_from_monodepth2_gt_depths_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    maps = [rng.uniform(2, 50, size=(6, 8)).astype(np.float32), rng.uniform(2, 50, size=(5, 9)).astype(np.float32)]
    data = np.empty(2, dtype=object)
    data[:] = maps
    np.savez_compressed(tmp_path / "gt_depths.npz", data=data)
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for k, m in enumerate(maps):
        np.save(tmp_path / "gt" / f"{k:03d}.npy", m)
        np.save(tmp_path / "pred" / f"{k:03d}.npy", m * rng.uniform(0.8, 1.2, size=m.shape))
    results = []
    for gt in (tmp_path / "gt_depths.npz", tmp_path / "gt"):
        out = tmp_path / f"o_{gt.stem}"
        assert eval_main(["depth", str(gt), str(tmp_path / "pred"), "--crop", "none", "--median-scaling",
                          "--out", str(out)]) == 0
        results.append(json.loads((out / "metrics.json").read_text())["metrics"])
    assert results[0] == pytest.approx(results[1], rel=1e-12)
    assert 0 < results[0]["abs_rel"] < 0.2
