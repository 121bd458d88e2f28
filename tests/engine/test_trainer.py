import dataclasses
import math
import os
import signal

import jaxtyping
import pytest
import torch
from tests.engine.kitti_fake import make_kitti_raw_tree
from tests.engine.tiny import tiny_config

from vokit.engine import load_checkpoint, train
from vokit.engine.checkpoint import list_checkpoints
from vokit.engine.config_io import load_config
from vokit.engine.logger import read_scalars
from vokit.engine.trainer import StepInfo, TrainingInterrupted
from vokit.errors import VokitError
from vokit.methods.registry import get_method


@pytest.fixture
def unchecked_shapes():
    """Switch off the suite's runtime jaxtyping checks inside long training loops.

    The checks wrap every vokit function call and make a 20-step loop 4x slower; the nets, losses and methods tests
    run the very same functions with the checks on.
    """
    before = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", before)


class Recorder:
    """Collects losses and (optionally) interrupts training after a given step."""

    def __init__(self, stop_at: int | None = None, how: str = "keyboard") -> None:
        self.losses: dict[int, float] = {}
        self.last: StepInfo | None = None
        self.stop_at = stop_at
        self.how = how

    def __call__(self, info: StepInfo) -> None:
        self.losses[info.step] = info.loss
        self.last = info
        if info.step == self.stop_at:
            if self.how == "keyboard":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)


def _outputs(model, images):
    model.eval()
    with torch.no_grad():
        out = [model.depth(images), model.pose_net(images, images.flip(-1))]
        if hasattr(model, "flow_net"):
            out.append(model.flow_net(images, images.flip(-1)).flow)
    return out


@pytest.mark.parametrize("preset", ["monodepth2-synthetic", "coopnet-synthetic"])
def test_twenty_step_smoke_on_an_overfit_clip(preset: str, tmp_path, unchecked_shapes) -> None:
    config = tiny_config(preset, tmp_path)
    rec = Recorder()
    run_dir = train(config, on_step=rec)
    losses = [rec.losses[k] for k in range(1, 21)]
    assert all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first, f"loss did not decrease: {losses}"
    # run folder: config, scalars, TensorBoard, checkpoints
    assert load_config(run_dir) == config
    logged = read_scalars(run_dir)
    assert [r["step"] for r in logged] == [5, 10, 15, 20]
    assert logged[-1]["train/loss"] == pytest.approx(losses[-1])
    assert {"train/lr", "train/grad_norm", "train/steps_per_s", "loss/total"} <= set(logged[0])
    if preset.startswith("coopnet"):  # synthetic clips carry motion masks: the target metric is monitored
        assert {"stats/motion_iou", "apportion/lambda_rigid"} <= set(logged[0])
    assert any((run_dir / "tb").iterdir())
    assert [s for s, _ in list_checkpoints(run_dir)] == [10, 20]
    # checkpoint save -> load gives identical outputs
    assert rec.last is not None
    loaded, loaded_config = load_checkpoint(run_dir)
    assert loaded_config == config
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    for a, b in zip(_outputs(rec.last.model, images), _outputs(loaded, images), strict=True):
        assert torch.equal(a, b)


def _resume_config(tmp_path, name: str):
    return tiny_config(
        "coopnet-synthetic", tmp_path, steps=10,
        data=dict(sequence_frames=5, hflip_prob=0.5, color_jitter_prob=0.5),
        optim=dict(schedule="cosine", warmup_steps=2, grad_clip_norm=1.0),
        loss=dict(apportion_every=2, apportion_history=3),
        train=dict(run_name=name, checkpoint_every=4, keep_checkpoints=2),
        log=dict(log_every=1, image_every=0),
    )


def test_kill_and_resume_reproduces_the_uninterrupted_run(tmp_path, unchecked_shapes) -> None:
    straight = Recorder()
    train(_resume_config(tmp_path, "straight"), on_step=straight)

    # Ctrl-C inside step 5's callback: the checkpoint of step 5 is written before the exception leaves train()
    first = Recorder(stop_at=5, how="keyboard")
    config = _resume_config(tmp_path, "interrupted")
    with pytest.raises(TrainingInterrupted) as stop:
        train(config, on_step=first)
    assert stop.value.step == 5
    run_dir = stop.value.run_dir
    assert [s for s, _ in list_checkpoints(run_dir)] == [4, 5]

    # resumed from the run folder, then stopped by SIGTERM after step 8, resumed again to the end
    second = Recorder(stop_at=8, how="sigterm")
    resume = dataclasses.replace(config, train=dataclasses.replace(config.train, resume=str(run_dir)))
    with pytest.raises(TrainingInterrupted) as stop:
        train(resume, on_step=second)
    assert stop.value.step == 8 and "SIGTERM" in str(stop.value)
    third = Recorder()
    assert train(resume, on_step=third) == run_dir

    assert sorted(first.losses) == [1, 2, 3, 4, 5]
    assert sorted(second.losses) == [6, 7, 8] and sorted(third.losses) == [9, 10]
    resumed = {**first.losses, **second.losses, **third.losses}
    for step in range(1, 11):
        assert resumed[step] == pytest.approx(straight.losses[step], abs=1e-6, rel=0), step
    assert straight.last is not None and third.last is not None
    a, b = straight.last.model.state_dict(), third.last.model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    logged = read_scalars(run_dir)
    assert [r["step"] for r in logged] == list(range(1, 11))
    assert [s for s, _ in list_checkpoints(run_dir)] == [8, 10]


