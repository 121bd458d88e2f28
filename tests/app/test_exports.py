"""``vokit run --rerun / --rerun-spawn / --colmap``: the exports of a real (tiny) run, read back and checked.

The COLMAP model is checked by parsing in the default suite and with pycolmap when installed (dev extra); the
``.rrd`` is read back with rerun-sdk when installed (viz extra); both skip saying why otherwise.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.app.test_pipeline import N_FRAMES, write_tiny_checkpoint, write_tiny_street

from vokit.app.pipeline import RunResult, run_sequence
from vokit.cli import main as cli_main
from vokit.data.colmap import PIXEL_OFFSET, colmap_world_from_cam, read_colmap_text
from vokit.geometry.lie import se3_act, se3_inverse, se3_to_matrix

POSE_ATOL = 1e-9
"""COLMAP poses against the run's trajectory (17 significant digits in the text)."""
REPROJ_ATOL_PX = 1e-6
"""Reprojection of each exported point onto its stored observation, pixels."""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    root = tmp_path_factory.mktemp("exports")
    weights = write_tiny_checkpoint("monodepth2-synthetic", root / "md2.pt")
    street = write_tiny_street(root / "street")
    colmap = root / "colmap"
    result = run_sequence(street, method="monodepth2", out=root / "run", weights=weights, progress=False,
                          batch_size=2, colmap=colmap)
    return result, colmap


def test_colmap_export_parses_with_the_runs_poses_and_depth(exported: tuple[RunResult, Path]) -> None:
    result, colmap = exported
    pred = result.prediction
    model = read_colmap_text(colmap)
    assert sorted(model.images) == list(range(1, N_FRAMES + 1))
    assert sorted(p.name for p in (colmap / "images").iterdir()) == [f"{k:06d}.png" for k in range(N_FRAMES)]
    (camera,) = model.cameras.values()
    assert camera.model == "PINHOLE"
    for image_id, image in model.images.items():
        torch.testing.assert_close(se3_to_matrix(colmap_world_from_cam(image)),
                                   se3_to_matrix(pred.world_from_cam[image_id - 1]), rtol=0, atol=POSE_ATOL)
    assert len(model.points3d) > 0
    fx, fy, cx, cy = camera.params
    for point in model.points3d.values():
        (image_id, idx), = point.track
        image = model.images[image_id]
        p = se3_act(se3_inverse(colmap_world_from_cam(image)), torch.from_numpy(point.xyz)).numpy()
        np.testing.assert_allclose([fx * p[0] / p[2] + cx, fy * p[1] / p[2] + cy], image.xys[idx],
                                   atol=REPROJ_ATOL_PX)
        u, v = (image.xys[idx] - PIXEL_OFFSET).round().astype(int)
        assert p[2] == pytest.approx(float(pred.depth[image_id - 1, v, u]), rel=1e-5)


def test_colmap_export_loads_in_pycolmap(exported: tuple[RunResult, Path]) -> None:
    pycolmap = pytest.importorskip("pycolmap", reason="pycolmap is not installed (pip install -e '.[dev]')")
    result, colmap = exported
    rec = pycolmap.Reconstruction(str(colmap))
    assert rec.num_reg_images() == N_FRAMES
    rec.update_point_3d_errors()
    assert rec.compute_mean_reprojection_error() < REPROJ_ATOL_PX
    for image_id, image in rec.images.items():
        pose = image.cam_from_world() if callable(image.cam_from_world) else image.cam_from_world
        expected = se3_to_matrix(se3_inverse(result.prediction.world_from_cam[image_id - 1])).numpy()
        np.testing.assert_allclose(pose.matrix(), expected[:3], atol=POSE_ATOL)


def test_rerun_recording_of_a_run(tmp_path: Path) -> None:
    pytest.importorskip("rerun", reason="rerun-sdk is not installed (pip install 'vokit[viz]')")
    chunk = pytest.importorskip("rerun.chunk", reason="this rerun-sdk cannot read recordings back")
    from vokit.data.rerun_log import ENTITY_CAMERA, ENTITY_ESTIMATE, ENTITY_GROUND_TRUTH, ENTITY_IMAGE, ENTITY_POINTS

    weights = write_tiny_checkpoint("monodepth2-synthetic", tmp_path / "md2.pt")
    street = write_tiny_street(tmp_path / "street")
    rrd = tmp_path / "run.rrd"
    assert cli_main.main(["run", str(street), "--method", "monodepth2", "--weights", str(weights), "--out",
                          str(tmp_path / "run"), "--quiet", "--batch-size", "2", "--rerun", str(rrd)]) == 0
    frames: dict[str, set[int]] = {}
    for c in chunk.RrdReader(str(rrd)).store().stream():
        batch = c.to_record_batch()
        if "frame" in batch.schema.names:
            frames.setdefault(str(c.entity_path).lstrip("/"), set()).update(batch.column("frame").to_pylist())
    for entity in (ENTITY_CAMERA, ENTITY_IMAGE, ENTITY_POINTS, ENTITY_ESTIMATE, ENTITY_GROUND_TRUTH):
        assert frames.get(entity) == set(range(N_FRAMES)), f"{entity}: {sorted(frames.get(entity, ()))}"


def test_missing_rerun_fails_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "rerun", None)
    weights = write_tiny_checkpoint("monodepth2-synthetic", tmp_path / "md2.pt")
    street = write_tiny_street(tmp_path / "street", n_frames=2)
    assert cli_main.main(["run", str(street), "--weights", str(weights), "--out", str(tmp_path / "run"), "--quiet",
                          "--rerun", str(tmp_path / "run.rrd")]) == 2
    assert "pip install 'vokit[viz]'" in capsys.readouterr().err
