import math

import numpy as np
import pytest
import torch
from tests.losses.scenes import INTRINSICS, depth_to_sigmoid, pose, sigmoid_pyramid

from vokit.geometry import warp
from vokit.losses.coopnet import (
    GradientApportionment,
    coopnet_loss,
    fit_error_mixture,
    rigid_flow_consistency,
    rms_gradient,
    weighted_median,
)
from vokit.losses.monodepth2 import disp_to_depth

H, W = 32, 48


# ---------------------------------------------------------------- weighted median


def _numpy_weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1], side="left")])


def test_weighted_median_matches_numpy_and_minimises_l1(gen):
    values = torch.randn(6, 31, generator=gen, dtype=torch.float64)
    values[0, :10] = values[0, 10]  # ties
    weights = torch.rand(6, 31, generator=gen, dtype=torch.float64)
    weights[1, ::2] = 0.0  # zero weights are ignored
    weights[2] = 1.0  # unweighted
    got = weighted_median(values, weights)
    for row in range(6):
        v, w = values[row].numpy(), weights[row].numpy()
        assert got[row].item() == pytest.approx(_numpy_weighted_median(v, w), abs=0)
        objectives = np.abs(v[None, :] - np.append(v, got[row].item())[:, None]) @ w
        assert objectives[-1] <= objectives[:-1].min() + 1e-12
    torch.testing.assert_close(got[2], values[2].median())


def test_weighted_median_zero_weights_fall_back_to_median(gen):
    values = torch.randn(1, 9, generator=gen)
    torch.testing.assert_close(weighted_median(values, torch.zeros(1, 9)), values.median(dim=1).values)
    with pytest.raises(ValueError):
        weighted_median(values, -torch.ones(1, 9))


# ---------------------------------------------------------------- mixture


def _laplace(shape: tuple[int, ...], scale: float, gen: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=gen, dtype=torch.float64) - 0.5
    return (-scale * torch.sign(u) * torch.log1p(-2 * u.abs())).float()


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_mixture_finds_planted_moving_region(gen):
    diff = _laplace((2, 64, 80), 0.01, gen) + 0.003
    planted = torch.zeros(2, 64, 80, dtype=torch.bool)
    planted[0, 10:30, 20:45] = True
    planted[1, 40:60, 5:20] = True
    diff[planted] = 0.1 + 0.4 * torch.rand(int(planted.sum()), generator=gen)
    fit = fit_error_mixture(diff)
    assert _iou(fit.motion_mask > 0.5, planted) > 0.9
    torch.testing.assert_close(fit.mu, torch.full((2,), 0.003), atol=2e-3, rtol=0)
    torch.testing.assert_close(fit.scale, torch.full((2,), 0.01), atol=0, rtol=0.2)
    fraction = planted.flatten(1).float().mean(1)
    torch.testing.assert_close(fit.outlier_weight, fraction, atol=0.03, rtol=0)


def test_mixture_stays_empty_without_moving_region(gen):
    diff = _laplace((2, 64, 80), 0.02, gen)
    fit = fit_error_mixture(diff)
    assert (fit.motion_mask > 0.5).float().mean() < 0.005
    assert torch.all(fit.outlier_weight <= 0.05)


def test_mixture_empty_for_nearly_constant_differences(gen):
    diff = 1e-7 * torch.randn(2, 32, 32, generator=gen)
    fit = fit_error_mixture(diff)
    assert (fit.motion_mask > 0.5).float().mean() < 0.005


def test_flow_failures_are_not_motion(gen):
    diff = _laplace((1, 40, 40), 0.01, gen)
    diff[0, 5:15, 5:15] = -0.3  # flow is worse: not a moving object
    fit = fit_error_mixture(diff)
    assert fit.responsibility[0, 5:15, 5:15].min() > 0.5
    assert fit.motion_mask[0, 5:15, 5:15].max() == 0


def test_mixture_respects_valid_mask_and_has_no_gradient(gen):
    diff = _laplace((1, 20, 20), 0.01, gen).requires_grad_(True)
    valid = torch.ones(1, 20, 20, dtype=torch.bool)
    valid[0, :, :5] = False
    fit = fit_error_mixture(diff, valid)
    assert not fit.motion_mask.requires_grad
    assert fit.responsibility[~valid].abs().max() == 0 and fit.motion_mask[~valid].abs().max() == 0
    constant = fit_error_mixture(torch.zeros(1, 8, 8))
    assert torch.isfinite(constant.scale).all() and constant.motion_mask.abs().max() == 0


# ---------------------------------------------------------------- hybrid loss


