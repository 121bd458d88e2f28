"""Tests of vokit.geometry.warp: pixel grids, back-projection, rigid flow and inverse warping."""

import pytest
import torch
import torch.nn.functional as F

from vokit.geometry import lie
from vokit.geometry.camera import intrinsics_to_K, project, unproject
from vokit.geometry.warp import (
    backproject_depth,
    flow_warp,
    inverse_warp,
    pixel_grid,
    pixels_to_grid,
    reproject_depth,
    rigid_flow,
    warp_with_depth,
)

F64 = torch.float64
INTR = torch.tensor([[60.0, 62.0, 39.5, 29.0]], dtype=F64)  # an 80 x 60 image
H, W = 60, 80


def random_pose(gen: torch.Generator, batch: int, rot: float = 0.1, trans: float = 0.3) -> torch.Tensor:
    xi = torch.cat(
        [
            trans * torch.randn(batch, 3, generator=gen, dtype=F64),
            rot * torch.randn(batch, 3, generator=gen, dtype=F64),
        ],
        dim=-1,
    )
    return lie.se3_exp(xi)


def smooth_depth(gen: torch.Generator, batch: int, height: int = H, width: int = W) -> torch.Tensor:
    coarse = 2.0 + 3.0 * torch.rand(batch, 1, 4, 5, generator=gen, dtype=F64)
    return F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[:, 0]


# --- grids and back-projection ----------------------------------------------------------------------------------


def test_pixel_grid_convention() -> None:
    uv = pixel_grid(3, 4, dtype=F64)
    assert uv.shape == (3, 4, 2) and uv.dtype == F64
    assert uv[0, 0].tolist() == [0.0, 0.0]  # centre of the top-left pixel
    assert uv[2, 3].tolist() == [3.0, 2.0]  # (u, v) = (column, row)
    assert torch.equal(uv[..., 0], torch.arange(4, dtype=F64).expand(3, 4))
    with pytest.raises(ValueError, match="positive"):
        pixel_grid(0, 4)


def test_backproject_depth_matches_unproject(gen: torch.Generator) -> None:
    depth = smooth_depth(gen, 2)
    intr = torch.cat([INTR, INTR * 1.1])
    pts = backproject_depth(depth, intr)
    assert pts.shape == (2, H, W, 3)
    for b in range(2):
        for v, u in [(0, 0), (17, 33), (H - 1, W - 1)]:
            ref = unproject(torch.tensor([u, v], dtype=F64), depth[b, v, u], intr[b])
            torch.testing.assert_close(pts[b, v, u], ref)
    # projecting the points gives the pixel grid back; shared intrinsics (1, 4) broadcast over the batch
    torch.testing.assert_close(
        project(backproject_depth(depth, INTR), INTR[:, None, None]), pixel_grid(H, W, dtype=F64).expand(2, H, W, 2)
    )


# --- rigid flow -------------------------------------------------------------------------------------------------


def test_rigid_flow_identity_is_zero(gen: torch.Generator, device: torch.device) -> None:
    depth = smooth_depth(gen, 3).to(device)
    flow, valid = rigid_flow(depth, lie.se3_identity((3,), dtype=F64, device=device), INTR.to(device))
    assert flow.shape == (3, H, W, 2) and valid.shape == (3, H, W)
    torch.testing.assert_close(flow, torch.zeros_like(flow), rtol=0, atol=1e-12)
    assert valid.all()


def test_rigid_flow_matches_matrix_formula(gen: torch.Generator) -> None:
    """METHODS.md section 1: R(u) = pi(cam_j_from_cam_i * z_i(u) K^-1 [u, 1]) - u, with 4x4 matrices as oracle."""
    depth = smooth_depth(gen, 2)
    pose = random_pose(gen, 2)
    flow, valid = rigid_flow(depth, pose, INTR)
    K = intrinsics_to_K(INTR[0])
    uv1 = torch.cat([pixel_grid(H, W, dtype=F64), torch.ones(H, W, 1, dtype=F64)], dim=-1)
    rays = uv1 @ torch.linalg.inv(K).T
    for b in range(2):
        M = lie.se3_to_matrix(pose[b])
        pts = depth[b, ..., None] * rays
        pts_j = pts @ M[:3, :3].T + M[:3, 3]
        hom = pts_j @ K.T
        ref = hom[..., :2] / hom[..., 2:] - uv1[..., :2]
        torch.testing.assert_close(flow[b], ref, rtol=1e-10, atol=1e-9)
        assert torch.equal(valid[b], pts_j[..., 2] > 0)


