import pytest
import torch

from vokit.nets.correlation import (
    corr_gather,
    corr_sample,
    correlation_pyramid,
    correlation_volume,
    patch_correlation,
    volume_correlation,
)
from vokit.nets.patch_encoder import bilinear_gather, extract_patches, patch_grid, random_patch_centres


def _problem(gen, dtype=torch.float64, num_frames=3, channels=8, height=12, width=20, num_edges=30):
    fmap = torch.randn(num_frames, channels, height, width, generator=gen, dtype=dtype)
    frame_idx, centres = random_patch_centres(num_frames, 4, height, width, gen)
    gmap = extract_patches(fmap, frame_idx, centres.to(dtype))
    patch_idx = torch.randint(0, gmap.shape[0], (num_edges,), generator=gen)
    dst_idx = torch.randint(0, num_frames, (num_edges,), generator=gen)
    # centres spread beyond the border so that zero padding is exercised
    centre = torch.rand(num_edges, 2, generator=gen, dtype=dtype) * torch.tensor([width + 8.0, height + 8.0]) - 4.0
    return gmap, correlation_pyramid(fmap), patch_idx, dst_idx, patch_grid(centre)


def test_gather_and_sample_forms_agree_to_1e5(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen)
    a = patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv, form="gather")
    b = patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv, form="sample")
    assert a.shape == (30, 882)
    assert (a - b).abs().max() < 1e-5
    c = patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv, form="dots")
    assert (a - c).abs().max() < 1e-5
    # float32 agreement relative to the correlation scale
    a32 = patch_correlation(gmap.float(), [f.float() for f in pyramid], patch_idx, dst_idx, patch_uv.float())
    b32 = patch_correlation(
        gmap.float(), [f.float() for f in pyramid], patch_idx, dst_idx, patch_uv.float(), form="sample"
    )
    assert (a32 - b32).abs().max() < 1e-5 * a32.abs().max()


def test_entries_equal_dot_products_with_bilinear_samples_in_dpvo_order(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen, num_edges=5)
    corr = patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv).view(5, 7, 7, 3, 3, 2)
    for e, ou, ov, r, s, level in [(0, 1, -2, 0, 2, 0), (3, -3, 3, 2, 1, 1), (4, 0, 0, 1, 1, 0)]:
        factor = (1, 4)[level]
        uv = patch_uv[e, r, s] / factor + torch.tensor([ou, ov], dtype=patch_uv.dtype)
        sample = bilinear_gather(pyramid[level], dst_idx[e : e + 1], uv.view(1, 2))[0]
        expected = (sample * gmap[patch_idx[e], :, r, s]).sum()
        torch.testing.assert_close(corr[e, ou + 3, ov + 3, r, s, level], expected)


def test_window_forms_agree_on_integer_and_border_positions(gen):
    fmap = torch.randn(2, 4, 5, 6, generator=gen, dtype=torch.float64)
    feat = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    uv = torch.tensor([[0.0, 0.0], [5.0, 4.0], [2.0, 3.0], [-0.5, 2.25], [5.75, 4.5], [20.0, 1.0]], dtype=torch.float64)
    dst = torch.tensor([0, 1, 1, 0, 1, 0])
    torch.testing.assert_close(corr_gather(feat, fmap, dst, uv, 2), corr_sample(feat, fmap, dst, uv, 2))
    assert corr_gather(feat, fmap, dst, uv, 2)[5].abs().max() == 0  # far outside the image


def test_chunking_and_checkpointing_do_not_change_values_or_gradients(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen, num_edges=11)
    gmap.requires_grad_(True)
    fmap = pyramid[0].detach().requires_grad_(True)

    def run(**kwargs):
        out = patch_correlation(gmap, correlation_pyramid(fmap), patch_idx, dst_idx, patch_uv, **kwargs)
        (g_gmap, g_fmap) = torch.autograd.grad((out * out.detach().cos()).sum(), (gmap, fmap))
        return out.detach(), g_gmap, g_fmap

    ref = run()
    for kwargs in ({"chunk_size": 4}, {"chunk_size": 3, "use_checkpoint": True}):
        for x, y in zip(run(**kwargs), ref, strict=True):
            torch.testing.assert_close(x, y)


