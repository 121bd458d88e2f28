"""Eigen depth metrics against hand-computed values, OpenCV's resize and the protocol's rules."""

import math

import numpy as np
import pytest
import torch

from vokit.errors import VokitError
from vokit.metrics import depth_errors, eigen_depth_metrics, garg_crop_mask
from vokit.metrics.depth import resize_like_cv2


def test_hand_computed_metrics() -> None:
    gt = torch.tensor([[1.0, 2.0], [4.0, 8.0]])
    pred = torch.tensor([[1.0, 1.0], [8.0, 8.0]])
    m = eigen_depth_metrics([gt], [pred], pred_kind="depth", crop="none", median_scaling=False)
    e = m.mean
    assert e.abs_rel == pytest.approx((0 + 0.5 + 1 + 0) / 4)
    assert e.sq_rel == pytest.approx((0 + 1 / 2 + 16 / 4 + 0) / 4)
    assert e.rmse == pytest.approx(math.sqrt(17 / 4))
    assert e.rmse_log == pytest.approx(math.log(2) / math.sqrt(2))
    assert (e.a1, e.a2, e.a3) == (0.5, 0.5, 0.5)  # ratios 1, 2, 2, 1: 2 > 1.25^3
    assert m.scale_ratios is None and math.isnan(m.ratio_median)
    assert float(m.n_valid[0]) == 4 and m.crop == "none" and m.pred_kind == "depth"


def test_depth_errors_threshold_edges() -> None:
    gt = torch.tensor([10.0, 10.0, 10.0, 10.0], dtype=torch.float64)
    pred = torch.tensor([10.0, 12.4, 15.0, 19.0], dtype=torch.float64)  # ratios 1, 1.24, 1.5, 1.9
    e = depth_errors(gt, pred)
    assert (e.a1, e.a2, e.a3) == (0.5, 0.75, 1.0)


def test_median_scaling_removes_a_per_image_scale_and_reports_the_ratios() -> None:
    g = torch.Generator().manual_seed(0)
    gts = [1.0 + 30.0 * torch.rand(6, 9, generator=g, dtype=torch.float64) for _ in range(3)]
    scales = [0.5, 2.0, 4.0]
    preds = [gt / s for gt, s in zip(gts, scales, strict=True)]
    m = eigen_depth_metrics(gts, preds, pred_kind="depth", crop="none", median_scaling=True)
    assert m.mean.abs_rel < 1e-12 and m.mean.a1 == 1.0
    torch.testing.assert_close(m.scale_ratios, torch.tensor(scales, dtype=torch.float64))
    assert m.ratio_median == pytest.approx(2.0)
    assert m.ratio_std == pytest.approx(np.std(np.array(scales) / 2.0))  # Monodepth2 prints std(ratios / median)


def test_fixed_scale_and_caps() -> None:
    gt = torch.tensor([[5.4, 54.0, 79.0]], dtype=torch.float64)
    pred = torch.tensor([[1.0, 10.0, 20.0]], dtype=torch.float64)  # x5.4 -> 5.4, 54, 108 -> clamped to 80
    m = eigen_depth_metrics([gt], [pred], pred_kind="depth", crop="none", median_scaling=False, fixed_scale=5.4)
    assert m.mean.abs_rel == pytest.approx((0 + 0 + 1 / 79) / 3, rel=1e-12)


def test_prediction_kinds_agree() -> None:
    g = torch.Generator().manual_seed(1)
    gt = 2.0 + 50.0 * torch.rand(40, 60, generator=g, dtype=torch.float64)
    depth = gt * (1 + 0.2 * torch.randn(40, 60, generator=g, dtype=torch.float64)).clamp(0.5, 2)
    a = eigen_depth_metrics([gt], [depth], pred_kind="depth", crop="none")
    b = eigen_depth_metrics([gt], [1.0 / depth], pred_kind="inv_depth", crop="none")
    torch.testing.assert_close(a.per_image, b.per_image)


def test_garg_crop_fractions_on_a_kitti_sized_image() -> None:
    mask = garg_crop_mask(375, 1242)
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    # int(0.40810811 * 375) = 153, int(0.99189189 * 375) = 371,
    # int(0.03594771 * 1242) = 44, int(0.96405229 * 1242) = 1197
    assert (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1) == (153, 371, 44, 1197)
    assert int(mask.sum()) == (371 - 153) * (1197 - 44)


def test_garg_protocol_uses_crop_and_range() -> None:
    gt = torch.full((375, 1242), 10.0)
    gt[200, 600] = 90.0  # beyond the 80 m cap: excluded
    gt[300, 700] = 0.0  # no LiDAR return: excluded
    m = eigen_depth_metrics([gt], [torch.full((192, 640), 0.1, dtype=torch.float64)], crop="garg", median_scaling=False)
    assert float(m.n_valid[0]) == (371 - 153) * (1197 - 44) - 2
    assert m.mean.abs_rel == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("size", [(96, 320), (13, 17)])
def test_resize_matches_opencv_inter_linear(size: tuple[int, int]) -> None:
    cv2 = pytest.importorskip("cv2", reason="OpenCV (the [video] extra) is not installed")
    x = np.random.default_rng(0).uniform(0.01, 1.0, (48, 160)).astype(np.float32)
    ours = resize_like_cv2(torch.from_numpy(x), *size).numpy()
    ref = cv2.resize(x, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=2e-7)  # OpenCV interpolates float32 in float32


def test_inputs_are_not_modified_and_errors_are_clear() -> None:
    gt = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    pred = torch.tensor([[0.5, 0.4], [0.3, 0.2]])
    gt0, pred0 = gt.clone(), pred.clone()
    eigen_depth_metrics([gt], [pred], crop="none")
    assert torch.equal(gt, gt0) and torch.equal(pred, pred0)
    with pytest.raises(VokitError, match="one prediction per"):
        eigen_depth_metrics([gt, gt], [pred])
    with pytest.raises(VokitError, match="no valid pixels"):
        eigen_depth_metrics([torch.zeros(4, 4)], [torch.ones(4, 4)], crop="none")
    with pytest.raises(VokitError, match="non-positive"):
        eigen_depth_metrics([gt], [torch.zeros(2, 2)], crop="none")
