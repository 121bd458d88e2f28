"""The PNG plots are written, are valid PNGs of the intended size, and show the data's extent."""

from pathlib import Path

import pytest
import torch
from PIL import Image
from tests.metrics.trajectories import noisy_estimate, random_trajectory

from vokit.metrics import absolute_trajectory_error, eigen_depth_metrics, kitti_segment_errors
from vokit.metrics.plots import (
    plot_depth_error_histogram,
    plot_error_over_time,
    plot_kitti_segment_errors,
    plot_trajectory_summary,
    plot_trajectory_top_view,
    top_view_axes,
)


def _png_size(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        return im.size


def test_trajectory_plots(tmp_path: Path) -> None:
    ref = random_trajectory(120, 1, step_m=2.0)
    ate = absolute_trajectory_error(ref, noisy_estimate(ref, 1), align="se3")
    top = plot_trajectory_top_view(ref[:, :3], ate.est_aligned[:, :3], ate.errors.trans_m, tmp_path / "a" / "t.png")
    assert _png_size(top) == (600, 500)
    series = plot_error_over_time(torch.arange(120.0), ate.errors.trans_m, tmp_path / "e.png", "APE (m)",
                                  stats=ate.errors.trans)
    assert _png_size(series) == (700, 320)
    summary = plot_trajectory_summary(ref[:, :3], ate.est_aligned[:, :3], ate.errors.trans_m, torch.arange(120.0),
                                      tmp_path / "s.png", "t", ate.errors.trans)
    assert _png_size(summary) == (1100, 440)
    kitti = kitti_segment_errors(ref, ate.est_aligned, precision="float64")
    assert _png_size(plot_kitti_segment_errors(kitti, tmp_path / "k.png")) == (800, 320)


def test_top_view_axes_pick_the_largest_extents() -> None:
    pos = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.1, 3.0], [20.0, -0.2, -4.0]])
    assert top_view_axes(pos) == (0, 2)  # KITTI-like driving: x-z


def test_depth_histogram(tmp_path: Path) -> None:
    gt = 1.0 + torch.rand(30, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 20
    m = eigen_depth_metrics([gt], [gt * 1.1], pred_kind="depth", crop="none", median_scaling=False)
    assert float(m.abs_rel_hist.sum()) == 30 * 40 and int(m.abs_rel_hist.argmax()) == 5  # all at 0.1 = bin 5
    assert _png_size(plot_depth_error_histogram(m, tmp_path / "h.png")) == (600, 320)


def test_top_view_axes_with_a_known_vertical_axis() -> None:
    # A straight drive whose vertical wobble exceeds its sideways extent: the extent rule would pick y-z.
    pos = torch.tensor([[0.01, 0.0, 0.0], [0.0, 0.3, 10.0], [-0.01, -0.2, 20.0]])
    assert top_view_axes(pos) == (1, 2)
    assert top_view_axes(pos, vertical_axis=1) == (0, 2)
    assert top_view_axes(pos, vertical_axis=2) == (0, 1)
    with pytest.raises(ValueError, match="vertical_axis"):
        top_view_axes(pos, vertical_axis=3)
