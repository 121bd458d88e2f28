import pytest
import torch

from vokit.nets.flow_net import FlowNet, local_correlation, resize_flow


def _naive_correlation(a: torch.Tensor, b: torch.Tensor, r: int) -> torch.Tensor:
    bsz, c, h, w = a.shape
    out = torch.zeros(bsz, (2 * r + 1) ** 2, h, w, dtype=a.dtype)
    for n in range(bsz):
        for y in range(h):
            for x in range(w):
                k = 0
                for dy in range(-r, r + 1):
                    for dx in range(-r, r + 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w:
                            out[n, k, y, x] = (a[n, :, y, x] * b[n, :, yy, xx]).sum() / c
                        k += 1
    return out


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_correlation_matches_naive_loop(radius, gen):
    a = torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    b = torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(local_correlation(a, b, radius), _naive_correlation(a, b, radius))


def test_correlation_peaks_at_the_true_displacement(gen):
    a = torch.randn(1, 16, 12, 12, generator=gen)
    dx, dy = 2, -1
    b = torch.roll(a, shifts=(dy, dx), dims=(2, 3))  # b(u + d) = a(u)
    cost = local_correlation(a, b, 3)
    best = cost[0, :, 4:8, 4:8].argmax(dim=0)
    assert torch.all(best == (dy + 3) * 7 + (dx + 3))


def test_correlation_gradcheck(gen):
    a = torch.randn(1, 2, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, 2, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: local_correlation(x, y, 1), (a, b))


def test_resize_flow_rescales_values():
    flow = torch.zeros(1, 2, 8, 12)
    flow[:, 0], flow[:, 1] = 1.5, -2.0
    up = resize_flow(flow, (16, 36))
    torch.testing.assert_close(up[:, 0], torch.full((1, 16, 36), 4.5))
    torch.testing.assert_close(up[:, 1], torch.full((1, 16, 36), -4.0))


@pytest.mark.parametrize(("size", "levels"), [((64, 96), 4), ((48, 80), 3), ((30, 45), 2), ((128, 128), 6)])
def test_flow_net_shapes_and_small_finite_initial_flow(size, levels):
    torch.manual_seed(0)
    net = FlowNet(width=0.25, num_levels=levels)
    pred = net(torch.rand(2, 3, *size), torch.rand(2, 3, *size))
    assert pred.flow.shape == (2, *size, 2)
    assert len(pred.flow_pyramid) == levels - 1
    for flow, level in zip(pred.flow_pyramid, range(levels, 1, -1), strict=True):
        stride = 2**level
        assert flow.shape[1:] == (-(-size[0] // stride), -(-size[1] // stride), 2)
    assert torch.isfinite(pred.flow).all()
    assert pred.flow.abs().max() < 2.0  # near-zero flow at initialisation (small final layers)


def test_flow_net_gradients_finite_and_reach_every_level():
    torch.manual_seed(0)
    net = FlowNet(width=0.25, num_levels=4)
    a = torch.rand(1, 3, 64, 64)
    b = torch.roll(a, 3, dims=-1)
    pred = net(a, b)
    (pred.flow.square().mean() + sum(f.square().mean() for f in pred.flow_pyramid)).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert net.estimators[-1].head.weight.grad.abs().sum() > 0


def test_flow_net_options():
    small = sum(p.numel() for p in FlowNet(width=0.25, num_levels=3).parameters())
    large = sum(p.numel() for p in FlowNet(width=0.5, num_levels=3).parameters())
    deeper = sum(p.numel() for p in FlowNet(width=0.25, num_levels=5).parameters())
    assert small < large and small < deeper
    with pytest.raises(ValueError):
        FlowNet(num_levels=1)
    with pytest.raises(ValueError):
        local_correlation(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), -1)
