import pytest
import torch

from vokit.geometry import lie
from vokit.nets.pose_net import PoseNet, pose_params_to_se3


def _hat(w: torch.Tensor) -> torch.Tensor:
    z = torch.zeros_like(w[..., 0])
    return torch.stack(
        [
            torch.stack([z, -w[..., 2], w[..., 1]], -1),
            torch.stack([w[..., 2], z, -w[..., 0]], -1),
            torch.stack([-w[..., 1], w[..., 0], z], -1),
        ],
        -2,
    )


def test_params_to_se3_matches_matrix_exponential(gen):
    params = torch.randn(5, 6, generator=gen, dtype=torch.float64)
    se3 = pose_params_to_se3(params)
    torch.testing.assert_close(se3[:, :3], params[:, 3:])
    torch.testing.assert_close(lie.quat_to_matrix(se3[:, 3:]), torch.linalg.matrix_exp(_hat(params[:, :3])))


@pytest.mark.parametrize("size", [(64, 96), (32, 64)])
def test_pose_net_returns_unit_quaternions_and_small_motion(size):
    net = PoseNet(width=0.25)
    a, b = torch.rand(3, 3, *size), torch.rand(3, 3, *size)
    out = net(a, b)
    assert out.shape == (3, 7)
    torch.testing.assert_close(out[:, 3:].norm(dim=-1), torch.ones(3))
    assert out[:, :3].abs().max() < 0.5  # x0.01 output scaling: small motions at initialisation


def test_src_from_tgt_orders_inputs_and_inverts_exactly():
    torch.manual_seed(0)
    net = PoseNet(width=0.25).eval()
    tgt, src = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        later = net.src_from_tgt(tgt, src, source_is_earlier=False)
        torch.testing.assert_close(later, net(tgt, src))
        earlier = net.src_from_tgt(tgt, src, source_is_earlier=True)
        round_trip = lie.se3_compose(earlier, net(src, tgt))
    torch.testing.assert_close(round_trip[:, :3], torch.zeros(1, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(round_trip[:, 3:].abs(), torch.tensor([[0.0, 0.0, 0.0, 1.0]]), atol=1e-6, rtol=0)


def test_pose_net_gradients_finite():
    net = PoseNet(width=0.25)
    out = net(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
    out.sum().backward()
    assert net.decoder.out.weight.grad is not None
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_rotation_scale_scales_only_the_axis_angle():
    torch.manual_seed(0)
    reference = PoseNet(width=0.25).eval()
    slow = PoseNet(width=0.25, rotation_scale=0.001).eval()
    slow.load_state_dict(reference.state_dict())  # the scale is a constant, not a weight: same state dict keys
    features = reference.encoder(torch.cat([torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)], dim=1))[-1]
    with torch.no_grad():
        ref_params, slow_params = reference.decoder(features), slow.decoder(features)
    torch.testing.assert_close(slow_params[:, 3:], ref_params[:, 3:])
    torch.testing.assert_close(slow_params[:, :3], 0.1 * ref_params[:, :3])


def test_rotation_scale_comes_from_the_config():
    from dataclasses import replace

    from vokit.engine.presets import get_preset
    from vokit.engine.registry import get_method

    config = get_preset("monodepth2-synthetic")
    config = replace(config, model=replace(config.model, width=0.25), data=replace(config.data, height=64, width=96))
    model = get_method(config.model.method).build_model(config)
    assert config.model.pose_rotation_scale == 0.001
    torch.testing.assert_close(model.pose_net.decoder.output_scale, torch.tensor([1e-3] * 3 + [1e-2] * 3))
