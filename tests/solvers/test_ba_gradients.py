"""Gradients of the whole BA solve against central finite differences (METHODS.md 3.4), float64."""

import dataclasses

import pytest
import torch

from vokit.solvers import ba_options, bundle_adjust
from vokit.solvers.synthetic import synthetic_ba_problem

F64 = torch.float64


def _loss_fn(p, graph, opts, backward):
    gen = torch.Generator().manual_seed(11)
    a = torch.randn(p.cam_from_world.shape, generator=gen, dtype=F64)
    c = torch.randn(p.inv_depth.shape, generator=gen, dtype=F64)

    def loss(targets, weights, poses, depth):
        out = bundle_adjust(
            poses,
            depth,
            p.patch_uv,
            p.intrinsics,
            targets,
            weights,
            graph,
            options=opts,
            backward=backward,
            image_size=p.image_size,
        )
        return (a * out.cam_from_world).sum() + (c * out.inv_depth).sum()

    return loss


def _directional_check(loss, inputs, n_dirs, rtol, atol_scale, step=1e-6, skip=()):
    """<grad, v> == (L(x + h v) - L(x - h v)) / 2h for random directions v of each input."""
    leaves = [x.clone().requires_grad_() for x in inputs]
    grads = torch.autograd.grad(loss(*leaves), leaves)
    gen = torch.Generator().manual_seed(5)
    results = []
    for i, x in enumerate(inputs):
        for _ in range(n_dirs):
            v = torch.randn(x.shape, generator=gen, dtype=F64)
            plus = [y + step * v if j == i else y for j, y in enumerate(inputs)]
            minus = [y - step * v if j == i else y for j, y in enumerate(inputs)]
            with torch.no_grad():
                fd = (loss(*plus) - loss(*minus)) / (2 * step)
            an = (grads[i] * v).sum()
            results.append((i, float(an), float(fd)))
            if i not in skip:
                scale = max(abs(float(fd)), atol_scale)
                assert abs(float(an) - float(fd)) <= rtol * scale, (i, float(an), float(fd))
    return results


@pytest.mark.parametrize("preset", ["train", "infer"])
def test_unrolled_gradients_match_finite_differences(preset):
    gen = torch.Generator().manual_seed(1)
    p = synthetic_ba_problem(4, 8, obs_per_patch=3, noise_px=1.0, generator=gen)
    graph = p.graph()
    loss = _loss_fn(p, graph, ba_options(preset, iterations=2), "unroll")
    _directional_check(
        loss, [p.targets, p.weights, p.cam_from_world, p.inv_depth], n_dirs=2, rtol=1e-5, atol_scale=1e-3
    )


def test_truncated_gradients_match_finite_differences_of_last_iteration():
    gen = torch.Generator().manual_seed(2)
    p = synthetic_ba_problem(3, 10, obs_per_patch=2, noise_px=1.0, generator=gen)
    graph = p.graph()
    opts = ba_options("train", iterations=2)
    with torch.no_grad():
        first = bundle_adjust(
            p.cam_from_world,
            p.inv_depth,
            p.patch_uv,
            p.intrinsics,
            p.targets,
            p.weights,
            graph,
            options=dataclasses.replace(opts, iterations=1),
        )
    # truncated == unrolled gradient of a single iteration started from the (fixed) first iterate
    trunc = _loss_fn(p, graph, opts, "truncated")
    one_step = _loss_fn(
        dataclasses.replace(p, cam_from_world=first.cam_from_world, inv_depth=first.inv_depth),
        graph,
        dataclasses.replace(opts, iterations=1),
        "unroll",
    )
    tg, wg = p.targets.clone().requires_grad_(), p.weights.clone().requires_grad_()
    g_trunc = torch.autograd.grad(trunc(tg, wg, p.cam_from_world, p.inv_depth), [tg, wg])
    g_one = torch.autograd.grad(one_step(tg, wg, first.cam_from_world, first.inv_depth), [tg, wg])
    for a, b in zip(g_trunc, g_one, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    _directional_check(
        lambda t, w: one_step(t, w, first.cam_from_world, first.inv_depth),
        [p.targets, p.weights],
        n_dirs=2,
        rtol=1e-5,
        atol_scale=1e-3,
    )


def test_implicit_gradients_match_finite_differences_at_convergence():
    # The implicit backward uses the Gauss-Newton matrix H for dg/dx, which omits sum_e r_e W_e d2(pi_e): exact at
    # zero residual, with a relative error that grows linearly with the residual at the solution (measured on this
    # weak-parallax problem: up to 4% at 3e-3 px target noise, 0.4% at 3e-4 px). 3e-5 px keeps it inside 1e-3.
    gen = torch.Generator().manual_seed(3)
    p = synthetic_ba_problem(4, 10, obs_per_patch=3, n_fixed=2, noise_px=3e-5, generator=gen)
    graph = p.graph()
    opts = ba_options("train", pose_damping=1e-8, rel_pose_damping=0.0, depth_damping=1e-8, iterations=10)
    loss = _loss_fn(p, graph, opts, "implicit")
    unrolled = _loss_fn(p, graph, opts, "unroll")
    # values are identical to the unrolled solve; gradients wrt targets and weights match FD within 1e-3
    inputs = [p.targets, p.weights, p.cam_from_world, p.inv_depth]
    with torch.no_grad():
        torch.testing.assert_close(loss(*inputs), unrolled(*inputs), rtol=0, atol=0)
    res = _directional_check(lambda t, w: loss(t, w, *inputs[2:]), inputs[:2], n_dirs=3, rtol=1e-3, atol_scale=1e-9)
    assert all(abs(fd) > 1e-7 for _, _, fd in res)
    # at the fixed point the solution no longer depends on the start: implicit gives 0, FD of the whole solve ~0
    leaves = [x.clone().requires_grad_() for x in inputs]
    grads = torch.autograd.grad(loss(*leaves), leaves[2:], allow_unused=True, materialize_grads=True)
    assert all(float(g.abs().max()) == 0.0 for g in grads)
    v = torch.randn(p.inv_depth.shape, generator=gen, dtype=F64)
    with torch.no_grad():
        fd = (
            loss(p.targets, p.weights, p.cam_from_world, p.inv_depth + 1e-5 * v)
            - loss(p.targets, p.weights, p.cam_from_world, p.inv_depth - 1e-5 * v)
        ) / 2e-5
    assert abs(float(fd)) < 1e-6


def test_gradients_flow_to_every_input_and_stay_finite():
    gen = torch.Generator().manual_seed(4)
    p = synthetic_ba_problem(5, 12, noise_px=1.0, batch=2, generator=gen)
    leaves = [
        x.clone().requires_grad_()
        for x in (p.targets, p.weights, p.cam_from_world, p.inv_depth, p.patch_uv, p.intrinsics)
    ]
    tg, wg, T, d, uv, K = leaves
    out = bundle_adjust(T, d, uv, K, tg, wg, p.graph(), options="train", image_size=p.image_size)
    (out.cam_from_world.square().sum() + out.inv_depth.square().sum()).backward()
    for x in leaves:
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