def test_gradient_dropout_routes_gradients_through_a_fraction_of_edges(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen, num_edges=400)
    gmap = gmap.requires_grad_(True)
    patch_uv = patch_uv.requires_grad_(True)
    out = patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv, grad_fraction=0.2, generator=gen)
    ref = patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv)
    torch.testing.assert_close(out, ref)  # dropout never changes values
    # per-edge probe: which edges' correlation reaches gmap
    reaches = []
    for e in range(0, 400, 8):
        (grad,) = torch.autograd.grad(out[e].sum(), gmap, retain_graph=True, allow_unused=True)
        reaches.append(grad is not None and bool(grad.abs().sum() > 0))
    fraction = sum(reaches) / len(reaches)
    assert 0.04 < fraction < 0.4
    (grad_uv,) = torch.autograd.grad(out.sum(), patch_uv)
    assert (grad_uv.abs().sum(dim=(1, 2, 3)) > 0).float().mean() > 0.9  # coordinates keep every edge
    with torch.no_grad():  # no draw without gradients
        torch.testing.assert_close(
            patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv, grad_fraction=0.2), ref.detach()
        )


def test_gradients_match_finite_differences(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen, channels=2, height=6, width=8, num_edges=2)
    fmap = pyramid[0].clone().requires_grad_(True)
    gmap = gmap.clone().requires_grad_(True)
    patch_uv = (patch_uv.detach() * 0.5 + 0.3).requires_grad_(True)  # off the integer grid
    probe = torch.randn(882, 3, generator=gen, dtype=torch.float64)
    for form in ("gather", "sample", "dots"):

        def fn(g, f, uv, form=form):
            return patch_correlation(g, correlation_pyramid(f), patch_idx, dst_idx, uv, form=form) @ probe

        assert torch.autograd.gradcheck(fn, (gmap, fmap, patch_uv), fast_mode=True)


def test_bad_arguments_raise(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen, num_edges=3)
    with pytest.raises(Exception, match="form"):
        patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv, form="dense_all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="levels"):
        patch_correlation(gmap, pyramid[:1], patch_idx, dst_idx, patch_uv)
    with pytest.raises(ValueError, match="grad_fraction"):
        patch_correlation(gmap, pyramid, patch_idx, dst_idx, patch_uv, grad_fraction=1.5)


def test_volume_lookup_equals_the_window_forms_with_gradients(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen, num_edges=17)
    gmap = gmap.requires_grad_(True)
    fmap = pyramid[0].detach().requires_grad_(True)
    probe = torch.randn(17, 882, generator=gen, dtype=torch.float64)

    def grads(out):
        return (out.detach(), *torch.autograd.grad((out * probe).sum(), (gmap, fmap)))

    ref = grads(patch_correlation(gmap, correlation_pyramid(fmap), patch_idx, dst_idx, patch_uv))
    volume = correlation_volume(gmap, correlation_pyramid(fmap))
    got = grads(volume_correlation(volume, patch_idx, dst_idx, patch_uv))
    for x, y in zip(got, ref, strict=True):
        assert (x - y).abs().max() < 1e-10
    sampled = patch_correlation(gmap, correlation_pyramid(fmap), patch_idx, dst_idx, patch_uv, form="sample")
    assert (got[0] - sampled.detach()).abs().max() < 1e-5  # against form (b) directly, as section 4.2 asks
    out32 = volume_correlation(
        correlation_volume(gmap.float(), [f.float() for f in pyramid]), patch_idx, dst_idx, patch_uv.float()
    )
    assert (out32 - ref[0]).abs().max() < 1e-5 * ref[0].abs().max()


def test_volume_gradient_dropout_keeps_values_and_drops_map_gradients(gen):
    gmap, pyramid, patch_idx, dst_idx, patch_uv = _problem(gen, num_edges=200)
    gmap = gmap.requires_grad_(True)
    volume = correlation_volume(gmap, pyramid)
    out = volume_correlation(volume, patch_idx, dst_idx, patch_uv, grad_fraction=0.2, generator=gen)
    torch.testing.assert_close(out, volume_correlation(volume, patch_idx, dst_idx, patch_uv))
    reaches = []
    for e in range(0, 200, 5):
        (grad,) = torch.autograd.grad(out[e].sum(), gmap, retain_graph=True)
        reaches.append(bool(grad.abs().sum() > 0))
    assert 0.04 < sum(reaches) / len(reaches) < 0.45
