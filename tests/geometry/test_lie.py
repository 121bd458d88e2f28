"""Properties of vokit.geometry.lie: quaternions, SO(3), SE(3), Sim(3), wrappers, shapes and errors.

Oracles: scipy's Rotation (quaternion <-> matrix <-> rotation vector), torch.linalg.matrix_exp of the 4x4
generator (SE(3)/Sim(3) exponentials), 4x4 matrix products (act, compose, inverse), and the group axioms.
Tolerances (float64): 1e-12 absolute for algebraic identities and exp/log round trips of O(1)-O(10)
quantities: the largest error measured over 20,000 random samples per regime (zero, 1e-9..1e-4, generic, around
the 1 rad series switch, pi - 1e-6..pi - 1e-9) is 1.1e-14, so 1e-12 leaves a 100x margin without hiding a lost
digit block. Comparisons against torch.linalg.matrix_exp use 1e-10 because the oracle itself is off by ~2e-11.
"""

import dataclasses
import inspect
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation
from tests.support.rounding import assert_equal_up_to_rounding

from vokit.geometry import lie
from vokit.geometry.lie import SE3, Sim3

F64 = torch.float64
BATCH_SHAPES = [(), (1,), (7,), (2, 3)]
PROPERTY = settings(max_examples=50, deadline=None)
ALGEBRA_TOL = 1e-12
ROUND_TRIP_TOL = 1e-12
# torch.linalg.matrix_exp (the oracle) is itself off by up to ~2e-11 for some norms (measured at |phi| = 2^-5,
# where vokit and scipy agree to 1e-16), so comparisons against it use 1e-10.
MATRIX_EXP_TOL = 1e-10

seeds = st.integers(0, 2**31 - 1)
batch_shapes = st.sampled_from(BATCH_SHAPES)
# Rotation angles (radians): exactly zero, tiny (series branch), around the float64 series switches (1 rad for
# the SO(3)/SE(3) coefficients, 2 atan(0.2) = 0.395 rad for the quaternion log), generic, near pi.
angles = st.one_of(
    st.just(0.0),
    st.floats(1e-9, 1e-4),
    st.floats(0.99, 1.01),
    st.floats(0.39, 0.40),
    st.floats(1e-4, math.pi - 1e-3),
    st.floats(math.pi - 1e-6, math.pi - 1e-9),
)
# Log-scales: zero, tiny, around the series switch, generic (scales 0.05 .. 20).
log_scales = st.one_of(st.just(0.0), st.floats(-1e-6, 1e-6), st.floats(-0.21, 0.21), st.floats(-3.0, 3.0))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rotvec(g: torch.Generator, shape: tuple[int, ...], angle: float | None = None) -> torch.Tensor:
    axis = torch.randn(*shape, 3, generator=g, dtype=F64)
    axis = axis / torch.linalg.vector_norm(axis, dim=-1, keepdim=True)
    if angle is None:
        theta = torch.rand(*shape, 1, generator=g, dtype=F64) * (math.pi - 1e-3)
        return axis * theta
    return axis * angle


def _xi6(g: torch.Generator, shape: tuple[int, ...], angle: float | None = None) -> torch.Tensor:
    rho = 2.0 * torch.randn(*shape, 3, generator=g, dtype=F64)
    return torch.cat([rho, _rotvec(g, shape, angle)], dim=-1)


def _xi7(g: torch.Generator, shape: tuple[int, ...], angle: float | None = None, sigma: float | None = None):
    if sigma is None:
        s = 2.0 * torch.rand(*shape, 1, generator=g, dtype=F64) - 1.0
    else:
        s = torch.full((*shape, 1), sigma, dtype=F64)
    return torch.cat([_xi6(g, shape, angle), s], dim=-1)


