"""Tests of vokit.geometry.align.umeyama against known transforms and evo's implementation."""

import numpy as np
import pytest
import torch
from evo.core.geometry import umeyama_alignment
from hypothesis import given, settings
from hypothesis import strategies as st

from vokit.geometry import lie
from vokit.geometry.align import umeyama

F64 = torch.float64
BATCH_SHAPES = [(), (1,), (7,), (2, 3)]


def random_sim3(gen: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    xi = torch.cat(
        [
            2.0 * torch.randn(*shape, 3, generator=gen, dtype=F64),
            1.0 * torch.randn(*shape, 3, generator=gen, dtype=F64),
        ],
        dim=-1,
    )
    scale = torch.exp(torch.randn(*shape, 1, generator=gen, dtype=F64))
    return torch.cat([lie.se3_exp(xi), scale], dim=-1)


def apply_sim3(sim3: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """s R p + t, with 3x3 matrices from the quaternion (independent of umeyama's code path)."""
    R = lie.quat_to_matrix(sim3[..., 3:7])
    return sim3[..., None, 7:8] * (pts @ R.transpose(-1, -2)) + sim3[..., None, :3]


def assert_sim3_close(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    torch.testing.assert_close(a[..., :3], b[..., :3], rtol=0, atol=atol)
    torch.testing.assert_close(a[..., 7], b[..., 7], rtol=0, atol=atol)
    # q and -q are the same rotation
    torch.testing.assert_close(lie.quat_to_matrix(a[..., 3:7]), lie.quat_to_matrix(b[..., 3:7]), rtol=0, atol=atol)


@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_exact_recovery_without_noise(shape: tuple[int, ...], gen: torch.Generator) -> None:
    truth = random_sim3(gen, shape)
    src = torch.randn(*shape, 25, 3, generator=gen, dtype=F64)
    dst = apply_sim3(truth, src)
    est = umeyama(src, dst)
    assert est.shape == (*shape, 8)
    assert_sim3_close(est, truth, atol=1e-9)
    torch.testing.assert_close(apply_sim3(est, src), dst)


@settings(deadline=None, max_examples=25)
@given(shape=st.sampled_from(BATCH_SHAPES), seed=st.integers(0, 2**31 - 1), noise=st.sampled_from([1e-4, 1e-3, 1e-2]))
def test_recovers_known_sim3_from_noisy_points(shape: tuple[int, ...], seed: int, noise: float) -> None:
    # data are built here, not in a strategy: beartype's checks draw from `random`, which hypothesis forbids there
    gen = torch.Generator().manual_seed(seed)
    truth = random_sim3(gen, shape)
    src = 3.0 * torch.randn(*shape, 200, 3, generator=gen, dtype=F64)
    dst = apply_sim3(truth, src) + noise * torch.randn(*shape, 200, 3, generator=gen, dtype=F64)
    est = umeyama(src, dst)
    # the estimate is at least as good as the truth (it is the least-squares optimum) and close to it
    res_est = (apply_sim3(est, src) - dst).square().sum(-1).mean(-1)
    res_truth = (apply_sim3(truth, src) - dst).square().sum(-1).mean(-1)
    assert (res_est <= res_truth * (1 + 1e-9)).all()
    assert_sim3_close(est, truth, atol=30 * noise * max(1.0, truth[..., 7].abs().max().item()))


@pytest.mark.parametrize("mode", ["sim3", "se3"])
def test_matches_evo(mode: str, gen: torch.Generator) -> None:
    truth = random_sim3(gen, ())
    src = torch.randn(40, 3, generator=gen, dtype=F64)
    dst = apply_sim3(truth, src) + 0.05 * torch.randn(40, 3, generator=gen, dtype=F64)
    est = umeyama(src, dst, mode=mode)  # type: ignore[arg-type]
    R, t, s = umeyama_alignment(src.numpy().T, dst.numpy().T, with_scale=mode == "sim3")
    np.testing.assert_allclose(lie.quat_to_matrix(est[3:7]).numpy(), R, rtol=0, atol=1e-10)
    np.testing.assert_allclose(est[:3].numpy(), t, rtol=0, atol=1e-10)
    np.testing.assert_allclose(est[7].item(), s, rtol=1e-12)


def test_se3_mode_has_unit_scale(gen: torch.Generator) -> None:
    truth = random_sim3(gen, (4,))
    truth[..., 7] = 1.0
    src = torch.randn(4, 30, 3, generator=gen, dtype=F64)
    dst = apply_sim3(truth, src)
    scaled_src = 3.0 * src  # a wrongly scaled estimate: se3 must not absorb the scale
    est = umeyama(scaled_src, dst, mode="se3")
    assert torch.equal(est[..., 7], torch.ones(4, dtype=F64))
    assert_sim3_close(umeyama(src, dst, mode="se3"), truth, atol=1e-9)


def test_scale_mode_is_evo_correct_only_scale(gen: torch.Generator) -> None:
    truth = random_sim3(gen, ())
    src = torch.randn(30, 3, generator=gen, dtype=F64)
    dst = apply_sim3(truth, src) + 0.01 * torch.randn(30, 3, generator=gen, dtype=F64)
    est = umeyama(src, dst, mode="scale")
    torch.testing.assert_close(est[:7], torch.tensor([0.0, 0, 0, 0, 0, 0, 1], dtype=F64), rtol=0, atol=1e-15)
    _, _, s = umeyama_alignment(src.numpy().T, dst.numpy().T, with_scale=True)
    np.testing.assert_allclose(est[7].item(), s, rtol=1e-12)
    # collinear points still have a well-defined Umeyama scale
    line = torch.linspace(0, 1, 10, dtype=F64)[:, None] * torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    torch.testing.assert_close(umeyama(line, 2.5 * line, mode="scale")[7], torch.tensor(2.5, dtype=F64))


def test_zero_weight_outliers_are_ignored(gen: torch.Generator) -> None:
    truth = random_sim3(gen, ())
    src = torch.randn(30, 3, generator=gen, dtype=F64)
    dst = apply_sim3(truth, src) + 1e-3 * torch.randn(30, 3, generator=gen, dtype=F64)
    dst_out = dst.clone()
    dst_out[:8] += 50.0 * torch.randn(8, 3, generator=gen, dtype=F64)
    weights = torch.ones(30, dtype=F64)
    weights[:8] = 0.0
    torch.testing.assert_close(umeyama(src, dst_out, weights), umeyama(src[8:], dst[8:]), rtol=0, atol=1e-12)
    unweighted = umeyama(src, dst_out)
    assert (unweighted[:3] - truth[:3]).norm() > 100 * (umeyama(src, dst_out, weights)[:3] - truth[:3]).norm()


def test_integer_weights_equal_repeated_points(gen: torch.Generator) -> None:
    src = torch.randn(12, 3, generator=gen, dtype=F64)
    dst = apply_sim3(random_sim3(gen, ()), src) + 0.1 * torch.randn(12, 3, generator=gen, dtype=F64)
    counts = torch.randint(1, 4, (12,), generator=gen)
    repeated = umeyama(src.repeat_interleave(counts, 0), dst.repeat_interleave(counts, 0))
    for mode in ("sim3", "se3", "scale"):
        weighted = umeyama(src, dst, counts.to(F64), mode=mode)  # type: ignore[arg-type]
        expect = umeyama(src.repeat_interleave(counts, 0), dst.repeat_interleave(counts, 0), mode=mode)  # type: ignore[arg-type]
        assert_sim3_close(weighted, expect, atol=1e-10)
    assert_sim3_close(umeyama(src, dst, counts.to(F64)), repeated, atol=1e-10)


def test_batched_weights_broadcast(gen: torch.Generator) -> None:
    src = torch.randn(3, 10, 3, generator=gen, dtype=F64)
    dst = apply_sim3(random_sim3(gen, (3,)), src) + 0.1 * torch.randn(3, 10, 3, generator=gen, dtype=F64)
    weights = torch.rand(2, 1, 10, generator=gen, dtype=F64) + 0.1
    est = umeyama(src, dst, weights)
    assert est.shape == (2, 3, 8)
    assert_sim3_close(est[1, 2], umeyama(src[2], dst[2], weights[1, 0]), atol=1e-12)


def test_reflection_correction(gen: torch.Generator) -> None:
    src = torch.randn(20, 3, generator=gen, dtype=F64)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=F64))
    dst = src @ mirror  # no proper rotation maps src onto its mirror image
    est = umeyama(src, dst)
    R = lie.quat_to_matrix(est[3:7])
    torch.testing.assert_close(torch.linalg.det(R), torch.tensor(1.0, dtype=F64))
    torch.testing.assert_close(R @ R.T, torch.eye(3, dtype=F64))
    R_evo, t_evo, s_evo = umeyama_alignment(src.numpy().T, dst.numpy().T, with_scale=True)
    np.testing.assert_allclose(R.numpy(), R_evo, atol=1e-10)
    np.testing.assert_allclose(est[7].item(), s_evo, rtol=1e-10)


def test_gradcheck_sim3(gen: torch.Generator) -> None:
    src = torch.randn(6, 3, generator=gen, dtype=F64)
    dst = apply_sim3(random_sim3(gen, ()), src) + 0.1 * torch.randn(6, 3, generator=gen, dtype=F64)
    weights = (torch.rand(6, generator=gen, dtype=F64) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b, w: umeyama(a, b, w), (src.requires_grad_(), dst.requires_grad_(), weights)
    )


def test_float32(gen: torch.Generator) -> None:
    truth = random_sim3(gen, ())
    src = torch.randn(50, 3, generator=gen, dtype=F64)
    est = umeyama(src.float(), apply_sim3(truth, src).float())
    assert est.dtype == torch.float32
    assert_sim3_close(est.double(), truth, atol=1e-4)


def test_degenerate_inputs_raise(gen: torch.Generator) -> None:
    src = torch.randn(10, 3, generator=gen, dtype=F64)
    with pytest.raises(ValueError, match="at least 3 points"):
        umeyama(src[:2], src[:2])
    line = torch.linspace(0, 1, 10, dtype=F64)[:, None] * torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    for mode in ("sim3", "se3"):
        with pytest.raises(ValueError, match="collinear"):
            umeyama(line, line + 1.0, mode=mode)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="collinear"):
            umeyama(line.float(), line.float() * 2.0, mode=mode)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="coincide"):
        umeyama(torch.ones(5, 3, dtype=F64), src[:5], mode="scale")
    weights = torch.zeros(10, dtype=F64)
    weights[:2] = 1.0
    with pytest.raises(ValueError, match="positive weight"):
        umeyama(src, src, weights)
    with pytest.raises(ValueError, match="non-negative"):
        umeyama(src, src, -torch.ones(10, dtype=F64))
    with pytest.raises((TypeError, ValueError), match="mode"):  # jaxtyping's Literal check or umeyama's own
        umeyama(src, src, mode="affine")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):  # jaxtyping's check ("N") or umeyama's own
        umeyama(src, src[:5])
    # a batch with one degenerate member is rejected as a whole
    batch = torch.stack([src, torch.cat([line, line[:0]])])
    with pytest.raises(ValueError, match="collinear"):
        umeyama(batch, batch)
