import math

import numpy as np
import pytest
import torch
from tests.support.rounding import assert_equal_up_to_rounding

from vokit.data.synthetic.raycast import intersect_boxes, make_ray_grid, screen_rects


def _random_boxes(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centre = torch.stack(
        [torch.rand(n, generator=g) * 16 - 8, torch.rand(n, generator=g) * 4 - 3, torch.rand(n, generator=g) * 20 - 2],
        dim=-1,
    )
    half = 0.2 + 2.0 * torch.rand(n, 3, generator=g)
    yaw = (torch.rand(n, generator=g) * 2 - 1) * math.pi
    return centre, yaw, half


def _camera(yaw: float, pitch: float, roll: float) -> torch.Tensor:
    cy, sy, cp, sp, cr, sr = (
        math.cos(yaw),
        math.sin(yaw),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(roll),
        math.sin(roll),
    )
    r_yaw = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = torch.tensor([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = torch.tensor([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return (r_yaw @ r_pitch @ r_roll).float()


def _brute_force(dirs_scene: np.ndarray, centre: np.ndarray, yaw: np.ndarray, half: np.ndarray, near: float):
    """Float64 slab test of every ray against every box, one box at a time (the oracle)."""
    n_pix = dirs_scene.shape[0]
    t_all = np.full((n_pix, len(centre)), np.inf)
    for m in range(len(centre)):
        c, s = np.cos(yaw[m]), np.sin(yaw[m])
        box_from_scene = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T
        o = box_from_scene @ (-centre[m])
        d = dirs_scene @ box_from_scene.T
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-half[m] - o) / d
            t2 = (half[m] - o) / d
        t_near = np.nanmax(np.minimum(t1, t2), axis=1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=1)
        hit = (t_near <= t_far) & (t_near > near)
        t_all[hit, m] = t_near[hit]
    return t_all


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intersect_boxes_matches_brute_force(seed: int) -> None:
    centre, yaw, half = _random_boxes(seed, 40)
    rot = _camera(0.3 * seed - 0.2, 0.1, -0.05 * seed)
    intr = torch.tensor([60.0, 60.0, 39.5, 23.5])
    grid = make_ray_grid(48, 80, intr, tile=8)
    dirs = rot @ grid.dirs
    bound = torch.full((dirs.shape[1],), float("inf"))
    depth, box = intersect_boxes(grid, dirs, centre, yaw, half, rot, bound, near=0.05)
    t_all = _brute_force(
        dirs.T.double().numpy(), centre.double().numpy(), yaw.double().numpy(), half.double().numpy(), 0.05
    )
    best = t_all.min(1)
    hit = np.isfinite(best)
    assert hit.mean() > 0.2
    np.testing.assert_array_equal(torch.isfinite(depth).numpy(), hit)
    np.testing.assert_allclose(depth.numpy()[hit], best[hit], rtol=1e-4)
    ordered = np.sort(t_all, axis=1)
    with np.errstate(invalid="ignore"):
        unambiguous = hit & (ordered[:, 1] - ordered[:, 0] > 1e-3 * ordered[:, 0])
    np.testing.assert_array_equal(box.numpy()[unambiguous], t_all.argmin(1)[unambiguous])
    assert (box.numpy()[~hit] == len(centre)).all()


def test_culling_and_tiles_do_not_change_the_result() -> None:
    """The nearest surface (boxes or the bound, here a ground plane) is the same with and without culling and
    for any tile size."""
    centre, yaw, half = _random_boxes(5, 60)
    rot = _camera(0.1, -0.05, 0.02)
    intr = torch.tensor([70.0, 70.0, 47.5, 31.5])
    results = []
    for tile, first_pass in [(8, 3), (8, 1000), (4, 1), (16, 2)]:
        grid = make_ray_grid(64, 96, intr, tile=tile)
        dirs = rot @ grid.dirs
        ground = torch.where(dirs[1] > 0, 1.5 / dirs[1].clamp_min(1e-9), torch.tensor(float("inf")))
        depth, box = intersect_boxes(grid, dirs, centre, yaw, half, rot, ground, 0.05, first_pass)
        results.append((grid.to_image(depth[None])[0], grid.to_image(box[None])[0]))
    assert (results[0][1] < len(centre)).float().mean() > 0.3
    assert (results[0][1] == len(centre)).float().mean() > 0.1  # the ground is seen too
    # Culling changes which pairs are tested, not how: with the same tiles the result is bitwise identical. Another
    # tile size lays the rays out differently, and the ray directions come from a matrix product whose rounding may
    # depend on that layout (SIMD blocks and their tails), so depths agree to a few float32 ulp; the box seen is an
    # integer label, which only a tie between two surfaces within that round-off could change (none in this scene).
    assert torch.equal(results[1][0], results[0][0]) and torch.equal(results[1][1], results[0][1])
    for depth, box in results[2:]:
        assert_equal_up_to_rounding(depth, results[0][0])
        assert torch.equal(box, results[0][1])


def test_box_through_the_near_plane() -> None:
    """A box the camera stands next to (partly behind it) is clipped, not dropped."""
    centre = torch.tensor([[1.0, 0.0, 0.0]])
    half = torch.tensor([[0.5, 1.0, 3.0]])
    yaw = torch.zeros(1)
    rot = torch.eye(3)
    intr = torch.tensor([30.0, 30.0, 23.5, 15.5])
    rect, z_min, in_front = screen_rects(centre, yaw, half, rot, intr, 0.05)
    assert bool(in_front[0]) and float(z_min[0]) == pytest.approx(0.05)
    assert float(rect[0, 1]) == pytest.approx(30.0 * 1.5 / 0.05 + 23.5)  # the clipped near edge, far right
    grid = make_ray_grid(32, 48, intr, tile=8)
    bound = torch.full((grid.dirs.shape[1],), float("inf"))
    depth, _ = intersect_boxes(grid, grid.dirs, centre, yaw, half, rot, bound)
    t_all = _brute_force(
        grid.dirs.T.double().numpy(), centre.double().numpy(), yaw.double().numpy(), half.double().numpy(), 0.05
    )
    best = t_all.min(1)
    assert 100 < np.isfinite(best).sum() < best.size
    np.testing.assert_allclose(depth.numpy(), best, rtol=1e-5)


def test_ray_grid_orders_pixels_by_tile() -> None:
    intr = torch.tensor([50.0, 50.0, 20.0, 10.0])
    grid = make_ray_grid(21, 43, intr, tile=8)
    assert (grid.padded_h, grid.padded_w) == (24, 48)
    image = grid.to_image(grid.uv)
    v, u = torch.meshgrid(torch.arange(21.0), torch.arange(43.0), indexing="ij")
    assert torch.equal(image[0], u) and torch.equal(image[1], v)
    first_tile = grid.uv[:, : grid.tile_pixels]
    assert float(first_tile.max()) == 7.0 and float(first_tile.min()) == 0.0
    dirs = grid.to_image(grid.dirs)
    torch.testing.assert_close(dirs[0], (u - 20.0) / 50.0)
    torch.testing.assert_close(dirs[2], torch.ones(21, 43))


def test_spheres_match_a_float64_quadratic_oracle() -> None:
    """A third of the boxes are spheres (radius half[:, 0]): depth of the nearest surface against float64 slab
    tests and ray-sphere quadratics; rays within 1e-3 r of grazing a sphere are left out (float32 there)."""
    centre, yaw, half = _random_boxes(5, 45)
    sphere = torch.arange(45) % 3 == 0
    half[sphere] = half[sphere, :1].expand(-1, 3)
    rot = _camera(0.1, -0.05, 0.02)
    intr = torch.tensor([60.0, 60.0, 39.5, 23.5])
    grid = make_ray_grid(48, 80, intr, tile=8)
    dirs = rot @ grid.dirs
    bound = torch.full((dirs.shape[1],), float("inf"))
    depth, box = intersect_boxes(grid, dirs, centre, yaw, half, rot, bound, near=0.05, sphere=sphere)
    d = dirs.T.double().numpy()
    t_all = _brute_force(d, centre.double().numpy(), yaw.double().numpy(), half.double().numpy(), 0.05)
    grazing = np.zeros(d.shape[0], dtype=bool)
    for m in np.nonzero(sphere.numpy())[0]:
        o = -centre[m].double().numpy()
        r = float(half[m, 0])
        a, b, c = (d * d).sum(1), d @ o, o @ o - r * r
        disc = b * b - a * c
        t = (-b - np.sqrt(np.clip(disc, 0, None))) / a
        t_all[:, m] = np.where((disc >= 0) & (t > 0.05), t, np.inf)
        grazing |= np.abs(disc) < 2e-3 * r * a * r  # (distance of the ray from the centre - r) below ~1e-3 r
    best = t_all.min(1)
    hit = np.isfinite(best)
    ok = ~grazing
    assert (hit & np.isin(t_all.argmin(1), np.nonzero(sphere.numpy())[0])).sum() > 100  # spheres are seen
    np.testing.assert_array_equal(torch.isfinite(depth).numpy()[ok], hit[ok])
    np.testing.assert_allclose(depth.numpy()[ok & hit], best[ok & hit], rtol=1e-4)
    ordered = np.sort(t_all, axis=1)
    with np.errstate(invalid="ignore"):
        unambiguous = ok & hit & (ordered[:, 1] - ordered[:, 0] > 1e-3 * ordered[:, 0])
    np.testing.assert_array_equal(box.numpy()[unambiguous], t_all.argmin(1)[unambiguous])