def _se3(g: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    return lie.se3_exp(_xi6(g, shape))


def _sim3(g: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    return lie.sim3_exp(_xi7(g, shape))


def _assert_quat_close(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    """Quaternions equal up to sign (q and -q are the same rotation)."""
    sign = torch.where((a * b).sum(dim=-1, keepdim=True) < 0, -1.0, 1.0)
    torch.testing.assert_close(a, sign * b, atol=atol, rtol=0)


def _hom(p: torch.Tensor) -> torch.Tensor:
    return torch.cat([p, torch.ones_like(p[..., :1])], dim=-1)


# --------------------------------------------------------------------------------------------- quaternions


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_quaternion_conversions_match_scipy(seed, shape):
    q = torch.randn(*shape, 4, generator=_gen(seed), dtype=F64)
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    rot = Rotation.from_quat(q.reshape(-1, 4).numpy())  # scipy is scalar-last (xyzw) too
    R = lie.quat_to_matrix(q)
    torch.testing.assert_close(R, torch.from_numpy(rot.as_matrix()).reshape(*shape, 3, 3), atol=ALGEBRA_TOL, rtol=0)
    phi = lie.quat_to_axis_angle(q)
    torch.testing.assert_close(phi, torch.from_numpy(rot.as_rotvec()).reshape(*shape, 3), atol=ALGEBRA_TOL, rtol=0)
    q_back = lie.axis_angle_to_quat(torch.from_numpy(rot.as_rotvec()).reshape(*shape, 3))
    _assert_quat_close(q_back, q, atol=ALGEBRA_TOL)


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=st.one_of(angles, st.just(math.pi)))
def test_matrix_quat_round_trip(seed, shape, angle):
    q = lie.so3_exp(_rotvec(_gen(seed), shape, angle))
    R = lie.quat_to_matrix(q)
    q_back = lie.matrix_to_quat(R)
    assert bool((q_back[..., 3] >= 0).all())
    _assert_quat_close(q_back, q, atol=ALGEBRA_TOL)
    torch.testing.assert_close(lie.quat_to_matrix(q_back), R, atol=ALGEBRA_TOL, rtol=0)
    torch.testing.assert_close(R @ R.mT, torch.eye(3, dtype=F64).expand_as(R), atol=ALGEBRA_TOL, rtol=0)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_matrix_to_quat_at_pi_each_axis(axis):
    """Shepperd's method at exactly 180 degrees, where the trace pivot (4 w^2 = 1 + tr R) vanishes."""
    R = -torch.eye(3, dtype=F64)
    R[axis, axis] = 1.0
    expected = torch.zeros(4, dtype=F64)
    expected[axis] = 1.0
    _assert_quat_close(lie.matrix_to_quat(R), expected, atol=1e-15)


def test_matrix_to_quat_projects_noisy_matrix():
    g = _gen(3)
    R = lie.quat_to_matrix(lie.so3_exp(_rotvec(g, (20,))))
    q = lie.matrix_to_quat(R + 1e-6 * torch.randn(20, 3, 3, generator=g, dtype=F64))
    torch.testing.assert_close(torch.linalg.vector_norm(q, dim=-1), torch.ones(20, dtype=F64))
    torch.testing.assert_close(lie.quat_to_matrix(q), R, atol=1e-5, rtol=0)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_quat_multiply_is_matrix_product(seed, shape):
    g = _gen(seed)
    a, b = lie.so3_exp(_rotvec(g, shape)), lie.so3_exp(_rotvec(g, shape))
    Rab = lie.quat_to_matrix(lie.quat_multiply(a, b))
    torch.testing.assert_close(Rab, lie.quat_to_matrix(a) @ lie.quat_to_matrix(b), atol=ALGEBRA_TOL, rtol=0)
    identity = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=F64)
    torch.testing.assert_close(lie.quat_multiply(a, lie.quat_conjugate(a)), identity.expand_as(a))


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles)
def test_quat_to_axis_angle_sign_invariant_and_bounded(seed, shape, angle):
    q = lie.so3_exp(_rotvec(_gen(seed), shape, angle))
    phi = lie.quat_to_axis_angle(q)
    torch.testing.assert_close(lie.quat_to_axis_angle(-q), phi, atol=1e-15, rtol=0)
    torch.testing.assert_close(lie.quat_to_axis_angle(3.0 * q), phi, atol=1e-15, rtol=1e-15)  # norm-invariant
    assert bool((torch.linalg.vector_norm(phi, dim=-1) <= math.pi + 1e-12).all())


def test_quat_positive_and_normalize():
    q = torch.tensor([[0.0, 0.6, 0.0, -0.8], [0.0, 0.0, 0.6, 0.8]], dtype=F64)
    assert bool((lie.quat_positive(q)[:, 3] > 0).all())
    _assert_quat_close(lie.quat_positive(q), q, atol=0.0)
    torch.testing.assert_close(lie.quat_normalize(2.0 * q), q)


