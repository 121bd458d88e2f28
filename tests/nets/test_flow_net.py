import pytest
import torch

from vokit.nets.flow_net import FlowNet, local_correlation, normalize_features, resize_flow


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


def test_normalize_features_gives_unit_vectors_and_ignores_common_affine_changes(gen):
    a = torch.randn(2, 5, 6, 7, generator=gen, dtype=torch.float64)
    b = torch.randn(2, 5, 6, 7, generator=gen, dtype=torch.float64)
    na, nb = normalize_features(a, b)
    torch.testing.assert_close(na.norm(dim=1), torch.ones(2, 6, 7, dtype=torch.float64))
    torch.testing.assert_close(nb.norm(dim=1), torch.ones(2, 6, 7, dtype=torch.float64))
    na2, nb2 = normalize_features(3.0 * a + 0.7, 3.0 * b + 0.7)  # same scale and offset on both maps
    torch.testing.assert_close(na2, na)
    torch.testing.assert_close(nb2, nb)


def test_normalized_cost_volume_is_the_cosine_similarity(gen):
    net = FlowNet(width=0.25, num_levels=2, radius=1)
    a = torch.randn(1, 4, 5, 6, generator=gen)
    b = torch.randn(1, 4, 5, 6, generator=gen)
    cost = net.cost_volume(a, b)
    mean = 0.5 * (a.mean() + b.mean())
    ca, cb = a - mean, b - mean
    expected = (ca[0, :, 2, 3] * cb[0, :, 3, 2]).sum() / (ca[0, :, 2, 3].norm() * cb[0, :, 3, 2].norm())
    torch.testing.assert_close(cost[0, 2 * 3 + 0, 2, 3], expected)  # displacement (dy, dx) = (1, -1)
    assert cost.abs().max() <= 1.0 + 1e-5
    raw = FlowNet(width=0.25, num_levels=2, radius=1, normalize_cost=False).cost_volume(a, b)
    torch.testing.assert_close(raw, local_correlation(a, b, 1))


def test_pyramid_features_do_not_vanish_at_initialisation():
    """He initialisation keeps activations O(1) down the pyramid (PyTorch's default shrinks them ~1/sqrt(3) a layer)."""
    torch.manual_seed(0)
    net = FlowNet(width=0.25, num_levels=6)
    feats = net.features(torch.rand(2, 3, 128, 128))
    assert all(f.std() > 0.2 for f in feats), [round(float(f.std()), 3) for f in feats]


@pytest.mark.slow
def test_flow_net_learns_global_shifts_under_supervision():
    """A from-scratch FlowNet learns to read its cost volume: supervised integer shifts of textured crops."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 80, 112, generator=gen), 3, 1, 1)  # smooth texture
    net = FlowNet(width=0.25, num_levels=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shift = torch.randint(-6, 7, (8, 2), generator=gen)
        idx = torch.randint(4, (8,), generator=gen)
        tgt = torch.stack([base[i, :, 8:56, 8:88] for i in idx])
        src = torch.stack(
            [base[i, :, 8 + dy : 56 + dy, 8 + dx : 88 + dx] for i, (dy, dx) in zip(idx, shift.tolist(), strict=True)]
        )
        return tgt, src, -shift[:, [1, 0]].float()[:, None, None, :]  # I_s(u + f) = I_t(u) => f = -(dx, dy)

    for _ in range(300):
        tgt, src, gt = batch()
        loss = (net(tgt, src).flow - gt).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        tgt, src, gt = batch()
        epe = (net(tgt, src).flow - gt).norm(dim=-1).mean()
    zero = gt.norm(dim=-1).mean()
    assert epe < 0.3 * zero, (float(epe), float(zero))
