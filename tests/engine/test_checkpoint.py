import dataclasses
import os

import pytest
import torch

from vokit.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    atomic_torch_save,
    check_finite_weights,
    export_weights,
    find_checkpoint,
    link_last_checkpoint,
    list_checkpoints,
    load_checkpoint,
    make_checkpoint,
    prune_checkpoints,
    read_checkpoint,
    remove_stale_temp_files,
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
    with pytest.raises(VokitError, match="not a vokit checkpoint"):
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


@pytest.mark.parametrize("kind", ["random", "truncated", "empty", "pickled-module"])
def test_foreign_or_damaged_weights_name_the_file_without_weights_only_advice(tmp_path, kind: str) -> None:
    file = tmp_path / "weights.pt"
    if kind == "random":
        file.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        atomic_torch_save(make_checkpoint(_tiny("monodepth2"), 1, get_method("monodepth2").build_model(
            _tiny("monodepth2"))), file)
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    elif kind == "empty":
        file.write_bytes(b"")
    else:
        torch.save(torch.nn.Linear(2, 2), file)
    for load in (read_checkpoint, load_checkpoint):
        with pytest.raises(VokitError) as err:
            load(file)
        message = str(err.value)
        assert message.startswith(f"{file}: cannot read checkpoint: not a vokit checkpoint ("), message
        assert "weights_only" not in message and "\n" not in message
        assert err.value.__cause__ is None and err.value.__suppress_context__


def _poisoned_checkpoint(tmp_path, value: float):
    config = _tiny("monodepth2")
    model = get_method("monodepth2").build_model(config)
    name = next(n for n, p in model.named_parameters() if p.ndim == 4)
    with torch.no_grad():
        dict(model.named_parameters())[name].view(-1)[3] = value
    return atomic_torch_save(make_checkpoint(config, 7, model), step_checkpoint_path(tmp_path, 7)), name


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_parameters_are_refused_naming_the_checkpoint(tmp_path, value: float) -> None:
    path, name = _poisoned_checkpoint(tmp_path, value)
    for load in (read_checkpoint, load_checkpoint, lambda p: export_weights(p, tmp_path / "out.pt")):
        with pytest.raises(VokitError, match="non-finite parameters in this checkpoint") as err:
            load(path)
        assert str(err.value).startswith(f"{path}: ") and name in str(err.value) and err.value.path == path
    assert not (tmp_path / "out.pt").exists()
    state = read_checkpoint(path, check_finite=False)  # readable on request, e.g. to inspect it
    with pytest.raises(VokitError, match="non-finite parameters"):
        check_finite_weights(state, path)
    good = make_checkpoint(_tiny("monodepth2"), 1, get_method("monodepth2").build_model(_tiny("monodepth2")))
    check_finite_weights(good, path)  # finite weights pass silently


def test_last_pt_is_a_hard_link_to_the_latest_step(tmp_path) -> None:
    for step in (1, 2):
        last = link_last_checkpoint(atomic_torch_save({"format": CHECKPOINT_FORMAT, "step": step},
                                                      step_checkpoint_path(tmp_path, step)))
        assert last == tmp_path / "checkpoints" / "last.pt"
        assert os.path.samefile(last, step_checkpoint_path(tmp_path, step))  # no second copy on disk
    assert torch.load(last, weights_only=True)["step"] == 2
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt", "step_00000001.pt",
                                                                           "step_00000002.pt"]
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1, 2]  # last.pt is not a step checkpoint
    prune_checkpoints(tmp_path, keep=1)
    assert torch.load(last, weights_only=True)["step"] == 2


def test_last_pt_falls_back_to_a_copy_without_hard_links(tmp_path, monkeypatch) -> None:
    path = atomic_torch_save({"format": CHECKPOINT_FORMAT, "step": 3}, step_checkpoint_path(tmp_path, 3))

    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    last = link_last_checkpoint(path)
    assert not os.path.samefile(last, path) and last.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pt", "step_00000003.pt"]


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    stale = [".step_00000010.pt.tmp-12345", ".last.pt.tmp-99", ".step_00000002.pt.tmp-1"]
    kept = ["step_00000005.pt", "last.pt", "notes.txt", ".step_00000010.pt.tmp-", ".step_00000010.pt.tmp-12x",
            "step_00000010.pt.tmp-12345", ".other.pt.tmp-12345", ".step_00000010.pt.tmp-12345.bak"]
    for name in stale + kept:
        (folder / name).write_bytes(b"x" * 10)
    (folder / ".step_00000011.pt.tmp-7").mkdir()  # a folder with the pattern's name is not a temp file
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*kept, ".step_00000011.pt.tmp-7"])
    assert remove_stale_temp_files(tmp_path / "missing") == []