# ----------------------------------------------------------------------------------------------------- SO(3)


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles)
def test_so3_exp_log_round_trip(seed, shape, angle):
    phi = _rotvec(_gen(seed), shape, angle)
    q = lie.so3_exp(phi)
    torch.testing.assert_close(torch.linalg.vector_norm(q, dim=-1), torch.ones(shape, dtype=F64))
    torch.testing.assert_close(lie.so3_log(q), phi, atol=ALGEBRA_TOL, rtol=0)
    phi_scipy = Rotation.from_quat(q.reshape(-1, 4).numpy()).as_rotvec()
    torch.testing.assert_close(phi, torch.from_numpy(phi_scipy).reshape(phi.shape), atol=ALGEBRA_TOL, rtol=0)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_so3_log_at_pi_is_a_valid_log(seed, shape):
    """At exactly pi the axis sign is arbitrary; Exp(Log(q)) must still be the rotation q."""
    q = lie.so3_exp(_rotvec(_gen(seed), shape, math.pi))
    phi = lie.so3_log(q)
    torch.testing.assert_close(torch.linalg.vector_norm(phi, dim=-1), torch.full(shape, math.pi, dtype=F64))
    _assert_quat_close(lie.so3_exp(phi), q, atol=ALGEBRA_TOL)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_so3_hat_vee(seed, shape):
    g = _gen(seed)
    v, p = torch.randn(*shape, 3, generator=g, dtype=F64), torch.randn(*shape, 3, generator=g, dtype=F64)
    K = lie.so3_hat(v)
    torch.testing.assert_close(lie.so3_vee(K), v, atol=0.0, rtol=0.0)
    torch.testing.assert_close(K, -K.mT, atol=0.0, rtol=0.0)
    torch.testing.assert_close((K @ p[..., None])[..., 0], torch.linalg.cross(v, p, dim=-1))


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles)
def test_so3_act_is_matrix_product_and_matches_matrix_exp(seed, shape, angle):
    g = _gen(seed)
    phi = _rotvec(g, shape, angle)
    p = torch.randn(*shape, 3, generator=g, dtype=F64)
    R = torch.linalg.matrix_exp(lie.so3_hat(phi))
    torch.testing.assert_close(lie.quat_to_matrix(lie.so3_exp(phi)), R, atol=MATRIX_EXP_TOL, rtol=0)
    R = lie.quat_to_matrix(lie.so3_exp(phi))
    torch.testing.assert_close(lie.so3_act(lie.so3_exp(phi), p), (R @ p[..., None])[..., 0], atol=ALGEBRA_TOL, rtol=0)


# ----------------------------------------------------------------------------------------------------- SE(3)


