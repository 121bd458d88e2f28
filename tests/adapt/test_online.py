"""The online procedure (METHODS.md section 7.5) and online feature alignment (section 7.4)."""

import copy

import pytest
import torch

from vokit.adapt.alignment import DEFAULT_LAYERS, FeatureAlignment, LayerStats, feature_statistics, source_statistics
from vokit.adapt.online import AdaptSettings, OnlineAdapter
from vokit.adapt.window import VOState, run_window, window_loss
from vokit.data.synthetic import make_sequence
from vokit.losses.monodepth2 import Monodepth2LossParams
from vokit.methods.monodepth2 import Monodepth2Model
from vokit.nets.convlstm import RecurrentDepthNet, RecurrentPoseNet

SIZE = (64, 96)
NO_NOISE = Monodepth2LossParams(use_automask=False)  # auto-masking draws noise; the checks compare losses exactly


def _frames(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    seq = make_sequence("street", n_frames=n, seed=3, height=SIZE[0], width=SIZE[1])
    return torch.stack([seq.image(i) for i in range(n)]), seq.intrinsics[:n].float()


def _model(recurrent: bool = False) -> Monodepth2Model:
    torch.manual_seed(0)
    model = Monodepth2Model(width=0.0625, num_scales=2, input_size=SIZE, pose_rotation_scale=0.001)
    if recurrent:
        model.depth_net = RecurrentDepthNet(width=0.0625, scales=(0, 1))  # type: ignore[assignment]
        model.pose_net = RecurrentPoseNet(width=0.0625, rotation_scale=0.001)  # type: ignore[assignment]
    return model.eval()


@pytest.mark.parametrize("recurrent", [False, True])
def test_one_adaptation_step_lowers_the_window_loss(recurrent: bool) -> None:
    model = _model(recurrent)
    images, intrinsics = _frames(5)
    window = images[None], intrinsics[None]

    def loss() -> float:
        with torch.no_grad():
            return float(window_loss(model, run_window(model, window[0]), window[0], window[1], NO_NOISE))

    before = loss()
    adapter = OnlineAdapter(model, AdaptSettings(steps=1, lr=1e-3, optimizer="sgd", window=5, loss=NO_NOISE))
    steps = [adapter.step(images[k], intrinsics[k]) for k in range(5)]
    assert [s.window_loss is None for s in steps] == [True] * 4 + [False]
    assert steps[-1].window_loss == pytest.approx(before, rel=1e-5)  # the loss of the same window, before the step
    assert loss() < before


def test_predictions_come_before_adaptation_and_shapes() -> None:
    model = _model()
    frozen = copy.deepcopy(model)
    images, intrinsics = _frames(6)
    adapter = OnlineAdapter(model, AdaptSettings(steps=2, lr=1e-3, window=3, every=1))
    steps = [adapter.step(images[k], intrinsics[k]) for k in range(6)]
    assert steps[0].cam_from_prev is None and all(s.cam_from_prev is not None for s in steps[1:])
    assert steps[0].depth.shape == SIZE
    # frames 0-2 are predicted before any step: identical to the frozen model
    with torch.no_grad():
        want = frozen.depth(images[:3])
    torch.testing.assert_close(torch.stack([s.depth for s in steps[:3]]), want, rtol=1e-5, atol=1e-5)
    # the weights changed from frame 3 on, and the original model object is the one adapted
    assert not torch.equal(model.depth_net.decoder.heads["0"].conv.weight,
                           frozen.depth_net.decoder.heads["0"].conv.weight)
    assert [s.window_loss is None for s in steps] == [True, True, False, False, False, False]


def test_every_and_zero_steps() -> None:
    images, intrinsics = _frames(6)
    adapter = OnlineAdapter(_model(), AdaptSettings(steps=1, window=3, every=2))
    losses = [adapter.step(images[k], intrinsics[k]).window_loss for k in range(6)]
    assert [x is None for x in losses] == [True, True, False, True, False, True]
    model = _model(recurrent=True)
    before = copy.deepcopy(model.state_dict())
    adapter = OnlineAdapter(model, AdaptSettings(steps=0, window=3))
    for k in range(4):
        adapter.step(images[k], intrinsics[k])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert adapter.state.depth is not None and adapter.state.pose is not None  # the memories carry
    assert not adapter.state.depth.hidden.requires_grad
    adapter.reset()
    assert adapter.state == VOState() and len(adapter.window) == 0


def test_recurrent_online_prediction_equals_one_window_pass() -> None:
    model = _model(recurrent=True)
    for net in (model.depth_net, model.pose_net):
        torch.nn.init.normal_(net.memory.mix.weight, std=0.5)  # type: ignore[union-attr]
    images, intrinsics = _frames(4)
    adapter = OnlineAdapter(model, AdaptSettings(steps=0, window=3))
    steps = [adapter.step(images[k], intrinsics[k]) for k in range(4)]
    with torch.no_grad():
        out = run_window(model, images[None])
    rel = torch.stack([s.cam_from_prev for s in steps[1:]])  # type: ignore[misc]
    torch.testing.assert_close(rel, out.cam_next_from_cam[0], rtol=1e-5, atol=1e-6)


def test_feature_alignment_statistics_per_layer_and_reset() -> None:
    model = _model()
    images, _ = _frames(3)
    nets = model.depth_net, model.pose_net
    source = source_statistics(model, [(images[:2], images[1:3])])
    assert set(source) == set(DEFAULT_LAYERS)
    channels = model.depth_net.encoder.num_ch_enc
    assert source["depth_net.encoder.layer3"].mean.shape == (channels[3],)
    # source statistics are the per-channel statistics over all images and pixels
    feats = model.depth_net.encoder(images[:2])
    want = feature_statistics(feats[2])
    torch.testing.assert_close(source["depth_net.encoder.layer2"].mean, want.mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(source["depth_net.encoder.layer2"].var, want.var, rtol=1e-4, atol=1e-5)

    shifted = {k: LayerStats(v.mean + 1.0, v.var * 4.0) for k, v in source.items()}
    alignment = FeatureAlignment(shifted, momentum=0.1)
    alignment.attach(model)
    with torch.no_grad():
        aligned = nets[0].encoder(images[:1])
    first = dict(alignment.target)
    assert set(first) == set(DEFAULT_LAYERS) - {k for k in DEFAULT_LAYERS if k.startswith("pose_net")}
    # initialised from the first frame: its aligned layer4 has the source's mean and variance
    stats = feature_statistics(aligned[4])
    torch.testing.assert_close(stats.mean, shifted["depth_net.encoder.layer4"].mean, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(stats.var, shifted["depth_net.encoder.layer4"].var, rtol=1e-2, atol=1e-3)
    with torch.no_grad():
        nets[0].encoder(images[1:2])
    layer = "depth_net.encoder.layer1"
    alignment.detach()
    with torch.no_grad():
        plain = feature_statistics(nets[0].encoder(images[1:2])[1])
    torch.testing.assert_close(alignment.target[layer].mean, 0.9 * first[layer].mean + 0.1 * plain.mean,
                               rtol=1e-4, atol=1e-6)
    alignment.attach(model)
    alignment.updating = False
    with torch.no_grad():
        nets[0].encoder(images[2:3])
    frozen_mean = alignment.target[layer].mean.clone()
    with torch.no_grad():
        nets[0].encoder(images[0:1])
    assert torch.equal(alignment.target[layer].mean, frozen_mean)  # not updating: statistics stay
    alignment.reset()
    assert alignment.target == {}
    alignment.detach()
    with torch.no_grad():
        again = nets[0].encoder(images[:1])
    torch.testing.assert_close(again[4], feats[4][:1], rtol=1e-4, atol=1e-5)  # detached: plain features
