"""V2V losses (METHODS.md 5.2, 5.3): the weighted flow loss and the gradient-norm loss balancing."""

import math

import pytest
import torch
from torch import Tensor

from vokit.losses.v2v import HISTORY, LossBalancer, balanced_loss, flow_loss, gradient_norm


def _patches(e: int = 40, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_est = torch.randn(e, 3, 3, 2, generator=g, dtype=torch.float64) * 3
    x_gt = torch.randn(e, 3, 3, 2, generator=g, dtype=torch.float64) * 3
    edges = torch.rand(e, generator=g) > 0.3
    return x_est, x_gt, edges


def test_weighted_flow_loss_equals_plain_loss_with_unit_confidences() -> None:
    x_est, x_gt, edges = _patches()
    plain = (x_est - x_gt)[edges].norm(dim=-1).flatten(1).amin(1).mean()  # the section 4.5 formula
    assert torch.equal(flow_loss(x_est, x_gt, edges), plain)
    assert torch.equal(flow_loss(x_est, x_gt, edges, torch.ones(40, 2, dtype=torch.float64)), plain)


def test_weights_multiply_each_axis_inside_the_norm_and_are_detached() -> None:
    x_est = torch.zeros(1, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    x_gt = torch.zeros(1, 3, 3, 2, dtype=torch.float64)
    x_gt[..., 0], x_gt[..., 1] = 3.0, 4.0  # every pixel off by (3, 4)
    w = torch.tensor([[0.5, 0.25]], dtype=torch.float64, requires_grad=True)
    loss = flow_loss(x_est, x_gt, torch.ones(1, dtype=torch.bool), w)
    assert float(loss.detach()) == pytest.approx(math.hypot(1.5, 1.0), rel=1e-15)  # not sqrt(w . e^2), not normalised
    loss.backward()
    assert w.grad is None and x_est.grad is not None  # sg(w): no gradient to the confidences


def _toy(theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Flow, translation and rotation losses with constant gradients of norm 0.2, 3 and 0.5 on theta."""
    return 0.2 * theta[0], 3.0 * theta[1], 0.5 * theta[2]


def test_balancing_keeps_gradient_norm_ratios_at_their_targets() -> None:
    theta = torch.ones(3, dtype=torch.float64, requires_grad=True)
    balancer = LossBalancer()
    # the first ratios are clipped (at most 10x per update) or used gamma = 1; after 51 more they left the history
    for _ in range(2 * HISTORY):
        flow, tr, ro = _toy(theta)
        out = balanced_loss(flow, tr, ro, 0.1, 10.0, balancer, theta, update=True)
    flow, tr, ro = _toy(theta)
    # targets: ||grad(beta * 0.1 L_flow)|| = ||grad(10 (L_tr + gamma L_ro))|| and ||grad L_tr|| = gamma ||grad L_ro||
    g_flow = gradient_norm(out.beta * 0.1 * flow, theta)
    g_pose = gradient_norm(10.0 * (tr + out.gamma * ro), theta)
    assert out.gamma == pytest.approx(3.0 / 0.5, rel=1e-12)
    assert g_flow / g_pose == pytest.approx(1.0, rel=1e-12)
    # and the combined loss's gradient is the balanced sum of the three
    (grad,) = torch.autograd.grad(out.total, theta)
    expected = torch.tensor([out.beta * 0.1 * 0.2, 10 * 3.0, 10 * out.gamma * 0.5], dtype=torch.float64)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=0)


def test_ratios_are_clipped_to_ten_times_the_current_value_and_averaged() -> None:
    balancer = LossBalancer()
    balancer.update(g_flow=1.0, g_pose=1000.0, g_tr=1.0, g_ro=1e-9)  # g_ro floored at 1e-6
    assert float(balancer.beta) == 10.0 and float(balancer.gamma) == 10.0
    balancer.update(g_flow=1.0, g_pose=2.0, g_tr=1.0, g_ro=1.0)  # ratios 2 and 1 are inside [1, 100]
    assert float(balancer.beta) == pytest.approx(6.0) and float(balancer.gamma) == pytest.approx(5.5)
    balancer.update(g_flow=float("nan"), g_pose=1.0, g_tr=1.0, g_ro=1.0)  # ignored
    assert int(balancer.count) == 2


def test_history_keeps_the_last_entries_only() -> None:
    balancer = LossBalancer(history=3)
    for g_pose in (1.0, 2.0, 4.0, 8.0):
        balancer.update(g_flow=1.0, g_pose=g_pose, g_tr=1.0, g_ro=1.0)
    assert float(balancer.beta) == pytest.approx((2.0 + 4.0 + 8.0) / 3)


def test_without_a_balancer_the_total_is_the_reference_sum() -> None:
    flow, tr, ro = torch.tensor(2.0), torch.tensor(0.3), torch.tensor(0.1)
    out = balanced_loss(flow, tr, ro, 0.1, 10.0)
    assert float(out.total) == pytest.approx(0.1 * 2.0 + 10 * (0.3 + 0.1))
    assert (out.beta, out.gamma) == (1.0, 1.0)