def _assert_se3_close(a: torch.Tensor, b: torch.Tensor, atol: float = ALGEBRA_TOL) -> None:
    torch.testing.assert_close(a[..., :3], b[..., :3], atol=atol, rtol=0)
    _assert_quat_close(a[..., 3:], b[..., 3:], atol=atol)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_se3_group_axioms(seed, shape):
    g = _gen(seed)
    a, b, c = _se3(g, shape), _se3(g, shape), _se3(g, shape)
    identity = lie.se3_identity(shape, dtype=F64)
    ab = lie.se3_compose(a, b)
    assert ab.shape == (*shape, 7)  # closure: a unit quaternion and a translation again
    torch.testing.assert_close(torch.linalg.vector_norm(ab[..., 3:], dim=-1), torch.ones(shape, dtype=F64))
    _assert_se3_close(lie.se3_compose(a, identity), a)
    _assert_se3_close(lie.se3_compose(identity, a), a)
    _assert_se3_close(lie.se3_compose(a, lie.se3_inverse(a)), identity)
    _assert_se3_close(lie.se3_compose(lie.se3_inverse(a), a), identity)
    _assert_se3_close(lie.se3_compose(ab, c), lie.se3_compose(a, lie.se3_compose(b, c)))
    torch.testing.assert_close(lie.se3_to_matrix(ab), lie.se3_to_matrix(a) @ lie.se3_to_matrix(b))
    torch.testing.assert_close(lie.se3_to_matrix(lie.se3_inverse(a)), torch.linalg.inv(lie.se3_to_matrix(a)))


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles)
def test_se3_exp_log_round_trip_and_matrix_exp(seed, shape, angle):
    xi = _xi6(_gen(seed), shape, angle)
    T = lie.se3_exp(xi)
    torch.testing.assert_close(lie.se3_log(T), xi, atol=ROUND_TRIP_TOL, rtol=0)
    generator = torch.zeros(*shape, 4, 4, dtype=F64)
    generator[..., :3, :3] = lie.so3_hat(xi[..., 3:])
    generator[..., :3, 3] = xi[..., :3]
    torch.testing.assert_close(lie.se3_to_matrix(T), torch.linalg.matrix_exp(generator), atol=MATRIX_EXP_TOL, rtol=0)


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles)
def test_se3_adjoint_identity(seed, shape, angle):
    """T Exp(a) = Exp(Ad_T a) T."""
    g = _gen(seed)
    T, a = _se3(g, shape), _xi6(g, shape, angle)
    Ad_a = (lie.se3_adjoint(T) @ a[..., None])[..., 0]
    lhs = lie.se3_to_matrix(lie.se3_compose(T, lie.se3_exp(a)))
    rhs = lie.se3_to_matrix(lie.se3_compose(lie.se3_exp(Ad_a), T))
    torch.testing.assert_close(lhs, rhs, atol=ALGEBRA_TOL, rtol=0)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_se3_act_is_matrix_product(seed, shape):
    g = _gen(seed)
    T = _se3(g, shape)
    p = 5.0 * torch.randn(*shape, 3, generator=g, dtype=F64)
    X = torch.randn(*shape, 4, generator=g, dtype=F64)
    M = lie.se3_to_matrix(T)
    torch.testing.assert_close(lie.se3_act(T, p), (M @ _hom(p)[..., None])[..., :3, 0], atol=ALGEBRA_TOL, rtol=0)
    torch.testing.assert_close(lie.se3_act_homogeneous(T, X), (M @ X[..., None])[..., 0], atol=ALGEBRA_TOL, rtol=0)


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=st.one_of(angles, st.just(math.pi)))
def test_se3_matrix_round_trip(seed, shape, angle):
    T = lie.se3_exp(_xi6(_gen(seed), shape, angle))
    M = lie.se3_to_matrix(T)
    torch.testing.assert_close(M[..., 3, :], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=F64).expand(*shape, 4))
    _assert_se3_close(lie.se3_from_matrix(M), T)
    _assert_se3_close(lie.se3_from_matrix(M[..., :3, :]), T)


# ----------------------------------------------------------------------------------------------------- Sim(3)


def _assert_sim3_close(a: torch.Tensor, b: torch.Tensor, atol: float = ALGEBRA_TOL) -> None:
    _assert_se3_close(a[..., :7], b[..., :7], atol=atol)
    torch.testing.assert_close(a[..., 7], b[..., 7], atol=atol, rtol=atol)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_sim3_group_axioms(seed, shape):
    g = _gen(seed)
    a, b, c = _sim3(g, shape), _sim3(g, shape), _sim3(g, shape)
    identity = lie.sim3_identity(shape, dtype=F64)
    ab = lie.sim3_compose(a, b)
    assert ab.shape == (*shape, 8)
    assert bool((ab[..., 7] > 0).all())
    _assert_sim3_close(lie.sim3_compose(a, identity), a)
    _assert_sim3_close(lie.sim3_compose(identity, a), a)
    _assert_sim3_close(lie.sim3_compose(a, lie.sim3_inverse(a)), identity)
    _assert_sim3_close(lie.sim3_compose(lie.sim3_inverse(a), a), identity)
    _assert_sim3_close(lie.sim3_compose(ab, c), lie.sim3_compose(a, lie.sim3_compose(b, c)))
    torch.testing.assert_close(lie.sim3_to_matrix(ab), lie.sim3_to_matrix(a) @ lie.sim3_to_matrix(b))
    torch.testing.assert_close(lie.sim3_to_matrix(lie.sim3_inverse(a)), torch.linalg.inv(lie.sim3_to_matrix(a)))


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles, sigma=log_scales)
def test_sim3_exp_log_round_trip_and_matrix_exp(seed, shape, angle, sigma):
    xi = _xi7(_gen(seed), shape, angle, sigma)
    T = lie.sim3_exp(xi)
    torch.testing.assert_close(lie.sim3_log(T), xi, atol=ROUND_TRIP_TOL, rtol=0)
    generator = torch.zeros(*shape, 4, 4, dtype=F64)
    generator[..., :3, :3] = lie.so3_hat(xi[..., 3:6]) + xi[..., 6, None, None] * torch.eye(3, dtype=F64)
    generator[..., :3, 3] = xi[..., :3]
    torch.testing.assert_close(
        lie.sim3_to_matrix(T), torch.linalg.matrix_exp(generator), atol=MATRIX_EXP_TOL, rtol=MATRIX_EXP_TOL
    )


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles)
def test_sim3_with_zero_scale_change_is_se3(seed, shape, angle):
    xi = _xi6(_gen(seed), shape, angle)
    T = lie.sim3_exp(torch.cat([xi, torch.zeros(*shape, 1, dtype=F64)], dim=-1))
    torch.testing.assert_close(T[..., :7], lie.se3_exp(xi), atol=ALGEBRA_TOL, rtol=0)
    torch.testing.assert_close(T[..., 7], torch.ones(shape, dtype=F64), atol=0.0, rtol=0.0)


