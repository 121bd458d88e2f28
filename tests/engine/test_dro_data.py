"""The dro-kitti and dro-scannet presets train on tiny fake trees (their data paths end to end)."""

import json
from pathlib import Path

import pytest
from tests.data.readers.scannet_fake import make_scannet_scene
from tests.engine.kitti_fake import make_kitti_raw_tree
from tests.engine.tiny import tiny_config

from vokit.engine import train
from vokit.engine.data import build_training_data
from vokit.errors import VokitError

TINY_MODEL = dict(width=0.125, dro_hidden=16, dro_feature_dim=8, dro_context_dim=8, dro_version="it2-seq1")


def _steps_logged(run_dir: Path) -> list[int]:
    return [json.loads(x)["step"] for x in (run_dir / "scalars.jsonl").read_text().splitlines()]


def test_dro_kitti_trains_on_a_fake_kitti_raw_tree(tmp_path: Path) -> None:
    root = make_kitti_raw_tree(tmp_path / "kitti")
    config = tiny_config("dro-kitti", tmp_path / "runs", steps=2, model=TINY_MODEL,
                         data=dict(root=str(root), num_workers=0), log=dict(log_every=1))
    assert config.loss.dro_supervision == "self-supervised"
    assert _steps_logged(train(config))[-1] == 2


def test_dro_scannet_trains_supervised_on_a_fake_scannet_tree(tmp_path: Path) -> None:
    for name in ("scene0000_00", "scene0001_00"):
        make_scannet_scene(tmp_path / "scannet" / name)
    config = tiny_config("dro-scannet", tmp_path / "runs", steps=2, model=TINY_MODEL,
                         data=dict(root=str(tmp_path / "scannet"), num_workers=0, frame_stride=1),
                         log=dict(log_every=1))
    data = build_training_data(config.data)
    assert len(data.sequences) == 2 and len(data.windows) == 4
    assert config.loss.dro_supervision == "supervised"
    assert _steps_logged(train(config))[-1] == 2


def test_scannet_split_file_and_missing_scenes(tmp_path: Path) -> None:
    make_scannet_scene(tmp_path / "scannet" / "scene0000_00")
    split = tmp_path / "train.txt"
    split.write_text("scene0000_00\n")
    config = tiny_config("dro-scannet", tmp_path / "runs", data=dict(root=str(tmp_path / "scannet"), split=str(split),
                                                                    frame_stride=1))
    assert len(build_training_data(config.data).sequences) == 1
    split.write_text("scene0000_00\nscene0099_00\n")
    with pytest.raises(VokitError, match="scene0099_00"):
        build_training_data(config.data)
    empty = tmp_path / "empty"
    empty.mkdir()
    config = tiny_config("dro-scannet", tmp_path / "runs", data=dict(root=str(empty)))
    with pytest.raises(VokitError, match="no exported ScanNet scene"):
        build_training_data(config.data)
