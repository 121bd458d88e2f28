import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vokit.app.visualize import panel, resize_rgb, save_rgb
from vokit.methods.panels import (
    WHEEL_SEGMENTS,
    colorize,
    colormap,
    depth_preview,
    flow_color_wheel,
    flow_to_color,
    flow_wheel_legend,
    inv_depth_range,
    mask_overlay,
)

# Baker et al. (IJCV 2011) colour wheel: segment starts are red, yellow, green, cyan, blue, magenta.
PRIMARIES = ((1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1))


def _unit_flow(theta: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    return torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], dim=-1)


def test_wheel_has_the_middlebury_segments() -> None:
    wheel = flow_color_wheel()
    assert wheel.shape == (55, 3)
    assert [n for _, n in WHEEL_SEGMENTS] == [15, 6, 4, 11, 13, 6]
    start = 0
    for (_, n), colour in zip(WHEEL_SEGMENTS, PRIMARIES, strict=True):
        torch.testing.assert_close(wheel[start], torch.tensor(colour, dtype=torch.float64))
        # Within a segment exactly one channel changes, monotonically, in floor(255 i / n) / 255 steps.
        seg = wheel[start : start + n]
        changing = (seg.max(0).values - seg.min(0).values) > 0
        assert int(changing.sum()) == 1
        ramp = seg[:, changing][:, 0] * 255
        expected = torch.tensor([math.floor(255 * i / n) for i in range(n)], dtype=torch.float64)
        assert torch.allclose(ramp, expected) or torch.allclose(ramp, 255 - expected)
        start += n


def test_flow_at_wheel_angles_gets_the_wheel_colours() -> None:
    # Flow at angle theta = 2 pi k / 54 (u = cos, v = sin) lands exactly on wheel entry k (atan2(-v, -u) coding);
    # the colouring runs in float32, hence the 2e-5 tolerance.
    wheel = flow_color_wheel()
    k = torch.arange(54, dtype=torch.float64)
    flow = _unit_flow(2 * math.pi * k / 54)[None]  # (1, 54, 2)
    rgb = flow_to_color(flow, max_magnitude=1.0)[:, 0].T.double()
    torch.testing.assert_close(rgb, wheel[:54], atol=2e-5, rtol=0)
    half = flow_to_color(0.5 * flow, max_magnitude=1.0)[:, 0].T.double()
    torch.testing.assert_close(half, 1 - 0.5 * (1 - wheel[:54]), atol=2e-5, rtol=0)
    beyond = flow_to_color(2.0 * flow, max_magnitude=1.0)[:, 0].T.double()
    torch.testing.assert_close(beyond, 0.75 * wheel[:54], atol=2e-5, rtol=0)


def test_zero_flow_is_white_and_unknown_flow_black() -> None:
    flow = torch.zeros(3, 4, 2)
    flow[0, 0] = float("nan")
    flow[2, 3] = torch.tensor([2.0, -1.0])
    valid = torch.ones(3, 4, dtype=torch.bool)
    valid[1, 1] = False
    rgb = flow_to_color(flow, valid=valid)
    assert rgb.shape == (3, 3, 4) and rgb.dtype == torch.float32
    assert torch.all(rgb[:, 0, 0] == 0) and torch.all(rgb[:, 1, 1] == 0)
    assert torch.all(rgb[:, 0, 1] == 1) and torch.all(rgb[:, 2, 2] == 1)
    # The largest flow is fully saturated: one channel at 0 or 1 exactly as on the wheel, not white.
    assert float(rgb[:, 2, 3].min()) < 0.5


@settings(deadline=None, max_examples=25)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 1000))
def test_flow_colour_is_invariant_to_scale_with_default_normalisation(scale: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    flow = torch.randn(5, 6, 2, generator=g, dtype=torch.float64)
    torch.testing.assert_close(flow_to_color(flow), flow_to_color(scale * flow), atol=1e-5, rtol=0)


def test_legend_is_white_at_centre_and_outside_and_matches_flow_colours() -> None:
    legend = flow_wheel_legend(33)
    assert legend.shape == (3, 33, 33)
    assert torch.all(legend[:, 16, 16] == 1) and torch.all(legend[:, 0, 0] == 1)
    right = flow_to_color(torch.tensor([[[1.0, 0.0]]]), max_magnitude=1.0)[:, 0, 0]
    torch.testing.assert_close(legend[:, 16, 32], right)
    down = flow_to_color(torch.tensor([[[0.0, 1.0]]]), max_magnitude=1.0)[:, 0, 0]
    torch.testing.assert_close(legend[:, 32, 16], down)


def test_colorize_maps_the_range_onto_the_colour_map() -> None:
    lut = colormap("magma")
    values = torch.tensor([[-5.0, 0.0, 1.0, 7.0, float("nan")]])
    rgb = colorize(values, 0.0, 1.0)
    torch.testing.assert_close(rgb[:, 0, 0].double(), lut[0].float().double())
    torch.testing.assert_close(rgb[:, 0, 1].double(), lut[0].float().double())
    torch.testing.assert_close(rgb[:, 0, 2].double(), lut[-1].float().double())
    torch.testing.assert_close(rgb[:, 0, 3].double(), lut[-1].float().double())
    assert torch.all(rgb[:, 0, 4] == 0)


def test_depth_preview_is_brighter_when_nearer_and_black_where_invalid() -> None:
    depth = torch.linspace(1.0, 50.0, 40).reshape(1, 40).repeat(3, 1)
    depth[1, 5] = 0.0
    depth[2, 7] = float("inf")
    rgb = depth_preview(depth, inv_depth_max=1.0)
    luminance = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2])[0]
    assert torch.all(luminance[1:] <= luminance[:-1] + 1e-6), "magma brightness must fall with depth"
    assert luminance[0] > luminance[-1] + 0.5
    assert torch.all(rgb[:, 1, 5] == 0) and torch.all(rgb[:, 2, 7] == 0)
    # depth 1 -> inverse depth 1 = inv_depth_max -> the last colour of the map.
    torch.testing.assert_close(rgb[:, 0, 0].double(), colormap("magma")[-1].float().double())