@PROPERTY
@given(seed=seeds, shape=batch_shapes, angle=angles, sigma=log_scales)
def test_sim3_adjoint_identity(seed, shape, angle, sigma):
    g = _gen(seed)
    T, a = _sim3(g, shape), _xi7(g, shape, angle, sigma)
    Ad_a = (lie.sim3_adjoint(T) @ a[..., None])[..., 0]
    lhs = lie.sim3_to_matrix(lie.sim3_compose(T, lie.sim3_exp(a)))
    rhs = lie.sim3_to_matrix(lie.sim3_compose(lie.sim3_exp(Ad_a), T))
    torch.testing.assert_close(lhs, rhs, atol=ALGEBRA_TOL, rtol=ALGEBRA_TOL)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_sim3_act_and_matrix_round_trip(seed, shape):
    g = _gen(seed)
    T = _sim3(g, shape)
    p = 5.0 * torch.randn(*shape, 3, generator=g, dtype=F64)
    M = lie.sim3_to_matrix(T)
    torch.testing.assert_close(lie.sim3_act(T, p), (M @ _hom(p)[..., None])[..., :3, 0], atol=ALGEBRA_TOL, rtol=0)
    _assert_sim3_close(lie.sim3_from_matrix(M), T)
    _assert_sim3_close(lie.sim3_from_matrix(M[..., :3, :]), T)


# ------------------------------------------------------------------------------------------ shapes and dtypes


