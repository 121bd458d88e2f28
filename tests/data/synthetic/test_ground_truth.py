"""Self-consistency of the synthetic ground truth: depth, poses, flow and motion masks against each other."""

import numpy as np
import pytest
import torch

from vokit.data.synthetic import SyntheticWorld, get_domain
from vokit.data.synthetic.render import Renderer
from vokit.data.synthetic.room import room_materials
from vokit.data.synthetic.scene import BoxBuilder, RoomShell, Scene
from vokit.geometry.camera import project, unproject
from vokit.geometry.lie import se3_compose, se3_inverse, se3_to_matrix
from vokit.geometry.warp import flow_warp, pixel_grid, rigid_flow, warp_with_depth

H, W = 48, 160


@pytest.fixture(scope="module")
def street() -> SyntheticWorld:
    return SyntheticWorld("street", n_frames=6, seed=0, height=H, width=W)


@pytest.fixture(scope="module")
def room() -> SyntheticWorld:
    return SyntheticWorld("room", n_frames=6, seed=0, height=H, width=W)


@pytest.fixture(scope="module")
def clutter() -> SyntheticWorld:
    """A clutter scene (seed 14: hand-held 6-DoF, principal point off the centre, moving boxes and slabs)."""
    return SyntheticWorld("clutter", n_frames=6, seed=14, height=H, width=W)


def _relative(world: SyntheticWorld, k: int) -> torch.Tensor:
    """cam_{k+1}_from_cam_k as a (1, 7) float32 pose."""
    return se3_compose(se3_inverse(world.world_from_cam[k + 1]), world.world_from_cam[k]).float()[None]


