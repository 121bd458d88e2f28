"""Two-view relative pose errors and the pose AUC."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vokit.metrics import pose_auc, relative_pose_errors


def _pose(t: list[float], yaw_deg: float = 0.0) -> list[float]:
    half = math.radians(yaw_deg) / 2
    return [*t, 0.0, 0.0, math.sin(half), math.cos(half)]


def test_hand_computed_errors() -> None:
    gt = torch.tensor([_pose([1.0, 0.0, 0.0]), _pose([0.0, 0.0, 2.0], 30.0)], dtype=torch.float64)
    est = torch.tensor([_pose([1.0, 1.0, 0.0], 10.0), _pose([0.0, 0.0, -5.0], 30.0)], dtype=torch.float64)
    e = relative_pose_errors(gt, est)
    torch.testing.assert_close(e.rot_err_deg, torch.tensor([10.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(e.t_err_deg, torch.tensor([45.0, 180.0], dtype=torch.float64))
    torch.testing.assert_close(e.pose_err_deg, torch.tensor([45.0, 180.0], dtype=torch.float64))
    # DRO t_cm: a = <t_gt, t> / |t|^2 = 0.5, |t_gt - a t| = |(0.5, -0.5, 0)|; second: a = -0.4, exact.
    torch.testing.assert_close(e.t_cm, torch.tensor([100 * math.sqrt(0.5), 0.0], dtype=torch.float64))
    folded = relative_pose_errors(gt, est, essential_ambiguity=True)
    torch.testing.assert_close(folded.t_err_deg, torch.tensor([45.0, 0.0], dtype=torch.float64))


def test_degenerate_translations() -> None:
    gt = torch.tensor([_pose([0.0, 0.0, 0.0]), _pose([0.0, 0.0, 1.0])], dtype=torch.float64)
    est = torch.tensor([_pose([0.0, 1.0, 0.0]), _pose([0.0, 0.0, 0.0])], dtype=torch.float64)
    e = relative_pose_errors(gt, est)
    assert e.t_err_deg.tolist() == [0.0, 180.0]  # pure-rotation ground truth ignored; no estimated direction


def test_auc_hand_computed() -> None:
    errors = torch.tensor([3.0, 1.0, 2.0])
    # recall curve (0,0) (1,1/3) (2,2/3) (3,1), flat to 5: area 1/6 + 1/2 + 5/6 + 2 = 3.5
    assert pose_auc(errors, (5.0,)) == pytest.approx((0.7,))
    # up to 2: (0,0) (1,1/3), held at 1/3 until 2 (the error equal to the threshold is not counted)
    assert pose_auc(errors, (2.0,)) == pytest.approx((0.25,))
    assert pose_auc(torch.zeros(4), (5.0, 10.0)) == pytest.approx((1.0, 1.0))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(0.0, 30.0), min_size=1, max_size=30), st.sampled_from([5.0, 10.0, 20.0]))
def test_auc_equals_the_integral_of_the_interpolated_recall(errors: list[float], thr: float) -> None:
    e = np.sort(np.asarray(errors))
    below = e[e < thr]
    xs = np.concatenate([[0.0], below, [thr]])
    ys = np.concatenate([[0.0], np.arange(1, below.size + 1) / e.size, [below.size / e.size]])
    grid = np.linspace(0.0, thr, 200_001)
    expected = np.interp(grid, xs, ys).mean()  # mean over [0, thr] = integral / thr
    assert pose_auc(torch.tensor(errors, dtype=torch.float64), (thr,))[0] == pytest.approx(expected, abs=2e-4)
