"""The PNG plots are written as valid PNGs and draw the data they are given.

Each plotting function builds a matplotlib figure and saves it; the tests capture that figure (by wrapping the
module's ``_save``) and compare what its axes hold, the line and bar data, the error colours and the statistic
lines, with the inputs.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from tests.metrics.trajectories import noisy_estimate, random_trajectory

import vokit.metrics.plots as plots
from vokit.metrics import absolute_trajectory_error, eigen_depth_metrics, kitti_segment_errors
from vokit.metrics.depth import ABS_REL_HIST_EDGES
from vokit.metrics.plots import (
    plot_depth_error_histogram,
    plot_error_over_time,
    plot_kitti_segment_errors,
    plot_trajectory_summary,
    plot_trajectory_top_view,
    top_view_axes,
)


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plotting functions save, in order."""
    saved: list[Any] = []
    save = plots._save

    def capture(fig: Any, path: str | Path) -> Path:
        saved.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    return saved


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()


def _check_top_view(ax: Any, ref_ab: np.ndarray, est_ab: np.ndarray, err: np.ndarray) -> None:
    """Reference as a line, estimate as segments coloured by the mean error of their end points, start marked."""
    reference = next(line for line in ax.get_lines() if line.get_label() == "reference")
    np.testing.assert_allclose(reference.get_xydata(), ref_ab, rtol=1e-12)
    (segments,) = ax.collections
    np.testing.assert_allclose(np.stack(segments.get_segments()), np.stack([est_ab[:-1], est_ab[1:]], 1), rtol=1e-12)
    np.testing.assert_allclose(segments.get_array(), 0.5 * (err[:-1] + err[1:]), rtol=1e-12)
    start = next(line for line in ax.get_lines() if line.get_label() == "start")
    np.testing.assert_allclose(start.get_xydata(), est_ab[:1], rtol=1e-12)


def _check_series(ax: Any, times: np.ndarray, err: np.ndarray, stats: Any) -> None:
    """The error curve plus horizontal rmse / mean / median lines at the statistics' values."""
    curve, *hlines = ax.get_lines()
    np.testing.assert_allclose(curve.get_xydata(), np.stack([times, err], 1), rtol=1e-12)
    levels = {line.get_label().split()[0]: line.get_ydata()[0] for line in hlines}
    assert levels == pytest.approx({"rmse": stats.rmse, "mean": stats.mean, "median": stats.median}, rel=1e-12)


def test_trajectory_plots(tmp_path: Path, figures: list[Any]) -> None:
    ref = random_trajectory(120, 1, step_m=2.0)
    ate = absolute_trajectory_error(ref, noisy_estimate(ref, 1), align="se3")
    a, b = top_view_axes(ref[:, :3])
    ref_ab, est_ab = ref[:, [a, b]].numpy(), ate.est_aligned[:, [a, b]].numpy()
    err, times = ate.errors.trans_m.numpy(), np.arange(120.0)

    top_png = plot_trajectory_top_view(ref[:, :3], ate.est_aligned[:, :3], ate.errors.trans_m, tmp_path / "a" / "t.png")
    _assert_png(top_png)
    top, _colorbar = figures[-1].axes
    _check_top_view(top, ref_ab, est_ab, err)
    assert (top.get_xlabel(), top.get_ylabel()) == (f"{'xyz'[a]} (m)", f"{'xyz'[b]} (m)")

    series = plot_error_over_time(
        torch.arange(120.0), ate.errors.trans_m, tmp_path / "e.png", "APE (m)", stats=ate.errors.trans
    )
    _assert_png(series)
    _check_series(figures[-1].axes[0], times, err, ate.errors.trans)

    summary = plot_trajectory_summary(
        ref[:, :3],
        ate.est_aligned[:, :3],
        ate.errors.trans_m,
        torch.arange(120.0),
        tmp_path / "s.png",
        "t",
        ate.errors.trans,
    )
    _assert_png(summary)
    top, _colorbar, series_ax = figures[-1].axes
    _check_top_view(top, ref_ab, est_ab, err)
    _check_series(series_ax, times, err, ate.errors.trans)


def test_kitti_segment_error_bars(tmp_path: Path, figures: list[Any]) -> None:
    ref = random_trajectory(120, 1, step_m=2.0)
    kitti = kitti_segment_errors(ref, noisy_estimate(ref, 1), precision="float64")
    _assert_png(plot_kitti_segment_errors(kitti, tmp_path / "k.png"))
    t_ax, r_ax = figures[-1].axes
    for ax, per_length, overall in (
        (t_ax, kitti.per_length_t_err_pct, kitti.t_err_pct),
        (r_ax, kitti.per_length_r_err_deg_per_100m, kitti.r_err_deg_per_100m),
    ):
        heights = [patch.get_height() for patch in ax.patches]
        assert len(heights) == len(kitti.lengths_m)
        # lengths without enough segments (NaN) are drawn as empty bars
        np.testing.assert_allclose(heights, np.nan_to_num(np.asarray(per_length, dtype=float)), rtol=1e-12)
        assert any(h > 0 for h in heights)
        (mean_line,) = ax.get_lines()
        assert mean_line.get_ydata()[0] == pytest.approx(overall, rel=1e-12)


def test_top_view_axes_pick_the_largest_extents() -> None:
    pos = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.1, 3.0], [20.0, -0.2, -4.0]])
    assert top_view_axes(pos) == (0, 2)  # KITTI-like driving: x-z


def test_depth_histogram(tmp_path: Path, figures: list[Any]) -> None:
    gt = 1.0 + torch.rand(30, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 20
    # abs_rel = 0.11 everywhere: mid-bin, so round-off cannot move a pixel across an edge of bin 5 = [0.10, 0.12)
    m = eigen_depth_metrics([gt], [gt * 1.11], pred_kind="depth", crop="none", median_scaling=False)
    assert m.abs_rel_hist.tolist() == [0.0] * 5 + [30.0 * 40] + [0.0] * (len(m.abs_rel_hist) - 6)
    _assert_png(plot_depth_error_histogram(m, tmp_path / "h.png"))
    (ax,) = figures[-1].axes
    edges = ABS_REL_HIST_EDGES.numpy()
    bars = ax.patches
    np.testing.assert_allclose([p.get_x() for p in bars], edges[:-1], rtol=1e-12)
    np.testing.assert_allclose([p.get_width() for p in bars], np.diff(edges), rtol=1e-12)
    expected = np.zeros(len(edges) - 1)
    expected[5] = 1.0  # fractions of pixels: all in bin 5
    np.testing.assert_allclose([p.get_height() for p in bars], expected, atol=1e-12)
    (abs_rel_line,) = ax.get_lines()
    assert abs_rel_line.get_xdata()[0] == pytest.approx(m.mean.abs_rel, rel=1e-12)
    assert m.mean.abs_rel == pytest.approx(0.11, rel=1e-9)


def test_top_view_axes_with_a_known_vertical_axis() -> None:
    # A straight drive whose vertical wobble exceeds its sideways extent: the extent rule would pick y-z.
    pos = torch.tensor([[0.01, 0.0, 0.0], [0.0, 0.3, 10.0], [-0.01, -0.2, 20.0]])
    assert top_view_axes(pos) == (1, 2)
    assert top_view_axes(pos, vertical_axis=1) == (0, 2)
    assert top_view_axes(pos, vertical_axis=2) == (0, 1)
    with pytest.raises(ValueError, match="vertical_axis"):
        top_view_axes(pos, vertical_axis=3)
