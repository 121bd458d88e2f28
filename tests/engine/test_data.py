import dataclasses

import pytest
import torch
from tests.engine.kitti_fake import CX, FX, HEIGHT, WIDTH, make_kitti_raw_tree

from vokit.engine.configs import DataConfig
from vokit.engine.data import ClipDataset, ClipSpec, StepBatchSampler, build_training_data, make_loader
from vokit.engine.presets import get_preset
from vokit.errors import VokitError


def test_step_sampler_is_a_pure_function_of_seed_and_step() -> None:
    a = StepBatchSampler(50, batch_size=3, seed=5, start_step=0, total_steps=8)
    b = StepBatchSampler(50, batch_size=3, seed=5, start_step=5, total_steps=8)
    full = list(a)
    assert len(full) == len(a) == 8 and len(list(b)) == len(b) == 3
    assert list(b) == full[5:]  # a resumed sampler continues the same series
    assert full[0] != full[1]
    assert StepBatchSampler(50, 3, seed=6, start_step=0, total_steps=8).specs_for_step(0) != full[0]
    flips = [spec.hflip for step in full for spec in step]
    assert any(flips) and not all(flips)
    assert all(0 <= spec.window < 50 for step in full for spec in step)


def test_ranks_take_disjoint_slices_of_one_global_batch() -> None:
    ranks = [StepBatchSampler(40, 2, seed=1, start_step=0, total_steps=3, rank=r, world_size=3) for r in range(3)]
    glob = StepBatchSampler(40, 6, seed=1, start_step=0, total_steps=3)
    for step in range(3):
        per_rank = [r.specs_for_step(step) for r in ranks]
        assert sum(per_rank, []) == glob.specs_for_step(step)
        assert per_rank[0] != per_rank[1]


def test_kitti_raw_data_path_on_a_fake_tree(tmp_path) -> None:
    root = make_kitti_raw_tree(tmp_path / "kitti_raw")
    config = DataConfig(source="kitti-raw", root=str(root), height=64, width=96, color_jitter_prob=0.0)
    data = build_training_data(config)
    assert len(data.sequences) == 1 and len(data.sequences[0]) == 6
    # split frames 0, 1, 3, 5: 0 has no previous frame and 5 no next one, so only 1 and 3 are training targets
    assert data.windows == [(0, 0), (0, 2)]
    clip, net = ClipDataset(data, config)[ClipSpec(window=1, hflip=False, jitter_seed=0)]
    assert clip.indices.tolist() == [2, 3, 4]
    assert clip.images.shape == (3, 3, 64, 96) and torch.equal(net, clip.images)
    expected = torch.tensor([FX * 96 / WIDTH, 100.0 * 64 / HEIGHT, CX * 96 / WIDTH, 23.5 * 64 / HEIGHT])
    torch.testing.assert_close(clip.intrinsics[0], expected)
    flipped, _ = ClipDataset(data, config)[ClipSpec(window=1, hflip=True, jitter_seed=0)]
    torch.testing.assert_close(flipped.images, clip.images.flip(-1))
    torch.testing.assert_close(flipped.intrinsics[:, 2], 95 - clip.intrinsics[:, 2])


def test_kitti_split_given_as_a_file_and_from_the_environment(tmp_path, monkeypatch) -> None:
    root = make_kitti_raw_tree(tmp_path / "kitti_raw", split_frames=(2,))
    custom = tmp_path / "my_split.txt"
    custom.write_text((root / "splits" / "eigen_zhou" / "train_files.txt").read_text())
    monkeypatch.setenv("VOKIT_DATA_ROOT", str(tmp_path))
    data = build_training_data(DataConfig(source="kitti-raw", split=str(custom), height=64, width=96))
    assert data.windows == [(0, 1)]


def test_missing_kitti_data_gives_clear_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("VOKIT_DATA_ROOT", raising=False)
    config = get_preset("coopnet-kitti").data
    with pytest.raises(VokitError, match="--data"):
        build_training_data(config)
    with pytest.raises(VokitError, match="does not exist") as err:
        build_training_data(dataclasses.replace(config, root=str(tmp_path / "nowhere")))
    assert err.value.path == tmp_path / "nowhere"
    (tmp_path / "empty").mkdir()
    with pytest.raises(VokitError, match="train_files.txt"):
        build_training_data(dataclasses.replace(config, root=str(tmp_path / "empty")))
    root = make_kitti_raw_tree(tmp_path / "kitti_raw")
    (root / "splits" / "eigen_zhou" / "train_files.txt").write_text("2011_09_26/2011_09_26_drive_0009_sync 3 l\n")
    with pytest.raises(VokitError, match="drive_0009"):
        build_training_data(dataclasses.replace(config, root=str(root)))


def test_loader_batches_do_not_depend_on_workers_or_resume(tmp_path) -> None:
    root = make_kitti_raw_tree(tmp_path / "kitti_raw", n_frames=8, split_frames=(1, 2, 3, 4, 5, 6))
    config = DataConfig(source="kitti-raw", root=str(root), height=64, width=96, batch_size=2)
    data = build_training_data(config)
    full = list(make_loader(data, config, seed=3, start_step=0, total_steps=4))
    resumed = list(make_loader(data, config, seed=3, start_step=2, total_steps=4))
    assert len(full) == 4 and len(resumed) == 2
    for a, b in zip(full[2:], resumed, strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.net_images, b.net_images)
        assert torch.equal(a.intrinsics, b.intrinsics)
    assert full[0].images.shape == (2, 3, 3, 64, 96)
    assert not torch.equal(full[0].images, full[1].images)
    # colour jitter touches only the network inputs, and draws differ between clips
    assert any(not torch.equal(b.images, b.net_images) for b in full)
    state = torch.get_rng_state()
    list(make_loader(data, config, seed=3, start_step=0, total_steps=1))
    assert torch.equal(torch.get_rng_state(), state), "the loader must not consume the global torch RNG"


@pytest.mark.slow
def test_loader_with_workers_matches_in_process_loading(tmp_path) -> None:
    root = make_kitti_raw_tree(tmp_path / "kitti_raw", n_frames=8, split_frames=(1, 2, 3, 4, 5, 6))
    config = DataConfig(source="kitti-raw", root=str(root), height=64, width=96, batch_size=2)
    data = build_training_data(config)
    ref = list(make_loader(data, config, seed=3, start_step=0, total_steps=3))
    par = list(make_loader(data, dataclasses.replace(config, num_workers=2), seed=3, start_step=0, total_steps=3))
    for a, b in zip(ref, par, strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.net_images, b.net_images)


def test_synthetic_scene_mix_and_photo_textures(tmp_path) -> None:
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray((torch.rand(40, 50, 3) * 255).to(torch.uint8).numpy()).save(folder / "a.png")
    config = DataConfig(scenes=("street", "clutter", "room"), n_sequences=4, sequence_frames=3, height=32, width=64,
                        textures=str(folder))
    data = build_training_data(config)
    names = [seq.name for seq in data.sequences]
    assert [n.split("-")[1] for n in names] == ["street", "clutter", "room", "street"]
    plain = build_training_data(dataclasses.replace(config, textures=None))
    assert not torch.equal(data.sequences[1][0].image, plain.sequences[1][0].image)
    assert torch.equal(data.sequences[1][0].depth, plain.sequences[1][0].depth)
    with pytest.raises(VokitError, match="data.domain"):
        build_training_data(dataclasses.replace(config, domain="street-night"))
