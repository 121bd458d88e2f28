"""DRO networks: the feature-metric cost, pose parameterisations, convex upsampling and the schedule."""

import pytest
import torch

from vokit.data.synthetic import SyntheticWorld, split_seed
from vokit.geometry import lie
from vokit.nets.dro import DRONet, DROSchedule
from vokit.nets.dro_blocks import PoseInputEncoder, SepConvGRU, convex_upsample, head
from vokit.nets.dro_cost import euler_to_quat, feature_cost, update_pose, vector_to_se3

IDENTITY = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])


def test_cost_is_the_hand_computed_feature_residual_of_a_one_pixel_shift() -> None:
    # constant depth 2, fx 10: tx = 0.2 moves every pixel by fx tx / z = 1 pixel to the right in the reference
    gen = torch.Generator().manual_seed(0)
    f0, f1 = torch.rand(1, 5, 4, 6, generator=gen), torch.rand(1, 5, 4, 6, generator=gen)
    pose = torch.tensor([[0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    cost = feature_cost(f0, f1, torch.full((1, 4, 6), 0.5), pose, torch.tensor([[10.0, 10.0, 2.5, 1.5]]))
    expected = torch.empty_like(f0)
    expected[..., :-1] = (f0[..., :-1] - f1[..., 1:]) ** 2
    expected[..., -1] = f0[..., -1] ** 2  # lands outside the reference: zero padding reads 0
    # projection in float32: coordinates off by ~1e-6 px, residuals in [0, 1]
    torch.testing.assert_close(cost, expected, atol=1e-5, rtol=0)


def test_cost_vanishes_with_ground_truth_depth_and_pose_on_rendered_frames() -> None:
    sequence = SyntheticWorld("room", 6, split_seed("test", 0), 96, 128).as_sequence()
    clip = sequence.clip([2, 4])
    poses = clip.world_from_cam.double()
    ref_from_target = lie.se3_compose(lie.se3_inverse(poses[1]), poses[0])[None].float()
    depth = clip.depth[0][None]
    valid = depth > 0
    depth = torch.where(valid, depth, torch.ones_like(depth))
    target, ref, intr = clip.images[0][None], clip.images[1][None], clip.intrinsics[0][None]
    true_cost = feature_cost(target, ref, 1.0 / depth, ref_from_target, intr).mean(dim=1)
    nudged = lie.se3_compose(lie.se3_exp(torch.tensor([[0.05, 0.0, 0.0, 0.0, 0.02, 0.0]])), ref_from_target)
    wrong_cost = feature_cost(target, ref, 1.0 / depth, nudged, intr).mean(dim=1)
    warped_in = valid & (true_cost > 0)
    # rendering is not exactly Lambertian and occlusions / resampling leave a few pixels: the median is ~0
    assert true_cost[warped_in].median() < 2e-3
    assert true_cost[warped_in].median() < 0.1 * wrong_cost[warped_in].median()


def test_euler_quaternion_is_rx_ry_rz() -> None:
    angles = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    c, s = angles.cos(), angles.sin()
    rx = torch.tensor([[1, 0, 0], [0, c[0], -s[0]], [0, s[0], c[0]]], dtype=torch.float64)
    ry = torch.tensor([[c[1], 0, s[1]], [0, 1, 0], [-s[1], 0, c[1]]], dtype=torch.float64)
    rz = torch.tensor([[c[2], -s[2], 0], [s[2], c[2], 0], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(lie.quat_to_matrix(euler_to_quat(angles)), rx @ ry @ rz, atol=1e-12, rtol=0)


def test_pose_updates_additive_and_se3_retraction() -> None:
    v = torch.tensor([0.1, -0.2, 0.3, 0.05, -0.1, 0.2], dtype=torch.float64)
    d = torch.tensor([0.01, 0.02, -0.03, 0.01, 0.0, -0.02], dtype=torch.float64)
    torch.testing.assert_close(update_pose(v, d, "additive"), v + d)
    updated = vector_to_se3(update_pose(v, d, "se3"), "se3")
    expected = lie.se3_compose(lie.se3_exp(d), lie.se3_exp(v))
    assert torch.allclose(updated[:3], expected[:3], atol=1e-12)
    assert torch.allclose(lie.quat_positive(updated[3:]), lie.quat_positive(expected[3:]), atol=1e-12)


def test_convex_upsampling_with_a_centre_mask_repeats_and_stays_in_the_neighbour_range() -> None:
    coarse = torch.rand(2, 1, 3, 4)
    logits = torch.full((2, 9, 8, 8, 3, 4), -1e4)
    logits[:, 4] = 0.0  # all weight on the centre neighbour
    fine = convex_upsample(coarse, logits.flatten(1, 3))
    torch.testing.assert_close(fine, coarse.repeat_interleave(8, dim=2).repeat_interleave(8, dim=3))
    mixed = convex_upsample(coarse, torch.randn(2, 576, 3, 4))
    assert mixed.min() >= coarse.min() - 1e-6 and mixed.max() <= coarse.max() + 1e-6


@pytest.mark.parametrize(("version", "stages", "steps", "hidden", "inter", "outputs"), [
    ("it12-h", 3, 4, 128, False, 4),
    ("it8-seq4-inter-out", 2, 4, 64, True, 9),
    ("it12-h-out", 3, 4, 128, False, 4),
    ("it6-seq2", 3, 2, 64, False, 4),
])
def test_schedule_versions(version: str, stages: int, steps: int, hidden: int, inter: bool, outputs: int) -> None:
    schedule = DROSchedule.from_version(version)
    assert (schedule.stages, schedule.steps, schedule.hidden, schedule.inter) == (stages, steps, hidden, inter)
    assert schedule.num_outputs == outputs and schedule.iterations == stages * steps


@pytest.mark.parametrize("version", ["it10", "it12-x", "h-it12", "it0"])
def test_bad_schedule_versions(version: str) -> None:
    with pytest.raises(ValueError):
        DROSchedule.from_version(version)


def _tiny(schedule: DROSchedule, pose_update: str = "additive") -> DRONet:
    torch.manual_seed(0)
    return DRONet(schedule, width=0.125, feature_dim=8, context_dim=8, pose_update=pose_update,  # type: ignore[arg-type]
                  input_size=(32, 48))


def _inputs(views: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return (torch.rand(2, 3, 32, 48, generator=gen), torch.rand(2, views, 3, 32, 48, generator=gen),
            torch.tensor([[40.0, 40.0, 24.0, 16.0]] * 2))


@pytest.mark.parametrize(("inter", "pose_update"), [(False, "additive"), (True, "se3")])
def test_outputs_per_stage_or_per_step(inter: bool, pose_update: str) -> None:
    net = _tiny(DROSchedule(stages=2, steps=3, hidden=16, inter=inter), pose_update)
    out = net(*_inputs(views=3))
    k = 7 if inter else 3
    assert len(out.inv_depths) == k and out.inv_depths[0].shape == (2, 32, 48)
    assert out.poses.shape == (2, 3, k, 7) and out.pose_vecs.shape == (2, 3, k, 6)
    assert all(((1 / d) <= net.max_depth * (1 + 1e-5)).all() and ((1 / d) >= net.min_depth * (1 - 1e-5)).all()
               for d in out.inv_depths)


@pytest.mark.parametrize("detach", [True, False])
def test_stage_boundaries_detach_depth_and_pose(detach: bool) -> None:
    net = _tiny(DROSchedule(stages=2, steps=2, hidden=16, detach_stages=detach))
    out = net(*_inputs())
    (out.inv_depths[-1].sum() + out.pose_vecs[:, :, -1].sum()).backward()
    init_grads = [p.grad for p in [*net.init_depth.parameters(), *net.init_pose.parameters()]]
    gru_grad = next(net.depth_gru.parameters()).grad
    assert gru_grad is not None and gru_grad.abs().sum() > 0
    if detach:  # the initial heads feed the final iterate only through the values detached at stage 1
        assert all(g is None or g.abs().sum() == 0 for g in init_grads)
    else:
        assert any(g is not None and g.abs().sum() > 0 for g in init_grads)


def test_pose_gru_step_learns_to_move_a_perturbed_pose_toward_the_truth() -> None:
    """Toy: random textures seen from the identity; the estimate starts off by a random 6-vector.

    The pose input encoder, one separable-GRU step and the pose head (the pieces of ``DRONet``'s pose update) are
    trained for a few Adam steps to map (cost, estimate) to an update; afterwards one step must cut the error on new
    draws.
    """
    torch.manual_seed(0)
    channels, hidden = 8, 16
    encoder, gru, pose_head = PoseInputEncoder(channels, hidden), SepConvGRU(hidden, hidden), head(hidden, hidden, 6)
    params = [*encoder.parameters(), *gru.parameters(), *pose_head.parameters()]
    optim = torch.optim.Adam(params, lr=3e-3)
    intr = torch.tensor([[20.0, 20.0, 8.0, 6.0]])

    def step(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        feats = torch.rand(n, channels, 12, 16, generator=gen)
        start = 0.1 * (2 * torch.rand(n, 6, generator=gen) - 1)
        cost = feature_cost(feats, feats, torch.full((n, 12, 16), 0.5), vector_to_se3(start, "additive"),
                            intr.expand(n, -1))
        h = gru(torch.zeros(n, hidden, 12, 16), encoder(cost, start))
        return start, update_pose(start, 0.1 * pose_head(h).mean(dim=(2, 3)), "additive")

    with torch.no_grad():
        _, untrained = step(64, torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(1)
    for _ in range(60):
        _, updated = step(8, gen)
        loss = updated.abs().mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    with torch.no_grad():
        start, updated = step(64, torch.Generator().manual_seed(2))
    # measured: 0.031 after against 0.050 before the step (seeded)
    assert updated.abs().mean() < 0.75 * start.abs().mean()
    assert updated.abs().mean() < untrained.abs().mean()


def test_saturated_depth_state_is_clamped_but_keeps_its_gradient() -> None:
    net = _tiny(DROSchedule(stages=1, steps=1, hidden=16))
    raw = torch.tensor([-0.5, 0.5, 1.5], requires_grad=True)
    inv = net.inv_depth_of(raw)
    lo, hi = 1 / net.max_depth, 1 / net.min_depth
    torch.testing.assert_close(inv.detach(), torch.tensor([lo, 0.5 * (lo + hi), hi]))
    inv.sum().backward()
    assert raw.grad is not None and (raw.grad > 0).all()  # d inv / d raw = 1 / min - 1 / max everywhere