def _scene(gen: torch.Generator, moving: bool):
    """Target built from a random previous frame by rigid flow (plus a moving box); the next frame is unrelated."""
    source_prev = torch.rand(1, 3, H, W, generator=gen)
    source_next = torch.rand(1, 3, H, W, generator=gen)
    sigmoid = torch.full((1, 1, H, W), float(depth_to_sigmoid(torch.tensor(4.0))))
    depth = disp_to_depth(sigmoid)[:, 0]
    prev_from_tgt = pose((0.2, 0.0, 0.0))[None]  # lateral: constant rigid flow of 2 px
    next_from_tgt = pose((-0.2, 0.0, 0.0))[None]
    flow_prev, _ = warp.rigid_flow(depth, prev_from_tgt, INTRINSICS)
    box = torch.zeros(1, H, W, dtype=torch.bool)
    if moving:
        box[0, 8:22, 12:30] = True
        flow_prev = flow_prev + box[..., None] * torch.tensor([4.0, 2.0])
    target, _ = warp.flow_warp(source_prev, flow_prev)
    flow_next, _ = warp.rigid_flow(depth, next_from_tgt, INTRINSICS)
    return dict(
        target=target,
        sources=torch.stack([source_prev, source_next], 1),
        sigmoid_outs=sigmoid_pyramid(sigmoid),
        src_from_tgt=torch.stack([prev_from_tgt, next_from_tgt], 1),
        flows=torch.stack([flow_prev, flow_next], 1),
        intrinsics=INTRINSICS,
    ), box


@pytest.mark.parametrize("use_automask", [True, False])
def test_hybrid_loss_zero_for_perfect_reconstruction(use_automask, gen):
    inputs, _ = _scene(gen, moving=False)
    result = coopnet_loss(**inputs, use_automask=use_automask, generator=torch.Generator().manual_seed(0))
    assert result.total.abs() < 1e-4
    assert result.consistency.abs() < 1e-4 and result.flow_smoothness.abs() < 1e-6
    assert (result.mixture.motion_mask > 0.5).sum() == 0


