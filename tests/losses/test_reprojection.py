import torch

from vokit.losses.photometric import photometric_error
from vokit.losses.reprojection import IDENTITY_NOISE_STD, min_reprojection


def test_min_reprojection_picks_the_smaller_source(gen, device):
    errors = torch.rand(2, 2, 6, 7, generator=gen).to(device)
    result = min_reprojection(errors)
    torch.testing.assert_close(result.per_pixel, errors.min(1).values)
    expected_index = (errors[:, 1] < errors[:, 0]).long()
    assert torch.equal(result.source_index, expected_index)
    assert result.automask.all()
    torch.testing.assert_close(result.loss, errors.min(1).values.mean())


def test_average_reprojection_option(gen, device):
    errors = torch.rand(1, 2, 5, 5, generator=gen).to(device)
    result = min_reprojection(errors, use_min_reprojection=False)
    torch.testing.assert_close(result.per_pixel, errors.mean(1))


def test_automask_picks_identity_on_static_pair(gen, device):
    target = torch.rand(1, 3, 12, 16, generator=gen).to(device)
    static_source = target.clone()  # camera did not move
    wrongly_warped = torch.roll(static_source, 2, dims=-1)  # e.g. a wrong depth/pose moved it anyway
    warped_err = photometric_error(target, wrongly_warped)[:, None]
    identity_err = photometric_error(target, static_source)[:, None]
    result = min_reprojection(warped_err, identity_err, generator=torch.Generator().manual_seed(1))
    assert not result.automask.any()
    assert result.loss.abs() < 10 * IDENTITY_NOISE_STD


def test_automask_keeps_good_warps_and_blocks_their_gradient_elsewhere(gen, device):
    warped = torch.rand(1, 2, 4, 5, generator=gen).to(device).requires_grad_()
    identity = torch.rand(1, 2, 4, 5, generator=gen).to(device)
    result = min_reprojection(warped, identity, generator=torch.Generator().manual_seed(0))
    expected_mask = warped.detach().min(1).values < identity.min(1).values
    # noise is only 1e-5: ties within that margin are excluded from the comparison
    margin = (warped.detach().min(1).values - identity.min(1).values).abs() > 1e-4
    assert torch.equal(result.automask[margin], expected_mask[margin])
    result.loss.backward()
    grad = warped.grad
    assert grad is not None
    # pixels where identity wins receive no gradient at all
    assert torch.all(grad.sum(1)[~result.automask] == 0)
    assert torch.all(grad.sum(1)[result.automask] > 0)


def test_noise_is_reproducible_with_generator(gen, device):
    warped = torch.rand(1, 2, 4, 4, generator=gen).to(device)
    identity = torch.zeros(1, 2, 4, 4, device=device)
    a = min_reprojection(warped, identity, generator=torch.Generator().manual_seed(5))
    b = min_reprojection(warped, identity, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.per_pixel, b.per_pixel)
    assert a.per_pixel.abs().max() < 10 * IDENTITY_NOISE_STD
