import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.rounding import assert_equal_up_to_rounding

from vokit.geometry.camera import MIN_Z_BA, project
from vokit.geometry.lie import se3_act, se3_compose, se3_exp, se3_inverse
from vokit.solvers import reproject_patch, reproject_patch_with_jacobian

F64 = torch.float64
K = torch.tensor([80.0, 80.0, 80.0, 60.0], dtype=F64)


def _random_case(seed, batch=(5,)):
    g = torch.Generator().manual_seed(seed)
    T_src = se3_exp(0.3 * torch.randn(*batch, 6, generator=g, dtype=F64))
    rel = se3_exp(
        torch.cat(
            [
                0.1 * torch.randn(*batch, 3, generator=g, dtype=F64),
                0.05 * torch.randn(*batch, 3, generator=g, dtype=F64),
            ],
            -1,
        )
    )
    T_dst = se3_compose(rel, T_src)
    uv = torch.rand(*batch, 2, generator=g, dtype=F64) * torch.tensor([160.0, 120.0], dtype=F64)
    d = 0.2 + 0.6 * torch.rand(batch, generator=g, dtype=F64)
    return T_src, T_dst, uv, d


def test_reprojection_matches_world_point_transfer():
    T_src, T_dst, uv, d = _random_case(0)
    xy = (uv - K[2:]) / K[:2]
    pts_src = torch.cat([xy, torch.ones_like(d)[..., None]], -1) / d[..., None]
    pts_world = se3_act(se3_inverse(T_src), pts_src)
    expected = project(se3_act(T_dst, pts_world), K)
    torch.testing.assert_close(reproject_patch(T_src, T_dst, uv, d, K), expected, rtol=1e-12, atol=1e-10)


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 10_000))
def test_jacobians_match_jacrev(seed):
    T_src, T_dst, uv, d = _random_case(seed, batch=())

    def f(xi_src, xi_dst, dd):
        return reproject_patch(se3_compose(se3_exp(xi_src), T_src), se3_compose(se3_exp(xi_dst), T_dst), uv, d + dd, K)

    zero6, zero = torch.zeros(6, dtype=F64), torch.zeros((), dtype=F64)
    J_src, J_dst, J_d = torch.func.jacrev(f, argnums=(0, 1, 2))(zero6, zero6, zero)
    rep = reproject_patch_with_jacobian(T_src, T_dst, uv, d, K)
    assert bool(rep.valid)
    torch.testing.assert_close(rep.J_uv_xi_src, J_src, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(rep.J_uv_xi_dst, J_dst, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(rep.J_uv_invdepth, J_d, rtol=1e-9, atol=1e-9)


def test_points_at_or_below_min_z_have_zero_jacobians():
    T_src = se3_exp(torch.zeros(2, 6, dtype=F64))
    # destination 0.9 units ahead: a point at depth 1 has Z = 0.1 <= 0.2, one at depth 5 has Z = 4.1
    T_dst = torch.tensor([0.0, 0.0, -0.9, 0.0, 0.0, 0.0, 1.0], dtype=F64).expand(2, 7)
    uv = torch.tensor([[90.0, 70.0], [90.0, 70.0]], dtype=F64)
    d = torch.tensor([1.0, 0.2], dtype=F64)
    rep = reproject_patch_with_jacobian(T_src, T_dst, uv, d, K)
    assert rep.valid.tolist() == [False, True]
    for J in (rep.J_uv_xi_src, rep.J_uv_xi_dst, rep.J_uv_invdepth):
        assert torch.equal(J[0], torch.zeros_like(J[0])) and J[1].abs().sum() > 0
    torch.testing.assert_close(rep.uv[0], K[2:])  # guarded projection lands on the principal point
    assert MIN_Z_BA == 0.2


@pytest.mark.parametrize("batch", [(), (1,), (7,), (2, 3)])
def test_shapes_and_broadcasting(batch):
    T_src, T_dst, uv, d = _random_case(1, batch)
    rep = reproject_patch_with_jacobian(T_src, T_dst, uv, d, K)
    assert rep.uv.shape == (*batch, 2) and rep.valid.shape == batch
    assert rep.J_uv_xi_src.shape == rep.J_uv_xi_dst.shape == (*batch, 2, 6)
    assert rep.J_uv_invdepth.shape == (*batch, 2)
    # every batch element equals the unbatched call on it, up to round-off (another batch shape may take another
    # SIMD path, so not bitwise); a shared camera pose broadcasts against the batch of patches
    flat = [x.reshape(-1, *x.shape[len(batch) :]) for x in (T_src, T_dst, uv, d)]
    for i in range(flat[0].shape[0]):
        one = reproject_patch_with_jacobian(*(x[i] for x in flat), K)
        for name in ("uv", "J_uv_xi_src", "J_uv_xi_dst", "J_uv_invdepth"):
            batched = getattr(rep, name).reshape(-1, *getattr(one, name).shape)[i]
            assert_equal_up_to_rounding(batched, getattr(one, name))
        assert bool(rep.valid.reshape(-1)[i]) == bool(one.valid)
    shared = reproject_patch_with_jacobian(T_src.reshape(-1, 7)[0], T_dst, uv, d, K)
    expanded = reproject_patch_with_jacobian(T_src.reshape(-1, 7)[0].expand(*batch, 7), T_dst, uv, d, K)
    assert_equal_up_to_rounding(shared.J_uv_xi_dst, expanded.J_uv_xi_dst)
