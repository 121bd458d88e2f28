"""Non-finite inputs of the BA layer (issue 19): a NaN or inf weight, target or starting pose drops the edges it
touches, and every gradient stays finite, with exactly zero gradient on what was dropped (METHODS.md 3.4)."""

import dataclasses

import pytest
import torch

from vokit.solvers import ba_options, bundle_adjust
from vokit.solvers.synthetic import synthetic_ba_problem

F64 = torch.float64
BACKWARDS = ("unroll", "truncated", "implicit")
NONFINITE = (float("nan"), float("inf"), -float("inf"))
EDGE = 3  # the edge made non-finite in problem 0
BAD_POSE = 3  # a free pose (n_fixed=2)


def _problem(dtype=F64, batch=2):
    # the problem: 5 poses, 12 patches per frame, 2 fixed poses
    return synthetic_ba_problem(n_poses=5, patches_per_frame=12, noise_px=0.5, batch=batch, n_fixed=2, dtype=dtype)


def _run(p, graph, poses, depth, targets, weights, backward, opts):
    """Solve, back-propagate a random linear function of the output, return the result and the input gradients.

    The loss coefficients of a non-finite output entry are 0 (a loss that skips the NaN pose), so the loss is
    finite whenever the solve isolates the bad entries.
    """
    leaves = [x.clone().requires_grad_() for x in (poses, depth, targets, weights)]
    out = bundle_adjust(
        leaves[0],
        leaves[1],
        p.patch_uv,
        p.intrinsics,
        leaves[2],
        leaves[3],
        graph,
        options=opts,
        backward=backward,
        image_size=p.image_size,
    )
    gen = torch.Generator().manual_seed(5)
    # the same coefficients for every problem of the batch, so that a problem solved alone gets the same loss
    a = torch.randn(out.cam_from_world.shape[1:], generator=gen, dtype=F64).to(poses.dtype).expand_as(poses)
    c = torch.randn(out.inv_depth.shape[1:], generator=gen, dtype=F64).to(poses.dtype).expand_as(depth)
    a = torch.where(torch.isfinite(out.cam_from_world), a, torch.zeros_like(a))
    poses_out = torch.where(torch.isfinite(out.cam_from_world), out.cam_from_world, torch.zeros_like(a))
    loss = (a * poses_out).sum() + (c * out.inv_depth).sum()
    loss.backward()
    grads = [x.grad if x.grad is not None else torch.zeros_like(x) for x in leaves]
    return out, dict(zip(("poses", "depth", "targets", "weights"), grads, strict=True))


def _assert_all_finite(out, grads):
    assert torch.isfinite(out.cost).all()
    assert torch.isfinite(out.inv_depth).all()
    for name, g in grads.items():
        assert torch.isfinite(g).all(), f"non-finite gradient w.r.t. {name}"


def _close(a, b, tol):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("value", NONFINITE, ids=["nan", "+inf", "-inf"])
def test_nonfinite_weight_drops_its_edge(backward, value):
    """The issue's example: one NaN / +inf / -inf weight in problem 0.

    Before the fix problem 0 failed every factorisation (failures [4, 0]), did not move, had a non-finite cost and
    non-finite target and weight gradients. Now the edge is dropped: problem 0 equals the solve with that edge's
    weight set to 0 (bitwise: the same arithmetic), problem 1 equals the batch without the bad value (1e-12), every
    gradient is finite and the gradients w.r.t. the dropped weight and target are exactly 0.
    """
    p = _problem()
    g = p.graph()
    opts = ba_options("infer", iterations=4)
    bad_w = p.weights.clone()
    bad_w[0, EDGE, 0] = value
    out, grads = _run(p, g, p.cam_from_world, p.inv_depth, p.targets, bad_w, backward, opts)
    zero_w = p.weights.clone()
    zero_w[0, EDGE] = 0.0
    ref, ref_grads = _run(p, g, p.cam_from_world, p.inv_depth, p.targets, zero_w, backward, opts)
    clean, clean_grads = _run(p, g, p.cam_from_world, p.inv_depth, p.targets, p.weights, backward, opts)

    assert out.failures.tolist() == [0, 0]
    _assert_all_finite(out, grads)
    assert torch.equal(grads["weights"][0, EDGE], torch.zeros(2, dtype=F64))
    assert torch.equal(grads["targets"][0, EDGE], torch.zeros(2, dtype=F64))
    # problem 0 is the problem with the edge removed (weight 0: no contribution to any sum)
    _close(out.cam_from_world, ref.cam_from_world, 1e-12)
    _close(out.inv_depth, ref.inv_depth, 1e-12)
    _close(out.cost, ref.cost, 1e-12)
    other = torch.arange(p.targets.shape[1]) != EDGE
    for name in ("poses", "depth"):
        _close(grads[name], ref_grads[name], 1e-12)
    _close(grads["targets"][:, other], ref_grads["targets"][:, other], 1e-12)
    _close(grads["weights"][:, other], ref_grads["weights"][:, other], 1e-12)
    # problem 1 does not see problem 0's bad weight
    _close(out.cam_from_world[1], clean.cam_from_world[1], 1e-12)
    _close(out.inv_depth[1], clean.inv_depth[1], 1e-12)
    _close(out.cost[1], clean.cost[1], 1e-12)
    for name in grads:
        _close(grads[name][1], clean_grads[name][1], 1e-12)
    # and problem 0 still converges: it moved and lowered its cost like the clean problem
    assert not torch.allclose(out.cam_from_world[0], p.cam_from_world[0])
    assert out.cost[0, -1] < 0.1 * out.cost[0, 0]