def test_refuses_to_overwrite_or_resume_past_the_end(tmp_path) -> None:
    config = tiny_config("monodepth2-synthetic", tmp_path, steps=2, train=dict(run_name="done"))
    run_dir = train(config)
    with pytest.raises(VokitError, match="--resume"):
        train(config)
    resume = dataclasses.replace(config, train=dataclasses.replace(config.train, resume=str(run_dir)))
    with pytest.raises(VokitError, match="--train.steps"):
        train(resume)
    with pytest.raises(VokitError, match="not found"):
        train(dataclasses.replace(config, train=dataclasses.replace(config.train, resume=str(tmp_path / "x"))))


def test_non_finite_loss_stops_with_a_clear_error(tmp_path, monkeypatch) -> None:
    method = get_method("monodepth2")
    real_step = method.training_step

    def poisoned(model, batch, step, want_images, settings):
        out = real_step(model, batch, step, want_images, settings)
        return dataclasses.replace(out, loss=out.loss * float("nan")) if step == 2 else out

    monkeypatch.setattr(method, "training_step", poisoned)
    with pytest.raises(VokitError, match="non-finite loss at step 3"):
        train(tiny_config("monodepth2-synthetic", tmp_path, steps=5))


def test_coopnet_kitti_trains_on_a_fake_kitti_raw_tree(tmp_path) -> None:
    root = make_kitti_raw_tree(tmp_path / "kitti_raw")
    config = tiny_config("coopnet-kitti", tmp_path / "runs", steps=2, data=dict(root=str(root), num_workers=0))
    rec = Recorder()
    run_dir = train(config, on_step=rec)
    assert sorted(rec.losses) == [1, 2] and all(math.isfinite(v) for v in rec.losses.values())
    assert load_config(run_dir).data.source == "kitti-raw"


def test_missing_kitti_data_is_a_vokit_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("VOKIT_DATA_ROOT", raising=False)
    with pytest.raises(VokitError, match="--data"):
        train(tiny_config("coopnet-kitti", tmp_path, steps=2))
    assert not any(tmp_path.iterdir())  # nothing written for a run that could not start


def test_init_weights_start_a_new_run_from_trained_weights(tmp_path, unchecked_shapes) -> None:
    first = Recorder()
    run_a = train(tiny_config("monodepth2-synthetic", tmp_path, steps=2, train=dict(run_name="a")), on_step=first)
    second = Recorder()
    config = tiny_config("monodepth2-synthetic", tmp_path, steps=1, optim=dict(lr=1e-12),
                         train=dict(run_name="b", init_weights=str(run_a)))
    run_b = train(config, on_step=second)
    assert first.last is not None and second.last is not None
    a, b = first.last.model.state_dict(), second.last.model.state_dict()
    for key in a:
        if a[key].is_floating_point() and "running" not in key:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-9)
    assert [s for s, _ in list_checkpoints(run_b)] == [1]
    bad = tiny_config("coopnet-synthetic", tmp_path, steps=1, train=dict(run_name="c", init_weights=str(run_a)))
    with pytest.raises(VokitError, match="init-weights"):
        train(bad)


def test_imagenet_weights_initialise_both_encoders(tmp_path) -> None:
    from vokit.engine.trainer import _load_imagenet
    from vokit.methods.monodepth2 import Monodepth2Model
    from vokit.nets.resnet import ResNetEncoder

    torch.manual_seed(1)
    imagenet = {k: v for k, v in ResNetEncoder(width=1.0).state_dict().items() if "num_batches" not in k}
    imagenet["fc.weight"] = torch.zeros(10, 512)
    torch.save(imagenet, tmp_path / "resnet18.pth")
    model = Monodepth2Model(width=1.0, input_size=(64, 64))
    _load_imagenet(model, str(tmp_path / "resnet18.pth"))
    depth_enc, pose_enc = model.depth_net.encoder.state_dict(), model.pose_net.encoder.state_dict()
    for key, value in imagenet.items():
        if key.startswith("fc."):
            continue
        assert torch.equal(depth_enc[key], value), key
        if key != "conv1.weight":
            assert torch.equal(pose_enc[key], value), key
    torch.testing.assert_close(pose_enc["conv1.weight"], torch.cat([imagenet["conv1.weight"]] * 2, dim=1) / 2)
    with pytest.raises(VokitError, match="width 1.0"):
        _load_imagenet(Monodepth2Model(width=0.25, input_size=(64, 64)), str(tmp_path / "resnet18.pth"))
    with pytest.raises(VokitError, match="not found"):
        _load_imagenet(model, str(tmp_path / "missing.pth"))
