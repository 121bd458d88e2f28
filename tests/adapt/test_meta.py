"""Meta-gradient of one inner SGD step (METHODS.md section 7.3) against finite differences, in float64."""

from collections.abc import Mapping
from typing import Any

import pytest
import torch
from torch import Tensor

from vokit.adapt.meta import Window, meta_objective, window_pair_loss_fn
from vokit.losses.monodepth2 import Monodepth2LossParams
from vokit.methods.monodepth2 import Monodepth2Model
from vokit.nets.convlstm import RecurrentDepthNet, RecurrentPoseNet

ALPHA = 0.3


def tiny_loss(theta: Mapping[str, Tensor], batch: tuple[Tensor, Tensor], carried: Any) -> tuple[Tensor, Any]:
    """A tiny recurrent regressor: h' = tanh(W x + U h), loss = mean (v . h' - y)^2; h carries over batches."""
    x, y = batch
    h = torch.zeros(x.shape[0], 3, dtype=x.dtype) if carried is None else carried
    loss = x.new_zeros(())
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ theta["w"].T + h @ theta["u"].T)
        loss = loss + ((h @ theta["v"] - y[:, t]) ** 2).mean()
    return loss / x.shape[1], h


def _flat_meta_loss(flat: Tensor, shapes: dict[str, torch.Size], inner: Any, outer: Any) -> Tensor:
    theta, k = {}, 0
    for name, shape in shapes.items():
        n = int(torch.Size(shape).numel())
        theta[name] = flat[k : k + n].view(shape)
        k += n
    return meta_objective(tiny_loss, theta, inner, outer, ALPHA, second_order=True).outer


def _leaf(flat: Tensor) -> Tensor:
    return flat.detach().clone().requires_grad_(True)


def test_second_order_meta_gradient_matches_finite_differences() -> None:
    gen = torch.Generator().manual_seed(0)
    theta = {"w": torch.randn(3, 2, generator=gen, dtype=torch.float64),
             "u": torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.5,
             "v": torch.randn(3, generator=gen, dtype=torch.float64)}
    inner = (torch.randn(4, 3, 2, generator=gen, dtype=torch.float64), torch.randn(4, 3, generator=gen,
                                                                                   dtype=torch.float64))
    outer = (torch.randn(4, 3, 2, generator=gen, dtype=torch.float64), torch.randn(4, 3, generator=gen,
                                                                                   dtype=torch.float64))
    params = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    second = meta_objective(tiny_loss, params, inner, outer, ALPHA, second_order=True)
    grad2 = torch.autograd.grad(second.outer, list(params.values()))
    first = meta_objective(tiny_loss, params, inner, outer, ALPHA, second_order=False)
    grad1 = torch.autograd.grad(first.outer, list(params.values()))

    shapes = {k: v.shape for k, v in theta.items()}
    flat = torch.cat([v.flatten() for v in theta.values()])
    eps = 1e-6
    numeric = torch.stack([
        (_flat_meta_loss(_leaf(flat + eps * e), shapes, inner, outer)
         - _flat_meta_loss(_leaf(flat - eps * e), shapes, inner, outer))
        / (2 * eps)
        for e in torch.eye(flat.numel(), dtype=torch.float64)
    ]).detach()
    analytic2 = torch.cat([g.flatten() for g in grad2])
    analytic1 = torch.cat([g.flatten() for g in grad1])
    # central differences in float64: truncation ~eps^2 * f''' ~ 1e-12, round-off ~1e-16 / eps ~ 1e-10
    torch.testing.assert_close(analytic2, numeric, rtol=1e-6, atol=1e-8)
    # the first-order approximation drops the -alpha H term: measurably different here
    assert float((analytic1 - numeric).abs().max()) > 1e-3


