import math

import pytest
import torch

from vokit.solvers.lk import (
    from_level,
    image_pyramid,
    lk_check,
    lk_templates,
    lk_track,
    lk_track_fb,
    pad_pyramid,
    sample_image,
    sample_window,
    to_level,
    window_padding,
)

HEIGHT, WIDTH = 96, 128


def _texture_spectrum(gen: torch.Generator, blur_px: float = 3.0) -> torch.Tensor:
    """Fourier spectrum of a periodic random texture low-passed by a Gaussian of ``blur_px`` pixels."""
    noise = torch.randn(HEIGHT, WIDTH, generator=gen, dtype=torch.float64)
    fv = torch.fft.fftfreq(HEIGHT, dtype=torch.float64)[:, None]
    fu = torch.fft.fftfreq(WIDTH, dtype=torch.float64)[None, :]
    return torch.fft.fft2(noise) * torch.exp(-2 * (math.pi * blur_px) ** 2 * (fu**2 + fv**2))


def _shifted(spectrum: torch.Tensor, du: float, dv: float) -> torch.Tensor:
    """Exact (Fourier) shift: ``out(u, v) = image(u - du, v - dv)``, so content moves by ``(du, dv)``."""
    fv = torch.fft.fftfreq(HEIGHT, dtype=torch.float64)[:, None]
    fu = torch.fft.fftfreq(WIDTH, dtype=torch.float64)[None, :]
    image = torch.fft.ifft2(spectrum * torch.exp(-2j * math.pi * (fu * du + fv * dv))).real
    return image / torch.fft.ifft2(spectrum).real.std()


def _centres(gen: torch.Generator, count: int, margin: int = 16) -> torch.Tensor:
    """Integer patch centres (as patchvo draws them), away from the border."""
    span = torch.tensor([WIDTH - 2.0 * margin, HEIGHT - 2.0 * margin])
    return (torch.rand(count, 2, generator=gen) * span + margin).round()


def _track_pairs(shifts, num_levels, gen, count=150, **kwargs):
    """Frame 0 is the texture; frame n (n >= 1) is it shifted by shifts[n - 1]; patches of frame 0 track into each."""
    spectrum = _texture_spectrum(gen)
    frames = torch.stack([_shifted(spectrum, 0.0, 0.0)] + [_shifted(spectrum, *s) for s in shifts]).float()
    pyramid = image_pyramid(frames, num_levels)
    src_uv = _centres(gen, count).repeat(len(shifts), 1)
    dst_idx = torch.arange(1, len(shifts) + 1).repeat_interleave(count)
    src_idx = torch.zeros_like(dst_idx)
    track = lk_track_fb(pyramid, pyramid, src_idx, dst_idx, src_uv, src_uv.clone(), **kwargs)
    truth = src_uv + torch.tensor(shifts, dtype=torch.float32)[dst_idx - 1]
    return track, (track.dst_uv - truth).norm(dim=-1), dst_idx


def test_recovers_subpixel_shifts_to_005_px(gen):
    shifts = [(1.3, -0.7), (-0.4, 0.25)]
    track, err, dst_idx = _track_pairs(shifts, 3, gen)
    for n in (1, 2):  # two frame pairs in one batched call
        pair = err[dst_idx == n]
        assert pair.median() < 0.02
        assert pair.quantile(0.95) < 0.05
    assert track.valid.all()
    assert (track.weight > 0.5).float().mean() > 0.95


def test_bicubic_sampling_removes_the_bilinear_bias(gen):
    _, err_cubic, _ = _track_pairs([(1.3, -0.7)], 3, gen)
    gen.manual_seed(0)
    _, err_linear, _ = _track_pairs([(1.3, -0.7)], 3, gen, interpolation="bilinear")
    assert err_cubic.median() < 0.5 * err_linear.median()


