"""Photometric options of the synthetic world: vignetting, exposure changes, motion blur (and noise with blur)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from vokit.data.synthetic import SyntheticWorld, get_domain
from vokit.data.synthetic.render import Renderer
from vokit.data.synthetic.room import room_materials
from vokit.data.synthetic.scene import BoxBuilder, RoomShell, Scene
from vokit.errors import VokitError

H, W = 40, 96


def _unclipped(*images: torch.Tensor) -> torch.Tensor:
    """Pixels and channels away from the tone curve's clipping in every image."""
    return torch.stack([(im > 0.02) & (im < 0.98) for im in images]).all(0)


def test_vignetting_darkens_radiance_by_one_minus_k_r2() -> None:
    base = SyntheticWorld("room", 2, 5, H, W)
    dark = SyntheticWorld("room", 2, 5, H, W, domain=replace(get_domain("room"), name="room-v", vignetting=0.4))
    a, b = base.frame(0).image, dark.frame(0).image
    fx, fy, cx, cy = base.intrinsics.tolist()
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    r2 = ((u - cx) ** 2 + (v - cy) ** 2) / ((W - 1 - cx) ** 2 + (H - 1 - cy) ** 2)
    expected = (1.0 - 0.4 * r2) ** (1.0 / 2.2)  # radiance factor through the display gamma
    ok = _unclipped(a, b)
    ratio = (b / a.clamp_min(1e-6)).double()
    # float32 tone curve (log / exp): relative round-off ~1e-6
    torch.testing.assert_close(ratio[ok], expected.expand(3, -1, -1)[ok], atol=0, rtol=1e-4)
    assert torch.equal(base.frame(0).depth, dark.frame(0).depth)


def test_exposure_changes_are_smooth_per_frame_gains() -> None:
    n = 12
    domain = replace(get_domain("street"), name="street-x", exposure_drift=0.3)
    base = SyntheticWorld("street", n, 2, H, W)
    drift = SyntheticWorld("street", n, 2, H, W, domain=domain)
    gains = drift.renderer.exposure_gain[:n].double()
    log_gain = gains.log()
    assert float(log_gain.abs().max()) <= 0.3 + 1e-6 and float(log_gain.max() - log_gain.min()) > 0.02
    assert float((log_gain[1:] - log_gain[:-1]).abs().max()) < 0.1  # smooth from frame to frame
    for k in (0, n - 1):
        a, b = base.frame(k).image, drift.frame(k).image
        ok = _unclipped(a, b)
        ratio = (b / a.clamp_min(1e-6)).double()[ok]
        torch.testing.assert_close(ratio, (gains[k] ** (1.0 / 2.2)).expand_as(ratio), atol=0, rtol=1e-4)
        assert torch.equal(base.frame(k).flow, drift.frame(k).flow)


def _sliding_box(times: torch.Tensor) -> Scene:
    """A static camera in a big room looking at a textured box 4 m away that slides 0.3 m per frame along x."""
    textures, tiles, emission = room_materials(np.random.default_rng(0), "home")
    builder = BoxBuilder(tiles)
    builder.add((0.0, 0.0, 0.0), (0.6, 0.6, 0.05), 7, obj=0)  # a painting-textured slab facing the camera
    n = times.shape[0]
    obj_centre = torch.stack([-0.3 + 0.3 * times, torch.full((n,), -1.5), torch.full((n,), 4.0)], -1)[:, None]
    scene_from_cam = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    scene_from_cam[:, 1, 3] = -1.5
    return Scene(
        kind="room",
        boxes=builder.build(),
        obj_centre=obj_centre.float(),
        obj_yaw=torch.zeros(n, 1),
        scene_from_cam=scene_from_cam,
        timestamps=times.double(),
        textures=textures,
        material_emission=torch.tensor(emission),
        material_tile_m=torch.tensor(tiles),
        sky_material=-1,
        ground=None,
        room=RoomShell(
            torch.tensor([0.0, -2.0, 0.0]), torch.tensor([8.0, 2.0, 8.0]), torch.tensor([1, 1, 3, 0, 2, 2]),
            torch.ones(6, 2),
        ),
        lights=torch.tensor([[0.0, -3.5, 2.0, 5.0]]),
        hfov_deg=60.0,
    )


def test_motion_blur_matches_the_average_of_renders_over_the_shutter() -> None:
    """Oracle: the mean of 16 sharp renders at instants spread over the shutter (the box moving in between)."""
    shutter = 0.6
    domain = get_domain("room")
    blurred = Renderer(_sliding_box(torch.arange(3.0)), replace(domain, name="room-b", motion_blur=shutter), H, W)
    out = blurred.render(1)
    sharp = Renderer(_sliding_box(torch.arange(3.0)), domain, H, W).render(1)
    instants = 1.0 + shutter * ((torch.arange(16.0) + 0.5) / 16 - 0.5)
    fine = Renderer(_sliding_box(torch.cat([instants, instants[-1:] + 1.0])), domain, H, W)
    reference = torch.stack([fine.render(i).image for i in range(16)]).mean(0)
    # the slab's interior: covered by the slab during the whole shutter (its edges sweep 0.18 m = ~3 px)
    always = torch.stack([fine.render(i).box_id >= 0 for i in range(16)]).all(0)
    interior = always & torch.nn.functional.max_pool2d((~always).float()[None], 5, 1, 2)[0].eq(0)
    assert int(interior.sum()) > 150
    err_blur = (out.image - reference).abs().mean(0)[interior]
    err_sharp = (sharp.image - reference).abs().mean(0)[interior]
    assert float(err_blur.mean()) < 0.3 * float(err_sharp.mean())
    assert float(err_blur.mean()) < 0.01  # bilinear resampling of the texture
    # the static background, flow 0, is unchanged (to grid_sample's coordinate round-off)
    background = (out.box_id < 0) & (out.flow.norm(dim=-1) == 0)
    torch.testing.assert_close(out.image[:, background], sharp.image[:, background], atol=1e-5, rtol=0)
    assert torch.equal(out.depth, sharp.depth) and torch.equal(out.flow, sharp.flow)


def test_camera_domains_blur_add_noise_and_keep_the_geometry() -> None:
    base = SyntheticWorld("street", 3, 1, H, W)
    cam = SyntheticWorld("street", 3, 1, H, W, domain="street-camera")
    again = SyntheticWorld("street", 3, 1, H, W, domain="street-camera")
    assert torch.equal(cam.frame(1).image, again.frame(1).image)  # seeded noise
    assert torch.equal(cam.frame(1).depth, base.frame(1).depth) and torch.equal(cam.frame(1).flow, base.frame(1).flow)
    assert float((cam.frame(1).image - base.frame(1).image).abs().mean()) > 0.01
    for name in ("clutter-camera", "room-camera"):
        assert get_domain(name.split("-")[0], name).motion_blur > 0


@pytest.mark.parametrize("field", [{"vignetting": 1.0}, {"motion_blur": 1.5}, {"exposure_drift": -0.1}])
def test_bad_photometric_options_raise(field: dict) -> None:
    with pytest.raises(VokitError, match="vignetting must be"):
        replace(get_domain("street"), name="bad", **field)