def test_nonfinite_weight_equals_removing_the_edge_from_the_graph():
    """The dropped edge acts like an edge that is not in the graph at all (different layouts: 1e-10, float64)."""
    p = _problem()
    opts = ba_options("infer", iterations=4)
    bad_w = p.weights.clone()
    bad_w[:, EDGE, 1] = float("nan")
    out, grads = _run(p, p.graph(), p.cam_from_world, p.inv_depth, p.targets, bad_w, "unroll", opts)
    keep = torch.arange(p.src_idx.shape[0]) != EDGE
    cut = dataclasses.replace(
        p,
        src_idx=p.src_idx[keep],
        dst_idx=p.dst_idx[keep],
        patch_idx=p.patch_idx[keep],
        targets=p.targets[:, keep],
        weights=p.weights[:, keep],
    )
    ref, ref_grads = _run(cut, cut.graph(), cut.cam_from_world, cut.inv_depth, cut.targets, cut.weights, "unroll", opts)
    _close(out.cam_from_world, ref.cam_from_world, 1e-10)
    _close(out.inv_depth, ref.inv_depth, 1e-10)
    _close(out.cost, ref.cost, 1e-10)
    _close(grads["poses"], ref_grads["poses"], 1e-10)
    _close(grads["depth"], ref_grads["depth"], 1e-10)
    _close(grads["targets"][:, keep], ref_grads["targets"], 1e-10)
    _close(grads["weights"][:, keep], ref_grads["weights"], 1e-10)
    assert torch.equal(grads["weights"][:, EDGE], torch.zeros(2, 2, dtype=F64))


def test_nonfinite_weight_on_edge_zero_does_not_leak_into_padding():
    """Padding slots of the pair layout repeat edge 0; a NaN weight there must not reach them (NaN * 0 = NaN)."""
    p = _problem()
    keep = torch.ones(p.src_idx.shape[0], dtype=torch.bool)
    keep[torch.tensor([5, 20, 21, 40, 77, 78, 79])] = False  # uneven frame pairs: the pair rows need padding
    p = dataclasses.replace(
        p,
        src_idx=p.src_idx[keep],
        dst_idx=p.dst_idx[keep],
        patch_idx=p.patch_idx[keep],
        targets=p.targets[:, keep],
        weights=p.weights[:, keep],
    )
    g = p.graph()
    assert not bool(g.pair_valid.all())  # the layout has padding slots, all pointing at edge 0
    bad_w = p.weights.clone()
    bad_w[0, 0] = float("inf")
    zero_w = p.weights.clone()
    zero_w[0, 0] = 0.0
    opts = ba_options("train")
    out, grads = _run(p, g, p.cam_from_world, p.inv_depth, p.targets, bad_w, "unroll", opts)
    ref, _ = _run(p, g, p.cam_from_world, p.inv_depth, p.targets, zero_w, "unroll", opts)
    _assert_all_finite(out, grads)
    assert torch.equal(grads["weights"][0, 0], torch.zeros(2, dtype=F64))
    _close(out.cam_from_world, ref.cam_from_world, 1e-12)
    _close(out.inv_depth, ref.inv_depth, 1e-12)


def test_nonfinite_weight_float32_train_preset():
    """The training setting (float32, ``train``, 2 iterations, unrolled): many bad weights, finite gradients."""
    p = _problem(dtype=torch.float32)
    bad_w = p.weights.clone()
    bad_w[0, ::7, 0] = float("nan")
    bad_w[1, 1::11, 1] = float("inf")
    zero_w = torch.where(torch.isfinite(bad_w).all(-1, keepdim=True), bad_w, torch.zeros_like(bad_w))
    opts = ba_options("train")
    out, grads = _run(p, p.graph(), p.cam_from_world, p.inv_depth, p.targets, bad_w, "unroll", opts)
    ref, _ = _run(p, p.graph(), p.cam_from_world, p.inv_depth, p.targets, zero_w, "unroll", opts)
    assert out.failures.tolist() == [0, 0]
    _assert_all_finite(out, grads)
    dropped = ~torch.isfinite(bad_w).all(-1)
    assert torch.equal(grads["weights"][dropped], torch.zeros_like(grads["weights"][dropped]))
    assert torch.equal(grads["targets"][dropped], torch.zeros_like(grads["targets"][dropped]))
    torch.testing.assert_close(out.cam_from_world, ref.cam_from_world, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.inv_depth, ref.inv_depth, rtol=0, atol=1e-6)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("value", NONFINITE, ids=["nan", "+inf", "-inf"])
