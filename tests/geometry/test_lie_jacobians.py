"""Derivatives of vokit.geometry.lie: float64 gradcheck, analytic Jacobians == torch.func.jacrev, branches.

Analytic Jacobians are checked against jacrev of their defining identities (e.g. ``J_l(phi)`` is
``d Log(Exp(phi + d) Exp(phi)^-1) / d d`` at ``d = 0``) at 1e-12 absolute: both sides are closed-form
expressions of O(1)-O(10) entries evaluated in float64 with O(100) flops.
gradcheck uses torch's defaults (central differences, eps=1e-6, atol=1e-5, rtol=1e-3).
The small-angle series and their closed forms are compared with 100-digit mpmath values on both sides of
every switch.
"""

import math

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.rounding import assert_equal_up_to_rounding
from torch.autograd import gradcheck, gradgradcheck
from torch.func import jacrev

from vokit.geometry import lie
from vokit.geometry.lie import _numerics as num
from vokit.geometry.lie import sim3 as sim3_module

F64 = torch.float64
JAC_TOL = 1e-12
JACOBIAN_PROPERTY = settings(max_examples=25, deadline=None)
# float64 series/closed-form switches: the SO(3)/SE(3) coefficients (on the angle), the quaternion log (on the
# angle, where tan(theta/2)^2 = threshold) and the Sim(3) coefficients (on sqrt(sigma^2 + theta^2)).
TRIG_SWITCH = math.sqrt(num.TRIG_SQ_FLOAT64)
LOG_SWITCH = 2 * math.atan(math.sqrt(num.SMALL_SQ_FLOAT64))
SIM3_SWITCH = math.sqrt(sim3_module._SWITCH_SQ_FLOAT64)

