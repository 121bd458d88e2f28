"""CoopNet's flow photometric options: UFlow census error and forward-backward occlusion masking."""

import pytest
import torch
from tests.losses.scenes import INTRINSICS, depth_to_sigmoid, pose, sigmoid_pyramid

from vokit.geometry import warp
from vokit.losses.coopnet import coopnet_loss, flow_reconstruction_errors, masked_min_flow_error
from vokit.losses.monodepth2 import disp_to_depth

H, W = 32, 48


def _smooth_noise(gen: torch.Generator) -> torch.Tensor:
    coarse = torch.rand(1, 3, H // 4, W // 4, generator=gen)
    return 0.1 + 0.8 * torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)


def _scene(gen: torch.Generator) -> dict[str, torch.Tensor | list[torch.Tensor]]:
    """Target = previous frame warped by a constant 2 px rigid flow; the next frame is unrelated."""
    source_prev, source_next = _smooth_noise(gen), _smooth_noise(gen)
    sigmoid = torch.full((1, 1, H, W), float(depth_to_sigmoid(torch.tensor(4.0))))
    depth = disp_to_depth(sigmoid)[:, 0]
    prev_from_tgt, next_from_tgt = pose((0.2, 0.0, 0.0))[None], pose((-0.2, 0.0, 0.0))[None]
    flow_prev, _ = warp.rigid_flow(depth, prev_from_tgt, INTRINSICS)
    flow_next, _ = warp.rigid_flow(depth, next_from_tgt, INTRINSICS)
    target, _ = warp.flow_warp(source_prev, flow_prev)
    return dict(
        target=target,
        sources=torch.stack([source_prev, source_next], 1),
        sigmoid_outs=sigmoid_pyramid(sigmoid),
        src_from_tgt=torch.stack([prev_from_tgt, next_from_tgt], 1),
        flows=torch.stack([flow_prev, flow_next], 1),
        intrinsics=INTRINSICS,
    )


def test_masked_min_flow_error_matches_a_loop(gen):
    errors = torch.rand(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    valid = torch.rand(2, 3, 5, 6, generator=gen) > 0.5
    loss, pixel_valid = masked_min_flow_error(errors, valid)
    values = []
    for b in range(2):
        for v in range(5):
            for u in range(6):
                kept = [float(errors[b, s, v, u]) for s in range(3) if valid[b, s, v, u]]
                assert bool(pixel_valid[b, v, u]) == bool(kept)
                if kept:
                    values.append(min(kept))
    assert float(loss) == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_occlusion_mask_leaves_out_pixels_leaving_the_frame(gen):
    inputs = _scene(gen)
    flows = inputs["flows"]
    assert isinstance(flows, torch.Tensor)
    plain = coopnet_loss(**inputs, generator=torch.Generator().manual_seed(0))
    masked = coopnet_loss(**inputs, flows_backward=-flows, generator=torch.Generator().manual_seed(0))
    # constant +-2 px flows: a pixel is occluded in a source only where u + F(u) leaves the image
    u = torch.arange(W, dtype=torch.float32)
    inside = [(u + flows[0, s, 0, :, 0] >= 0) & (u + flows[0, s, 0, :, 0] <= W - 1) for s in range(2)]
    errors = flow_reconstruction_errors(inputs["target"], inputs["sources"], flows)[0]
    valid = torch.stack([inside[s].expand(H, W) for s in range(2)], 0)
    expected = torch.where(valid, errors, torch.full_like(errors, float("inf"))).min(0).values
    assert bool(masked.flow_valid.all())  # every pixel stays inside one of the two sources
    assert float(masked.flow_photometric) == pytest.approx(float(expected.mean()), rel=1e-5)
    assert plain.flow_valid.all()
    # the mixture and the rigid term do not see the occlusion mask
    assert torch.equal(masked.mixture.motion_mask, plain.mixture.motion_mask)
    assert float(masked.rigid) == float(plain.rigid)


def test_census_flow_term_is_zero_for_the_true_flow_despite_a_brightness_change(gen):
    inputs = _scene(gen)
    target = inputs["target"]
    assert isinstance(target, torch.Tensor)
    brighter = {**inputs, "target": target + 0.1}
    census = coopnet_loss(**brighter, flow_photometric="census", generator=torch.Generator().manual_seed(0))
    ssim_l1 = coopnet_loss(**brighter, generator=torch.Generator().manual_seed(0))
    # the previous frame reconstructs the target exactly up to +0.1: census ignores it (float32 round-off only)
    assert float(census.flow_photometric) < 1e-3
    assert float(ssim_l1.flow_photometric) > 0.01
    assert not census.flow_valid[:, :3].any() and census.flow_valid[:, 3:-3, 3:-3].all()  # census border
    # the mixture keeps comparing SSIM + L1 errors
    assert torch.equal(census.mixture.motion_mask, ssim_l1.mixture.motion_mask)


def test_census_flow_term_gradient_reaches_the_flows_and_prefers_the_true_flow(gen):
    inputs = _scene(gen)
    flows = inputs["flows"]
    assert isinstance(flows, torch.Tensor)
    wrong = (flows + torch.tensor([1.5, -1.0])).requires_grad_(True)
    result = coopnet_loss(**{**inputs, "flows": wrong}, flow_photometric="census", flows_backward=-wrong.detach(),
                          generator=torch.Generator().manual_seed(0))
    truth = coopnet_loss(**inputs, flow_photometric="census", flows_backward=-flows,
                         generator=torch.Generator().manual_seed(0))
    assert float(truth.flow_photometric) < 1e-3 < float(result.flow_photometric.detach())
    (grad,) = torch.autograd.grad(result.flow_photometric, wrong)
    assert torch.isfinite(grad).all() and grad[:, 0].abs().sum() > 0
