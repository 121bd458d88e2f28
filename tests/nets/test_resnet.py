import pytest
import torch

from vokit.nets.resnet import ResNetEncoder, scaled_channels


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _resnet_param_count(channels: list[int], blocks: list[int], in_ch: int) -> int:
    """Closed-form parameter count of a BasicBlock ResNet without the classifier (convs + batch norm)."""
    total = in_ch * channels[0] * 49 + 2 * channels[0]
    prev = channels[0]
    for stage, (n, ch) in enumerate(zip(blocks, channels[1:], strict=True)):
        for b in range(n):
            cin = prev if b == 0 else ch
            total += cin * ch * 9 + 2 * ch + ch * ch * 9 + 2 * ch
            if b == 0 and (stage > 0 or cin != ch):
                total += cin * ch + 2 * ch
        prev = ch
    return total


def test_resnet18_parameter_count_matches_the_standard_network():
    encoder = ResNetEncoder(18, width=1.0)
    # torchvision's resnet18 has 11,689,512 parameters, 513,000 of them in the 1000-class classifier
    assert _count(encoder) == 11_689_512 - 513_000
    pose_encoder = ResNetEncoder(18, width=1.0, num_input_images=2)
    assert _count(pose_encoder) == _count(encoder) + 64 * 3 * 49


@pytest.mark.parametrize("width", [0.25, 0.5])
@pytest.mark.parametrize("num_layers", [18, 34])
def test_width_scales_parameters(width, num_layers):
    encoder = ResNetEncoder(num_layers, width=width)
    blocks = [2, 2, 2, 2] if num_layers == 18 else [3, 4, 6, 3]
    assert _count(encoder) == _resnet_param_count(scaled_channels([64, 64, 128, 256, 512], width), blocks, 3)
    assert encoder.num_ch_enc == scaled_channels([64, 64, 128, 256, 512], width)


@pytest.mark.parametrize("size", [(64, 96), (96, 160), (50, 70)])
def test_feature_shapes(size):
    encoder = ResNetEncoder(18, width=0.25)
    h, w = size
    feats = encoder(torch.rand(2, 3, h, w))
    assert len(feats) == 5
    for i, f in enumerate(feats):
        stride = 2 ** (i + 1)
        assert f.shape == (2, encoder.num_ch_enc[i], -(-h // stride), -(-w // stride))
        assert torch.isfinite(f).all()


def test_input_channel_check_and_bad_options():
    with pytest.raises(ValueError):
        ResNetEncoder(18, width=0.25, num_input_images=2)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError):
        ResNetEncoder(50)
    with pytest.raises(ValueError):
        ResNetEncoder(18, width=0.0)


def test_imagenet_state_dict_loading_duplicates_first_filter():
    source = ResNetEncoder(18, width=1.0)
    state = dict(source.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    pose_encoder = ResNetEncoder(18, width=1.0, num_input_images=2)
    pose_encoder.load_imagenet_state_dict(state)
    conv1 = source.conv1.weight
    torch.testing.assert_close(pose_encoder.conv1.weight, torch.cat([conv1, conv1], 1) / 2)
    torch.testing.assert_close(pose_encoder.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    # two identical frames through the pose encoder == one frame through the source encoder
    source.eval()
    pose_encoder.eval()
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(pose_encoder(torch.cat([x, x], 1))[-1], source(x)[-1], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        ResNetEncoder(18, width=0.5).load_imagenet_state_dict(state)