def test_rigid_flow_sign_for_lateral_translation() -> None:
    depth = torch.full((1, H, W), 4.0, dtype=F64)
    dst_from_src = torch.tensor([[0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]], dtype=F64)
    flow, _ = rigid_flow(depth, dst_from_src, INTR)
    # p_dst = p_src + (0.2, 0, 0): every pixel moves right by fx * 0.2 / 4, flow = destination minus source
    torch.testing.assert_close(flow[..., 0], torch.full((1, H, W), 60.0 * 0.2 / 4.0, dtype=F64))
    torch.testing.assert_close(flow[..., 1], torch.zeros(1, H, W, dtype=F64))


def test_rigid_flow_validity() -> None:
    depth = torch.full((1, 2, 3), 2.0, dtype=F64)
    depth[0, 0, 0] = 0.0  # missing depth
    behind = torch.tensor([[0.0, 0.0, -3.0, 0.0, 0.0, 0.0, 1.0]], dtype=F64)  # moves every point behind the camera
    _, valid = rigid_flow(depth, lie.se3_identity((1,), dtype=F64), INTR)
    assert valid.sum() == 5 and not valid[0, 0, 0]
    flow, valid = rigid_flow(depth, behind, INTR)
    assert not valid.any() and torch.isfinite(flow).all()


def test_gradcheck_rigid_flow(gen: torch.Generator) -> None:
    depth = smooth_depth(gen, 1, 3, 4).requires_grad_()
    pose = random_pose(gen, 1).requires_grad_()
    intr = INTR.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda d, p, k: rigid_flow(d, p, k)[0], (depth, pose, intr))


# --- inverse warping --------------------------------------------------------------------------------------------


