"""The online-meta method: registered, recurrent networks, meta-training smoke run, inference with memories."""

import math
from pathlib import Path

import jaxtyping
import pytest
import torch
from tests.engine.tiny import tiny_config

from vokit.data.synthetic import make_sequence
from vokit.engine import load_checkpoint, train
from vokit.engine.presets import get_preset
from vokit.engine.trainer import StepInfo
from vokit.methods.monodepth2 import Monodepth2Model
from vokit.methods.online_meta import OnlineMetaModel, from_monodepth2
from vokit.methods.registry import get_method
from vokit.nets.convlstm import RecurrentDepthNet, RecurrentPoseNet


@pytest.fixture
def unchecked_shapes():  # type: ignore[no-untyped-def]
    """Runtime jaxtyping checks off inside the training loop (as tests/engine/test_trainer.py does)."""
    before = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", before)


def test_preset_and_registration() -> None:
    config = get_preset("online-meta-synthetic")
    assert config.model.method == "online-meta" and config.data.clip_frames == 10
    method = get_method("online-meta")
    model = method.build_model(method.settings_type(width=0.0625), (64, 96))
    assert isinstance(model.depth_net, RecurrentDepthNet) and isinstance(model.pose_net, RecurrentPoseNet)


@pytest.mark.slow
def test_twenty_step_meta_training_smoke(tmp_path: Path, unchecked_shapes: None) -> None:
    config = tiny_config("online-meta-synthetic", tmp_path, data=dict(clip_frames=6, sequence_frames=6))
    losses: dict[int, float] = {}
    last: list[StepInfo] = []

    def record(info: StepInfo) -> None:
        losses[info.step] = info.loss
        last[:] = [info]

    run_dir = train(config, on_step=record)
    values = [losses[k] for k in range(1, 21)]
    assert all(math.isfinite(v) for v in values)
    assert sum(values[-5:]) < sum(values[:5]), f"outer loss did not decrease: {values}"
    loaded, _ = load_checkpoint(run_dir)
    assert isinstance(loaded, OnlineMetaModel)
    # inference carries the memories through the sequence
    sequence = make_sequence("street", n_frames=4, seed=1, height=64, width=96)
    prediction = get_method("online-meta").infer(loaded, sequence, show_progress=False)
    assert prediction.depth is not None and prediction.depth.shape == (4, 64, 96)
    assert prediction.world_from_cam.shape == (4, 7) and bool(torch.isfinite(prediction.world_from_cam).all())


def test_monodepth2_start_gives_identical_predictions() -> None:
    torch.manual_seed(0)
    plain = Monodepth2Model(width=0.0625, num_scales=1, input_size=(64, 96)).eval()
    model = from_monodepth2(OnlineMetaModel(width=0.0625, num_scales=1, input_size=(64, 96)), plain).eval()
    images = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model.depth_net(images)[0][0], plain.depth_net(images)[0], rtol=0, atol=0)
        torch.testing.assert_close(model.pose_net(images, images.flip(0))[0], plain.pose_net(images, images.flip(0)),
                                   rtol=0, atol=0)


def test_one_second_order_step_reaches_every_network() -> None:
    from vokit.methods.batch import ClipBatch
    from vokit.methods.online_meta import OnlineMetaSettings, training_step

    torch.manual_seed(0)
    model = OnlineMetaModel(width=0.0625, num_scales=1, input_size=(64, 64), pose_rotation_scale=0.001)
    for net in (model.depth_net, model.pose_net):
        torch.nn.init.normal_(net.memory.mix.weight, std=0.1)
    sequence = make_sequence("street", n_frames=6, seed=2, height=64, width=64)
    images = torch.stack([sequence.image(i) for i in range(6)])[None]
    batch = ClipBatch(images=images, net_images=images, intrinsics=sequence.intrinsics[None].float())
    out = training_step(model, batch, OnlineMetaSettings(num_scales=1))
    out.loss.backward()
    assert math.isfinite(float(out.loss.detach())) and float(out.scalars["loss/inner"]) > 0
    for name in ("depth_net.memory.lstm.gates.weight", "pose_net.memory.lstm.gates.weight",
                 "depth_net.decoder.heads.0.conv.weight", "pose_net.decoder.out.weight"):
        grad = model.get_parameter(name).grad
        assert grad is not None and float(grad.abs().sum()) > 0, name


def test_clips_must_hold_two_windows() -> None:
    from vokit.methods.batch import ClipBatch
    from vokit.methods.online_meta import OnlineMetaSettings, training_step

    model = OnlineMetaModel(width=0.0625, num_scales=1, input_size=(64, 64))
    images = torch.rand(1, 5, 3, 64, 64)
    batch = ClipBatch(images=images, net_images=images, intrinsics=torch.ones(1, 5, 4))
    with pytest.raises(ValueError, match="2N >= 6"):
        training_step(model, batch, OnlineMetaSettings())