seeds = st.integers(0, 2**31 - 1)
angles = st.one_of(
    st.just(0.0),
    st.floats(1e-9, 1e-4),
    st.floats(TRIG_SWITCH - 1e-3, TRIG_SWITCH + 1e-3),
    st.floats(LOG_SWITCH - 1e-3, LOG_SWITCH + 1e-3),
    st.floats(1e-4, math.pi - 1e-3),
    st.floats(math.pi - 1e-6, math.pi - 1e-9),
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rotvec(g: torch.Generator, angle: float) -> torch.Tensor:
    axis = torch.randn(3, generator=g, dtype=F64)
    return axis / torch.linalg.vector_norm(axis) * angle


def _xi6(g: torch.Generator, angle: float) -> torch.Tensor:
    return torch.cat([2.0 * torch.randn(3, generator=g, dtype=F64), _rotvec(g, angle)])


# ------------------------------------------------------------------------------------- Jacobians vs jacrev


@JACOBIAN_PROPERTY
@given(seed=seeds, angle=angles)
def test_so3_jacobians_match_jacrev(seed, angle):
    phi = _rotvec(_gen(seed), angle)
    q = lie.so3_exp(phi)
    q_inv = lie.quat_conjugate(q)
    zero = torch.zeros(3, dtype=F64)

    def left(d):  # Exp(phi + d) = Exp(J_l d) Exp(phi)
        return lie.so3_log(lie.quat_multiply(lie.so3_exp(phi + d), q_inv))

    def right(d):  # Exp(phi + d) = Exp(phi) Exp(J_r d)
        return lie.so3_log(lie.quat_multiply(q_inv, lie.so3_exp(phi + d)))

    def left_inv(e):  # Log(Exp(e) Exp(phi)) = phi + J_l^-1 e
        return lie.so3_log(lie.quat_multiply(lie.so3_exp(e), q))

    def right_inv(e):  # Log(Exp(phi) Exp(e)) = phi + J_r^-1 e
        return lie.so3_log(lie.quat_multiply(q, lie.so3_exp(e)))

    torch.testing.assert_close(lie.so3_left_jacobian(phi), jacrev(left)(zero), atol=JAC_TOL, rtol=0)
    torch.testing.assert_close(lie.so3_right_jacobian(phi), jacrev(right)(zero), atol=JAC_TOL, rtol=0)
    torch.testing.assert_close(lie.so3_left_jacobian_inverse(phi), jacrev(left_inv)(zero), atol=JAC_TOL, rtol=0)
    torch.testing.assert_close(lie.so3_right_jacobian_inverse(phi), jacrev(right_inv)(zero), atol=JAC_TOL, rtol=0)
    eye = torch.eye(3, dtype=F64)
    torch.testing.assert_close(lie.so3_left_jacobian(phi) @ lie.so3_left_jacobian_inverse(phi), eye)
    torch.testing.assert_close(lie.so3_right_jacobian(phi) @ lie.so3_right_jacobian_inverse(phi), eye)


@JACOBIAN_PROPERTY
@given(seed=seeds, angle=angles)
def test_se3_left_jacobian_matches_jacrev(seed, angle):
    xi = _xi6(_gen(seed), angle)
    T_inv = lie.se3_inverse(lie.se3_exp(xi))
    zero = torch.zeros(6, dtype=F64)

    def left(d):  # Exp(xi + d) = Exp(J d) Exp(xi)
        return lie.se3_log(lie.se3_compose(lie.se3_exp(xi + d), T_inv))

    J = lie.se3_left_jacobian(xi)
    torch.testing.assert_close(J, jacrev(left)(zero), atol=JAC_TOL, rtol=0)
    torch.testing.assert_close(J @ lie.se3_left_jacobian_inverse(xi), torch.eye(6, dtype=F64), atol=JAC_TOL, rtol=0)


@JACOBIAN_PROPERTY
@given(seed=seeds, angle=angles)
def test_se3_act_jacobian_matches_jacrev(seed, angle):
    g = _gen(seed)
    T = lie.se3_exp(_xi6(g, angle))
    p = 3.0 * torch.randn(3, generator=g, dtype=F64)

    def perturbed(xi):  # left perturbation Exp(xi) T p
        return lie.se3_act(lie.se3_compose(lie.se3_exp(xi), T), p)

    J_p_xi, J_p_pt = lie.se3_act_jacobian(T, p)
    torch.testing.assert_close(J_p_xi, jacrev(perturbed)(torch.zeros(6, dtype=F64)), atol=JAC_TOL, rtol=0)
    torch.testing.assert_close(J_p_pt, jacrev(lambda x: lie.se3_act(T, x))(p), atol=JAC_TOL, rtol=0)


def test_se3_act_jacobian_batched_matches_per_element(device):
    g = _gen(5)
    T = lie.se3_exp(torch.randn(4, 1, 6, generator=g, dtype=F64)).to(device)
    p = torch.randn(10, 3, generator=g, dtype=F64).to(device)
    J = lie.se3_act_jacobian(T, p)
    J00 = lie.se3_act_jacobian(T[2, 0], p[7])
    # up to round-off: the broadcast batch and the single element may take different SIMD paths
    assert_equal_up_to_rounding(J.J_p_xi[2, 7], J00.J_p_xi)
    assert_equal_up_to_rounding(J.J_p_pt[2, 7], J00.J_p_pt)


@JACOBIAN_PROPERTY
@given(seed=seeds, angle=angles)
def test_adjoints_are_derivatives_of_conjugation(seed, angle):
    g = _gen(seed)
    T = lie.se3_exp(_xi6(g, angle))
    T_inv = lie.se3_inverse(T)
    Ad = jacrev(lambda a: lie.se3_log(lie.se3_compose(lie.se3_compose(T, lie.se3_exp(a)), T_inv)))(
        torch.zeros(6, dtype=F64)
    )
    torch.testing.assert_close(lie.se3_adjoint(T), Ad, atol=JAC_TOL, rtol=0)
    S = lie.sim3_exp(torch.cat([_xi6(g, angle), torch.randn(1, generator=g, dtype=F64)]))
    S_inv = lie.sim3_inverse(S)
    Ad_s = jacrev(lambda a: lie.sim3_log(lie.sim3_compose(lie.sim3_compose(S, lie.sim3_exp(a)), S_inv)))(
        torch.zeros(7, dtype=F64)
    )
    torch.testing.assert_close(lie.sim3_adjoint(S), Ad_s, atol=JAC_TOL, rtol=JAC_TOL)


# ------------------------------------------------------------------------------------------------ gradcheck

# Rotation angles for gradcheck: exactly 0, tiny, both sides of the series switch, generic, near pi.
GRAD_ANGLES = [
    0.0,
    1e-7,
    LOG_SWITCH * (1 - 1e-4),
    LOG_SWITCH * (1 + 1e-4),
    TRIG_SWITCH * (1 - 1e-4),
    TRIG_SWITCH * (1 + 1e-4),
    2.1,
    math.pi - 1e-2,
]
# Log-scales for Sim(3): 0, tiny, both sides of the switch (with angle 0), generic.
GRAD_SIGMAS = [0.0, 1e-8, SIM3_SWITCH * (1 - 1e-4), SIM3_SWITCH * (1 + 1e-4), -1.5]


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


@pytest.mark.parametrize("angle", GRAD_ANGLES)
def test_gradcheck_so3_and_quaternion_ops(angle):
    g = _gen(11)
    phi = _leaf(_rotvec(g, angle))
    q = _leaf(lie.so3_exp(phi.detach()))
    p = _leaf(torch.randn(3, generator=g, dtype=F64))
    assert gradcheck(lie.so3_exp, (phi,))
    assert gradcheck(lie.so3_log, (q,))
    assert gradcheck(lie.so3_act, (q, p))
    assert gradcheck(lie.quat_to_matrix, (q,))
    assert gradcheck(lie.matrix_to_quat, (_leaf(lie.quat_to_matrix(q.detach())),))
    assert gradcheck(lie.so3_left_jacobian, (phi,))
    assert gradcheck(lie.so3_left_jacobian_inverse, (phi,))


@pytest.mark.parametrize("angle", GRAD_ANGLES)
def test_gradcheck_se3_ops(angle):
    g = _gen(12)
    xi = _leaf(_xi6(g, angle))
    T = _leaf(lie.se3_exp(xi.detach()))
    U = _leaf(lie.se3_exp(_xi6(g, 0.7)))
    p = _leaf(torch.randn(5, 3, generator=g, dtype=F64))
    assert gradcheck(lie.se3_exp, (xi,))
    assert gradcheck(lie.se3_log, (T,))
    assert gradcheck(lie.se3_act, (T, p))
    assert gradcheck(lie.se3_compose, (T, U))
    assert gradcheck(lie.se3_inverse, (T,))
    assert gradcheck(lie.se3_from_matrix, (_leaf(lie.se3_to_matrix(T.detach())),))
    assert gradcheck(lie.se3_left_jacobian, (xi,))


@pytest.mark.parametrize("sigma", GRAD_SIGMAS)
@pytest.mark.parametrize("angle", [0.0, 1e-7, 0.1, TRIG_SWITCH * (1 + 1e-4), math.pi - 1e-2])
def test_gradcheck_sim3_ops(angle, sigma):
    g = _gen(13)
    xi = _leaf(torch.cat([_xi6(g, angle), torch.tensor([sigma], dtype=F64)]))
    T = _leaf(lie.sim3_exp(xi.detach()))
    p = _leaf(torch.randn(4, 3, generator=g, dtype=F64))
    assert gradcheck(lie.sim3_exp, (xi,))
    assert gradcheck(lie.sim3_log, (T,))
    assert gradcheck(lie.sim3_act, (T, p))
    assert gradcheck(lie.sim3_compose, (T, _leaf(lie.sim3_exp(torch.randn(7, generator=g, dtype=F64)))))
    assert gradcheck(lie.sim3_inverse, (T,))


@pytest.mark.parametrize("angle", [0.0, 1e-7, 1.3])
def test_gradgradcheck_se3_core(angle):
    """Second order (meta-learning through poses): exp, log and act."""
    g = _gen(14)
    xi = _leaf(_xi6(g, angle))
    T = _leaf(lie.se3_exp(xi.detach()))
    p = _leaf(torch.randn(2, 3, generator=g, dtype=F64))
    assert gradgradcheck(lie.se3_exp, (xi,))
    assert gradgradcheck(lie.se3_log, (T,))
    assert gradgradcheck(lie.se3_act, (T, p))


def test_gradients_at_identity_are_finite_and_exact():
    zero6 = torch.zeros(6, dtype=F64, requires_grad=True)
    lie.se3_exp(zero6).sum().backward()
    # d t / d rho = I, d q_xyz / d phi = I / 2, d q_w / d phi = 0 at xi = 0.
    torch.testing.assert_close(zero6.grad, torch.tensor([1.0, 1.0, 1.0, 0.5, 0.5, 0.5], dtype=F64))
    identity = lie.se3_identity(dtype=F64).requires_grad_(True)
    lie.se3_log(identity).sum().backward()
    assert identity.grad is not None
    torch.testing.assert_close(identity.grad, torch.tensor([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.0], dtype=F64))
    zero7 = torch.zeros(7, dtype=F64, requires_grad=True)
    lie.sim3_log(lie.sim3_exp(zero7)).sum().backward()
    torch.testing.assert_close(zero7.grad, torch.ones(7, dtype=F64))
    for fn in (lie.so3_left_jacobian, lie.so3_left_jacobian_inverse, lie.so3_right_jacobian):
        phi = torch.zeros(3, dtype=F64, requires_grad=True)
        fn(phi).sum().backward()
        # J(phi) = I +- [phi]x / 2 + O(phi^2): the first-order term is skew, so its entries sum to zero
        assert phi.grad is not None
        torch.testing.assert_close(phi.grad, torch.zeros(3, dtype=F64), rtol=0, atol=1e-15)


def test_gradients_finite_for_float32_at_zero():
    xi = torch.zeros(2, 7, requires_grad=True)
    loss = lie.sim3_log(lie.sim3_exp(xi)).square().sum() + lie.se3_log(lie.se3_exp(xi[:, :6])).sum()
    loss.backward()
    # at zero, log(exp(xi)) = xi to first order: d|xi|^2 = 0 and d(sum xi[:6]) = 1 for the first six entries
    expected = torch.tensor([1.0, 1, 1, 1, 1, 1, 0]).expand(2, 7)
    assert xi.grad is not None
    torch.testing.assert_close(xi.grad, expected, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------- series branches vs mpmath

mpmath.mp.dps = 100  # the closed forms cancel ~t^5 at t = 1e-9: 45 digits are lost there

# (private function, mpmath closed form of t, value at t = 0)
COEFFICIENTS = [
    (num.sinc, lambda t: mpmath.sin(t) / t, 1.0),
    (num.one_minus_cos, lambda t: (1 - mpmath.cos(t)) / t**2, 0.5),
    (num.t_minus_sin, lambda t: (t - mpmath.sin(t)) / t**3, 1 / 6),
    (num.q_coeff2, lambda t: (t**2 + 2 * mpmath.cos(t) - 2) / (2 * t**4), 1 / 24),
    (num.q_coeff3, lambda t: (2 * t - 3 * mpmath.sin(t) + t * mpmath.cos(t)) / (2 * t**5), 1 / 120),
    (num.half_sinc, lambda t: mpmath.sin(t / 2) / t, 0.5),
    (num.half_cos, lambda t: mpmath.cos(t / 2), 1.0),
    (num.jl_inv_coeff, lambda t: 1 / t**2 - mpmath.cot(t / 2) / (2 * t), 1 / 12),
]


def _switch_points(threshold_sq: float) -> list[float]:
    t = math.sqrt(threshold_sq)
    return [1e-9, 1e-4, 0.5 * t, t * (1 - 1e-9), t * (1 + 1e-9), 2 * t, 1.0, 2.5, math.pi - 1e-3]


# (dtype, relative tolerance, absolute floor): the floor covers sin(t) near t = pi, whose absolute error is set
# by the rounding of t itself (eps * pi), not by the formula.
DTYPE_TOLS = [(torch.float64, 1e-13, 1e-16), (torch.float32, 2e-6, 1e-7)]


@pytest.mark.parametrize(("dtype", "rel_tol", "abs_tol"), DTYPE_TOLS)
@pytest.mark.parametrize(("fn", "closed_form", "at_zero"), COEFFICIENTS, ids=[c[0].__name__ for c in COEFFICIENTS])
def test_series_and_closed_forms_are_accurate_on_both_sides_of_the_switch(
    fn, closed_form, at_zero, dtype, rel_tol, abs_tol
):
    points = _switch_points(num.trig_sq_threshold(dtype))
    t_sq = torch.tensor([t * t for t in points], dtype=dtype)
    values = fn(t_sq)
    for t, t2, value in zip(points, t_sq.tolist(), values.tolist(), strict=True):
        # Reference at the exactly representable t^2 the function actually received.
        ref = float(closed_form(mpmath.sqrt(mpmath.mpf(t2))))
        assert abs(value - ref) <= rel_tol * abs(ref) + abs_tol, (t, value, ref)
    assert fn(torch.zeros(1, dtype=dtype)).item() == pytest.approx(at_zero, rel=rel_tol)


@pytest.mark.parametrize(("dtype", "rel_tol"), [(torch.float64, 2e-12), (torch.float32, 5e-5)])
@pytest.mark.parametrize(("fn", "closed_form", "at_zero"), COEFFICIENTS, ids=[c[0].__name__ for c in COEFFICIENTS])
def test_series_derivatives_are_accurate_on_both_sides_of_the_switch(fn, closed_form, at_zero, dtype, rel_tol):
    """d f / d(t^2) by autograd vs mpmath; the closed forms' derivatives cancel worst just above the switch.

    Measured worst relative errors: 1.9e-13 (float64, jl_inv_coeff) and 1.0e-5 (float32, jl_inv_coeff).
    """
    points = _switch_points(num.trig_sq_threshold(dtype))
    t_sq = torch.tensor([t * t for t in points], dtype=dtype, requires_grad=True)
    (grad,) = torch.autograd.grad(fn(t_sq).sum(), t_sq)
    for t2, d in zip(t_sq.tolist(), grad.tolist(), strict=True):
        ref = float(mpmath.diff(lambda s: closed_form(mpmath.sqrt(s)), mpmath.mpf(t2)))
        assert abs(d - ref) <= rel_tol * abs(ref) + 1e-15, (t2, d, ref)


def test_quat_to_axis_angle_is_accurate_on_both_sides_of_its_switch():
    # The series branch is taken when |v|^2 < threshold * w^2, i.e. tan(theta / 2)^2 < threshold.
    switch = LOG_SWITCH
    for theta in [1e-9, 1e-5, 0.5 * switch, switch * (1 - 1e-9), switch * (1 + 1e-9), 1.0, math.pi - 1e-7]:
        q = torch.tensor([math.sin(theta / 2), 0.0, 0.0, math.cos(theta / 2)], dtype=F64)
        x, w = (mpmath.mpf(v) for v in (q[0].item(), q[3].item()))
        ref = float(2 * mpmath.atan2(x, w))
        assert abs(lie.quat_to_axis_angle(q)[0].item() - ref) <= 1e-15 * ref + 1e-300


def _sim3_reference(sigma: float, theta: float) -> tuple[float, float]:
    with mpmath.workdps(40):  # enough for 1 - cos(t u) at t = 1e-8 (~34 digits), and much faster than 100
        return _sim3_quadrature(mpmath.mpf(sigma), mpmath.mpf(theta))


def _sim3_quadrature(s: mpmath.mpf, t: mpmath.mpf) -> tuple[float, float]:
    if t == 0:
        a1 = mpmath.quad(lambda u: mpmath.exp(s * u) * u, [0, 1])
        a2 = mpmath.quad(lambda u: mpmath.exp(s * u) * u * u / 2, [0, 1])
    else:
        a1 = mpmath.quad(lambda u: mpmath.exp(s * u) * mpmath.sin(t * u) / t, [0, 1])
        a2 = mpmath.quad(lambda u: mpmath.exp(s * u) * (1 - mpmath.cos(t * u)) / t**2, [0, 1])
    return float(a1), float(a2)


@pytest.mark.parametrize(("dtype", "rel_tol"), [(torch.float64, 1e-13), (torch.float32, 2e-6)])
def test_sim3_coupled_coefficients_match_quadrature(dtype, rel_tol):
    """a1, a2 of W = int_0^1 e^(sigma u) Exp(u phi) du against 100-digit quadrature, around r^2 = switch."""
    r = math.sqrt(sim3_module._SWITCH_SQ_FLOAT64 if dtype == torch.float64 else sim3_module._SWITCH_SQ_OTHER)
    sigmas = [0.0, 1e-9, -1e-5, 0.5 * r, r * (1 - 1e-7), r * (1 + 1e-7), -1.0, 3.0, -8.0]
    thetas = [0.0, 1e-8, 0.5 * r, r * (1 - 1e-7), r * (1 + 1e-7), 1.0, math.pi]
    sigma_t = torch.tensor(sigmas, dtype=dtype)[:, None].expand(-1, len(thetas)).reshape(-1, 1)
    theta_t = torch.tensor(thetas, dtype=dtype)[None, :].expand(len(sigmas), -1).reshape(-1, 1)
    a0, a1, a2 = sim3_module._w_coeffs(sigma_t, theta_t * theta_t)
    for i in range(sigma_t.shape[0]):
        s, t = sigma_t[i].item(), theta_t[i].item()
        ref1, ref2 = _sim3_reference(s, t)
        assert abs(a1[i].item() - ref1) <= rel_tol * abs(ref1), (s, t, a1[i].item(), ref1)
        assert abs(a2[i].item() - ref2) <= rel_tol * abs(ref2), (s, t, a2[i].item(), ref2)
        ref0 = float(mpmath.expm1(s) / s) if s != 0 else 1.0
        assert abs(a0[i].item() - ref0) <= rel_tol * abs(ref0)
