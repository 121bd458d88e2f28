import dataclasses

import pytest
import torch
from tests.solvers.reference import dense_step

from vokit.geometry.lie import se3_compose, se3_exp
from vokit.solvers import BA_PRESETS, ba_options, build_ba_graph, bundle_adjust
from vokit.solvers.synthetic import synthetic_ba_problem

F64 = torch.float64


def _exact(**kw):
    """No damping, no clamps that could bind: the GN step of the plain normal equations."""
    base = dict(
        pose_damping=0.0, rel_pose_damping=0.0, depth_damping=0.0, inv_depth_max=None, inv_depth_min=-1e9, iterations=1
    )
    base.update(kw)
    return ba_options("train", **base)


def _dense_step(p, **kw):
    """The dense float64 reference step for the first problem of ``p``."""
    return dense_step(
        p.cam_from_world[0], p.inv_depth[0], p.patch_uv[0], p.intrinsics[0], p.targets[0], p.weights[0],
        p.src_idx, p.dst_idx, p.patch_idx, p.free_poses, **kw,
    )


def _solve(p, graph, opts, mode="full", backward="unroll", **kw):
    return bundle_adjust(
        p.cam_from_world,
        p.inv_depth,
        p.patch_uv,
        p.intrinsics,
        p.targets,
        p.weights,
        graph,
        options=opts,
        mode=mode,
        backward=backward,
        **kw,
    )