def test_inv_depth_range_is_the_95th_percentile_of_valid_inverse_depth() -> None:
    depth = 1.0 / torch.arange(1, 101, dtype=torch.float64)
    depth = torch.cat([depth, torch.zeros(10)]).reshape(10, 11)
    expected = float(torch.quantile(torch.arange(1, 101, dtype=torch.float64), 0.95))
    assert inv_depth_range(depth) == pytest.approx(expected, rel=1e-6)
    assert inv_depth_range(torch.zeros(2, 2)) == 0.0


def test_mask_overlay_blends_linearly() -> None:
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 4, 5, generator=g)
    mask = torch.zeros(4, 5)
    mask[1, 2] = 1.0
    mask[3, 4] = 0.5
    out = mask_overlay(image, mask, color=(1.0, 0.0, 0.0), alpha=0.8, dim=0.5)
    torch.testing.assert_close(out[:, 0, 0], 0.5 * image[:, 0, 0])
    red = torch.tensor([1.0, 0.0, 0.0])
    torch.testing.assert_close(out[:, 1, 2], 0.2 * 0.5 * image[:, 1, 2] + 0.8 * red)
    torch.testing.assert_close(out[:, 3, 4], 0.6 * 0.5 * image[:, 3, 4] + 0.4 * red)
    torch.testing.assert_close(mask_overlay(image, mask > 0.75, alpha=1.0)[:, 1, 2], torch.tensor([1.0, 0.1, 0.1]))


def test_panel_places_tiles_in_a_grid() -> None:
    a = torch.zeros(3, 4, 6)
    b = torch.full((3, 4, 6), 0.5)
    out = panel([[a, b], [None, a]], gap=2, background=1.0)
    assert out.shape == (3, 2 + 2 * (4 + 2), 2 + 2 * (6 + 2))
    torch.testing.assert_close(out[:, 2:6, 2:8], a)
    torch.testing.assert_close(out[:, 2:6, 10:16], b)
    assert torch.all(out[:, 8:12, 2:8] == 1.0)  # the empty cell
    torch.testing.assert_close(out[:, 8:12, 10:16], a)
    labelled = panel([[a, b]], labels=["x", "y"], gap=2, label_height=10)
    assert labelled.shape == (3, 2 + 10 + 2 + 4 + 2, 18)
    assert float(labelled[:, :12].min()) < 0.5, "labels are drawn in dark text"
    with pytest.raises(ValueError, match="expected"):
        panel([[a, torch.zeros(3, 5, 6)]])
    with pytest.raises(ValueError, match="at least one"):
        panel([[None]])


def test_resize_keeps_aspect_and_constant_images(tmp_path: Path) -> None:
    image = torch.full((3, 30, 60), 0.25)
    small = resize_rgb(image, 20)
    assert small.shape == (3, 10, 20)
    torch.testing.assert_close(small, torch.full((3, 10, 20), 0.25))
    assert resize_rgb(image, 90).shape == (3, 45, 90)
    path = save_rgb(tmp_path / "sub" / "x.png", small)
    assert path.is_file()


def test_png8_previews_round_trip_through_pil(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from vokit.data.image_io import write_png8

    gen = np.random.default_rng(0)
    rgb = gen.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    grey = gen.integers(0, 256, size=(4, 9), dtype=np.uint8)
    write_png8(tmp_path / "rgb.png", rgb)
    write_png8(tmp_path / "grey.png", grey)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "rgb.png")), rgb)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "grey.png")), grey)
    with pytest.raises(ValueError):
        write_png8(tmp_path / "bad.png", rgb.astype(np.uint16))