def test_first_order_gradient_is_the_outer_gradient_at_adapted_parameters() -> None:
    gen = torch.Generator().manual_seed(1)
    params = {"w": torch.randn(3, 2, generator=gen, dtype=torch.float64, requires_grad=True),
              "u": torch.zeros(3, 3, dtype=torch.float64, requires_grad=True),
              "v": torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)}
    inner = (torch.randn(2, 2, 2, generator=gen, dtype=torch.float64), torch.randn(2, 2, generator=gen,
                                                                                   dtype=torch.float64))
    outer = (torch.randn(2, 2, 2, generator=gen, dtype=torch.float64), torch.randn(2, 2, generator=gen,
                                                                                   dtype=torch.float64))

    def no_carry(theta: Mapping[str, Tensor], batch: Any, carried: Any) -> tuple[Tensor, Any]:
        return tiny_loss(theta, batch, None)[0], None

    result = meta_objective(no_carry, params, inner, outer, ALPHA, second_order=False)
    got = torch.autograd.grad(result.outer, list(params.values()), allow_unused=True)
    inner_loss, _ = tiny_loss(params, inner, None)
    grads = torch.autograd.grad(inner_loss, list(params.values()))
    adapted = {k: (v - ALPHA * g).detach().requires_grad_(True) for (k, v), g in zip(params.items(), grads,
                                                                                        strict=True)}
    want = torch.autograd.grad(tiny_loss(adapted, outer, None)[0], list(adapted.values()), allow_unused=True)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("recurrent", [False, True])
def test_window_meta_gradient_matches_directional_difference(recurrent: bool) -> None:
    """The real window loss of a tiny depth + pose model (smooth L1-free variant), second order, float64."""
    torch.manual_seed(2)
    model = Monodepth2Model(width=0.0625, num_scales=1, input_size=(64, 64), pose_rotation_scale=0.01)
    if recurrent:
        model.depth_net = RecurrentDepthNet(width=0.0625, scales=(0,))  # type: ignore[assignment]
        model.pose_net = RecurrentPoseNet(width=0.0625, rotation_scale=0.01)  # type: ignore[assignment]
        for net in (model.depth_net, model.pose_net):
            torch.nn.init.normal_(net.memory.mix.weight, std=0.3)
    model = model.double().eval()
    # SSIM only: no L1 kink, no per-pixel minimum, no auto-mask noise
    loss_params = Monodepth2LossParams(use_automask=False, use_min_reprojection=False)
    # smooth images (sums of low-frequency waves): the kinks of bilinear sampling between texels stay tiny
    v, u = torch.meshgrid(torch.arange(64, dtype=torch.float64), torch.arange(64, dtype=torch.float64),
                          indexing="ij")
    phase = torch.rand(6, 3, 2, dtype=torch.float64) * 6.28
    frames = 0.5 + 0.2 * torch.sin(u / 7 + phase[..., 0, None, None]) * torch.cos(v / 5 + phase[..., 1, None, None])
    frames = frames[None]
    intr = torch.tensor([60.0, 60.0, 32.0, 32.0], dtype=torch.float64).expand(1, 3, 4)
    inner = Window(frames[:, :3], frames[:, :3], intr)
    outer = Window(frames[:, 3:], frames[:, 3:], intr)
    loss_fn = window_pair_loss_fn(model, loss_params)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    result = meta_objective(loss_fn, params, inner, outer, inner_lr=1.0, second_order=True)
    assert float(result.inner) > 0
    grads = torch.autograd.grad(result.outer, list(params.values()), allow_unused=True)
    direction = {k: torch.randn_like(v) for k, v in params.items()}
    analytic = sum(float((g * direction[k]).sum()) for (k, _), g in zip(params.items(), grads, strict=True)
                   if g is not None)
    first = meta_objective(loss_fn, params, inner, outer, inner_lr=1.0, second_order=False)
    grads1 = torch.autograd.grad(first.outer, list(params.values()), allow_unused=True)
    analytic1 = sum(float((g * direction[k]).sum()) for (k, _), g in zip(params.items(), grads1, strict=True)
                    if g is not None)

    def outer_at(step: float) -> float:
        theta = {k: (v.detach() + step * direction[k]).requires_grad_(True) for k, v in params.items()}
        return float(meta_objective(loss_fn, theta, inner, outer, inner_lr=1.0, second_order=True).outer.detach())

    # Bilinear sampling is piecewise linear in the sampled positions, so the inner gradient jumps where a pixel
    # crosses a texel boundary: a step of 1e-7 stays on one piece for every pixel here (1e-6 does not). Round-off:
    # 1e-16 * loss / 1e-7 ~ 1e-10, against a derivative of order 0.1.
    eps = 1e-7
    numeric = (outer_at(eps) - outer_at(-eps)) / (2 * eps)
    # (With other seeds a pixel can cross a texel boundary even at 1e-7; this seed's data stay on one piece.)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    assert abs(analytic1 - numeric) > 1e-3 * abs(numeric)  # first order misses the -alpha H term
