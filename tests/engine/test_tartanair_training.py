"""The TartanAir training path (preset ``patchvo-tartanair``) on a tiny fake tree: every trajectory folder below the
root becomes a training sequence, clips carry depth and poses, and patchvo trains two steps on it."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.engine.tiny import tiny_config

from vokit.engine import train
from vokit.engine.configs import DataConfig
from vokit.engine.data import ClipDataset, ClipSpec, build_training_data
from vokit.errors import VokitError


def _trajectory(folder: Path, n: int, h: int = 480, w: int = 640, seed: int = 0) -> None:
    """A TartanAir trajectory of ``n`` frames: textured images, depth 2-6 m, the camera moving forward (NED x)."""
    (folder / "image_left").mkdir(parents=True)
    (folder / "depth_left").mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        blocks = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)  # 8x8 blocks: quick to encode
        Image.fromarray(np.kron(blocks, np.ones((8, 8, 1), np.uint8))).save(folder / "image_left" / f"{i:06d}_left.png")
        np.save(folder / "depth_left" / f"{i:06d}_left_depth.npy", rng.uniform(2, 6, (h, w)).astype(np.float32))
    poses = np.zeros((n, 7))
    poses[:, 0] = 0.1 * np.arange(n)
    poses[:, 6] = 1.0
    np.savetxt(folder / "pose_left.txt", poses)


def test_every_trajectory_below_the_root_is_a_sequence(tmp_path: Path) -> None:
    _trajectory(tmp_path / "office" / "Easy" / "P000", 8)
    _trajectory(tmp_path / "office" / "Hard" / "P001", 5, seed=1)
    config = DataConfig(source="tartanair", root=str(tmp_path), height=64, width=96, clip_frames=5,
                        hflip_prob=0.0, color_jitter_prob=0.0)
    data = build_training_data(config)
    assert [s.name for s in data.sequences] == ["office/Easy/P000", "office/Hard/P001"]
    assert data.windows == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    clip, _ = ClipDataset(data, config)[ClipSpec(window=4, hflip=False, jitter_seed=0)]
    assert clip.images.shape == (5, 3, 64, 96)
    assert clip.depth is not None and clip.depth.shape == (5, 64, 96) and bool((clip.depth > 0).all())
    assert clip.world_from_cam is not None
    # NED x (forward) is vokit's z: 0.1 m per frame along z
    torch.testing.assert_close(clip.world_from_cam[:, 2].double(), 0.1 * torch.arange(5, dtype=torch.float64))
    # TartanAir's fixed intrinsics (320, 320, 320, 240 at 640x480) scaled to 96x64
    assert float(clip.intrinsics[0, 0]) == pytest.approx(320.0 * 96 / 640, rel=1e-6)


def test_missing_or_empty_tartanair_tree_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VokitError, match="no TartanAir trajectory"):
        build_training_data(DataConfig(source="tartanair", root=str(tmp_path)))
    with pytest.raises(VokitError, match="does not exist"):
        build_training_data(DataConfig(source="tartanair", root=str(tmp_path / "nowhere")))


def test_patchvo_tartanair_preset_trains_on_a_fake_tree(tmp_path: Path) -> None:
    _trajectory(tmp_path / "data" / "env" / "Easy" / "P000", 6)
    config = tiny_config("patchvo-tartanair", tmp_path / "runs", steps=2,
                         data=dict(root=str(tmp_path / "data"), clip_frames=4, num_workers=0),
                         loss=dict(structure_warmup_steps=1))
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, width=0.125))
    run = train(config)
    assert (run / "checkpoints" / "last.pt").is_file()
