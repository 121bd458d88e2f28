import pytest
import torch

from vokit.nets import depth_decoder
from vokit.nets.depth_decoder import DepthDecoder, DepthNet, disp_to_depth


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_decoder_parameter_count_closed_form():
    enc = [64, 64, 128, 256, 512]
    dec = [16, 32, 64, 128, 256]
    expected = 0
    for i in range(5):
        cin = enc[4] if i == 4 else dec[i + 1]
        expected += cin * dec[i] * 9 + dec[i]
        skip = enc[i - 1] if i > 0 else 0
        expected += (dec[i] + skip) * dec[i] * 9 + dec[i]
    expected += sum(dec[s] * 9 + 1 for s in range(4))
    assert _count(DepthDecoder(enc)) == expected
    # monodepth2's ResNet-18 depth model: about 14.8M parameters (11.18M encoder + 3.15M decoder)
    assert 3.0e6 < expected < 3.3e6


@pytest.mark.parametrize("size", [(64, 96), (96, 160), (48, 80)])
@pytest.mark.parametrize("width", [0.25, 0.5])
def test_depth_net_output_shapes(size, width):
    net = DepthNet(width=width)
    h, w = size
    outs = net(torch.rand(2, 3, h, w))
    assert len(outs) == 4
    for s, out in enumerate(outs):
        assert out.shape == (2, 1, h // 2**s, w // 2**s)
        assert torch.all((out > 0) & (out < 1))


def test_scales_subset_and_gradients():
    net = DepthNet(width=0.25, scales=(0, 2))
    x = torch.rand(1, 3, 64, 64)
    outs = net(x)
    assert [o.shape[-1] for o in outs] == [64, 16]
    sum(o.mean() for o in outs).backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    with pytest.raises(ValueError):
        DepthNet(scales=(4,))


def test_width_scales_parameter_count():
    full, half = _count(DepthNet(width=1.0)), _count(DepthNet(width=0.5))
    assert 0.2 < half / full < 0.3  # convolution weights scale with width^2


def test_disp_to_depth_is_reexported():
    assert depth_decoder.disp_to_depth is disp_to_depth
    assert float(disp_to_depth(torch.tensor(0.0))) == pytest.approx(100.0)
