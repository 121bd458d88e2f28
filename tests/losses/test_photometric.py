import numpy as np
import pytest
import torch

from vokit.losses.photometric import SSIM_C1, SSIM_C2, photometric_error, ssim


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Explicit-loop SSIM over 3x3 windows with reflection padding (one channel)."""
    pa, pb = np.pad(a, 1, mode="reflect"), np.pad(b, 1, mode="reflect")
    out = np.zeros_like(a)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            wa, wb = pa[i : i + 3, j : j + 3], pb[i : i + 3, j : j + 3]
            ma, mb = wa.mean(), wb.mean()
            va, vb = (wa * wa).mean() - ma * ma, (wb * wb).mean() - mb * mb
            cab = (wa * wb).mean() - ma * mb
            out[i, j] = ((2 * ma * mb + SSIM_C1) * (2 * cab + SSIM_C2)) / (
                (ma * ma + mb * mb + SSIM_C1) * (va + vb + SSIM_C2)
            )
    return out


def test_ssim_matches_loop_reference(gen, device):
    a = torch.rand(1, 2, 6, 7, generator=gen, dtype=torch.float64)
    b = torch.rand(1, 2, 6, 7, generator=gen, dtype=torch.float64)
    got = ssim(a.to(device), b.to(device)).cpu()
    for c in range(2):
        ref = _ssim_reference(a[0, c].numpy(), b[0, c].numpy())
        np.testing.assert_allclose(got[0, c].numpy(), ref, rtol=1e-10, atol=1e-12)


def test_ssim_identical_is_one_and_pe_zero(gen, device, dtype, tol):
    a = torch.rand(2, 3, 10, 12, generator=gen, dtype=dtype).to(device)
    _, atol = tol
    torch.testing.assert_close(ssim(a, a), torch.ones_like(a), rtol=0, atol=atol)
    pe = photometric_error(a, a)
    assert pe.shape == (2, 10, 12)
    assert pe.abs().max() < atol


def test_ssim_constant_images_closed_form(device):
    p, q = 0.3, 0.7
    a = torch.full((1, 1, 5, 5), p, dtype=torch.float64, device=device)
    b = torch.full((1, 1, 5, 5), q, dtype=torch.float64, device=device)
    expected = (2 * p * q + SSIM_C1) / (p * p + q * q + SSIM_C1)
    torch.testing.assert_close(ssim(a, b), torch.full_like(a, expected))
    pe = photometric_error(a, b)
    torch.testing.assert_close(pe, torch.full_like(pe, 0.85 * (1 - expected) / 2 + 0.15 * abs(p - q)))


def test_pe_without_ssim_is_l1_and_symmetric(gen, device, dtype, tol):
    a = torch.rand(1, 3, 8, 9, generator=gen, dtype=dtype).to(device)
    b = torch.rand(1, 3, 8, 9, generator=gen, dtype=dtype).to(device)
    rtol, atol = tol
    torch.testing.assert_close(photometric_error(a, b, use_ssim=False), (a - b).abs().mean(1), rtol=rtol, atol=atol)
    torch.testing.assert_close(photometric_error(a, b), photometric_error(b, a), rtol=rtol, atol=atol)
    assert photometric_error(a, b).min() >= 0


@pytest.mark.parametrize("shape", [(1, 3, 4, 4), (2, 1, 7, 5)])
def test_pe_gradcheck(shape, gen, device):
    a = torch.rand(*shape, generator=gen, dtype=torch.float64).to(device).requires_grad_()
    b = torch.rand(*shape, generator=gen, dtype=torch.float64).to(device)
    assert torch.autograd.gradcheck(lambda x: photometric_error(x, b), (a,))
