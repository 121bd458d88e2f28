import numpy as np
import torch

from vokit.losses.smoothness import edge_aware_smoothness, flow_smoothness, inv_depth_smoothness


def _reference(values: np.ndarray, image: np.ndarray) -> float:
    """Loop reference for one image: values (C, H, W), image (3, H, W)."""
    c, h, w = values.shape
    sx, sy = 0.0, 0.0
    for k in range(c):
        for i in range(h):
            for j in range(w - 1):
                sx += abs(values[k, i, j + 1] - values[k, i, j]) * np.exp(
                    -np.abs(image[:, i, j + 1] - image[:, i, j]).mean()
                )
        for i in range(h - 1):
            for j in range(w):
                sy += abs(values[k, i + 1, j] - values[k, i, j]) * np.exp(
                    -np.abs(image[:, i + 1, j] - image[:, i, j]).mean()
                )
    return sx / (c * h * (w - 1)) + sy / (c * (h - 1) * w)


def test_edge_aware_matches_loop_reference(gen):
    values = torch.rand(1, 2, 5, 6, generator=gen, dtype=torch.float64)
    image = torch.rand(1, 3, 5, 6, generator=gen, dtype=torch.float64)
    got = edge_aware_smoothness(values, image)
    assert abs(float(got) - _reference(values[0].numpy(), image[0].numpy())) < 1e-12


def test_constant_disparity_is_smooth(gen):
    image = torch.rand(2, 3, 8, 10, generator=gen)
    assert inv_depth_smoothness(torch.full((2, 1, 8, 10), 0.3), image) == 0
    assert flow_smoothness(torch.full((2, 8, 10, 2), 2.5), image) == 0


def test_inv_depth_smoothness_scale_invariant(gen):
    sig = torch.rand(2, 1, 8, 10, generator=gen) * 0.5 + 0.1
    image = torch.rand(2, 3, 8, 10, generator=gen)
    base = inv_depth_smoothness(sig, image)
    torch.testing.assert_close(inv_depth_smoothness(1.7 * sig, image), base, rtol=1e-5, atol=0)
    # per-image normalisation: scaling one image of the batch does not change the result either
    scaled = sig.clone()
    scaled[1] *= 0.2
    torch.testing.assert_close(inv_depth_smoothness(scaled, image), base, rtol=1e-5, atol=0)


def test_image_edges_discount_disparity_edges():
    sig = torch.full((1, 1, 6, 8), 0.2)
    sig[..., 4:] = 0.6
    flat_image = torch.full((1, 3, 6, 8), 0.5)
    edge_image = flat_image.clone()
    edge_image[..., 4:] = 1.0
    assert inv_depth_smoothness(sig, edge_image) < inv_depth_smoothness(sig, flat_image)


def test_flow_smoothness_divides_by_width(gen):
    flow = torch.rand(1, 6, 9, 2, generator=gen) * 4
    image = torch.rand(1, 3, 6, 9, generator=gen)
    expected = edge_aware_smoothness(flow.permute(0, 3, 1, 2) / 9, image)
    torch.testing.assert_close(flow_smoothness(flow, image), expected)