def _inputs(kind: str, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    makers = {
        "quat": lambda: lie.so3_exp(_rotvec(g, shape)),
        "phi": lambda: _rotvec(g, shape),
        "R": lambda: lie.quat_to_matrix(lie.so3_exp(_rotvec(g, shape))),
        "p": lambda: torch.randn(*shape, 3, generator=g, dtype=F64),
        "X": lambda: torch.randn(*shape, 4, generator=g, dtype=F64),
        "xi6": lambda: _xi6(g, shape),
        "xi7": lambda: _xi7(g, shape),
        "se3": lambda: _se3(g, shape),
        "sim3": lambda: _sim3(g, shape),
        "M": lambda: lie.se3_to_matrix(_se3(g, shape)),
        "M34": lambda: lie.sim3_to_matrix(_sim3(g, shape))[..., :3, :],
    }
    return makers[kind]()


UNARY = [
    (lie.quat_to_matrix, "quat", (3, 3)),
    (lie.matrix_to_quat, "R", (4,)),
    (lie.quat_conjugate, "quat", (4,)),
    (lie.quat_normalize, "quat", (4,)),
    (lie.quat_positive, "quat", (4,)),
    (lie.axis_angle_to_quat, "phi", (4,)),
    (lie.quat_to_axis_angle, "quat", (3,)),
    (lie.so3_exp, "phi", (4,)),
    (lie.so3_log, "quat", (3,)),
    (lie.so3_hat, "phi", (3, 3)),
    (lie.so3_vee, "R", (3,)),
    (lie.so3_left_jacobian, "phi", (3, 3)),
    (lie.so3_right_jacobian, "phi", (3, 3)),
    (lie.so3_left_jacobian_inverse, "phi", (3, 3)),
    (lie.so3_right_jacobian_inverse, "phi", (3, 3)),
    (lie.se3_exp, "xi6", (7,)),
    (lie.se3_log, "se3", (6,)),
    (lie.se3_inverse, "se3", (7,)),
    (lie.se3_adjoint, "se3", (6, 6)),
    (lie.se3_to_matrix, "se3", (4, 4)),
    (lie.se3_from_matrix, "M", (7,)),
    (lie.se3_left_jacobian, "xi6", (6, 6)),
    (lie.se3_left_jacobian_inverse, "xi6", (6, 6)),
    (lie.sim3_exp, "xi7", (8,)),
    (lie.sim3_log, "sim3", (7,)),
    (lie.sim3_inverse, "sim3", (8,)),
    (lie.sim3_adjoint, "sim3", (7, 7)),
    (lie.sim3_to_matrix, "sim3", (4, 4)),
    (lie.sim3_from_matrix, "M34", (8,)),
]
BINARY = [
    (lie.quat_multiply, "quat", "quat", (4,)),
    (lie.so3_act, "quat", "p", (3,)),
    (lie.se3_compose, "se3", "se3", (7,)),
    (lie.se3_act, "se3", "p", (3,)),
    (lie.se3_act_homogeneous, "se3", "X", (4,)),
    (lie.sim3_compose, "sim3", "sim3", (8,)),
    (lie.sim3_act, "sim3", "p", (3,)),
]
# (shape of the first argument, shape of the second, broadcast result)
BROADCASTS = [((), (5,), (5,)), ((2, 3), (3,), (2, 3)), ((2, 1), (4,), (2, 4)), ((1,), (2, 3), (2, 3))]


@pytest.mark.parametrize("shape", BATCH_SHAPES)
@pytest.mark.parametrize(("fn", "kind", "trailing"), UNARY, ids=[f[0].__name__ for f in UNARY])
def test_unary_batch_shapes(fn, kind, trailing, shape, device):
    x = _inputs(kind, shape, _gen(0)).to(device)
    out = fn(x)
    assert out.shape == (*shape, *trailing)
    assert out.dtype == F64 and out.device == x.device
    assert bool(torch.isfinite(out).all())
    # batched == elementwise-in-a-flat-batch, up to round-off: a batch of another shape may take another SIMD path
    # (with AVX2 or AVX-512 kernels shape () and (1,) differ by an ulp), so bitwise equality would test the CPU.
    flat = fn(x.reshape(-1, *x.shape[len(shape) :]))
    assert_equal_up_to_rounding(out.reshape(-1, *trailing), flat)


@pytest.mark.parametrize("shape", BATCH_SHAPES)
@pytest.mark.parametrize(("fn", "kind_a", "kind_b", "trailing"), BINARY, ids=[f[0].__name__ for f in BINARY])
def test_binary_batch_shapes(fn, kind_a, kind_b, trailing, shape, device):
    g = _gen(1)
    a, b = _inputs(kind_a, shape, g).to(device), _inputs(kind_b, shape, g).to(device)
    out = fn(a, b)
    assert out.shape == (*shape, *trailing)
    # each batch element equals the call on that element alone, up to round-off (see test_unary_batch_shapes)
    trailing_a, trailing_b = a.shape[len(shape) :], b.shape[len(shape) :]
    a_flat, b_flat = a.reshape(-1, *trailing_a), b.reshape(-1, *trailing_b)
    one_by_one = torch.stack([fn(a_flat[i], b_flat[i]) for i in range(a_flat.shape[0])])
    assert_equal_up_to_rounding(out.reshape(-1, *trailing), one_by_one)


@pytest.mark.parametrize(("shape_a", "shape_b", "shape_out"), BROADCASTS)
@pytest.mark.parametrize(("fn", "kind_a", "kind_b", "trailing"), BINARY, ids=[f[0].__name__ for f in BINARY])
def test_binary_broadcasting(fn, kind_a, kind_b, trailing, shape_a, shape_b, shape_out, device):
    g = _gen(2)
    a, b = _inputs(kind_a, shape_a, g).to(device), _inputs(kind_b, shape_b, g).to(device)
    out = fn(a, b)
    assert out.shape == (*shape_out, *trailing)
    # contiguous copies of the broadcast inputs: same values, different strides, so possibly another SIMD path
    a_full = a.expand(*shape_out, a.shape[-1]).contiguous()
    b_full = b.expand(*shape_out, b.shape[-1]).contiguous()
    assert_equal_up_to_rounding(out, fn(a_full, b_full))


@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_act_jacobian_and_identity_shapes(shape):
    g = _gen(3)
    J_p_xi, J_p_pt = lie.se3_act_jacobian(_se3(g, shape), _inputs("p", shape, g))
    assert J_p_xi.shape == (*shape, 3, 6)
    assert J_p_pt.shape == (*shape, 3, 3)
    T, p = _se3(g, (2, 1)), _inputs("p", (5,), g)
    J = lie.se3_act_jacobian(T, p)
    assert J.J_p_xi.shape == (2, 5, 3, 6)
    assert J.J_p_pt.shape == (2, 5, 3, 3)
    # the broadcast Jacobian equals the per-element one (up to round-off, see test_unary_batch_shapes)
    one = lie.se3_act_jacobian(T[1, 0], p[3])
    assert_equal_up_to_rounding(J.J_p_xi[1, 3], one.J_p_xi)
    assert_equal_up_to_rounding(J.J_p_pt[1, 3], one.J_p_pt)
    se3_id, sim3_id = lie.se3_identity(shape, dtype=F64), lie.sim3_identity(shape, dtype=F64)
    assert se3_id.tolist() == torch.tensor([0.0, 0, 0, 0, 0, 0, 1]).expand(*shape, 7).tolist()
    assert sim3_id.tolist() == torch.tensor([0.0, 0, 0, 0, 0, 0, 1, 1]).expand(*shape, 8).tolist()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_preserved_and_float32_is_accurate(dtype):
    xi = _xi7(_gen(4), (16,))
    T = lie.sim3_exp(xi.to(dtype))
    assert T.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(T.double(), lie.sim3_exp(xi), atol=tol, rtol=tol)
    torch.testing.assert_close(lie.sim3_log(T).double(), xi, atol=10 * tol, rtol=0)
    xi6 = xi[..., :6]
    torch.testing.assert_close(lie.se3_log(lie.se3_exp(xi6.to(dtype))).double(), xi6, atol=10 * tol, rtol=0)


# --------------------------------------------------------------------------------------------------- errors

BAD_INPUTS = [
    (lie.quat_to_matrix, (torch.zeros(3),), "last dimension 4"),
    (lie.matrix_to_quat, (torch.zeros(3, 4),), r"\(3, 3\)"),
    (lie.so3_exp, (torch.zeros(4),), "last dimension 3"),
    (lie.so3_log, (torch.zeros(3),), "last dimension 4"),
    (lie.se3_exp, (torch.zeros(7),), "last dimension 6"),
    (lie.se3_log, (torch.zeros(6),), "last dimension 7"),
    (lie.se3_compose, (torch.zeros(7), torch.zeros(8)), "last dimension 7"),
    (lie.se3_act, (torch.zeros(7), torch.zeros(4)), "last dimension 3"),
    (lie.se3_from_matrix, (torch.zeros(2, 4),), r"\(3, 4\) or \(4, 4\)"),
    (lie.sim3_exp, (torch.zeros(6),), "last dimension 7"),
    (lie.sim3_log, (torch.zeros(7),), "last dimension 8"),
    (lie.sim3_act, (torch.zeros(7), torch.zeros(3)), "last dimension 8"),
    (lie.se3_exp, (torch.zeros(6, dtype=torch.int64),), "floating-point"),
]


@pytest.mark.parametrize(("fn", "args", "match"), BAD_INPUTS, ids=[b[0].__name__ for b in BAD_INPUTS])
def test_wrong_shapes_raise_clear_errors(fn, args, match):
    # Without the test-time jaxtyping hook (production), the function's own check raises ValueError ...
    with pytest.raises(ValueError, match=match):
        inspect.unwrap(fn)(*args)
    # ... and with it, either the annotation check (a TypeError) or the same ValueError fires first.
    with pytest.raises((ValueError, TypeError)):
        fn(*args)


# ------------------------------------------------------------------------------------------------- wrappers


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_se3_wrapper_dispatches_to_functional_core(seed, shape):
    g = _gen(seed)
    a, b = SE3(_se3(g, shape)), SE3(_se3(g, shape))
    p = torch.randn(*shape, 3, generator=g, dtype=F64)
    torch.testing.assert_close((a @ b).data, lie.se3_compose(a.data, b.data), atol=0.0, rtol=0.0)
    torch.testing.assert_close(a.act(p), lie.se3_act(a.data, p), atol=0.0, rtol=0.0)
    torch.testing.assert_close(a.inverse().data, lie.se3_inverse(a.data), atol=0.0, rtol=0.0)
    torch.testing.assert_close(SE3.exp(a.log()).matrix(), a.matrix(), atol=ROUND_TRIP_TOL, rtol=0)
    torch.testing.assert_close(SE3.from_matrix(a.matrix()).matrix(), a.matrix(), atol=ALGEBRA_TOL, rtol=0)
    torch.testing.assert_close(a.adjoint(), lie.se3_adjoint(a.data), atol=0.0, rtol=0.0)
    torch.testing.assert_close(a.translation, a.data[..., :3], atol=0.0, rtol=0.0)
    torch.testing.assert_close(a.rotation_matrix, lie.quat_to_matrix(a.quaternion), atol=0.0, rtol=0.0)
    assert a.batch_shape == shape
    assert (a @ SE3.identity(shape, dtype=F64)).data.shape == (*shape, 7)


@PROPERTY
@given(seed=seeds, shape=batch_shapes)
def test_sim3_wrapper_dispatches_to_functional_core(seed, shape):
    g = _gen(seed)
    a, b = Sim3(_sim3(g, shape)), Sim3(_sim3(g, shape))
    p = torch.randn(*shape, 3, generator=g, dtype=F64)
    torch.testing.assert_close((a @ b).data, lie.sim3_compose(a.data, b.data), atol=0.0, rtol=0.0)
    torch.testing.assert_close(a.act(p), lie.sim3_act(a.data, p), atol=0.0, rtol=0.0)
    torch.testing.assert_close((a @ a.inverse()).log(), torch.zeros(*shape, 7, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(Sim3.exp(a.log()).matrix(), a.matrix(), atol=ROUND_TRIP_TOL, rtol=0)
    torch.testing.assert_close(Sim3.from_matrix(a.matrix()).matrix(), a.matrix(), atol=ALGEBRA_TOL, rtol=0)
    torch.testing.assert_close(a.adjoint(), lie.sim3_adjoint(a.data), atol=0.0, rtol=0.0)
    torch.testing.assert_close(a.scale, a.data[..., 7], atol=0.0, rtol=0.0)
    torch.testing.assert_close(a.to_se3().data, a.data[..., :7], atol=0.0, rtol=0.0)
    torch.testing.assert_close(Sim3.from_se3(a.to_se3(), a.scale).data, a.data, atol=0.0, rtol=0.0)
    assert a.batch_shape == shape
    assert Sim3.identity(shape, dtype=F64).data.shape == (*shape, 8)


def test_wrappers_are_thin_frozen_dataclasses():
    T = SE3.identity(dtype=F64)
    assert dataclasses.is_dataclass(T)
    assert not isinstance(T, (torch.nn.Module, torch.Tensor))
    with pytest.raises(dataclasses.FrozenInstanceError):
        T.data = torch.zeros(7)  # type: ignore[misc]
    with pytest.raises(TypeError):
        T @ torch.zeros(7, dtype=F64)  # `@` only composes; it never falls back to tensor algebra
    with pytest.raises(TypeError):
        T @ Sim3.identity(dtype=F64)  # no silent mixing of groups
    with pytest.raises((ValueError, TypeError)):
        SE3(torch.zeros(8))
    with pytest.raises((ValueError, TypeError)):
        Sim3(torch.zeros(7))
    bare = object.__new__(SE3)  # bypass the test-time annotation check to reach the production check
    object.__setattr__(bare, "data", torch.zeros(8))
    with pytest.raises(ValueError, match="last dimension 7"):
        bare.__post_init__()