def _nearest(image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    u = uv[..., 0].round().long().clamp(0, image.shape[1] - 1)
    v = uv[..., 1].round().long().clamp(0, image.shape[0] - 1)
    return image[v, u]


def _static_visible(world: SyntheticWorld, k: int) -> torch.Tensor:
    """Static pixels of frame k whose point is seen again at frame k+1 (its depth there agrees, 5% + 5 cm)."""
    f0, f1 = world.frame(k), world.frame(k + 1)
    rel = _relative(world, k)[0]
    pts_cam0 = unproject(pixel_grid(H, W), f0.depth, world.intrinsics)
    pts1 = (se3_to_matrix(rel)[:3, :3] @ pts_cam0[..., None])[..., 0] + rel[:3]
    uv1 = project(pts1, world.intrinsics)
    inside = (uv1[..., 0] >= 0) & (uv1[..., 0] <= W - 1) & (uv1[..., 1] >= 0) & (uv1[..., 1] <= H - 1)
    agrees = (pts1[..., 2] - _nearest(f1.depth, uv1)).abs() < 0.05 * pts1[..., 2] + 0.05
    return (f0.depth > 0) & ~f0.motion_mask & inside & agrees & (pts1[..., 2] > 0)


@pytest.mark.parametrize("scene", ["street", "room", "clutter"])
def test_warping_with_gt_depth_and_pose_reproduces_the_frame(scene: str, request: pytest.FixtureRequest) -> None:
    world = request.getfixturevalue(scene)
    for k in (0, 3):
        f0, f1 = world.frame(k), world.frame(k + 1)
        warped, valid = warp_with_depth(f1.image[None], f0.depth[None], _relative(world, k), world.intrinsics[None])
        mask = _static_visible(world, k) & valid[0]
        assert mask.float().mean() > 0.3
        err_warped = (warped[0] - f0.image).abs().mean(0)[mask]
        err_unwarped = (f1.image - f0.image).abs().mean(0)[mask]
        assert float(err_warped.mean()) < 0.3 * float(err_unwarped.mean())
        assert float(err_warped.median()) < 0.25 * float(err_unwarped.median())
        assert float(err_warped.median()) < 0.01


@pytest.mark.parametrize("scene", ["street", "room", "clutter"])
def test_gt_flow_equals_rigid_flow_on_static_pixels(scene: str, request: pytest.FixtureRequest) -> None:
    world = request.getfixturevalue(scene)
    for k in (0, 4):
        f0 = world.frame(k)
        flow, valid = rigid_flow(f0.depth[None], _relative(world, k), world.intrinsics[None])
        static = valid[0] & ~f0.motion_mask & (f0.depth > 0)
        assert static.float().mean() > 0.5
        torch.testing.assert_close(f0.flow[static], flow[0][static], atol=2e-3, rtol=0)


def test_sky_flow_is_the_rotation_only_flow(street: SyntheticWorld) -> None:
    f0 = street.frame(2)
    sky = f0.depth == 0
    assert sky.float().mean() > 0.02
    rotation_only = _relative(street, 2).clone()
    rotation_only[:, :3] = 0.0
    flow, _ = rigid_flow(torch.ones(1, H, W), rotation_only, street.intrinsics[None])
    torch.testing.assert_close(f0.flow[sky], flow[0][sky], atol=2e-3, rtol=0)


def _moving_visible(world: SyntheticWorld, k: int) -> torch.Tensor:
    """Moving pixels of frame k that land on the same object at frame k+1 (not occluded, inside the image)."""
    f0, f1 = world.frame(k), world.frame(k + 1)
    uv1 = pixel_grid(H, W) + f0.flow
    inside = (uv1[..., 0] >= 0) & (uv1[..., 0] <= W - 1) & (uv1[..., 1] >= 0) & (uv1[..., 1] <= H - 1)
    return f0.motion_mask & inside & (_nearest(f1.object_id, uv1) == f0.object_id)


@pytest.mark.parametrize("scene", ["street", "room", "clutter"])
def test_gt_flow_warps_moving_objects(scene: str, request: pytest.FixtureRequest) -> None:
    world = request.getfixturevalue(scene)
    checked = 0
    for k in range(5):
        f0, f1 = world.frame(k), world.frame(k + 1)
        moving = _moving_visible(world, k)
        static_flow, _ = rigid_flow(f0.depth[None], _relative(world, k), world.intrinsics[None])
        stat = torch.mean
        if scene == "clutter":
            # the clutter's moving boxes are small and high-contrast, so many of their pixels lie next to a
            # silhouette where bilinear warping mixes in the background: compare medians (the interiors), on
            # the pixels whose own motion moves them by more than a pixel (else both warps agree anyway)
            moving &= (f0.flow - static_flow[0]).norm(dim=-1) > 1.0
            stat = torch.median
        if int(moving.sum()) < 20:
            continue
        by_flow, _ = flow_warp(f1.image[None], f0.flow[None])
        by_rigid, _ = flow_warp(f1.image[None], static_flow)
        err_flow = stat((by_flow[0] - f0.image).abs().mean(0)[moving])
        err_rigid = stat((by_rigid[0] - f0.image).abs().mean(0)[moving])
        assert float(err_flow) < 0.03
        assert float(err_flow) < 0.7 * float(err_rigid)
        checked += 1
    assert checked >= 2


def _yaw_matrix(yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    zero, one = np.zeros_like(c), np.ones_like(c)
    return np.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).reshape(*np.shape(yaw), 3, 3)


def _boxes_at(world: SyntheticWorld, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scene-frame centres, rotations, half extents and moving flags of all boxes at frame k (numpy oracle)."""
    boxes, scene = world.scene.boxes, world.scene
    centre = boxes.centre.double().numpy().copy()
    rot = _yaw_matrix(boxes.yaw.double().numpy())
    obj = boxes.obj.numpy()
    for m in np.nonzero(obj >= 0)[0]:
        r_obj = _yaw_matrix(np.float64(scene.obj_yaw[k, obj[m]]))
        centre[m] = r_obj @ centre[m] + scene.obj_centre[k, obj[m]].double().numpy()
        rot[m] = r_obj @ rot[m]
    return centre, rot, boxes.half.double().numpy(), obj >= 0


@pytest.mark.parametrize("scene", ["street", "room", "clutter"])
def test_depth_lies_on_the_reported_surfaces(scene: str, request: pytest.FixtureRequest) -> None:
    """Back-projected GT depth lands on the surface of the box it reports, or on the ground / room walls."""
    world = request.getfixturevalue(scene)
    k = 1
    f0 = world.frame(k)
    scene_from_cam = world.scene.scene_from_cam[k].numpy()
    pts_cam = unproject(pixel_grid(H, W), f0.depth, world.intrinsics).double().numpy()
    pts = pts_cam @ scene_from_cam[:3, :3].T + scene_from_cam[:3, 3]
    centre, rot, half, _ = _boxes_at(world, k)
    box = f0.box_id.numpy()
    on_box = box >= 0
    assert on_box.mean() > 0.1
    sphere = _spheres(world)[np.maximum(box, 0)] & on_box
    cube = on_box & ~sphere
    local = np.einsum("pji,pj->pi", rot[box[cube]], pts[cube] - centre[box[cube]]) / half[box[cube]]
    np.testing.assert_allclose(np.abs(local).max(-1), 1.0, atol=2e-3)
    if sphere.any():  # on the sphere: distance from the centre equals the radius
        dist = np.linalg.norm(pts[sphere] - centre[box[sphere]], axis=-1) / half[box[sphere], 0]
        np.testing.assert_allclose(dist, 1.0, atol=2e-3)
    rest = (~on_box) & (f0.depth.numpy() > 0)
    if world.scene.room is not None:
        p = (pts[rest] - world.scene.room.centre.double().numpy()) / world.scene.room.half.double().numpy()
        np.testing.assert_allclose(np.abs(p).max(-1), 1.0, atol=2e-3)
    else:
        np.testing.assert_allclose(pts[rest][:, 1], 0.0, atol=2e-3 * np.abs(pts_cam[rest][:, 2]).max())


def _spheres(world: SyntheticWorld) -> np.ndarray:
    """Which boxes of the world are spheres (radius half[0])."""
    flags = world.scene.boxes.sphere
    return np.zeros(len(world.scene.boxes), dtype=bool) if flags is None else flags.numpy()


def _ray_sphere_depth(pts_dir: np.ndarray, origin: np.ndarray, centre, radius: float) -> np.ndarray:
    """Ray parameter of the nearer hit of a sphere (float64 quadratic), inf if none or closer than 5 cm."""
    o = origin - centre
    a, b, c = (pts_dir * pts_dir).sum(-1), pts_dir @ o, o @ o - radius * radius
    disc = b * b - a * c
    t = (-b - np.sqrt(np.clip(disc, 0.0, None))) / a
    return np.where((disc >= 0) & (t > 0.05), t, np.inf)


def _ray_box_depth(pts_dir: np.ndarray, origin: np.ndarray, centre, rot, half) -> np.ndarray:
    """z-depth (ray parameter of camera-frame directions with z = 1) of the nearest hit of one box, inf if none."""
    o = rot.T @ (origin - centre)
    d = pts_dir @ rot
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-half - o) / d, (half - o) / d
    t_near = np.nanmax(np.minimum(t1, t2), -1)
    t_far = np.nanmin(np.maximum(t1, t2), -1)
    return np.where((t_near <= t_far) & (t_near > 0.05), t_near, np.inf)


@pytest.mark.parametrize("scene", ["street", "room", "clutter"])
def test_motion_mask_covers_exactly_the_moving_objects(scene: str, request: pytest.FixtureRequest) -> None:
    """Oracle: cast every pixel ray against the moving boxes alone (numpy, float64); a pixel is moving exactly
    when a moving box is hit at the rendered depth."""
    world = request.getfixturevalue(scene)
    total = 0
    for k in range(0, 6, 2):
        f0 = world.frame(k)
        scene_from_cam = world.scene.scene_from_cam[k].numpy()
        uv = pixel_grid(H, W).double().numpy().reshape(-1, 2)
        fx, fy, cx, cy = world.intrinsics.double().numpy()
        dirs = np.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, np.ones(len(uv))], -1) @ scene_from_cam[:3, :3].T
        centre, rot, half, moving = _boxes_at(world, k)
        nearest = np.full(len(uv), np.inf)
        sphere = _spheres(world)
        for m in np.nonzero(moving)[0]:
            if sphere[m]:
                hit = _ray_sphere_depth(dirs, scene_from_cam[:3, 3], centre[m], half[m, 0])
            else:
                hit = _ray_box_depth(dirs, scene_from_cam[:3, 3], centre[m], rot[m], half[m])
            nearest = np.minimum(nearest, hit)
        depth = f0.depth.double().numpy().reshape(-1)
        oracle = np.isfinite(nearest) & (nearest <= depth * (1 + 1e-4) + 1e-4)
        np.testing.assert_array_equal(f0.motion_mask.numpy().reshape(-1), oracle)
        total += int(oracle.sum())
    assert total > 50


def _sliding_box_scene(yaw_rate: float) -> Scene:
    """A static camera in a big room looking at a box that slides 0.3 m per frame along x (and spins)."""
    textures, tiles, emission = room_materials(np.random.default_rng(0), "home")
    builder = BoxBuilder(tiles)
    builder.add((0.0, 0.0, 0.0), (0.5, 0.5, 0.5), 16, obj=0)
    n = 3
    frames = torch.arange(n, dtype=torch.float32)
    obj_centre = torch.stack([-0.5 + 0.3 * frames, torch.full((n,), -1.5), torch.full((n,), 4.0)], -1)[:, None]
    scene_from_cam = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    scene_from_cam[:, 1, 3] = -1.5
    return Scene(
        kind="room",
        boxes=builder.build(),
        obj_centre=obj_centre,
        obj_yaw=(yaw_rate * frames)[:, None],
        scene_from_cam=scene_from_cam,
        timestamps=frames.double(),
        textures=textures,
        material_emission=torch.tensor(emission),
        material_tile_m=torch.tensor(tiles),
        sky_material=-1,
        ground=None,
        room=RoomShell(
            torch.tensor([0.0, -2.0, 0.0]),
            torch.tensor([8.0, 2.0, 8.0]),
            torch.tensor([1, 1, 3, 0, 2, 2]),
            torch.ones(6, 2),
        ),
        lights=torch.tensor([[0.0, -3.5, 2.0, 5.0]]),
        hfov_deg=60.0,
    )


def test_flow_of_a_sliding_box_is_analytic() -> None:
    """Static camera, box translating by dx along x: flow = (fx dx / z, 0) on the box, 0 elsewhere."""
    renderer = Renderer(_sliding_box_scene(0.0), get_domain("room"), 40, 64)
    out = renderer.render(0)
    fx = float(renderer.intrinsics[0])
    on_box = out.box_id >= 0
    assert int(on_box.sum()) > 30
    torch.testing.assert_close(out.motion_mask, on_box)
    torch.testing.assert_close(out.flow[on_box][:, 0], fx * 0.3 / out.depth[on_box], atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(out.flow[on_box][:, 1], torch.zeros(int(on_box.sum())), atol=1e-3, rtol=0)
    torch.testing.assert_close(out.flow[~on_box], torch.zeros_like(out.flow[~on_box]), atol=1e-4, rtol=0)


def test_flow_of_a_spinning_box_follows_its_rigid_motion() -> None:
    """Static camera, box sliding and spinning: each box pixel's point moved by the object's motion."""
    yaw_rate = 0.2
    renderer = Renderer(_sliding_box_scene(yaw_rate), get_domain("room"), 40, 64)
    out = renderer.render(1)
    on_box = out.box_id >= 0
    pts_cam = unproject(pixel_grid(40, 64), out.depth, renderer.intrinsics).double()[on_box]
    pts = pts_cam + torch.tensor([0.0, -1.5, 0.0], dtype=torch.float64)
    c1 = torch.tensor([-0.2, -1.5, 4.0], dtype=torch.float64)
    c2 = torch.tensor([0.1, -1.5, 4.0], dtype=torch.float64)
    step = torch.from_numpy(_yaw_matrix(np.float64(yaw_rate)))
    moved = (pts - c1) @ step.T + c2 - torch.tensor([0.0, -1.5, 0.0], dtype=torch.float64)
    expected = project(moved, renderer.intrinsics.double()) - pixel_grid(40, 64).double()[on_box]
    torch.testing.assert_close(out.flow[on_box].double(), expected, atol=2e-3, rtol=0)


def test_mip_filtering_reduces_flicker_of_distant_texture(street: SyntheticWorld) -> None:
    """Frame-to-frame photometric error of far static pixels is lower with the mip pyramid than without."""
    plain = Renderer(street.scene, street.domain, H, W, use_mip=False)
    errors = {}
    for name, renderer in (("mip", street.renderer), ("plain", plain)):
        total = []
        for k in (0, 2):
            f0, f1 = renderer.render(k), renderer.render(k + 1)
            warped, valid = warp_with_depth(
                f1.image[None], f0.depth[None], _relative(street, k), street.intrinsics[None]
            )
            far = _static_visible(street, k) & valid[0] & (f0.depth > 30.0)
            total.append((warped[0] - f0.image).abs().mean(0)[far])
        errors[name] = float(torch.cat(total).mean())
    assert errors["mip"] < 0.8 * errors["plain"]


@pytest.mark.parametrize("scene", ["street", "room", "clutter"])
def test_outputs_are_well_formed(scene: str, request: pytest.FixtureRequest) -> None:
    world = request.getfixturevalue(scene)
    f = world.frame(5)
    assert f.image.shape == (3, H, W) and f.depth.shape == (H, W) and f.flow.shape == (H, W, 2)
    assert float(f.image.min()) >= 0.0 and float(f.image.max()) <= 1.0
    assert bool(torch.isfinite(f.flow).all()) and bool((f.depth >= 0).all())
    sky = f.depth == 0
    assert bool((f.box_id[sky] == -1).all()) and bool((f.object_id[sky] == -1).all())
    assert bool((f.motion_mask <= (f.object_id >= 0)).all())
    if scene in ("room", "clutter"):
        assert not bool(sky.any())
    else:
        assert bool(sky[0].any()) and not bool(sky[-1].any())
