import numpy as np
import torch

from vokit.losses.smoothness import MEAN_NORM_EPS, edge_aware_smoothness, flow_smoothness, inv_depth_smoothness


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


def test_edge_aware_matches_loop_reference(gen, device):
    values = torch.rand(1, 2, 5, 6, generator=gen, dtype=torch.float64)
    image = torch.rand(1, 3, 5, 6, generator=gen, dtype=torch.float64)
    got = edge_aware_smoothness(values.to(device), image.to(device))
    assert abs(float(got) - _reference(values[0].numpy(), image[0].numpy())) < 1e-12


def test_constant_disparity_is_smooth(gen, device, dtype):
    image = torch.rand(2, 3, 8, 10, generator=gen, dtype=dtype).to(device)
    # exactly zero: every neighbour difference of a constant is 0, whatever the weights
    assert inv_depth_smoothness(torch.full((2, 1, 8, 10), 0.3, dtype=dtype, device=device), image) == 0
    assert flow_smoothness(torch.full((2, 8, 10, 2), 2.5, dtype=dtype, device=device), image) == 0


def test_inv_depth_smoothness_scale_invariant(gen, device, dtype, tol):
    sig = (torch.rand(2, 1, 8, 10, generator=gen, dtype=dtype) * 0.5 + 0.1).to(device)
    image = torch.rand(2, 3, 8, 10, generator=gen, dtype=dtype).to(device)
    base = inv_depth_smoothness(sig, image)
    scaled = sig.clone()
    scaled[1] *= 0.2
    # invariant up to round-off and the guard in sig / (mean + MEAN_NORM_EPS), which changes the result by a
    # relative MEAN_NORM_EPS / mean at most (~1.5e-6 for the smallest mean here, 0.2 * 0.35)
    rtol = max(tol[0], 2 * MEAN_NORM_EPS / float(scaled.mean(dim=(1, 2, 3)).min()))
    torch.testing.assert_close(inv_depth_smoothness(1.7 * sig, image), base, rtol=rtol, atol=0)
    # per-image normalisation: scaling one image of the batch does not change the result either
    torch.testing.assert_close(inv_depth_smoothness(scaled, image), base, rtol=rtol, atol=0)


def test_image_edges_discount_disparity_edges(device):
    sig = torch.full((1, 1, 6, 8), 0.2, device=device)
    sig[..., 4:] = 0.6
    flat_image = torch.full((1, 3, 6, 8), 0.5, device=device)
    edge_image = flat_image.clone()
    edge_image[..., 4:] = 1.0
    assert inv_depth_smoothness(sig, edge_image) < inv_depth_smoothness(sig, flat_image)


def test_flow_smoothness_divides_by_width(gen, device, dtype, tol):
    flow = (torch.rand(1, 6, 9, 2, generator=gen, dtype=dtype) * 4).to(device)
    image = torch.rand(1, 3, 6, 9, generator=gen, dtype=dtype).to(device)
    expected = edge_aware_smoothness(flow.permute(0, 3, 1, 2) / 9, image)
    rtol, atol = tol
    torch.testing.assert_close(flow_smoothness(flow, image), expected, rtol=rtol, atol=atol)