def test_pyramid_recovers_a_large_shift(gen):
    shift = [(6.0, -4.5)]
    track, err, _ = _track_pairs(shift, 4, gen)
    confident = track.weight.min(dim=-1).values > 0.5
    assert confident.float().mean() > 0.7
    assert err[confident].quantile(0.95) < 0.05
    assert (err < 0.05).float().mean() > 0.8
    gen.manual_seed(0)
    _, err_flat, _ = _track_pairs(shift, 1, gen)  # without the pyramid most patches fail
    assert (err_flat < 0.05).float().mean() < 0.5


def test_forward_backward_confidence_flags_occluded_patches(gen):
    spectrum = _texture_spectrum(gen)
    source = _shifted(spectrum, 0.0, 0.0)
    target = _shifted(spectrum, 1.3, -0.7)
    other = _shifted(_texture_spectrum(gen), 0.0, 0.0)
    target[:, : WIDTH // 2] = other[:, : WIDTH // 2]  # left half occluded by an unrelated texture
    pyramid_src = image_pyramid(source[None].float(), 3)
    pyramid_dst = image_pyramid(target[None].float(), 3)
    src_uv = _centres(gen, 300)
    occluded = src_uv[:, 0] < WIDTH // 2 - 12
    visible = src_uv[:, 0] > WIDTH // 2 + 12
    idx = torch.zeros(300, dtype=torch.long)
    track = lk_track_fb(pyramid_src, pyramid_dst, idx, idx, src_uv, src_uv.clone())
    weight = track.weight.min(dim=-1).values
    assert weight[visible].median() > 0.9
    assert weight[occluded].median() < 0.2
    assert weight[occluded].mean() < 0.5 * weight[visible].mean()


def test_forward_track_without_check_has_unit_weight_where_valid(gen):
    spectrum = _texture_spectrum(gen)
    frames = torch.stack([_shifted(spectrum, 0.0, 0.0), _shifted(spectrum, 0.5, 0.5)]).float()
    pyramid = image_pyramid(frames, 2)
    src_uv = torch.tensor([[40.0, 40.0], [0.0, 50.0]])  # the second window leaves the image
    track = lk_track(pyramid, pyramid, torch.tensor([0, 0]), torch.tensor([1, 1]), src_uv, src_uv.clone())
    assert track.valid.tolist() == [True, False]
    assert track.weight.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    torch.testing.assert_close(track.dst_uv[1], src_uv[1])  # invalid tracks keep the initial position
    assert (track.dst_uv[0] - src_uv[0] - 0.5).abs().max() < 0.05


def test_sampling_is_exact_on_pixels_and_on_quadratics():
    v, u = torch.meshgrid(
        torch.arange(10.0, dtype=torch.float64), torch.arange(12.0, dtype=torch.float64), indexing="ij"
    )
    image = (0.3 * u * u - 0.2 * u * v + 0.1 * v * v + u - 2 * v)[None]
    uv = torch.tensor([[[3.0, 4.0], [5.25, 2.5], [7.7, 6.1]]], dtype=torch.float64)
    expected = (
        0.3 * uv[..., 0] ** 2 - 0.2 * uv[..., 0] * uv[..., 1] + 0.1 * uv[..., 1] ** 2 + uv[..., 0] - 2 * uv[..., 1]
    )
    idx = torch.tensor([0])
    torch.testing.assert_close(sample_image(image, idx, uv), expected)  # Catmull-Rom reproduces quadratics
    torch.testing.assert_close(sample_image(image, idx, uv[:, :1], "bilinear"), expected[:, :1])
    ramp = (2 * u - v)[None]
    torch.testing.assert_close(sample_image(ramp, idx, uv, "bilinear"), 2 * uv[..., 0] - uv[..., 1])


def test_level_mapping_matches_average_pooling():
    image = torch.arange(64.0).view(1, 8, 8)
    pyramid = image_pyramid(image, 3)
    assert [tuple(level.shape) for level in pyramid] == [(1, 8, 8), (1, 4, 4), (1, 2, 2)]
    # the 2 x 2 block centred at level-0 (2.5, 4.5) is level-1 pixel (1, 2); a linear image pools exactly
    torch.testing.assert_close(to_level(torch.tensor([2.5, 4.5]), 1), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(pyramid[1][0, 2, 1], image[0, 4:6, 2:4].mean())
    uv = torch.tensor([[3.7, -0.2]])
    torch.testing.assert_close(from_level(to_level(uv, 2), 2), uv)


def test_bad_arguments_raise():
    pyramid = image_pyramid(torch.rand(1, 8, 8), 2)
    uv = torch.zeros(2, 2)
    idx = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="depth"):
        lk_track(pyramid, pyramid[:1], idx, idx, uv, uv)
    with pytest.raises(Exception):  # noqa: B017 - a ValueError, or the annotation check under the test suite
        lk_track(pyramid, pyramid, idx, idx, uv, uv[:1])
    with pytest.raises(ValueError, match="fb_sigma_px"):
        lk_track_fb(pyramid, pyramid, idx, idx, uv, uv, fb_sigma_px=0.0)
    with pytest.raises(ValueError, match="num_levels"):
        image_pyramid(torch.rand(1, 8, 8), 0)


def _window_positions(centre: torch.Tensor, half: int) -> torch.Tensor:
    offsets = torch.arange(-half, half + 1, dtype=centre.dtype)
    dv, du = torch.meshgrid(offsets, offsets, indexing="ij")
    return centre[:, None] + torch.stack([du, dv], -1).reshape(1, -1, 2)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_sample_window_equals_sampling_each_position(gen, interpolation):
    images = torch.rand(3, 20, 24, generator=gen, dtype=torch.float64)
    half = 2
    padded = pad_pyramid([images], half)[0]
    pad = window_padding(half)
    # windows inside the image: any centre; bilinear also for centres anywhere (replicated border == clamped
    # coordinates), bicubic only inside (its taps read the replicated border, sample_image clamps the point first)
    inside = torch.rand(40, 2, generator=gen, dtype=torch.float64) * torch.tensor([24.0 - 7, 20.0 - 7]) + 3
    anywhere = torch.rand(40, 2, generator=gen, dtype=torch.float64) * torch.tensor([44.0, 40.0]) - 10
    for centre in (inside, anywhere) if interpolation == "bilinear" else (inside,):
        idx = torch.randint(0, 3, (centre.shape[0],), generator=gen)
        out = sample_window(padded, pad, idx, centre, half, interpolation)
        ref = sample_image(images, idx, _window_positions(centre, half), interpolation)
        # the same taps and weights, summed separably instead of per point: float64 round-off
        torch.testing.assert_close(out.flatten(1), ref, rtol=0, atol=1e-12)


def test_padded_levels_carry_the_clamped_gradient_image(gen):
    image = torch.rand(2, 9, 11, generator=gen, dtype=torch.float64)
    level = pad_pyramid([image], 1)[0]
    pad = window_padding(1)
    assert level.shape == (2, 9 + 2 * pad, 11 + 2 * pad, 3)
    inner = level[:, pad:-pad, pad:-pad]
    torch.testing.assert_close(inner[..., 0], image, rtol=0, atol=0)
    torch.testing.assert_close(inner[:, :, 1:-1, 1], 0.5 * (image[:, :, 2:] - image[:, :, :-2]), rtol=0, atol=1e-15)
    torch.testing.assert_close(inner[:, :, 0, 1], 0.5 * (image[:, :, 1] - image[:, :, 0]), rtol=0, atol=1e-15)
    torch.testing.assert_close(level[:, :, 0], level[:, :, pad], rtol=0, atol=0)  # replicated outwards


def test_sample_window_needs_its_padding():
    with pytest.raises(ValueError, match="padding"):
        sample_window(torch.zeros(1, 10, 10, 3), 2, torch.zeros(1, dtype=torch.long), torch.zeros(1, 2), 1)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_forward_then_check_is_the_forward_backward_track(gen, interpolation):
    spectrum = _texture_spectrum(gen)
    frames = torch.stack([_shifted(spectrum, 0.0, 0.0), _shifted(spectrum, 2.3, -1.6)]).float()
    pyramid = image_pyramid(frames, 3)
    src_uv = _centres(gen, 60)
    src_idx, dst_idx = torch.zeros(60, dtype=torch.long), torch.ones(60, dtype=torch.long)
    init = src_uv + 1.0
    both = lk_track_fb(pyramid, pyramid, src_idx, dst_idx, src_uv, init, interpolation=interpolation)
    padded = pad_pyramid(pyramid, 1)
    forward = lk_track(padded, padded, src_idx, dst_idx, src_uv, init, interpolation=interpolation, padded=True)
    checked = lk_check(pyramid, pyramid, src_idx, dst_idx, src_uv, init, forward, interpolation=interpolation)
    # the same operations on the same tensors: identical
    for name in ("dst_uv", "valid", "residual", "fb_error", "weight"):
        assert torch.equal(getattr(checked, name), getattr(both, name)), name
    assert float(both.weight.amin(-1).median()) > 0.9


def test_backward_levels_change_only_the_check(gen):
    spectrum = _texture_spectrum(gen)
    frames = torch.stack([_shifted(spectrum, 0.0, 0.0), _shifted(spectrum, 0.6, -0.4)]).float()
    pyramid = image_pyramid(frames, 3)
    src_uv = _centres(gen, 80)
    src_idx, dst_idx = torch.zeros(80, dtype=torch.long), torch.ones(80, dtype=torch.long)
    full = lk_track_fb(pyramid, pyramid, src_idx, dst_idx, src_uv, src_uv.clone())
    short = lk_track_fb(pyramid, pyramid, src_idx, dst_idx, src_uv, src_uv.clone(), backward_levels=1)
    torch.testing.assert_close(short.dst_uv, full.dst_uv, rtol=0, atol=0)  # the forward track is the same call
    # a sub-pixel correction is within reach of the finest level alone: the check agrees (round-trip < 0.05 px)
    assert float(short.fb_error.max()) < 0.05 and float(full.fb_error.max()) < 0.05
    # a correction of several pixels is not: the one-level check flags it, the full one does not
    far = lk_track_fb(pyramid, pyramid, src_idx, dst_idx, src_uv, src_uv + 6.0)
    far_short = lk_track_fb(pyramid, pyramid, src_idx, dst_idx, src_uv, src_uv + 6.0, backward_levels=1)
    assert float(far.weight.amin(-1).median()) > 0.9 > float(far_short.weight.amin(-1).median())


def test_precomputed_templates_give_the_same_tracks(gen):
    spectrum = _texture_spectrum(gen)
    frames = torch.stack([_shifted(spectrum, 0.0, 0.0), _shifted(spectrum, 1.7, 0.9),
                          _shifted(spectrum, -2.2, 1.4)]).float()
    pyramid = pad_pyramid(image_pyramid(frames, 3), 2)
    centres = _centres(gen, 40)
    # each window tracked into two frames: the templates of the 40 windows, indexed per track
    templates = lk_templates(pyramid, torch.zeros(40, dtype=torch.long), centres, 2, "bilinear", padded=True)
    rows = torch.arange(40).repeat(2)
    src_idx, dst_idx = torch.zeros(80, dtype=torch.long), torch.tensor([1, 2]).repeat_interleave(40)
    src_uv = centres[rows]
    args = (pyramid, pyramid, src_idx, dst_idx, src_uv, src_uv.clone(), 2, 4, "bilinear", True)
    plain = lk_track(*args)
    cached = lk_track(*args, templates=[t[rows] for t in templates])
    for name in ("dst_uv", "valid", "residual"):  # the same per-window arithmetic: identical
        assert torch.equal(getattr(cached, name), getattr(plain, name)), name
    with pytest.raises(ValueError, match="template levels"):
        lk_track(*args, templates=templates[:2])


def _zoomed(spectrum: torch.Tensor, scale: float, centre: torch.Tensor) -> torch.Tensor:
    """The texture magnified by ``scale`` about ``centre``: ``out(x) = image(centre + (x - centre) / scale)``,
    sampled exactly (inverse Fourier transform evaluated at the warped positions)."""
    v, u = torch.meshgrid(torch.arange(HEIGHT, dtype=torch.float64), torch.arange(WIDTH, dtype=torch.float64),
                          indexing="ij")
    su, sv = centre[0] + (u - centre[0]) / scale, centre[1] + (v - centre[1]) / scale
    fv = torch.fft.fftfreq(HEIGHT, dtype=torch.float64)
    fu = torch.fft.fftfreq(WIDTH, dtype=torch.float64)
    # separable inverse DFT at non-integer positions: sum_k,l S[k, l] e^{2 pi i (fu_l su + fv_k sv)}
    ev = torch.exp(2j * math.pi * fv[None, :] * sv[:, 0, None])  # rows: sv depends on v only
    eu = torch.exp(2j * math.pi * fu[None, :] * su[0, :, None])  # columns: su depends on u only
    image = (ev @ spectrum @ eu.T).real / (HEIGHT * WIDTH)
    return image / torch.fft.ifft2(spectrum).real.std()


def test_scaled_templates_equal_plain_ones_at_unit_scale(gen):
    spectrum = _texture_spectrum(gen)
    pyramid = pad_pyramid(image_pyramid(_shifted(spectrum, 0.0, 0.0)[None], 3), 2)
    uv = torch.rand(60, 2, generator=gen, dtype=torch.float64) * torch.tensor([WIDTH - 1.0, HEIGHT - 1.0])
    idx = torch.zeros(60, dtype=torch.long)
    plain = lk_templates(pyramid, idx, uv, 2, "bilinear", padded=True)
    scaled = lk_templates(pyramid, idx, uv, 2, "bilinear", padded=True, scale=torch.ones(60, dtype=torch.float64))
    for a, b in zip(plain, scaled, strict=True):  # the same bilinear samples, summed in another order
        torch.testing.assert_close(b.template, a.template, rtol=0, atol=1e-12)
        torch.testing.assert_close(b.descent, a.descent, rtol=0, atol=1e-10)
        assert torch.equal(a.conditioned, b.conditioned)


def test_scale_warp_tracks_a_magnified_surface(gen):
    # a surface 25 % larger in the target (forward motion): the window predicted at that scale finds the true
    # position; the translation-only window is biased by the mismatch, and more so away from the zoom centre
    spectrum = _texture_spectrum(gen)
    centre = torch.tensor([WIDTH / 2, HEIGHT / 2], dtype=torch.float64)
    frames = torch.stack([_shifted(spectrum, 0.0, 0.0), _zoomed(spectrum, 1.25, centre)])
    pyramid = image_pyramid(frames, 3)
    src_uv = centre + (torch.rand(150, 2, generator=gen, dtype=torch.float64) - 0.5) * torch.tensor([60.0, 40.0])
    truth = centre + 1.25 * (src_uv - centre)
    start = truth + 0.7 * torch.randn(150, 2, generator=gen, dtype=torch.float64)
    src_idx = torch.zeros(150, dtype=torch.long)
    errors = {}
    for name, scale in (("plain", None), ("warped", torch.full((150,), 1.25, dtype=torch.float64))):
        forward = lk_track(pyramid, pyramid, src_idx, src_idx + 1, src_uv, start, 2, 6, "bilinear", scale=scale)
        checked = lk_check(pyramid, pyramid, src_idx, src_idx + 1, src_uv, start, forward, 2, 6, 0.5, "bilinear",
                           scale=scale)
        errors[name] = (forward.dst_uv - truth).norm(dim=-1)
        if scale is not None:  # the backward track, warped by 1 / scale, confirms the warped forward ones
            assert float((checked.weight.amin(-1) > 0.5).double().mean()) > 0.95
    # measured (seed 0): median 0.03 px warped, 0.43 px plain
    assert float(errors["warped"].median()) < 0.08
    assert float(errors["plain"].median()) > 2 * float(errors["warped"].median())
