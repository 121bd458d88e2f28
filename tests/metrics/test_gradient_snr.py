"""Gradient SNR: hand-computed values, invariances, and per-sample gradients by loop and by torch.func."""

import math

import pytest
import torch
from torch.func import functional_call, grad, vmap

from vokit.errors import VokitError
from vokit.metrics import gradient_snr


def test_hand_computed_snr() -> None:
    g = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0], [2.0, -3.0]])
    # mean (2, 0); deviations 1, 1, 3, 3 -> mean 2; SNR = 2 / 2 = 1 -> 0 dB
    r = gradient_snr(g, parameter="w", step=10_000, loss_arm="weighted", seed=3)
    assert r.snr == pytest.approx(1.0) and r.snr_db == pytest.approx(0.0, abs=1e-12)
    assert (r.mean_grad_norm, r.mean_deviation, r.n_samples) == (pytest.approx(2.0), pytest.approx(2.0), 4)
    assert (r.parameter, r.step, r.loss_arm, r.seed, r.db_convention) == ("w", 10_000, "weighted", 3, "20log10")


def test_snr_is_scale_invariant_and_infinite_without_noise() -> None:
    g = torch.randn(50, 2, 384, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.3
    assert gradient_snr(7.5 * g).snr == pytest.approx(gradient_snr(g).snr, rel=1e-12)
    assert gradient_snr(g).snr_db == pytest.approx(20 * math.log10(gradient_snr(g).snr))
    assert gradient_snr(torch.ones(5, 3)).snr == math.inf
    with pytest.raises(VokitError):
        gradient_snr(torch.ones(1, 3))


def test_loop_and_vmap_per_sample_gradients_give_the_same_snr() -> None:
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)).double()
    x = torch.randn(200, 8, generator=gen, dtype=torch.float64)
    y = torch.randn(200, 2, generator=gen, dtype=torch.float64)
    loop = []
    for i in range(x.shape[0]):
        model.zero_grad()
        torch.nn.functional.mse_loss(model(x[i : i + 1]), y[i : i + 1]).backward()
        loop.append(model[2].weight.grad.clone())
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(functional_call(model, p, (xi[None],)), yi[None])

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)["2.weight"]
    a, b = gradient_snr(torch.stack(loop)), gradient_snr(per_sample)
    assert a.snr_db == pytest.approx(b.snr_db, rel=1e-6)