def _assert_poses_close(a, b, atol):
    # q and -q are the same rotation
    sign = torch.where((a[..., 3:] * b[..., 3:]).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    torch.testing.assert_close(a[..., :3], b[..., :3], rtol=0, atol=atol)
    torch.testing.assert_close(a[..., 3:] * sign, b[..., 3:], rtol=0, atol=atol)


def _random_graph_problem(gen, n_poses=4, n_patches=30, n_edges=90, n_fixed=1):
    """A problem with an irregular random graph (uneven pair sizes, self-edges) built from a synthetic scene."""
    p = synthetic_ba_problem(
        n_poses, n_patches // n_poses + 1, obs_per_patch=n_poses - 1, n_fixed=n_fixed, noise_px=0.5, generator=gen
    )
    keep = torch.randperm(p.src_idx.shape[0], generator=gen)[:n_edges].sort().values
    self_edges = torch.arange(0, p.patch_uv.shape[1], 7)
    src = torch.cat([p.src_idx[keep], p.src_idx[keep][:0]])
    host = torch.arange(n_poses).repeat_interleave(p.patch_uv.shape[1] // n_poses)
    src = torch.cat([p.src_idx[keep], host[self_edges]])
    dst = torch.cat([p.dst_idx[keep], host[self_edges]])
    patch = torch.cat([p.patch_idx[keep], self_edges])
    from vokit.solvers.jacobians import reproject_patch

    tgt = reproject_patch(
        p.cam_from_world_gt[:, src],
        p.cam_from_world_gt[:, dst],
        p.patch_uv[:, patch],
        p.inv_depth_gt[:, patch],
        p.intrinsics[:, None],
    )
    tgt = tgt + 0.5 * torch.randn(tgt.shape, generator=gen, dtype=F64)
    wgt = 0.5 + 0.5 * torch.rand(tgt.shape, generator=gen, dtype=F64)
    return dataclasses.replace(p, src_idx=src, dst_idx=dst, patch_idx=patch, targets=tgt, weights=wgt)


@pytest.mark.parametrize("n_fixed", [1, 2])
@pytest.mark.parametrize("eps", [0.0, 0.5])
def test_schur_step_equals_dense_solve(gen, n_fixed, eps):
    p = synthetic_ba_problem(4, 8, obs_per_patch=3, n_fixed=n_fixed, noise_px=0.5, generator=gen)
    lam = 1e-4 if n_fixed == 1 else 0.0  # with one fixed pose the scale is free; lambda makes H definite
    out = _solve(p, p.graph(), _exact(pose_damping=eps, depth_damping=lam))
    T, d, _, _ = _dense_step(p, eps=eps, lam=lam)
    _assert_poses_close(out.cam_from_world[0], T, atol=1e-9)
    torch.testing.assert_close(out.inv_depth[0], d, rtol=1e-8, atol=1e-9)
    assert out.failures.tolist() == [0]


def test_schur_step_irregular_graph(gen):
    p = _random_graph_problem(gen)
    graph = p.graph()
    assert graph.pair_valid.sum() == p.src_idx.shape[0] and not bool(graph.pair_valid.all())
    out = _solve(p, graph, _exact(depth_damping=1e-3))
    T, d, _, _ = _dense_step(p, lam=1e-3)
    _assert_poses_close(out.cam_from_world[0], T, atol=1e-9)
    torch.testing.assert_close(out.inv_depth[0], d, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("mode", ["motion", "structure"])
def test_partial_modes_equal_dense_solve(gen, mode):
    p = synthetic_ba_problem(4, 8, obs_per_patch=3, noise_px=0.5, generator=gen)
    out = _solve(p, p.graph(), _exact(pose_damping=0.1, depth_damping=1e-3), mode=mode)
    T, d, _, _ = _dense_step(p, eps=0.1, lam=1e-3, mode=mode)
    _assert_poses_close(out.cam_from_world[0], T, atol=1e-9)
    torch.testing.assert_close(out.inv_depth[0], d, rtol=1e-8, atol=1e-9)
    if mode == "motion":
        torch.testing.assert_close(out.inv_depth, p.inv_depth, rtol=0, atol=0)
    else:
        torch.testing.assert_close(out.cam_from_world, p.cam_from_world, rtol=0, atol=0)


def test_relative_damping_uses_diagonal_of_reduced_system(gen):
    # (S + eps I + mu diag(S)) dxi = y: with mu > 0 the step equals the dense solve with the pose block of the
    # full matrix damped by mu * diag(S) (diag(S) computed from the dense Schur complement).
    p = synthetic_ba_problem(3, 8, obs_per_patch=2, n_fixed=1, noise_px=0.5, generator=gen)
    out = _solve(p, p.graph(), _exact(pose_damping=0.3, rel_pose_damping=0.5, depth_damping=1e-2))
    import tests.solvers.reference as ref

    f = ref.residual_fn(
        p.cam_from_world[0],
        p.inv_depth[0],
        p.patch_uv[0],
        p.intrinsics[0],
        p.targets[0],
        p.src_idx,
        p.dst_idx,
        p.patch_idx,
        p.free_poses,
    )
    nf, n_p = int(p.free_poses.sum()), p.inv_depth.shape[1]
    xi0, dd0 = torch.zeros(nf, 6, dtype=F64), torch.zeros(n_p, dtype=F64)
    r = f(xi0, dd0).reshape(-1)
    Jx, Jd = torch.func.jacrev(f, argnums=(0, 1))(xi0, dd0)
    J = -torch.cat([Jx.reshape(r.shape[0], -1), Jd.reshape(r.shape[0], -1)], 1)
    W = p.weights[0].reshape(-1)
    H, g = J.T @ (W[:, None] * J), J.T @ (W * r)
    k = 6 * nf
    B, E, C = H[:k, :k], H[:k, k:], H[k:, k:] + 1e-2 * torch.eye(n_p, dtype=F64)
    S = B - E @ torch.linalg.solve(C, E.T)
    y = g[:k] - E @ torch.linalg.solve(C, g[k:])
    dxi = torch.linalg.solve(S + torch.diag(0.3 + 0.5 * S.diagonal()), y)
    dd = torch.linalg.solve(C, g[k:] - E.T @ dxi)
    torch.testing.assert_close(out.inv_depth[0], p.inv_depth[0] + dd, rtol=1e-8, atol=1e-10)
    T = se3_compose(se3_exp(torch.cat([torch.zeros(6, dtype=F64)[None], dxi.view(nf, 6)])), p.cam_from_world[0])
    _assert_poses_close(out.cam_from_world[0], T, atol=1e-10)


@pytest.mark.parametrize("n_poses", [3, 8, 16])
def test_noise_free_problem_converges_to_ground_truth(n_poses):
    gen = torch.Generator().manual_seed(n_poses)
    p = synthetic_ba_problem(n_poses, 12, n_fixed=2, pose_noise=0.02, depth_noise=0.1, generator=gen)
    opts = ba_options("train", pose_damping=1e-6, rel_pose_damping=0.0, depth_damping=1e-8, iterations=12)
    out = _solve(p, p.graph(), opts, image_size=p.image_size)
    _assert_poses_close(out.cam_from_world, p.cam_from_world_gt, atol=1e-9)
    torch.testing.assert_close(out.inv_depth, p.inv_depth_gt, rtol=0, atol=1e-9)
    assert out.cost[:, -1].max() < 1e-16 < out.cost[:, 0].min()


def test_float32_converges(gen):
    p = synthetic_ba_problem(6, 16, n_fixed=2, dtype=torch.float32, generator=gen)
    opts = ba_options("train", pose_damping=1e-3, depth_damping=1e-6, iterations=8)
    out = _solve(p, p.graph(), opts, image_size=p.image_size)
    assert out.cam_from_world.dtype == torch.float32 and out.failures.sum() == 0
    _assert_poses_close(out.cam_from_world, p.cam_from_world_gt, atol=2e-5)
    torch.testing.assert_close(out.inv_depth, p.inv_depth_gt, rtol=0, atol=2e-4)


def test_presets_follow_methods_table():
    train, infer = BA_PRESETS["train"], BA_PRESETS["infer"]
    assert (train.pose_damping, train.rel_pose_damping, train.depth_damping) == (10.0, 1e-4, 1e-4)
    assert (infer.pose_damping, infer.rel_pose_damping, infer.depth_damping) == (1.0, 1e-4, 1e-4)
    assert (train.residual_gate_px, infer.residual_gate_px, train.margin_px, train.min_z) == (250, 128, 64, 0.2)
    assert train.iterations == infer.iterations == 2


def test_default_train_preset_reduces_cost(gen):
    p = synthetic_ba_problem(8, 16, noise_px=0.3, generator=gen)
    out = _solve(p, p.graph(), "train", image_size=p.image_size)
    assert out.iterations == 2 and out.cost.shape == (1, 2)
    assert out.cost[0, 1] < 0.2 * out.cost[0, 0]
    out = _solve(p, p.graph(), "infer", image_size=p.image_size)
    assert out.cost[0, 1] < 0.2 * out.cost[0, 0]


def test_depth_update_rules():
    p = synthetic_ba_problem(3, 4, generator=torch.Generator().manual_seed(3))
    graph = p.graph()
    # structure-only, with huge targets errors pushing depths far: train clamps to [1e-3, 10]
    far = dataclasses.replace(p, inv_depth=p.inv_depth * 0 + 9.99)
    out = _solve(far, graph, ba_options("train", iterations=1), mode="structure")
    assert out.inv_depth.max() <= 10.0 and out.inv_depth.min() >= 1e-3
    # infer: values above 20 are reset to 1, then floored at 1e-4
    d0 = torch.tensor([[25.0, 30.0, 0.5, 0.3] * 3], dtype=F64)
    out = _solve(
        dataclasses.replace(p, inv_depth=d0),
        graph,
        ba_options("infer", iterations=1, depth_damping=1e12),
        mode="structure",
    )
    torch.testing.assert_close(out.inv_depth[0, :2], torch.ones(2, dtype=F64))
    torch.testing.assert_close(out.inv_depth[0, 2:4], d0[0, 2:4], rtol=1e-9, atol=1e-9)


def test_invalid_edges_are_ignored(gen):
    p = synthetic_ba_problem(4, 6, obs_per_patch=3, noise_px=0.3, generator=gen)
    opts = _exact(pose_damping=0.1, depth_damping=1e-3)
    ref = _solve(p, p.graph(), opts)
    # an edge with a residual above the 250 px gate counts as removed
    tgt = p.targets.clone()
    tgt[0, 0] += 300.0
    big = dataclasses.replace(p, targets=tgt)
    gated = _solve(big, p.graph(), opts)
    keep = torch.arange(p.src_idx.shape[0]) != 0
    removed = dataclasses.replace(
        p,
        src_idx=p.src_idx[keep],
        dst_idx=p.dst_idx[keep],
        patch_idx=p.patch_idx[keep],
        targets=p.targets[:, keep],
        weights=p.weights[:, keep],
    )
    ref_removed = _solve(removed, removed.graph(), opts)
    torch.testing.assert_close(gated.inv_depth, ref_removed.inv_depth, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gated.cam_from_world, ref_removed.cam_from_world, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(gated.inv_depth, ref.inv_depth)
    # a small image: edges whose reprojection leaves (-64, w + 64) x (-64, h + 64) count as removed
    from vokit.solvers.jacobians import reproject_patch

    uv = reproject_patch(
        p.cam_from_world[:, p.src_idx],
        p.cam_from_world[:, p.dst_idx],
        p.patch_uv[:, p.patch_idx],
        p.inv_depth[:, p.patch_idx],
        p.intrinsics[:, None],
    )[0]
    inside = ((uv > -64) & (uv < torch.tensor([40.0 + 64, 30.0 + 64], dtype=F64))).all(-1)
    assert 0 < int(inside.sum()) < inside.numel()
    out = _solve(p, p.graph(), opts, image_size=(30, 40))
    cut = dataclasses.replace(
        p,
        src_idx=p.src_idx[inside],
        dst_idx=p.dst_idx[inside],
        patch_idx=p.patch_idx[inside],
        targets=p.targets[:, inside],
        weights=p.weights[:, inside],
    )
    ref_cut = _solve(cut, cut.graph(), opts)
    torch.testing.assert_close(out.cam_from_world, ref_cut.cam_from_world, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(out.inv_depth, ref_cut.inv_depth, rtol=1e-9, atol=1e-10)
    # a patch whose transferred point has Z <= 0.2 in every observing frame counts as removed
    from vokit.solvers.jacobians import reproject_patch_with_jacobian

    mine = p.patch_idx == 0
    for value in (-1e3, 1e3, -1e4, 1e4):
        d = torch.where(torch.arange(p.inv_depth.shape[1]) == 0, value, p.inv_depth)
        valid = reproject_patch_with_jacobian(
            p.cam_from_world[:, p.src_idx],
            p.cam_from_world[:, p.dst_idx],
            p.patch_uv[:, p.patch_idx],
            d[:, p.patch_idx],
            p.intrinsics[:, None],
        ).valid
        if not bool(valid[0, mine].any()):
            break
    assert not bool(valid[0, mine].any())
    out = _solve(dataclasses.replace(p, inv_depth=d), p.graph(), opts)
    cut = dataclasses.replace(
        p,
        src_idx=p.src_idx[~mine],
        dst_idx=p.dst_idx[~mine],
        patch_idx=p.patch_idx[~mine],
        targets=p.targets[:, ~mine],
        weights=p.weights[:, ~mine],
    )
    ref_cut = _solve(cut, cut.graph(), opts)
    torch.testing.assert_close(out.cam_from_world, ref_cut.cam_from_world, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(out.inv_depth[:, 1:], ref_cut.inv_depth[:, 1:], rtol=1e-9, atol=1e-10)
    assert out.inv_depth[0, 0] == value


def test_singular_problem_stays_finite_with_damping():
    # one free camera, all points on one ray of the host: the pose is unobservable without damping
    n_p = 20
    T = torch.tensor([[[0, 0, 0, 0, 0, 0, 1.0], [0.1, 0, 0, 0, 0, 0, 1.0]]], dtype=F64)
    uv = torch.tensor([80.0, 60.0], dtype=F64).expand(1, n_p, 2)
    d = torch.linspace(0.2, 0.6, n_p, dtype=F64)[None]
    src, dst, patch = torch.zeros(n_p, dtype=torch.long), torch.ones(n_p, dtype=torch.long), torch.arange(n_p)
    graph = build_ba_graph(src, dst, patch, torch.tensor([False, True]), n_p)
    intr = torch.tensor([[80.0, 80.0, 80.0, 60.0]], dtype=F64)
    tgt = torch.tensor([85.0, 61.0], dtype=F64).expand(1, n_p, 2)
    wgt = torch.ones(1, n_p, 2, dtype=F64)
    for preset in ("train", "infer"):
        out = bundle_adjust(T, d, uv, intr, tgt, wgt, graph, options=ba_options(preset, iterations=3))
        assert torch.isfinite(out.cam_from_world).all() and torch.isfinite(out.inv_depth).all()
        assert out.failures.tolist() == [0]


def test_failed_factorisation_gives_zero_step_and_zero_gradients(gen):
    p = synthetic_ba_problem(4, 6, noise_px=0.5, batch=2, generator=gen)
    tgt = p.targets.clone().requires_grad_()
    opts = ba_options("train", pose_damping=-1e9, iterations=1)  # negative definite: Cholesky must fail
    out = bundle_adjust(
        p.cam_from_world, p.inv_depth, p.patch_uv, p.intrinsics, tgt, p.weights, p.graph(), options=opts
    )
    assert out.failures.tolist() == [1, 1]
    torch.testing.assert_close(out.cam_from_world, p.cam_from_world, rtol=0, atol=0)
    torch.testing.assert_close(out.inv_depth, p.inv_depth, rtol=0, atol=0)
    (out.cam_from_world.sum() + out.inv_depth.sum()).backward()
    assert tgt.grad is not None and torch.equal(tgt.grad, torch.zeros_like(tgt))


def test_batch_equals_one_by_one(gen):
    p = synthetic_ba_problem(5, 8, batch=3, noise_px=0.5, generator=gen)
    graph = p.graph()
    opts = ba_options("train", iterations=3, pose_damping=0.1)
    out = _solve(p, graph, opts, image_size=p.image_size)
    for b in range(3):
        one = dataclasses.replace(
            p,
            **{
                f.name: getattr(p, f.name)[b : b + 1]
                for f in dataclasses.fields(p)
                if f.name not in ("src_idx", "dst_idx", "patch_idx", "free_poses", "image_size")
            },
        )
        single = _solve(one, graph, opts, image_size=p.image_size)
        torch.testing.assert_close(single.cam_from_world[0], out.cam_from_world[b], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(single.inv_depth[0], out.inv_depth[b], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(single.cost[0], out.cost[b], rtol=1e-12, atol=1e-12)


def test_relative_tolerance_stops_early(gen):
    p = synthetic_ba_problem(4, 8, n_fixed=2, batch=2, generator=gen)
    opts = ba_options("train", pose_damping=1e-6, depth_damping=1e-8, iterations=50, rel_tol=1e-3)
    out = _solve(p, p.graph(), opts)
    assert 2 <= out.iterations < 20
    assert out.cost.shape[1] == out.iterations + 1
    assert out.cost[:, -1].max() < 1e-12


def test_bad_inputs_raise(gen):
    p = synthetic_ba_problem(3, 4, generator=gen)
    graph = p.graph()
    with pytest.raises(ValueError, match="mode"):
        _solve(p, graph, "train", mode="everything")
    with pytest.raises(ValueError, match="backward"):
        _solve(p, graph, "train", backward="magic")
    with pytest.raises(ValueError, match="preset"):
        _solve(p, graph, "fast")
    with pytest.raises(ValueError, match="edges"):
        bundle_adjust(
            p.cam_from_world, p.inv_depth, p.patch_uv, p.intrinsics, p.targets[:, :-1], p.weights[:, :-1], graph
        )
    with pytest.raises(ValueError, match="host"):
        build_ba_graph(p.src_idx, p.dst_idx, torch.zeros_like(p.patch_idx), p.free_poses, 12)
    with pytest.raises(ValueError, match="dst_idx"):
        build_ba_graph(p.src_idx, p.dst_idx + 5, p.patch_idx, p.free_poses, 12)
