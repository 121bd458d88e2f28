import pytest
import torch

from vokit.losses.occlusion import forward_backward_occlusion

H, W = 20, 30


def _constant(du: float, dv: float) -> torch.Tensor:
    return torch.tensor([du, dv], dtype=torch.float64).expand(1, H, W, 2).clone()


@pytest.mark.parametrize(("du", "dv"), [(3.0, 0.0), (-2.5, 1.0), (0.0, -4.0)])
def test_pure_translation_marks_only_the_pixels_that_leave_the_frame(du, dv):
    occluded = forward_backward_occlusion(_constant(du, dv), _constant(-du, -dv))
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    leaves = (u + du < 0) | (u + du > W - 1) | (v + dv < 0) | (v + dv > H - 1)
    assert torch.equal(occluded[0], leaves)
    assert leaves.any() and not leaves.all()


def test_moving_square_occludes_the_background_it_covers():
    # frame a: a 6x6 square at columns 8..13 moving 4 px right over a static background; frame b: columns 12..17
    rows, shift = slice(7, 13), 4
    fwd, bwd = _constant(0.0, 0.0), _constant(0.0, 0.0)
    fwd[0, rows, 8:14, 0] = shift
    bwd[0, rows, 12:18, 0] = -shift
    occluded = forward_backward_occlusion(fwd, bwd)
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[rows, 14:18] = True  # background of frame a hidden behind the square in frame b
    assert torch.equal(occluded[0], expected)
    # and the reverse direction: the background the square uncovers (columns 8..11) has no match in frame a
    expected_bwd = torch.zeros(H, W, dtype=torch.bool)
    expected_bwd[rows, 8:12] = True
    assert torch.equal(forward_backward_occlusion(bwd, fwd)[0], expected_bwd)


def test_tolerance_grows_with_flow_magnitude():
    # 1 px of disagreement: 1 > 0.01 (4 + 1) + 0.5 for a 2 px flow; 1 < 0.01 (400 + 361) + 0.5 for a 20 px flow
    small = forward_backward_occlusion(_constant(2.0, 0.0), _constant(-1.0, 0.0))
    large = forward_backward_occlusion(_constant(20.0, 0.0), _constant(-19.0, 0.0))
    assert small.all()
    assert not large[0, :, : W - 20].any() and large[0, :, W - 20 :].all()  # only the pixels leaving the frame


def test_mask_has_no_gradient():
    fwd = _constant(1.0, 0.0).requires_grad_(True)
    occluded = forward_backward_occlusion(fwd, _constant(-1.0, 0.0))
    assert occluded.dtype == torch.bool and not occluded.requires_grad