def test_nonfinite_target_drops_its_edge_with_zero_gradient(backward, value):
    """The pre-existing behaviour for targets, kept: a NaN / inf target drops its edge with zero gradient on it."""
    p = _problem()
    opts = ba_options("infer", iterations=4)
    bad_t = p.targets.clone()
    bad_t[0, EDGE, 1] = value
    zero_w = p.weights.clone()
    zero_w[0, EDGE] = 0.0
    out, grads = _run(p, p.graph(), p.cam_from_world, p.inv_depth, bad_t, p.weights, backward, opts)
    ref, _ = _run(p, p.graph(), p.cam_from_world, p.inv_depth, p.targets, zero_w, backward, opts)
    assert out.failures.tolist() == [0, 0]
    _assert_all_finite(out, grads)
    assert torch.equal(grads["targets"][0, EDGE], torch.zeros(2, dtype=F64))
    assert torch.equal(grads["weights"][0, EDGE], torch.zeros(2, dtype=F64))
    _close(out.cam_from_world, ref.cam_from_world, 1e-12)
    _close(out.inv_depth, ref.inv_depth, 1e-12)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("pose", [BAD_POSE, 0], ids=["free", "fixed"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_nonfinite_starting_pose(backward, pose, value):
    """A NaN / inf entry in a starting pose of problem 0.

    That pose is returned unchanged (still non-finite), every edge that touches it is dropped, and the rest of
    problem 0 is solved: it equals problem 0 with the pose made finite and the weights of its edges set to 0
    (1e-12). Problem 1's outputs and gradients equal those of problem 1 solved alone (1e-12). No failure is
    reported, the cost is finite and every gradient is finite; the gradients w.r.t. the dropped edges' targets
    and weights are exactly 0. Before the fix every factorisation of problem 0 failed (NaN normal matrix), so
    nothing in it moved, and its gradients were NaN.
    """
    p = _problem()
    g = p.graph()
    opts = ba_options("infer", iterations=4)
    bad_T = p.cam_from_world.clone()
    bad_T[0, pose, 1] = value
    out, grads = _run(p, g, bad_T, p.inv_depth, p.targets, p.weights, backward, opts)

    touches = (p.src_idx == pose) | (p.dst_idx == pose)
    assert out.failures.tolist() == [0, 0]
    _assert_all_finite(out, grads)
    torch.testing.assert_close(out.cam_from_world[0, pose], bad_T[0, pose], rtol=0, atol=0, equal_nan=True)
    assert torch.isfinite(out.cam_from_world[0, torch.arange(5) != pose]).all()
    assert torch.isfinite(out.cam_from_world[1]).all()
    assert torch.equal(grads["targets"][0, touches], torch.zeros_like(grads["targets"][0, touches]))
    assert torch.equal(grads["weights"][0, touches], torch.zeros_like(grads["weights"][0, touches]))

    # problem 0: as if the pose's edges were not there
    zero_w = p.weights.clone()
    zero_w[0, touches] = 0.0
    ref, ref_grads = _run(p, g, p.cam_from_world, p.inv_depth, p.targets, zero_w, backward, opts)
    others = torch.arange(5) != pose
    _close(out.cam_from_world[0, others], ref.cam_from_world[0, others], 1e-12)
    _close(out.inv_depth[0], ref.inv_depth[0], 1e-12)
    _close(out.cost[0], ref.cost[0], 1e-12)
    _close(grads["depth"][0], ref_grads["depth"][0], 1e-12)
    _close(grads["targets"][0], ref_grads["targets"][0], 1e-12)
    _close(grads["weights"][0, ~touches], ref_grads["weights"][0, ~touches], 1e-12)
    _close(grads["poses"][0, others], ref_grads["poses"][0, others], 1e-12)

    # problem 1 solved alone
    one = dataclasses.replace(
        p,
        **{
            f.name: getattr(p, f.name)[1:]
            for f in dataclasses.fields(p)
            if f.name not in ("src_idx", "dst_idx", "patch_idx", "free_poses", "image_size")
        },
    )
    alone, alone_grads = _run(one, g, one.cam_from_world, one.inv_depth, one.targets, one.weights, backward, opts)
    _close(out.cam_from_world[1], alone.cam_from_world[0], 1e-12)
    _close(out.inv_depth[1], alone.inv_depth[0], 1e-12)
    _close(out.cost[1], alone.cost[0], 1e-12)
    for name in grads:
        _close(grads[name][1], alone_grads[name][0], 1e-12)
