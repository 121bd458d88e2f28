"""Tests of vokit.geometry.camera: pinhole model, Jacobians, intrinsics, radial-tangential distortion."""

import dataclasses

import cv2
import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.data import shared_data

from vokit.geometry import camera
from vokit.geometry.camera import (
    MIN_Z_BA,
    MIN_Z_PROJECT,
    K_to_intrinsics,
    PinholeCamera,
    distort_radtan,
    distort_radtan_jacobian,
    guarded_inverse_depth,
    intrinsics_to_K,
    project,
    project_jacobian,
    scale_intrinsics,
    undistort_image,
    undistort_radtan,
    undistortion_map,
    unproject,
    unproject_jacobian,
)

F64 = torch.float64
BATCH_SHAPES = [(), (1,), (7,), (2, 3)]
# A realistic EuRoC-like calibration (cam0 of V1_01 rounded); the exact values come from shared/ where used.
EUROC_INTR = torch.tensor([458.654, 457.296, 367.215, 248.375], dtype=F64)
EUROC_DIST = torch.tensor([-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05], dtype=F64)
EUROC_HW = (480, 752)


def random_points(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype = F64) -> torch.Tensor:
    """Points in front of the camera, within a ~90 degree field of view."""
    z = 0.5 + 9.5 * torch.rand(shape, generator=gen, dtype=dtype)
    xy = (torch.rand(*shape, 2, generator=gen, dtype=dtype) - 0.5) * 1.6 * z[..., None]
    return torch.cat([xy, z[..., None]], dim=-1)


def random_intrinsics(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype = F64) -> torch.Tensor:
    f = 300 + 300 * torch.rand(*shape, 2, generator=gen, dtype=dtype)
    c = torch.stack(
        [
            300 + 40 * torch.rand(shape, generator=gen, dtype=dtype),
            220 + 40 * torch.rand(shape, generator=gen, dtype=dtype),
        ],
        dim=-1,
    )
    return torch.cat([f, c], dim=-1)


def euroc_calibration() -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """cam0 calibration of EuRoC V1_01 from the shared sample (skips when absent)."""
    path = shared_data("euroc_V101_micro_95f", "mav0", "cam0", "sensor.yaml")
    text = path.read_text().split("\n", 1)[1]  # drop the OpenCV "%YAML:1.0" directive
    cfg = yaml.safe_load(text)
    width, height = cfg["resolution"]
    return (
        torch.tensor(cfg["intrinsics"], dtype=F64),
        torch.tensor(cfg["distortion_coefficients"], dtype=F64),
        (height, width),
    )


# --- guarded division -------------------------------------------------------------------------------------------


def test_guarded_inverse_depth_values_and_mask() -> None:
    z = torch.tensor([5.0, 0.3, 0.2, 0.1, 0.0, -2.0, float("nan")], dtype=F64)
    inv_z, valid = guarded_inverse_depth(z, MIN_Z_BA)
    assert valid.tolist() == [True, True, False, False, False, False, False]
    torch.testing.assert_close(inv_z[:2], 1.0 / z[:2])
    assert torch.equal(inv_z[2:], torch.zeros(5, dtype=F64))


def test_guarded_inverse_depth_gradients_finite() -> None:
    z = torch.tensor([5.0, 0.3, 0.2, 0.0, -2.0, 1e-30], dtype=F64, requires_grad=True)
    inv_z, _ = guarded_inverse_depth(z, MIN_Z_BA)
    (grad,) = torch.autograd.grad(inv_z.sum(), z)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad[:2], -1.0 / z.detach()[:2] ** 2)
    assert torch.equal(grad[2:], torch.zeros(4, dtype=F64))


def test_min_z_constants() -> None:
    assert MIN_Z_BA == 0.2  # METHODS.md 3.1: validity requires Z > 0.2
    assert 0 < MIN_Z_PROJECT < 1e-3


# --- pinhole projection -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_project_unproject_batch_shapes(shape: tuple[int, ...], gen: torch.Generator) -> None:
    pts = random_points(gen, shape)
    intr = random_intrinsics(gen, shape)
    uv = project(pts, intr)
    assert uv.shape == (*shape, 2)
    assert project_jacobian(pts, intr).shape == (*shape, 2, 3)
    back = unproject(uv, pts[..., 2], intr)
    assert back.shape == (*shape, 3)
    torch.testing.assert_close(back, pts)
    assert unproject_jacobian(uv, pts[..., 2], intr).shape == (*shape, 3, 3)
    # one shared camera broadcasts against any batch of points
    torch.testing.assert_close(project(pts, EUROC_INTR), project(pts, EUROC_INTR.expand(*shape, 4)))