def test_hybrid_loss_masks_a_planted_moving_object(gen):
    inputs, box = _scene(gen, moving=True)
    result = coopnet_loss(**inputs, use_automask=False)
    detected = result.mixture.motion_mask > 0.5
    # the 3x3 SSIM window widens the object's error footprint by one pixel: detected = box dilated by 1 px
    dilated = torch.nn.functional.max_pool2d(box[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0
    assert torch.all(detected[box]) and not torch.any(detected & ~dilated)
    assert _iou(detected, box) > 0.75
    assert result.flow_photometric < 1e-4
    unmasked = result.rigid_error.mean()
    assert result.rigid < 0.3 * unmasked
    # the consistency term ignores the moving object, where flow and rigid flow disagree by design
    assert result.consistency < 0.05 * (4 + 2) * box.float().mean()


def test_unmasked_rigid_term_counts_the_moving_object(gen):
    inputs, box = _scene(gen, moving=True)
    masked = coopnet_loss(**inputs, use_automask=False)
    unmasked = coopnet_loss(**inputs, use_automask=False, mask_rigid=False)
    torch.testing.assert_close(unmasked.rigid, masked.rigid_error.mean())  # one scale, no auto-mask: plain mean
    assert unmasked.rigid > 3 * masked.rigid
    torch.testing.assert_close(unmasked.mixture.motion_mask, masked.mixture.motion_mask)
    torch.testing.assert_close(unmasked.consistency, masked.consistency)  # still masked by the mixture


def test_total_is_the_documented_weighted_sum(gen):
    inputs, _ = _scene(gen, moving=True)
    inputs["flows"] = inputs["flows"] + 0.5 * torch.randn(inputs["flows"].shape, generator=gen)
    r = coopnet_loss(**inputs, lambda_rigid=2.0, consistency_weight=0.05, flow_smoothness_weight=0.3)
    expected = 2.0 * r.rigid + r.flow_photometric + 0.05 * r.consistency + 1e-3 * r.depth_smoothness
    expected = expected + 0.3 * r.flow_smoothness
    torch.testing.assert_close(r.total, expected)
    torch.testing.assert_close(r.flow_task, r.flow_photometric + 0.05 * r.consistency)


def test_consistency_gradient_only_reaches_flow_when_detached(gen):
    inputs, _ = _scene(gen, moving=False)
    depth_param = torch.full((1, H, W), 4.0, requires_grad=True)
    flows = (inputs["flows"] + 1.0).requires_grad_(True)
    mask = torch.zeros(1, H, W)
    one_way = rigid_flow_consistency(flows, depth_param, inputs["src_from_tgt"], INTRINSICS, mask)
    grad_depth, grad_flow = torch.autograd.grad(one_way, [depth_param, flows], allow_unused=True)
    assert grad_depth is None or grad_depth.abs().max() == 0
    assert grad_flow is not None and grad_flow.abs().sum() > 0
    two_way = rigid_flow_consistency(
        flows, depth_param, inputs["src_from_tgt"], INTRINSICS, mask, detach_rigid_flow=False
    )
    (grad_depth,) = torch.autograd.grad(two_way, [depth_param])
    assert grad_depth.abs().sum() > 0
    # masked-out (moving) pixels do not count
    full_mask = rigid_flow_consistency(flows, depth_param, inputs["src_from_tgt"], INTRINSICS, torch.ones(1, H, W))
    assert full_mask == 0


@pytest.mark.parametrize("flow_kind", ["zero", "out_of_view", "random"])
def test_gradients_finite_everywhere(flow_kind, gen):
    inputs, _ = _scene(gen, moving=True)
    if flow_kind == "zero":
        flows = torch.zeros_like(inputs["flows"])
    elif flow_kind == "out_of_view":
        flows = torch.full_like(inputs["flows"], 3.0 * W)
    else:
        flows = 5 * torch.randn(inputs["flows"].shape, generator=gen)
    flows.requires_grad_(True)
    sigmoids = [torch.rand(s.shape, generator=gen).requires_grad_(True) for s in inputs["sigmoid_outs"]]
    poses = inputs["src_from_tgt"].clone().requires_grad_(True)
    inputs.update(flows=flows, sigmoid_outs=sigmoids, src_from_tgt=poses)
    result = coopnet_loss(**inputs, detach_rigid_flow=False)
    assert torch.isfinite(result.total)
    result.total.backward()
    for tensor in [flows, poses, *sigmoids]:
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


# ---------------------------------------------------------------- gradient apportionment


def test_gradient_apportionment_scripted_sequence():
    ga = GradientApportionment(history_size=3)
    assert ga.lambda_rigid == 1.0
    assert ga.update(1.0, 1.0, 2.0) == pytest.approx(2.0)  # rho = 2 / 1, history [2]
    assert ga.update(1.0, 3.0, 400.0) == pytest.approx(11.0)  # rho = 200 clipped to 10 * 2 = 20, mean(2, 20)
    assert ga.update(2.0, 2.0, 0.0) == pytest.approx((2 + 20 + 1.1) / 3)  # rho = 0 clipped up to 11 / 10
    lam = ga.lambda_rigid
    assert ga.update(1.0, 1.0, 1.0) == pytest.approx((20 + 1.1 + 1.0) / 3)  # oldest value leaves the history
    assert list(ga.history) == pytest.approx([20.0, 1.1, 1.0])
    assert lam != ga.lambda_rigid
    assert ga.last_gradients == (1.0, 1.0, 1.0)
    before = ga.lambda_rigid
    assert ga.update(float("nan"), 1.0, 1.0) == before  # ignored
    assert len(ga.history) == 3


def test_gradient_apportionment_bounds_and_schedule():
    ga = GradientApportionment(max_lambda=5.0)
    for _ in range(20):
        ga.update(1e-9, 1e-9, 1.0)
    assert ga.lambda_rigid == 5.0
    low = GradientApportionment()
    for _ in range(60):
        low.update(1.0, 1.0, 0.0)
    assert low.lambda_rigid == pytest.approx(0.01)
    assert len(low.history) == 50
    assert [GradientApportionment(interval=20).should_update(s) for s in (0, 19, 20, 21, 40)] == [
        False,
        False,
        True,
        False,
        True,
    ]
    copy = GradientApportionment()
    copy.load_state_dict(low.state_dict())
    assert copy.lambda_rigid == low.lambda_rigid and list(copy.history) == list(low.history)
    with pytest.raises(ValueError):
        GradientApportionment(interval=0)


def test_rms_gradient_matches_closed_form(gen):
    weight = torch.randn(4, 5, generator=gen, requires_grad=True)
    x = torch.randn(4, 5, generator=gen)
    loss = (weight * x).sum()
    assert rms_gradient(loss, weight) == pytest.approx(float(x.norm() / math.sqrt(20)), rel=1e-6)
    loss.backward()  # the graph was kept
    other = torch.zeros(3, requires_grad=True)
    assert rms_gradient((weight * x).sum(), other) == 0.0


def test_half_precision_network_outputs_are_upcast(gen):
    inputs, _ = _scene(gen, moving=False)
    inputs.update(
        sigmoid_outs=[s.half() for s in inputs["sigmoid_outs"]],
        flows=inputs["flows"].half(),
        src_from_tgt=inputs["src_from_tgt"].half(),
    )
    result = coopnet_loss(**inputs)
    assert result.total.dtype == torch.float32 and torch.isfinite(result.total)
    assert result.total < 0.05
