"""The ScanNet reader on a tiny fake SensReader export."""

from pathlib import Path

import pytest
import torch
from tests.data.readers.scannet_fake import CX, FX, FY, HEIGHT, WIDTH, make_scannet_scene

from vokit.data.readers.registry import detect_format, open_sequence
from vokit.data.readers.scannet import read_scannet
from vokit.errors import VokitError


def test_reads_frames_poses_depth_and_intrinsics(tmp_path: Path) -> None:
    scene = make_scannet_scene(tmp_path / "scene0000_00", bad_pose=20)
    assert detect_format(scene) == "scannet"
    seq = open_sequence(scene)
    assert len(seq) == 3 and seq.image_size == (HEIGHT, WIDTH)  # frame 20's -inf pose is dropped
    torch.testing.assert_close(seq.intrinsics[0], torch.tensor([FX, FY, CX, 23.5]))
    torch.testing.assert_close(seq.timestamps, torch.tensor([0.0, 10.0, 30.0], dtype=torch.float64) / 30.0)
    assert seq.world_from_cam is not None
    torch.testing.assert_close(seq.world_from_cam[:, 0].double(), torch.tensor([0.0, 0.1, 0.3], dtype=torch.float64))
    depth = seq.depth(2)
    assert depth is not None and depth.shape == (HEIGHT, WIDTH)  # resized from 24x32
    torch.testing.assert_close(depth, torch.full((HEIGHT, WIDTH), 1.530))
    assert read_scannet(scene, max_frames=2, use_depth=False).depth(0) is None


def test_bad_scenes_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(VokitError, match="not a ScanNet scene"):
        read_scannet(tmp_path)
    scene = make_scannet_scene(tmp_path / "a")
    (scene / "pose" / "10.txt").unlink()
    with pytest.raises(VokitError, match="10.txt"):
        read_scannet(scene)
    scene = make_scannet_scene(tmp_path / "b", numbers=(0,), bad_pose=0)
    with pytest.raises(VokitError, match="finite pose"):
        read_scannet(scene)
    scene = make_scannet_scene(tmp_path / "c")
    (scene / "intrinsic" / "intrinsic_color.txt").write_text("1 2 3\n")
    with pytest.raises(VokitError, match="intrinsic_color.txt"):
        read_scannet(scene)
