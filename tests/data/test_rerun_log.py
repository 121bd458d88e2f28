"""Rerun recordings: written with the SDK, read back with the SDK (entities, frame count, contents).

The recording tests skip, saying why, without rerun-sdk (``pip install 'vokit[viz]'``); the clear error without
it is tested always.
"""

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from vokit.data import rerun_log
from vokit.data.rerun_log import (
    ENTITY_CAMERA,
    ENTITY_DEPTH,
    ENTITY_ESTIMATE,
    ENTITY_GROUND_TRUTH,
    ENTITY_IMAGE,
    ENTITY_PATCHES,
    ENTITY_POINTS,
    ENTITY_TRACKS,
    VIZ_INSTALL,
    RerunRecorder,
    reprojected_patches,
)
from vokit.errors import VokitError
from vokit.geometry.lie import se3_exp

N_FRAMES = 5
H, W = 24, 32


def test_missing_rerun_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "rerun", None)  # import rerun -> ImportError
    with pytest.raises(VokitError, match=r"pip install 'vokit\[viz\]'"):
        RerunRecorder(tmp_path / "run.rrd")
    assert VIZ_INSTALL == "pip install 'vokit[viz]'"


def test_spawn_without_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rerun", reason="rerun-sdk is not installed (pip install 'vokit[viz]')")
    monkeypatch.setattr(rerun_log, "has_display", lambda: False)
    with pytest.raises(VokitError, match="needs a display"):
        RerunRecorder(None, spawn=True)


def _record(path: Path) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    poses = se3_exp(torch.randn(N_FRAMES, 6, generator=g, dtype=torch.float64) * 0.1)
    intrinsics = torch.tensor([40.0, 40.0, 15.5, 11.5])
    depth = 1.0 + torch.rand(H, W, generator=g)
    depth[1, :] = 0.0  # the first sampled row is invalid: left out of the cloud
    with RerunRecorder(path, point_stride=2) as rec:
        for k in range(N_FRAMES):
            patches = torch.tensor([[3.0 + k, 4.0], [10.0, 5.0 + k]])
            image = torch.rand(3, H, W, generator=g)
            if k < 3:
                rec.log_frame(k, 0.1 * k, image, intrinsics, poses[k], depth=depth, gt_world_from_cam=poses[k],
                              patches=patches, patch_ids=torch.tensor([7, 8]))
            else:  # views first, poses after: the way a run that knows poses late logs
                rec.log_view(k, 0.1 * k, image, intrinsics, depth, patches, torch.tensor([7, 8]))
        for k in range(3, N_FRAMES):
            rec.log_pose(k, 0.1 * k, poses[k], poses[k])
    return {"poses": poses, "depth": depth}


def _read(path: Path) -> dict[str, list[Any]]:
    chunk_module = pytest.importorskip("rerun.chunk", reason="this rerun-sdk has no rerun.chunk.RrdReader")
    if not hasattr(chunk_module, "RrdReader"):
        pytest.skip("this rerun-sdk has no rerun.chunk.RrdReader to read recordings back")
    by_entity: dict[str, list[Any]] = {}
    for chunk in chunk_module.RrdReader(str(path)).store().stream():
        by_entity.setdefault(str(chunk.entity_path).lstrip("/"), []).append(chunk.to_record_batch())
    return by_entity


def _column(batches: list[Any], suffix: str) -> list[Any]:
    out = []
    for batch in batches:
        names = [n for n in batch.schema.names if n.endswith(suffix)]
        out += [v for n in names for v in batch.column(n).to_pylist() if v is not None]
    return out


