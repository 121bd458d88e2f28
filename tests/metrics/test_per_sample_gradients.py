"""Per-sample gradients for the gradient SNR (METHODS.md 5.4): against vmap(grad) and a loop of backward passes."""

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from vokit.metrics.gradient_snr import gradient_snr, per_sample_gradients


def test_per_sample_gradients_match_vmap_and_a_backward_loop() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2)).double()
    x, y = torch.randn(12, 5, dtype=torch.float64), torch.randn(12, 2, dtype=torch.float64)
    params = dict(net.named_parameters())

    def loss_of(s: int) -> Tensor:
        return (net(x[s : s + 1]) - y[s : s + 1]).square().sum()

    got = per_sample_gradients(loss_of, params, 12)

    def functional_loss(p: dict[str, Tensor], xs: Tensor, ys: Tensor) -> Tensor:
        return (functional_call(net, p, (xs[None],)) - ys[None]).square().sum()

    detached = {k: v.detach() for k, v in params.items()}
    reference = vmap(grad(functional_loss), in_dims=(None, 0, 0))(detached, x, y)
    for name, p in params.items():
        torch.testing.assert_close(got.grads[name], reference[name], rtol=1e-12, atol=1e-14)
        loop = []
        for s in range(12):
            net.zero_grad()
            loss_of(s).backward()
            assert p.grad is not None
            loop.append(p.grad.clone())
        torch.testing.assert_close(got.grads[name], torch.stack(loop), rtol=0, atol=0)
        a, b = gradient_snr(got.grads[name]), gradient_snr(reference[name])
        assert abs(a.snr - b.snr) <= 1e-6 * b.snr  # the protocol's requirement on the two routes
    assert got.losses.shape == (12,)


def test_unused_parameters_get_zero_gradients() -> None:
    a, b = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    got = per_sample_gradients(lambda s: (s + 1.0) * a.sum(), {"a": a, "b": b}, 3)
    assert torch.equal(got.grads["b"], torch.zeros(3, 2, dtype=torch.float64))
    torch.testing.assert_close(got.grads["a"][:, 0], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
