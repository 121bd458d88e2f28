"""Flow EPE / Fl metrics against hand-computed values, both averaging conventions, and real Sintel flow."""

import pytest
import torch
from tests.support.data import shared_data

from vokit.errors import VokitError
from vokit.metrics import flow_metrics, flow_outliers


def _two_images() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    gt_a = torch.tensor([[[0.0, 0.0], [10.0, 0.0]]])
    pred_a = torch.tensor([[[0.0, 4.0], [10.0, 1.0]]])  # EPE 4 (gt 0: outlier), 1
    gt_b = torch.tensor([[[100.0, 0.0], [100.0, 0.0], [3.0, 4.0]]])
    pred_b = torch.tensor([[[104.0, 0.0], [106.0, 0.0], [3.0, 4.0]]])  # EPE 4 (4 % of 100: inlier), 6 (outlier), 0
    return [pred_a, pred_b], [gt_a, gt_b]


def test_hand_computed_pooled_and_per_image_metrics() -> None:
    preds, gts = _two_images()
    m = flow_metrics(preds, gts)
    assert m.epe_pooled == pytest.approx((4 + 1 + 4 + 6 + 0) / 5)
    assert m.epe_image_mean == pytest.approx(((4 + 1) / 2 + (4 + 6 + 0) / 3) / 2)
    assert m.fl_all_pct == pytest.approx(100 * 2 / 5)
    assert m.fl_image_mean_pct == pytest.approx((50 + 100 / 3) / 2)
    assert (m.px1, m.px3, m.px5) == pytest.approx((1 / 5, 2 / 5, 4 / 5))
    torch.testing.assert_close(m.per_image_epe, torch.tensor([2.5, 10 / 3], dtype=torch.float64))
    assert m.n_valid.tolist() == [2.0, 3.0]


def test_valid_masks_and_foreground_split() -> None:
    preds, gts = _two_images()
    valids = [torch.tensor([[True, True]]), torch.tensor([[False, True, True]])]
    fg = [torch.tensor([[True, False]]), torch.tensor([[True, True, False]])]
    m = flow_metrics(preds, gts, valids, fg)
    assert m.epe_pooled == pytest.approx((4 + 1 + 6 + 0) / 4)
    assert m.fl_all_pct == pytest.approx(100 * 2 / 4)
    assert m.fl_fg_pct == pytest.approx(100.0)  # fg valid pixels: A0 (outlier), B1 (outlier)
    assert m.fl_bg_pct == pytest.approx(0.0)  # bg valid pixels: A1, B2


def test_outlier_rule_needs_both_thresholds() -> None:
    gt = torch.tensor([[[50.0, 0.0], [50.0, 0.0], [1.0, 0.0]]])
    pred = torch.tensor([[[52.9, 0.0], [53.5, 0.0], [3.9, 0.0]]])  # 2.9 px; 3.5 px = 7 %; 2.9 px = 290 %
    assert flow_outliers(pred, gt).tolist() == [[False, True, False]]


def test_perfect_flow_and_errors() -> None:
    gt = torch.randn(5, 6, 2, generator=torch.Generator().manual_seed(0))
    m = flow_metrics([gt.clone()], [gt])
    assert m.epe_pooled == 0.0 and m.fl_all_pct == 0.0 and m.px1 == 1.0
    with pytest.raises(VokitError, match="differ"):
        flow_metrics([gt[:4]], [gt])
    with pytest.raises(VokitError, match="no valid"):
        flow_metrics([gt], [gt], [torch.zeros(5, 6, dtype=torch.bool)])


def test_real_sintel_flow_with_a_known_offset() -> None:
    from vokit.data.flow_io import read_flow

    folder = shared_data("flow_sintel_alley1")
    flo = sorted(folder.rglob("*.flo"))
    assert flo, f"no .flo file under {folder}"
    gt, valid = read_flow(flo[0])
    pred = gt + torch.tensor([3.0, 4.0])  # every pixel off by exactly 5 px
    m = flow_metrics([pred], [gt], [valid])
    assert m.epe_pooled == pytest.approx(5.0, rel=1e-6) and m.epe_image_mean == pytest.approx(5.0, rel=1e-6)
    magnitude = torch.linalg.vector_norm(gt.double(), dim=-1)[valid]
    assert m.fl_all_pct == pytest.approx(100 * float((5.0 / magnitude > 0.05).double().mean()), rel=1e-12)
