import dataclasses

import pytest
import torch

from vokit.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    atomic_torch_save,
    export_weights,
    find_checkpoint,
    list_checkpoints,
    load_checkpoint,
    make_checkpoint,
    prune_checkpoints,
    read_checkpoint,
    run_dir_of,
    step_checkpoint_path,
)
from vokit.engine.configs import DataConfig, ModelConfig
from vokit.engine.presets import get_preset
from vokit.engine.registry import get_method
from vokit.errors import VokitError


def _tiny(method: str):
    base = get_preset(f"{method}-synthetic")
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, height=64, width=96),
        model=dataclasses.replace(base.model, width=0.25, flow_width=0.25),
    )


def _outputs(model, images):
    model.eval()
    with torch.no_grad():
        out = [model.depth(images), model.pose_net(images, images.flip(0))]
        out.append(model.flow_net(images, images.flip(0)).flow)
    return out


def test_save_load_gives_identical_outputs(tmp_path) -> None:
    method = "coopnet"  # the superset bundle; the trainer tests check monodepth2 checkpoints after training
    config = _tiny(method)
    torch.manual_seed(0)
    model = get_method(method).build_model(config)
    with torch.no_grad():  # move batch-norm statistics away from their defaults
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    model.lambda_rigid.fill_(2.5)
    path = atomic_torch_save(make_checkpoint(config, 12, model), step_checkpoint_path(tmp_path, 12))
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    loaded, loaded_config = load_checkpoint(tmp_path, "cpu")  # a run folder resolves to its latest checkpoint
    assert loaded_config == config
    assert not loaded.training
    for a, b in zip(_outputs(model, images), _outputs(loaded, images), strict=True):
        assert torch.equal(a, b)
    assert float(loaded.lambda_rigid) == 2.5
    state = read_checkpoint(path)
    assert state["format"] == CHECKPOINT_FORMAT and state["step"] == 12 and "git_sha" in state["meta"]

    slim = export_weights(path, tmp_path / "weights.pt", half=True)
    assert slim.stat().st_size < 0.7 * path.stat().st_size
    half, _ = load_checkpoint(slim)
    for a, b in zip(_outputs(model, images), _outputs(half, images), strict=True):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)
    assert set(read_checkpoint(slim)) == {"format", "step", "config", "meta", "model"}


def test_atomic_save_never_leaves_a_partial_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ckpt.pt"
    atomic_torch_save({"a": torch.ones(3)}, path)

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"a": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_listing_pruning_and_finding(tmp_path) -> None:
    for step in (5, 10, 15, 20):
        atomic_torch_save({"format": CHECKPOINT_FORMAT, "step": step}, step_checkpoint_path(tmp_path, step))
    assert [s for s, _ in list_checkpoints(tmp_path)] == [5, 10, 15, 20]
    prune_checkpoints(tmp_path, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [15, 20]
    latest = step_checkpoint_path(tmp_path, 20)
    assert find_checkpoint(tmp_path) == latest == find_checkpoint(tmp_path / "checkpoints") == find_checkpoint(latest)
    assert run_dir_of(latest) == tmp_path.resolve()


def test_bad_checkpoints_raise_vokit_errors(tmp_path) -> None:
    with pytest.raises(VokitError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(VokitError, match="no checkpoints"):
        read_checkpoint(tmp_path)
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(VokitError, match="cannot read"):
        read_checkpoint(tmp_path / "garbage.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(VokitError, match="not a vokit checkpoint"):
        read_checkpoint(tmp_path / "foreign.pt")
    config = _tiny("monodepth2")
    model = get_method("monodepth2").build_model(config)
    wrong = dataclasses.replace(config, model=ModelConfig(method="monodepth2", width=0.5), data=DataConfig(height=64,
                                                                                                       width=96))
    atomic_torch_save(make_checkpoint(wrong, 1, model), tmp_path / "mismatch.pt")
    with pytest.raises(VokitError, match="do not fit"):
        load_checkpoint(tmp_path / "mismatch.pt")
