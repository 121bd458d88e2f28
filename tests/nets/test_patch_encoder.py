import pytest
import torch

from vokit.nets.patch_encoder import (
    BasicEncoder4,
    bilinear_gather,
    context_encoder,
    extract_patches,
    feature_encoder,
    gradient_biased_patch_centres,
    patch_grid,
    random_patch_centres,
)


@pytest.mark.parametrize(("size", "base"), [((32, 48), 32), ((30, 45), 8)])
def test_encoders_give_stride_4_maps_of_the_requested_width(size, base):
    torch.manual_seed(0)
    image = torch.rand(2, 3, *size)
    fnet, inet = feature_encoder(base_channels=base), context_encoder(24, base_channels=base)
    fmap, imap = fnet(image), inet(image)
    h, w = -(-size[0] // 4), -(-size[1] // 4)
    assert fmap.shape == (2, 128, h, w)
    assert imap.shape == (2, 24, h, w)
    assert torch.isfinite(fmap).all() and torch.isfinite(imap).all()


def test_feature_encoder_uses_instance_norm_and_context_encoder_none():
    fnet, inet = feature_encoder(base_channels=8), context_encoder(16, base_channels=8)
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in fnet.modules())
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in inet.modules())
    with pytest.raises(Exception, match="norm"):
        BasicEncoder4(8, norm="batch")  # type: ignore[arg-type]


def test_output_is_divided_by_four():
    torch.manual_seed(0)
    enc = context_encoder(8, base_channels=8)
    image = torch.rand(1, 3, 16, 16)
    out = enc(image)
    with torch.no_grad():
        enc.conv2.weight.mul_(4.0)
        assert enc.conv2.bias is not None
        enc.conv2.bias.mul_(4.0)
    torch.testing.assert_close(enc(image), 4.0 * out)


def test_random_centres_lie_in_the_open_interior(gen):
    frame_idx, uv = random_patch_centres(3, 50, 6, 9, gen)
    assert frame_idx.tolist() == [0] * 50 + [1] * 50 + [2] * 50
    assert (uv == uv.round()).all()
    assert uv[:, 0].min() >= 1 and uv[:, 0].max() <= 7
    assert uv[:, 1].min() >= 1 and uv[:, 1].max() <= 4


def test_patches_at_integer_centres_copy_the_window(gen):
    fmap = torch.randn(2, 5, 7, 9, generator=gen)
    frame_idx, uv = random_patch_centres(2, 6, 7, 9, gen)
    patches = extract_patches(fmap, frame_idx, uv)
    for p in range(len(frame_idx)):
        u, v = int(uv[p, 0]), int(uv[p, 1])
        torch.testing.assert_close(patches[p], fmap[frame_idx[p], :, v - 1 : v + 2, u - 1 : u + 2])
    centre = extract_patches(fmap, frame_idx, uv, radius=0)
    torch.testing.assert_close(centre[:, :, 0, 0], patches[:, :, 1, 1])


def test_bilinear_gather_matches_grid_sample_with_zero_padding(gen):
    fmap = torch.randn(3, 4, 6, 8, generator=gen, dtype=torch.float64)
    frame_idx = torch.tensor([0, 2, 1, 2])
    uv = torch.rand(4, 5, 2, generator=gen, dtype=torch.float64) * torch.tensor([10.0, 8.0]) - 1.0
    out = bilinear_gather(fmap, frame_idx, uv)
    norm = torch.stack([2 * uv[..., 0] / 7 - 1, 2 * uv[..., 1] / 5 - 1], dim=-1)
    ref = torch.nn.functional.grid_sample(fmap[frame_idx], norm[:, :, None], align_corners=True)
    torch.testing.assert_close(out, ref[..., 0].permute(0, 2, 1))


def test_patch_grid_is_row_major():
    grid = patch_grid(torch.tensor([[5.0, 2.0]]))
    assert grid.shape == (1, 3, 3, 2)
    torch.testing.assert_close(grid[0, 0, 2], torch.tensor([6.0, 1.0]))
    torch.testing.assert_close(grid[0, 2, 0], torch.tensor([4.0, 3.0]))


def test_gradient_biased_centres_prefer_textured_regions(gen):
    image = torch.full((2, 3, 48, 64), 0.5)
    image[:, :, :, 32:] = torch.rand(2, 3, 48, 32, generator=gen)  # texture on the right half only
    frame_idx, uv = gradient_biased_patch_centres(image, 10, gen)
    assert frame_idx.tolist() == [0] * 10 + [1] * 10
    assert (uv == uv.round()).all()
    assert (uv[:, 0] >= 8).float().mean() > 0.9  # the 1/4-resolution texture starts at u = 8
    _, uv_random = random_patch_centres(2, 10, 12, 16, gen)
    assert (uv_random[:, 0] >= 8).float().mean() < 0.9