def test_project_matches_K_matmul(gen: torch.Generator) -> None:
    pts = random_points(gen, (50,))
    intr = random_intrinsics(gen, (50,))
    hom = (intrinsics_to_K(intr) @ pts[..., None])[..., 0]
    torch.testing.assert_close(project(pts, intr), hom[..., :2] / hom[..., 2:])
    torch.testing.assert_close(K_to_intrinsics(intrinsics_to_K(intr)), intr)


def test_project_behind_camera_lands_on_principal_point() -> None:
    pts = torch.tensor([[1.0, 2.0, -3.0], [1.0, 2.0, 0.0], [1.0, 2.0, 0.1]], dtype=F64)
    uv = project(pts, EUROC_INTR, min_z=MIN_Z_BA)
    torch.testing.assert_close(uv, EUROC_INTR[2:].expand(3, 2))
    assert torch.equal(project_jacobian(pts, EUROC_INTR, min_z=MIN_Z_BA), torch.zeros(3, 2, 3, dtype=F64))


@st.composite
def points_and_batch(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    shape = draw(st.sampled_from(BATCH_SHAPES))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    return random_points(gen, shape), random_intrinsics(gen, shape)


@settings(deadline=None, max_examples=40)
@given(points_and_batch())
def test_unproject_project_round_trip(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    pts, intr = data
    torch.testing.assert_close(unproject(project(pts, intr), pts[..., 2], intr), pts, rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(
    u=st.floats(-100, 900),
    v=st.floats(-100, 600),
    depth=st.floats(0.01, 1000.0),
    intr=st.tuples(st.floats(50, 2000), st.floats(50, 2000), st.floats(0, 800), st.floats(0, 600)),
)
def test_project_unproject_uv_round_trip(
    u: float, v: float, depth: float, intr: tuple[float, float, float, float]
) -> None:
    uv = torch.tensor([u, v], dtype=F64)
    intrinsics = torch.tensor(intr, dtype=F64)
    pts = unproject(uv, torch.tensor(depth, dtype=F64), intrinsics)
    torch.testing.assert_close(project(pts, intrinsics), uv, rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", [(), (2, 3)])
def test_project_jacobian_matches_jacrev(shape: tuple[int, ...], gen: torch.Generator) -> None:
    pts = random_points(gen, shape).reshape(-1, 3)
    intr = random_intrinsics(gen, shape).reshape(-1, 4)
    # include points on both sides of the BA guard
    pts[0, 2] = 0.15
    for min_z in (MIN_Z_PROJECT, MIN_Z_BA):
        ours = project_jacobian(pts, intr, min_z=min_z)
        for i in range(pts.shape[0]):
            ref = torch.func.jacrev(lambda p, i=i, min_z=min_z: project(p, intr[i], min_z=min_z))(pts[i])
            torch.testing.assert_close(ours[i], ref, rtol=1e-12, atol=1e-12)


def test_unproject_jacobian_matches_jacrev(gen: torch.Generator) -> None:
    pts = random_points(gen, (6,))
    intr = random_intrinsics(gen, (6,))
    uv = project(pts, intr)
    ours = unproject_jacobian(uv, pts[..., 2], intr)
    for i in range(6):
        ref = torch.func.jacrev(lambda uvd, i=i: unproject(uvd[:2], uvd[2], intr[i]))(torch.cat([uv[i], pts[i, 2:]]))
        torch.testing.assert_close(ours[i], ref, rtol=1e-12, atol=1e-12)


def test_gradcheck_project_unproject(gen: torch.Generator) -> None:
    pts = random_points(gen, (4,)).requires_grad_()
    intr = random_intrinsics(gen, (4,)).requires_grad_()
    assert torch.autograd.gradcheck(project, (pts, intr))
    uv = project(pts, intr).detach().requires_grad_()
    depth = pts[..., 2].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(unproject, (uv, depth, intr))


# --- intrinsics -------------------------------------------------------------------------------------------------


def test_scale_intrinsics_reference_rule(gen: torch.Generator) -> None:
    pts = random_points(gen, (20,))
    intr = random_intrinsics(gen, ())
    # reference rule: the projection scales with the image about the top-left pixel centre, uv' = s uv
    for sx, sy in [(0.25, 0.25), (0.5, 0.4), (2.0, 1.5)]:
        scaled = scale_intrinsics(intr, sx, sy)
        torch.testing.assert_close(project(pts, scaled), project(pts, intr) * torch.tensor([sx, sy], dtype=F64))
    torch.testing.assert_close(scale_intrinsics(intr, 0.5), intr * 0.5)
    # the exact rule for pixel-centre coordinates differs from the reference rule by (s - 1) / 2 pixels
    s = 0.25
    exact_c = s * (intr[2:] + 0.5) - 0.5
    torch.testing.assert_close(exact_c - scale_intrinsics(intr, s)[2:], torch.full((2,), (s - 1) / 2, dtype=F64))


@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_intrinsics_K_batch_shapes(shape: tuple[int, ...], gen: torch.Generator) -> None:
    intr = random_intrinsics(gen, shape)
    K = intrinsics_to_K(intr)
    assert K.shape == (*shape, 3, 3)
    torch.testing.assert_close(K_to_intrinsics(K), intr)
    assert scale_intrinsics(intr, 0.5).shape == (*shape, 4)


# --- radial-tangential distortion -------------------------------------------------------------------------------


def test_distort_radtan_matches_opencv(gen: torch.Generator) -> None:
    pts = random_points(gen, (200,))
    ours = project(
        torch.cat([distort_radtan(pts[..., :2] / pts[..., 2:], EUROC_DIST), torch.ones(200, 1, dtype=F64)], dim=-1),
        EUROC_INTR,
    )
    ref, _ = cv2.projectPoints(
        pts.numpy(), np.zeros(3), np.zeros(3), intrinsics_to_K(EUROC_INTR).numpy(), EUROC_DIST.numpy()
    )
    np.testing.assert_allclose(ours.numpy(), ref[:, 0, :], rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", BATCH_SHAPES)
def test_distortion_batch_shapes(shape: tuple[int, ...], gen: torch.Generator) -> None:
    xy = (torch.rand(*shape, 2, generator=gen, dtype=F64) - 0.5) * 1.2
    dist = EUROC_DIST.expand(*shape, 4)
    assert distort_radtan(xy, dist).shape == (*shape, 2)
    assert distort_radtan(xy, EUROC_DIST).shape == (*shape, 2)
    assert distort_radtan_jacobian(xy, EUROC_DIST).shape == (*shape, 2, 2)
    assert undistort_radtan(xy, dist).shape == (*shape, 2)
    torch.testing.assert_close(undistort_radtan(distort_radtan(xy, dist), EUROC_DIST), xy, rtol=0, atol=1e-12)


def test_distort_radtan_jacobian_matches_jacrev(gen: torch.Generator) -> None:
    xy = (torch.rand(8, 2, generator=gen, dtype=F64) - 0.5) * 1.4
    dist = torch.tensor([-0.3, 0.1, 0.01, -0.02], dtype=F64)
    ours = distort_radtan_jacobian(xy, dist)
    for i in range(8):
        ref = torch.func.jacrev(lambda p: distort_radtan(p, dist))(xy[i])
        torch.testing.assert_close(ours[i], ref, rtol=1e-12, atol=1e-12)


def test_gradcheck_distort_undistort(gen: torch.Generator) -> None:
    xy = ((torch.rand(5, 2, generator=gen, dtype=F64) - 0.5) * 1.2).requires_grad_()
    dist = torch.tensor([-0.28, 0.07, 0.002, -0.001], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(distort_radtan, (xy, dist))
    xy_d = distort_radtan(xy, dist).detach().requires_grad_()
    # the final differentiable Newton step gives the implicit-function gradient of the exact inverse
    assert torch.autograd.gradcheck(undistort_radtan, (xy_d, dist))


def test_undistort_radtan_round_trip_euroc_full_image() -> None:
    intr, dist, (height, width) = euroc_calibration()
    v, u = torch.meshgrid(torch.arange(height, dtype=F64), torch.arange(width, dtype=F64), indexing="ij")
    uv_raw = torch.stack([u, v], dim=-1).reshape(-1, 2)
    # every raw pixel centre -> undistorted normalised coordinates -> distort -> raw pixel again
    xy_d = (uv_raw - intr[2:]) / intr[:2]
    xy = undistort_radtan(xy_d, dist)
    uv_again = distort_radtan(xy, dist) * intr[:2] + intr[2:]
    err_px = (uv_again - uv_raw).abs().max().item()
    assert err_px < 1e-9, err_px
    # and the opposite direction: undistorted points covering the image -> distort -> undistort
    xy_back = undistort_radtan(distort_radtan(xy, dist), dist)
    assert ((xy_back - xy).abs() * intr[:2]).max().item() < 1e-9


@settings(deadline=None, max_examples=30)
@given(
    k1=st.floats(-0.4, 0.1),
    k2=st.floats(-0.05, 0.1),
    p1=st.floats(-2e-3, 2e-3),
    p2=st.floats(-2e-3, 2e-3),
    x=st.floats(-0.7, 0.7),
    y=st.floats(-0.5, 0.5),
)
def test_undistort_radtan_inverts_distort(k1: float, k2: float, p1: float, p2: float, x: float, y: float) -> None:
    dist = torch.tensor([k1, k2, p1, p2], dtype=F64)
    xy = torch.tensor([x, y], dtype=F64)
    err_px = (undistort_radtan(distort_radtan(xy, dist), dist) - xy).abs().max().item() * 500
    assert err_px < 1e-9, err_px


def test_undistort_radtan_bad_iterations() -> None:
    with pytest.raises(ValueError, match="num_iters"):
        undistort_radtan(torch.zeros(2), torch.zeros(4), num_iters=-1)


def test_undistortion_map_matches_opencv() -> None:
    height, width = EUROC_HW
    new_intr = scale_intrinsics(EUROC_INTR, 0.8)  # a different output camera, as getOptimalNewCameraMatrix gives
    ours = undistortion_map(EUROC_INTR[None], EUROC_DIST[None], height, width, new_intrinsics=new_intr[None])[0]
    map_x, map_y = cv2.initUndistortRectifyMap(
        intrinsics_to_K(EUROC_INTR).numpy(),
        EUROC_DIST.numpy(),
        None,
        intrinsics_to_K(new_intr).numpy(),
        (width, height),
        cv2.CV_32FC1,
    )
    ref = np.stack([map_x, map_y], axis=-1)
    # OpenCV's maps are float32 (about 3e-5 px of rounding at u ~ 750)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-3)


def test_undistortion_map_and_image_batches(gen: torch.Generator) -> None:
    height, width = 30, 47
    intr = torch.stack([scale_intrinsics(EUROC_INTR, 1 / 16), scale_intrinsics(EUROC_INTR, 1 / 15)])
    maps = undistortion_map(intr, EUROC_DIST[None], height, width)
    assert maps.shape == (2, height, width, 2)
    for b in range(2):
        torch.testing.assert_close(maps[b], undistortion_map(intr[b : b + 1], EUROC_DIST[None], height, width)[0])
    # zero distortion and the same camera: the map is the identity grid
    ident = undistortion_map(intr, torch.zeros(1, 4, dtype=F64), height, width)
    v, u = torch.meshgrid(torch.arange(height, dtype=F64), torch.arange(width, dtype=F64), indexing="ij")
    torch.testing.assert_close(ident, torch.stack([u, v], dim=-1).expand(2, height, width, 2))
    images = torch.rand(2, 3, height, width, generator=gen, dtype=F64)
    out = undistort_image(images, intr, EUROC_DIST[None])
    assert out.shape == images.shape
    torch.testing.assert_close(out[1:], undistort_image(images[1:], intr[1:], EUROC_DIST[None]))


def texture(xy: torch.Tensor) -> torch.Tensor:
    """A smooth analytic texture over normalised image coordinates, in [0, 1]."""
    x, y = xy.unbind(-1)
    return 0.5 + 0.25 * torch.sin(9.0 * x + 1.0) * torch.cos(7.0 * y) + 0.2 * torch.cos(5.0 * x * y + 4.0 * y)


def test_undistort_image_recovers_rendered_pinhole_image() -> None:
    height, width = 120, 188  # EuRoC at 1/4 resolution
    intr = scale_intrinsics(EUROC_INTR, 0.25)
    v, u = torch.meshgrid(torch.arange(height, dtype=F64), torch.arange(width, dtype=F64), indexing="ij")
    uv = torch.stack([u, v], dim=-1)
    xy_d = (uv - intr[2:]) / intr[:2]
    raw = texture(undistort_radtan(xy_d, EUROC_DIST))[None, None]  # what the distorting lens records
    expected = texture((uv - intr[2:]) / intr[:2])  # the ideal pinhole image of the same scene
    out = undistort_image(raw, intr[None], EUROC_DIST[None])[0, 0]
    inside = (
        (undistortion_map(intr[None], EUROC_DIST[None], height, width)[0] >= 0)
        & (
            undistortion_map(intr[None], EUROC_DIST[None], height, width)[0]
            <= torch.tensor([width - 1, height - 1], dtype=F64)
        )
    ).all(-1)
    assert inside.float().mean() > 0.8
    err = (out - expected)[inside].abs()
    naive = (raw[0, 0] - expected)[inside].abs()
    assert err.max() < 0.02 and err.mean() < 2e-3, (err.max(), err.mean())  # bilinear error of a smooth texture
    assert naive.mean() > 10 * err.mean()
    assert torch.equal(out[~inside], torch.zeros_like(out[~inside]))


def test_undistort_image_matches_opencv_on_euroc_frame() -> None:
    intr, dist, (height, width) = euroc_calibration()
    frames = sorted(shared_data("euroc_V101_micro_95f", "mav0", "cam0", "data").glob("*.png"))
    gray = cv2.imread(str(frames[0]), cv2.IMREAD_GRAYSCALE)
    assert gray.shape == (height, width)
    K = intrinsics_to_K(intr).numpy()
    ref = cv2.undistort(gray.astype(np.float32) / 255.0, K, dist.numpy())
    image = torch.from_numpy(gray).to(torch.float32)[None, None] / 255.0
    ours = undistort_image(image, intr[None].float(), dist[None].float())[0, 0].numpy()
    interior = np.zeros_like(ref, dtype=bool)
    interior[8:-8, 8:-8] = True
    diff = np.abs(ours - ref)[interior]
    # cv2.remap quantises sample positions to 1/32 px, so agreement is to a fraction of one grey level
    assert diff.mean() < 2e-3 and np.quantile(diff, 0.99) < 1.5e-2, (diff.mean(), np.quantile(diff, 0.99))


# --- wrapper and errors -----------------------------------------------------------------------------------------


def test_pinhole_camera_wrapper(gen: torch.Generator) -> None:
    cam = PinholeCamera(EUROC_INTR, 480, 752, dist=EUROC_DIST)
    pts = random_points(gen, (5,))
    torch.testing.assert_close(cam.project(pts), project(pts, EUROC_INTR))
    torch.testing.assert_close(cam.unproject(cam.project(pts), pts[..., 2]), pts)
    torch.testing.assert_close(cam.project_jacobian(pts), project_jacobian(pts, EUROC_INTR))
    torch.testing.assert_close(cam.K, intrinsics_to_K(EUROC_INTR))
    small = cam.resized(120, 188)
    assert (small.height, small.width) == (120, 188)
    torch.testing.assert_close(small.intrinsics, scale_intrinsics(EUROC_INTR, 0.25))
    assert small.dist is cam.dist
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.height = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="image size"):
        PinholeCamera(EUROC_INTR, 0, 752)


def test_bad_shapes_are_rejected() -> None:
    # annotations are checked at runtime in the test suite (pyproject: --jaxtyping-packages=vokit)
    with pytest.raises(TypeError):
        project(torch.ones(5, 2), EUROC_INTR)
    with pytest.raises(TypeError):
        unproject(torch.ones(5, 2), torch.ones(5), torch.ones(3))
    with pytest.raises(TypeError):
        distort_radtan(torch.ones(5, 2), torch.ones(5))


def test_module_exports_contract_names() -> None:
    for name in [
        "project",
        "project_jacobian",
        "unproject",
        "scale_intrinsics",
        "intrinsics_to_K",
        "K_to_intrinsics",
        "distort_radtan",
        "undistort_radtan",
        "undistort_image",
        "guarded_inverse_depth",
        "MIN_Z_BA",
        "PinholeCamera",
    ]:
        assert hasattr(camera, name), name
