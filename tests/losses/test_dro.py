"""DRO losses: iterate weights, inverse-depth L1, the reprojected-grid pose L1, and both totals."""

import pytest
import torch

from vokit.geometry import lie
from vokit.losses.dro import (
    dro_selfsup_loss,
    dro_supervised_loss,
    inv_depth_l1,
    iterate_weights,
    pose_grid_l1,
)

INTR = torch.tensor([[10.0, 10.0, 4.5, 3.5]])


def test_iterate_weights() -> None:
    assert iterate_weights(3, 0.85, normalise=False) == pytest.approx([0.85**2, 0.85, 1.0])
    w = iterate_weights(4)
    assert sum(w) == pytest.approx(1.0) and w == sorted(w)
    with pytest.raises(ValueError):
        iterate_weights(0)


def test_inv_depth_l1_masks_ground_truth_outside_the_range() -> None:
    gt = torch.tensor([[[2.0, 4.0, 0.0, 200.0]]])
    pred = torch.tensor([[[0.5, 0.5, 7.0, 7.0]]])
    # valid: 2 m (|0.5 - 0.5| = 0) and 4 m (|0.5 - 0.25| = 0.25)
    assert inv_depth_l1(pred, gt, 0.1, 100.0).item() == pytest.approx(0.125)


def test_pose_grid_l1_by_hand_for_a_one_pixel_shift() -> None:
    depth = torch.full((1, 8, 10), 2.0)
    shifted = torch.tensor([[0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])  # 1 px right: fx tx / z = 10 * 0.2 / 2
    identity = lie.se3_identity((1,))
    # u moves by 1 px, normalised by 2 / (W - 1); v does not move: mean over both coordinates of the 9 valid columns
    expected = (2.0 / 9) / 2
    assert pose_grid_l1(shifted, identity, depth, INTR, 0.1, 100.0).item() == pytest.approx(expected, rel=1e-5)
    assert pose_grid_l1(identity, identity, depth, INTR, 0.1, 100.0).item() == 0.0
    # depth beyond max_depth / 4 is not used
    assert pose_grid_l1(shifted, identity, depth, INTR, 0.1, 8.0).item() == 0.0


def test_supervised_loss_weights_iterates_and_vanishes_at_the_truth() -> None:
    gt_depth = 1.0 + torch.rand(2, 8, 10)
    gt_pose = lie.se3_exp(0.05 * torch.randn(2, 2, 6))
    truth = dro_supervised_loss([1 / gt_depth] * 3, gt_pose[:, :, None].expand(-1, -1, 3, -1), gt_depth, gt_pose,
                                INTR.expand(2, -1), 0.1, 100.0)
    assert truth.total.item() == pytest.approx(0.0, abs=1e-6)
    off = [1 / gt_depth + 0.1, 1 / gt_depth + 0.05, 1 / gt_depth]
    loss = dro_supervised_loss(off, gt_pose[:, :, None].expand(-1, -1, 3, -1), gt_depth, gt_pose,
                               INTR.expand(2, -1), 0.1, 100.0)
    w = iterate_weights(3)
    assert loss.depth.tolist() == pytest.approx([0.1, 0.05, 0.0], abs=1e-6)
    assert loss.total.item() == pytest.approx(w[0] * 0.1 + w[1] * 0.05, rel=1e-5)
    with pytest.raises(ValueError):
        dro_supervised_loss(off[:2], gt_pose[:, :, None].expand(-1, -1, 3, -1), gt_depth, gt_pose,
                            INTR.expand(2, -1), 0.1, 100.0)


def test_selfsup_loss_prefers_the_true_geometry_and_is_not_normalised() -> None:
    # a textured fronto-parallel plane at 2 m, the reference shifted 1 px (tx = 0.2): its image is the target
    # moved right by one pixel
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 8, 12, generator=gen)
    ref = torch.roll(target, shifts=1, dims=-1)[:, None]
    pose_true = torch.tensor([[[[0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]]])
    inv = torch.full((1, 8, 12), 0.5)
    intr = torch.tensor([[10.0, 10.0, 5.5, 3.5]])
    right = dro_selfsup_loss(target, ref, [inv], pose_true, intr, smoothness_weight=0.0,
                             generator=torch.Generator().manual_seed(1))
    wrong = dro_selfsup_loss(target, ref, [inv], -pose_true, intr, smoothness_weight=0.0,
                             generator=torch.Generator().manual_seed(1))
    assert right.total < 0.5 * wrong.total
    two = dro_selfsup_loss(target, ref, [inv, inv], pose_true.expand(-1, -1, 2, -1), intr, gamma=0.5,
                           smoothness_weight=0.0, generator=torch.Generator().manual_seed(1))
    # weights 0.5 and 1, not normalised (the auto-masking noise is 1e-5)
    assert two.total.item() == pytest.approx(1.5 * right.total.item(), rel=1e-3, abs=1e-5)
