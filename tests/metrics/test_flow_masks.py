"""Foreground / background EPE and Fl (KITTI 2015 ``obj_map``: non-zero = foreground), hand-computed."""

import math

import pytest
import torch

from vokit.errors import VokitError
from vokit.metrics import flow_metrics


def _two_images() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    gt_a = torch.tensor([[[0.0, 0.0], [10.0, 0.0]]])
    pred_a = torch.tensor([[[0.0, 4.0], [10.0, 1.0]]])  # EPE 4 (gt 0: outlier), 1
    gt_b = torch.tensor([[[100.0, 0.0], [100.0, 0.0], [3.0, 4.0]]])
    pred_b = torch.tensor([[[104.0, 0.0], [106.0, 0.0], [3.0, 4.0]]])  # EPE 4 (inlier), 6 (outlier), 0
    return [pred_a, pred_b], [gt_a, gt_b]


def test_foreground_and_background_epe_and_fl() -> None:
    preds, gts = _two_images()
    valids = [torch.tensor([[True, True]]), torch.tensor([[False, True, True]])]
    fg = [torch.tensor([[True, False]]), torch.tensor([[True, True, False]])]
    m = flow_metrics(preds, gts, valids, fg)
    assert m.epe_fg == pytest.approx((4 + 6) / 2)  # valid fg pixels: A0, B1 (B0 is not valid)
    assert m.epe_bg == pytest.approx((1 + 0) / 2)  # valid bg pixels: A1, B2
    assert (m.fl_fg_pct, m.fl_bg_pct) == pytest.approx((100.0, 0.0))
    assert m.n_fg == 2
    assert m.as_dict()["epe_fg"] == pytest.approx(5.0)


def test_without_masks_the_split_is_nan() -> None:
    preds, gts = _two_images()
    m = flow_metrics(preds, gts)
    assert math.isnan(m.epe_fg) and math.isnan(m.epe_bg) and m.n_fg == 0


def test_mask_count_and_size_are_checked() -> None:
    preds, gts = _two_images()
    with pytest.raises(VokitError, match="one prediction"):
        flow_metrics(preds, gts, None, [torch.ones(1, 2, dtype=torch.bool)])
    with pytest.raises(VokitError, match="foreground mask"):
        flow_metrics(preds, gts, None, [torch.ones(1, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)])
