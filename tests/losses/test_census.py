import pytest
import torch
import torch.nn.functional as F

from vokit.losses.census import census_border_mask, census_error, census_transform, soft_hamming


def _texture(gen: torch.Generator, height: int = 24, width: int = 32) -> torch.Tensor:
    """A smooth random RGB texture in [0.1, 0.9] (grey-level steps of many levels between neighbours)."""
    coarse = torch.rand(1, 3, height // 4, width // 4, generator=gen, dtype=torch.float64)
    return 0.1 + 0.8 * F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)


def _inside_mean(error: torch.Tensor) -> float:
    height, width = error.shape[-2:]
    border = census_border_mask(height, width, device=error.device).to(error.dtype)
    return float((error * border).sum() / (border.sum() * error.shape[0]))


def test_census_transform_is_soft_sign_of_neighbour_differences(gen):
    image = _texture(gen, 9, 9)
    t = census_transform(image, patch_size=3)
    grey = 255.0 * (0.2989 * image[:, 0] + 0.5870 * image[:, 1] + 0.1140 * image[:, 2])
    # neighbour k = 5 of a 3x3 window is (dy, dx) = (0, +1); the centre (k = 4) is 0
    d = grey[0, 4, 5] - grey[0, 4, 4]
    assert float(t[0, 5, 4, 4]) == float(d / torch.sqrt(0.81 + d * d))
    assert t[:, 4].abs().max() == 0.0
    assert t.shape == (1, 9, 9, 9) and t.abs().max() < 1.0


def test_census_error_is_zero_for_identical_images_and_on_the_border(gen):
    image = _texture(gen)
    assert census_error(image, image).abs().max() == 0.0
    shifted = torch.roll(image, 2, dims=-1)
    error = census_error(image, shifted)
    assert error[..., :3, :].abs().max() == 0.0 and error[..., :, -3:].abs().max() == 0.0


def test_census_error_ignores_additive_brightness_changes(gen):
    image = _texture(gen)
    # grey-level differences cancel exactly; only float64 round-off (~1e-13 levels) remains
    assert census_error(image, image + 0.1).abs().max() < 1e-9


def test_census_error_nearly_ignores_multiplicative_brightness_changes(gen):
    image = _texture(gen)
    darker, shifted = 0.9 * image, torch.roll(image, 1, dims=-1)
    census = census_transform(image)
    hamming_darker = _inside_mean(soft_hamming(census, census_transform(darker)))
    hamming_shifted = _inside_mean(soft_hamming(census, census_transform(shifted)))
    # x0.9 moves soft-ternary values only where neighbours differ by a few grey levels; a 1-px shift flips signs
    assert hamming_darker < 0.01 * hamming_shifted
    assert _inside_mean(census_error(image, darker)) < 0.1 * _inside_mean(census_error(image, shifted))
    l1_darker = (image - darker).abs().mean()
    l1_shifted = (image - shifted).abs().mean()
    assert l1_darker > l1_shifted  # the plain L1 error ranks them the other way round


def test_census_error_grows_with_the_shift(gen):
    image = _texture(gen)
    errors = [_inside_mean(census_error(image, torch.roll(image, s, dims=-1))) for s in (0, 1, 3)]
    assert errors[0] == 0.0 < errors[1] < errors[2]


def test_soft_hamming_counts_disagreeing_neighbours():
    a = torch.tensor([1.0, -1.0, 0.5]).view(1, 3, 1, 1)
    b = torch.tensor([-1.0, -1.0, 0.5]).view(1, 3, 1, 1)
    assert float(soft_hamming(a, b)) == pytest.approx(4.0 / 4.1, rel=1e-6)  # float32 round-off


def test_census_error_gradcheck(gen):
    a = _texture(gen, 10, 11).requires_grad_(True)
    b = (a.detach() + 0.05 * torch.randn(a.shape, generator=gen, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(census_error, (a, b), eps=1e-6, atol=1e-5)