def test_recording_reads_back_with_entities_and_frames(tmp_path: Path) -> None:
    pytest.importorskip("rerun", reason="rerun-sdk is not installed (pip install 'vokit[viz]')")
    path = tmp_path / "out" / "run.rrd"
    data = _record(path)
    entities = _read(path)
    for entity in (ENTITY_CAMERA, ENTITY_IMAGE, ENTITY_DEPTH, ENTITY_POINTS, ENTITY_ESTIMATE, ENTITY_GROUND_TRUTH,
                   ENTITY_PATCHES, ENTITY_TRACKS):
        assert entity in entities, f"{entity} missing from {sorted(entities)}"
        if entity != ENTITY_TRACKS:  # tracks start with the second frame
            assert sorted(set(_column(entities[entity], "frame"))) == list(range(N_FRAMES)), entity
    translations = _column(entities[ENTITY_CAMERA], "Transform3D:translation")
    np.testing.assert_allclose(np.array(translations, dtype=np.float64).reshape(N_FRAMES, 3),
                               data["poses"][:, :3].numpy(), rtol=1e-6, atol=1e-6)
    positions = _column(entities[ENTITY_POINTS], "Points3D:positions")
    n_valid = int((data["depth"][1::2, 1::2] > 0).sum())  # stride 2, offset 1
    assert [len(row) for row in positions] == [n_valid] * N_FRAMES  # one cloud per frame
    from vokit.geometry.camera import unproject

    u, v = 1 + 2 * 3, 1 + 2 * 4  # 4th column, 4th valid row of the stride-2 grid (row 1 is invalid)
    expected = unproject(torch.tensor([float(u), float(v)]), data["depth"][v, u], torch.tensor([40.0, 40, 15.5, 11.5]))
    assert positions[0][3 * len(range(1, W, 2)) + 3] == pytest.approx(expected.tolist(), rel=1e-5)
    strips = _column(entities[ENTITY_ESTIMATE], "LineStrips3D:strips")
    assert [len(row[0]) for row in strips] == list(range(1, N_FRAMES + 1))  # the trajectory so far
    patches = _column(entities[ENTITY_PATCHES], "Points2D:positions")
    assert patches[0][0] == pytest.approx([3.5, 4.5])  # vokit pixel centres -> rerun corner origin
    tracks = _column(entities[ENTITY_TRACKS], "LineStrips2D:strips")
    assert [len(strip) for strip in tracks[-1]] == [N_FRAMES, N_FRAMES]  # two patches seen in every frame


def test_closed_recorder_refuses_frames(tmp_path: Path) -> None:
    pytest.importorskip("rerun", reason="rerun-sdk is not installed (pip install 'vokit[viz]')")
    rec = RerunRecorder(tmp_path / "a.rrd")
    rec.close()
    rec.close()
    with pytest.raises(VokitError, match="closed"):
        rec.log_frame(0, None, torch.zeros(3, 4, 4), torch.tensor([4.0, 4, 2, 2]), torch.tensor([0.0] * 6 + [1.0]))
    assert (tmp_path / "a.rrd").stat().st_size > 0


def test_reprojected_patches_follow_the_predicted_motion() -> None:
    from vokit.geometry.camera import project, unproject
    from vokit.geometry.lie import se3_act, se3_inverse

    poses = torch.zeros(3, 7, dtype=torch.float64)
    poses[:, 6] = 1.0
    poses[:, 2] = torch.tensor([0.0, 0.5, 1.0])  # forward 0.5 per frame
    depths = torch.full((3, H, W), 4.0, dtype=torch.float64)
    intrinsics = torch.tensor([40.0, 40.0, 15.5, 11.5], dtype=torch.float64)
    patches = torch.tensor([[[20.0, 14.0], [0.0, 0.0]]] * 3, dtype=torch.float64)
    uv, ids = reprojected_patches(patches, depths, intrinsics, poses, frame=2, window=3)
    assert ids.tolist() == [0, 2, 4, 5]  # older corner patches leave the image as the camera moves forward
    expected = project(se3_act(se3_inverse(poses[2]), se3_act(poses[0], unproject(patches[0, 0], torch.tensor(4.0,
                       dtype=torch.float64), intrinsics))), intrinsics)
    torch.testing.assert_close(uv[0], expected)
    torch.testing.assert_close(uv[2], patches[2, 0])  # the frame's own patches stay where they are


def test_unreachable_live_viewer_only_warns_at_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rerun", reason="rerun-sdk is not installed (pip install 'vokit[viz]')")
    rec = RerunRecorder(tmp_path / "a.rrd")

    def unreachable() -> None:
        raise RuntimeError("gRPC has been unable to connect for 7s\ndetails")

    monkeypatch.setattr(rec._stream, "flush", unreachable)
    rec.close()
    assert "live rerun viewer could not be reached (gRPC has been unable to connect for 7s)" in capsys.readouterr().err
