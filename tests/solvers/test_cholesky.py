import pytest
import torch

from vokit.solvers import CholeskySolve, cholesky_solve, damp

F64 = torch.float64


def _spd(gen, n, batch=(), device="cpu"):
    A = torch.randn(*batch, n, n, generator=gen, dtype=F64).to(device)
    return A @ A.transpose(-1, -2) + n * torch.eye(n, dtype=F64, device=device)


def _randn(gen, *shape, device="cpu", requires_grad=False):
    """Seeded on the CPU generator, then moved: the same numbers on every device."""
    return torch.randn(*shape, generator=gen, dtype=F64).to(device).requires_grad_(requires_grad)


@pytest.mark.parametrize("batch", [(), (1,), (3,), (2, 3)])
def test_solution_matches_linalg_solve(gen, batch, device):
    H, b = _spd(gen, 5, batch, device), _randn(gen, *batch, 5, 2, device=device)
    x, failed = cholesky_solve(H, b)
    assert x.shape == b.shape and failed.shape == batch and not failed.any()
    torch.testing.assert_close(x, torch.linalg.solve(H, b), rtol=1e-10, atol=1e-12)


def test_gradcheck_through_symmetric_construction(gen, device):
    # Only the lower triangle is read, so H is built symmetrically from a free matrix, as in BA.
    A = _randn(gen, 2, 4, 4, device=device, requires_grad=True)
    b = _randn(gen, 2, 4, 3, device=device, requires_grad=True)

    def f(A, b):
        H = A @ A.transpose(-1, -2) + 4 * torch.eye(4, dtype=F64, device=device)
        return cholesky_solve(H, b)[0]

    assert torch.autograd.gradcheck(f, (A, b))
    assert torch.autograd.gradgradcheck(f, (A, b))


def test_reference_backward_equals_symmetric_form(gen, device):
    # grad_H = -x grad_b^T (reference) vs -(grad_b x^T + x grad_b^T)/2: same gradient for a symmetric input.
    S = _spd(gen, 4, device=device).requires_grad_()
    b = _randn(gen, 4, 1, device=device)
    g = _randn(gen, 4, 1, device=device)
    H = 0.5 * (S + S.T)
    (cholesky_solve(H, b)[0] * g).sum().backward()
    ref = S.grad.clone()
    S.grad = None
    (torch.linalg.solve(0.5 * (S + S.T), b) * g).sum().backward()
    torch.testing.assert_close(ref, S.grad, rtol=1e-10, atol=1e-12)


def test_failed_factorisation_zero_solution_and_zero_gradients(gen, device):
    H = _spd(gen, 3, (3,), device)
    H = torch.stack([H[0], -H[1], H[2].clone().fill_(float("nan"))]).requires_grad_()
    b = _randn(gen, 3, 3, 1, device=device, requires_grad=True)
    x, failed = CholeskySolve.apply(H, b)
    assert failed.tolist() == [False, True, True]
    assert torch.equal(x[1:], torch.zeros_like(x[1:]))
    torch.testing.assert_close(x[0], torch.linalg.solve(H[0], b[0]))
    x.sum().backward()
    assert torch.isfinite(H.grad).all() and torch.isfinite(b.grad).all()
    assert torch.equal(H.grad[1:], torch.zeros_like(H.grad[1:]))
    assert torch.equal(b.grad[1:], torch.zeros_like(b.grad[1:]))
    assert b.grad[0].abs().sum() > 0


def test_damp_adds_eps_and_relative_diagonal(gen, device):
    S = _spd(gen, 6, device=device)
    out = damp(S, eps=2.0, mu=0.1)
    torch.testing.assert_close(out, S + torch.diag(2.0 + 0.1 * S.diagonal()))


def test_non_square_raises(gen):
    with pytest.raises((ValueError, TypeError)):  # jaxtyping rejects it in tests, the explicit check elsewhere
        cholesky_solve(torch.zeros(3, 4, dtype=F64), torch.zeros(3, 1, dtype=F64))