def bilinear_reference(image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Direct bilinear interpolation at pixel-centre coordinates with zero padding, one sample at a time."""
    _, height, width = image.shape
    u, v = uv.tolist()
    u0, v0 = int(torch.floor(uv[0])), int(torch.floor(uv[1]))
    out = torch.zeros(image.shape[0], dtype=image.dtype)
    for du in (0, 1):
        for dv in (0, 1):
            uu, vv = u0 + du, v0 + dv
            weight = (1 - abs(u - uu)) * (1 - abs(v - vv))
            if 0 <= uu < width and 0 <= vv < height:
                out += weight * image[:, vv, uu]
    return out


def test_inverse_warp_matches_direct_bilinear(gen: torch.Generator) -> None:
    image = torch.rand(1, 2, 7, 9, generator=gen, dtype=F64)
    uv = torch.rand(1, 5, 6, 2, generator=gen, dtype=F64) * torch.tensor([10.0, 8.0], dtype=F64) - 0.5
    warped, valid = inverse_warp(image, uv, padding_mode="zeros")
    assert warped.shape == (1, 2, 5, 6) and valid.shape == (1, 5, 6)
    for i in range(5):
        for j in range(6):
            torch.testing.assert_close(warped[0, :, i, j], bilinear_reference(image[0], uv[0, i, j]))
            u, v = uv[0, i, j].tolist()
            assert bool(valid[0, i, j]) == (0 <= u <= 8 and 0 <= v <= 6)


def test_inverse_warp_integer_pixels_and_padding(gen: torch.Generator, device: torch.device) -> None:
    image = torch.rand(2, 3, H, W, generator=gen, dtype=F64).to(device)
    uv = pixel_grid(H, W, dtype=F64, device=device).expand(2, H, W, 2)
    warped, valid = inverse_warp(image, uv)
    torch.testing.assert_close(warped, image, rtol=0, atol=1e-12)  # align_corners=True: integers hit pixel centres
    assert valid.all()
    outside = torch.tensor([[[[-3.0, 10.0], [W + 2.0, -1.0]]]], dtype=F64, device=device).expand(2, 1, 2, 2)
    border, valid = inverse_warp(image, outside, padding_mode="border")
    assert not valid.any()
    torch.testing.assert_close(border[:, :, 0, 0], image[:, :, 10, 0])
    torch.testing.assert_close(border[:, :, 0, 1], image[:, :, 0, W - 1])
    zeros, _ = inverse_warp(image, outside, padding_mode="zeros")
    assert torch.equal(zeros, torch.zeros_like(zeros))


def test_pixels_to_grid_align_corners_normalisation() -> None:
    uv = torch.tensor([[0.0, 0.0], [W - 1.0, H - 1.0], [(W - 1) / 2, (H - 1) / 2]], dtype=F64)
    grid = pixels_to_grid(uv, H, W)
    torch.testing.assert_close(grid, torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]], dtype=F64))
    # u_n = 2 u / (W - 1) - 1 (METHODS.md section 1)
    torch.testing.assert_close(
        pixels_to_grid(torch.tensor([10.0, 5.0], dtype=F64), H, W),
        torch.tensor([2 * 10 / (W - 1) - 1, 2 * 5 / (H - 1) - 1], dtype=F64),
    )


def test_gradcheck_inverse_warp(gen: torch.Generator) -> None:
    image = torch.rand(1, 2, 4, 5, generator=gen, dtype=F64).requires_grad_()
    uv = torch.rand(1, 3, 3, 2, generator=gen, dtype=F64) * torch.tensor([3.6, 2.6], dtype=F64) + 0.2
    uv = uv.requires_grad_()  # non-integer positions: bilinear interpolation is smooth there
    assert torch.autograd.gradcheck(lambda im, p: inverse_warp(im, p, padding_mode="zeros")[0], (image, uv))


def test_flow_warp_with_rigid_flow_equals_warp_with_depth(gen: torch.Generator, device: torch.device) -> None:
    image_src = torch.rand(2, 3, H, W, generator=gen, dtype=F64).to(device)
    depth_tgt = smooth_depth(gen, 2).to(device)
    src_from_tgt = random_pose(gen, 2).to(device)
    intr = INTR.to(device)
    flow, flow_valid = rigid_flow(depth_tgt, src_from_tgt, intr)
    by_flow, valid_flow = flow_warp(image_src, flow)
    by_depth, valid_depth = warp_with_depth(image_src, depth_tgt, src_from_tgt, intr)
    torch.testing.assert_close(by_flow, by_depth, rtol=0, atol=1e-10)
    # The two masks test the same source position computed two ways (grid + flow, or the projection itself), which
    # differ by round-off; only a pixel within that round-off of the image border could be classed differently.
    uv_src, _ = reproject_depth(depth_tgt, src_from_tgt, intr)
    bounds = torch.tensor([W - 1.0, H - 1.0], dtype=F64, device=device)
    clear_of_border = (torch.minimum(uv_src.abs(), (uv_src - bounds).abs()) > 1e-9).all(-1)
    assert clear_of_border.double().mean() > 0.99
    assert torch.equal((valid_flow & flow_valid)[clear_of_border], valid_depth[clear_of_border])
    assert 0.3 < valid_depth.double().mean() < 1.0  # a real test: some pixels leave the image, many stay


def test_flow_warp_integer_shift(gen: torch.Generator) -> None:
    image = torch.rand(1, 1, H, W, generator=gen, dtype=F64)
    flow = torch.zeros(1, H, W, 2, dtype=F64)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    warped, valid = flow_warp(image, flow)
    torch.testing.assert_close(warped[0, 0, 2:, : W - 3], image[0, 0, : H - 2, 3:])
    assert valid[0, 2:, : W - 3].all() and not valid[0, :2].any() and not valid[0, :, W - 3 :].any()


# --- the rendered textured plane --------------------------------------------------------------------------------


PLANE_NORMAL = F.normalize(torch.tensor([0.15, -0.25, -1.0], dtype=F64), dim=0)
PLANE_DIST = -4.0  # plane n . p = d in the target camera frame; about 4 m in front, tilted


def plane_texture(pts_tgt: torch.Tensor) -> torch.Tensor:
    """A smooth sinusoidal texture painted on the plane, as a function of the target-frame point."""
    e1 = F.normalize(torch.linalg.cross(PLANE_NORMAL, torch.tensor([0.0, 1.0, 0.0], dtype=F64)), dim=0)
    e2 = torch.linalg.cross(PLANE_NORMAL, e1)
    a, b = pts_tgt @ e1, pts_tgt @ e2
    return torch.stack(
        [0.5 + 0.3 * torch.sin(3.0 * a) * torch.cos(2.5 * b), 0.5 + 0.3 * torch.cos(2.0 * a + 1.5 * b)], dim=0
    )


def render_plane(cam_from_tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image (2, H, W) and z-depth (H, W) of the textured plane seen by a camera at ``cam_from_tgt``."""
    M = lie.se3_to_matrix(cam_from_tgt)
    R, t = M[:3, :3], M[:3, 3]
    normal_cam = R @ PLANE_NORMAL
    dist_cam = PLANE_DIST + normal_cam @ t  # n_c . p_c = d + n_c . t
    K = intrinsics_to_K(INTR[0])
    uv1 = torch.cat([pixel_grid(H, W, dtype=F64), torch.ones(H, W, 1, dtype=F64)], dim=-1)
    rays = uv1 @ torch.linalg.inv(K).T  # z = 1
    depth = dist_cam / (rays @ normal_cam)  # ray-plane intersection
    pts_cam = depth[..., None] * rays
    pts_tgt = (pts_cam - t) @ R  # R^T (p - t)
    return plane_texture(pts_tgt), depth


def test_inverse_warp_reproduces_rendered_plane() -> None:
    src_from_tgt = lie.se3_exp(torch.tensor([0.25, -0.1, 0.15, 0.03, -0.06, 0.02], dtype=F64))
    image_tgt, depth_tgt = render_plane(lie.se3_identity(dtype=F64))
    image_src, _ = render_plane(src_from_tgt)
    assert (depth_tgt > 2.0).all() and (depth_tgt < 8.0).all()
    warped, valid = warp_with_depth(image_src[None], depth_tgt[None], src_from_tgt[None], INTR)
    interior = valid[0].clone()
    interior[:2], interior[-2:], interior[:, :2], interior[:, -2:] = False, False, False, False
    assert interior.double().mean() > 0.6
    err = (warped[0] - image_tgt).abs()[:, interior]
    unwarped_err = (image_src - image_tgt).abs()[:, interior]
    # only bilinear interpolation error of a smooth texture remains
    assert err.max() < 0.015 and err.mean() < 2e-3, (err.max(), err.mean())  # measured 4.8e-3, 7.7e-4
    assert unwarped_err.mean() > 20 * err.mean(), (unwarped_err.mean(), err.mean())
    # the mask is exactly "in front and inside the source image"
    uv_src, in_front = reproject_depth(depth_tgt[None], src_from_tgt[None], INTR)
    inside = (uv_src >= 0).all(-1) & (uv_src[..., 0] <= W - 1) & (uv_src[..., 1] <= H - 1)
    assert torch.equal(valid, in_front & inside)


def test_warp_float32(gen: torch.Generator) -> None:
    image = torch.rand(1, 3, H, W, generator=gen)
    depth = smooth_depth(gen, 1).float()
    pose = random_pose(gen, 1).float()
    warped32, valid32 = warp_with_depth(image, depth, pose, INTR.float())
    warped64, valid64 = warp_with_depth(image.double(), depth.double(), pose.double(), INTR)
    both = valid32 & valid64
    assert warped32.dtype == torch.float32
    torch.testing.assert_close(warped32.double()[:, :, both[0]], warped64[:, :, both[0]], rtol=0, atol=1e-3)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(TypeError):
        rigid_flow(torch.ones(1, 4, 5), torch.ones(1, 6), INTR)  # a pose is (B, 7)
    with pytest.raises(TypeError):
        inverse_warp(torch.ones(1, 3, 4, 5), torch.ones(1, 4, 5, 3))
