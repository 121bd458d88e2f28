"""PNG plots of evaluation results (matplotlib's Agg canvas; no pyplot, no global backend switch).

- `plot_trajectory_top_view`: reference and estimate from above, the estimate coloured by its error;
- `plot_trajectory_summary`: that top view next to the error over time, in one figure;
- `plot_error_over_time`: an error sequence with its rmse / mean / median, like evo's plots;
- `plot_kitti_segment_errors`: KITTI per-length translation and rotation errors as bars;
- `plot_depth_error_histogram`: the pooled per-pixel abs-rel histogram of a depth evaluation;
- `write_trajectory_plots`: the trajectory figures of ``vokit eval traj`` and ``vokit run``, one writer for both;
- `plot_estimated_trajectory`: an estimate alone from above (no ground truth);
- `plot_series_over_steps`: named series over training steps (gradient SNR per head and arm, validation curves
  with their spread over seeds).

Every function writes one PNG and returns its path. matplotlib is imported inside the functions, so importing
`vokit.metrics` stays light.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from vokit.metrics.depth import ABS_REL_HIST_EDGES, DepthMetrics
from vokit.metrics.kitti_odometry import KittiSegmentErrors
from vokit.metrics.stats import ErrorStats

if TYPE_CHECKING:
    from vokit.metrics.evaluate import TrajectoryEvaluation

_AXIS_NAMES = ("x", "y", "z")


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    return out


def top_view_axes(positions_m: Float[Tensor, "N 3"], vertical_axis: int | None = None) -> tuple[int, int]:
    """The two world axes of a view from above, in order.

    Args:
        positions_m: camera centres, metres.
        vertical_axis: the world's up/down axis when known (1 for worlds anchored at the first camera, whose y
            points down, as KITTI poses and vokit's own trajectories are); None picks the two axes with the largest
            extent (x-z for KITTI driving, usually x-y for TUM).
    """
    if vertical_axis is not None:
        if vertical_axis not in (0, 1, 2):
            raise ValueError(f"vertical_axis must be 0, 1 or 2, got {vertical_axis}")
        a, b = (k for k in range(3) if k != vertical_axis)
        return a, b
    extent = (positions_m.max(0).values - positions_m.min(0).values).tolist()
    a, b = sorted(sorted(range(3), key=lambda k: -extent[k])[:2])
    return a, b


def _draw_top_view(
    fig: Any, ax: Any, ref: Tensor, est: Tensor, err: Tensor, error_label: str, vertical_axis: int | None = None
) -> None:
    from matplotlib.collections import LineCollection

    a, b = top_view_axes(ref.detach().to(torch.float64), vertical_axis)
    ref_ab = ref.detach().cpu().double().numpy()[:, [a, b]]
    est_ab = est.detach().cpu().double().numpy()[:, [a, b]]
    e = err.detach().cpu().double().numpy()
    ax.plot(ref_ab[:, 0], ref_ab[:, 1], "--", color="0.5", lw=1.0, label="reference")
    lines = LineCollection(list(np.stack([est_ab[:-1], est_ab[1:]], axis=1)), cmap="jet", linewidths=1.6)
    lines.set_array(0.5 * (e[:-1] + e[1:]))
    ax.add_collection(lines)
    ax.plot(est_ab[:1, 0], est_ab[:1, 1], "ko", ms=4, label="start")
    fig.colorbar(lines, ax=ax, label=error_label)
    ax.set_xlabel(f"{_AXIS_NAMES[a]} (m)")
    ax.set_ylabel(f"{_AXIS_NAMES[b]} (m)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.autoscale_view()
    ax.legend(loc="best", fontsize=8)


def _draw_series(ax: Any, times: Tensor, errors: Tensor, ylabel: str, xlabel: str, stats: ErrorStats | None) -> None:
    ax.plot(times.detach().cpu().double().numpy(), errors.detach().cpu().double().numpy(), lw=0.8, color="tab:gray")
    if stats is not None:
        for value, name, colour in ((stats.rmse, "rmse", "tab:blue"), (stats.mean, "mean", "tab:green"),
                                    (stats.median, "median", "tab:orange")):
            ax.axhline(value, color=colour, lw=1.2, label=f"{name} {value:.4g}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def plot_trajectory_top_view(
    ref_positions_m: Float[Tensor, "N 3"],
    est_positions_m: Float[Tensor, "N 3"],
    errors_m: Float[Tensor, " N"],
    path: str | Path,
    title: str = "",
    error_label: str = "APE (m)",
    vertical_axis: int | None = None,
) -> Path:
    """Reference (grey, dashed) and aligned estimate (coloured by error) seen from above.

    The view plane holds the two world axes other than ``vertical_axis``, or by default the two with the largest
    reference extent (x-z for KITTI).

    Args:
        ref_positions_m: reference camera centres, metres.
        est_positions_m: aligned estimated camera centres, metres (same world).
        errors_m: per-pose error used for the colour.
        path: output PNG.
        title: figure title.
        error_label: colour-bar label.
        vertical_axis: the world's vertical axis when known (see :func:`top_view_axes`).

    Returns:
        The PNG path.
    """
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot()
    _draw_top_view(fig, ax, ref_positions_m, est_positions_m, errors_m, error_label, vertical_axis)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_trajectory_summary(
    ref_positions_m: Float[Tensor, "N 3"],
    est_positions_m: Float[Tensor, "N 3"],
    errors_m: Float[Tensor, " N"],
    times: Float[Tensor, " N"],
    path: str | Path,
    title: str = "",
    stats: ErrorStats | None = None,
    xlabel: str = "time (s)",
) -> Path:
    """Top view coloured by APE next to the APE over time, in one figure (the README's evaluation plot).

    Args:
        ref_positions_m: reference camera centres, metres.
        est_positions_m: aligned estimated camera centres, metres.
        errors_m: per-pose APE, metres.
        times: x values of the error plot (seconds from the start or frame indices).
        path: output PNG.
        title: figure title.
        stats: APE statistics drawn as horizontal lines.
        xlabel: x-axis label of the error plot.

    Returns:
        The PNG path.
    """
    fig = _figure(11.0, 4.4)
    grid = fig.add_gridspec(1, 2, width_ratios=(1.0, 1.25))
    _draw_top_view(fig, fig.add_subplot(grid[0]), ref_positions_m, est_positions_m, errors_m, "APE (m)")
    _draw_series(fig.add_subplot(grid[1]), times, errors_m, "APE translation (m)", xlabel, stats)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_error_over_time(
    times: Float[Tensor, " K"],
    errors: Float[Tensor, " K"],
    path: str | Path,
    ylabel: str,
    title: str = "",
    stats: ErrorStats | None = None,
    xlabel: str = "time (s)",
) -> Path:
    """An error sequence with horizontal rmse / mean / median lines.

    Args:
        times: x values (seconds from the start, or frame indices).
        errors: the errors.
        path: output PNG.
        ylabel: y-axis label with unit.
        title: figure title.
        stats: statistics to draw (``None``: none).
        xlabel: x-axis label.

    Returns:
        The PNG path.
    """
    fig = _figure(7.0, 3.2)
    ax = fig.add_subplot()
    _draw_series(ax, times, errors, ylabel, xlabel, stats)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_kitti_segment_errors(result: KittiSegmentErrors, path: str | Path, title: str = "") -> Path:
    """Per-length mean translation (%) and rotation (deg/100 m) errors as bars, with the overall means.

    Args:
        result: KITTI segment errors.
        path: output PNG.
        title: figure title.

    Returns:
        The PNG path.
    """
    lengths = [f"{v:.0f}" for v in result.lengths_m]
    fig = _figure(8.0, 3.2)
    panels = (
        (result.per_length_t_err_pct, result.t_err_pct, "translation error (%)", "tab:blue"),
        (result.per_length_r_err_deg_per_100m, result.r_err_deg_per_100m, "rotation error (deg/100 m)", "tab:red"),
    )
    for k, (values, overall, label, colour) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        heights = [0.0 if np.isnan(v) else v for v in values]
        ax.bar(lengths, heights, color=colour, alpha=0.8)
        ax.axhline(overall, color="k", lw=1.0, ls="--", label=f"all segments {overall:.3f}")
        ax.set_xlabel("segment length (m)")
        ax.set_ylabel(label)
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(title or f"KITTI segment errors ({result.precision})", fontsize=10)
    return _save(fig, path)


def plot_depth_error_histogram(metrics: DepthMetrics, path: str | Path, title: str = "") -> Path:
    """Histogram of the per-pixel abs-rel error pooled over all evaluated pixels.

    Args:
        metrics: a depth evaluation (its ``abs_rel_hist``).
        path: output PNG.
        title: figure title.

    Returns:
        The PNG path.
    """
    edges = ABS_REL_HIST_EDGES.numpy()
    counts = metrics.abs_rel_hist.detach().cpu().double().numpy()
    fraction = counts / max(counts.sum(), 1.0)
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot()
    ax.bar(edges[:-1], fraction, width=np.diff(edges), align="edge", color="tab:purple", alpha=0.8)
    ax.axvline(metrics.mean.abs_rel, color="k", ls="--", lw=1.0, label=f"abs_rel {metrics.mean.abs_rel:.4f}")
    ax.set_xlabel(f"per-pixel |gt - pred| / gt (last bin: >= {edges[-2]:.2f})")
    ax.set_ylabel("fraction of pixels")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


TRAJECTORY_PLOTS: tuple[str, ...] = ("trajectory.png", "ape.png", "summary.png", "rpe.png", "kitti_segments.png")
"""The files :func:`write_trajectory_plots` writes (``kitti_segments.png`` only with KITTI segment errors)."""


def write_trajectory_plots(
    result: "TrajectoryEvaluation",
    folder: str | Path,
    title: str,
    frames: bool = False,
    vertical_axis: int | None = None,
) -> dict[str, Path]:
    """The trajectory plots of ``vokit eval traj`` and ``vokit run`` (one writer for both).

    Writes :data:`TRAJECTORY_PLOTS` into ``folder``: the aligned estimate against the reference from above, the APE
    over time, both in one summary figure, the RPE over time, and the KITTI segment errors when computed.

    Args:
        result: a trajectory evaluation (:func:`vokit.metrics.evaluate.evaluate_trajectory`).
        folder: where the PNGs go (created).
        title: the figures' title.
        frames: the x axis is frame numbers (index-associated sequences without times) instead of seconds from
            the first reference pose.
        vertical_axis: the world's vertical axis when known (see :func:`top_view_axes`).

    Returns:
        File name -> written path, in :data:`TRAJECTORY_PLOTS` order.
    """
    out = Path(folder)
    errors, rpe = result.ate.errors, result.rpe
    mode = result.ate.alignment.mode
    written = {"trajectory.png": plot_trajectory_top_view(
        result.ref_positions_m, result.ate.est_aligned[:, :3], errors.trans_m, out / "trajectory.png",
        f"{title}\nAPE rmse {errors.trans.rmse:.4f} m ({mode} aligned)", vertical_axis=vertical_axis,
    )}
    times = result.ref_times_s - (0.0 if frames else float(result.ref_times_s[0]))
    xlabel = "frame" if frames else "time (s)"
    written["ape.png"] = plot_error_over_time(times, errors.trans_m, out / "ape.png", "APE translation (m)", title,
                                              errors.trans, xlabel)
    written["summary.png"] = plot_trajectory_summary(
        result.ref_positions_m, result.ate.est_aligned[:, :3], errors.trans_m, times, out / "summary.png",
        f"{title}: APE rmse {errors.trans.rmse:.4f} m ({mode} aligned)", errors.trans, xlabel,
    )
    written["rpe.png"] = plot_error_over_time(times[rpe.pairs[:, 1]], rpe.errors.trans_m, out / "rpe.png",
                                              "RPE translation (m)", f"{title} (delta {rpe.delta:g} {rpe.delta_unit})",
                                              rpe.errors.trans, xlabel)
    if result.kitti is not None:
        written["kitti_segments.png"] = plot_kitti_segment_errors(result.kitti, out / "kitti_segments.png", title)
    return written


def plot_estimated_trajectory(positions: Float[Tensor, "N 3"], path: str | Path, title: str = "",
                              units: str = "training-scale units") -> Path:
    """An estimated trajectory alone from above (no reference), first camera's frame with y down.

    Args:
        positions: camera centres in the estimate's own units.
        path: output PNG.
        title: figure title.
        units: the axes' unit label.

    Returns:
        The PNG path.
    """
    p = positions.detach().cpu().double()
    a, b = top_view_axes(p, vertical_axis=1)
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot()
    ax.plot(p[:, a].numpy(), p[:, b].numpy(), "-", color="tab:blue", lw=1.5, label="estimate")
    ax.plot(p[:1, a].numpy(), p[:1, b].numpy(), "ko", ms=4, label="start")
    ax.set_xlabel(f"{_AXIS_NAMES[a]} ({units})")
    ax.set_ylabel(f"{_AXIS_NAMES[b]} ({units})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_series_over_steps(
    series: dict[str, tuple[list[int], list[float]]],
    path: str | Path,
    ylabel: str,
    title: str = "",
    spread: dict[str, tuple[list[float], list[float]]] | None = None,
) -> Path:
    """Named curves over training steps, with an optional shaded band per curve (e.g. min-max over seeds).

    Args:
        series: label -> (steps, values).
        path: PNG path.
        ylabel: y-axis label (say the unit, e.g. ``SNR, dB (20 log10)``).
        title: figure title.
        spread: label -> (lower, upper) values at the same steps.

    Returns:
        The PNG path.
    """
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for label, (steps, values) in series.items():
        line = ax.plot(steps, values, marker="o", label=label)[0]
        if spread is not None and label in spread:
            low, high = spread[label]
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
