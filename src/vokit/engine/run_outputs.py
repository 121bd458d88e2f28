"""What a run measures and writes: evaluation against ground truth, frame outputs, plots and the report page.

Used by `vokit.engine.pipeline` (``vokit run`` / ``vokit demo``). The evaluation follows METHODS.md sections 8.5
and 9: Eigen depth metrics with per-image median scaling on ground truth ``1e-3 < z < 80`` m (KITTI raw: also the
Garg crop), over all valid pixels and over moving-object pixels; ATE after Sim(3) alignment and RPE over
consecutive frames (index association); forward-flow EPE and Fl; motion-mask IoU of ``mask > 0.5``. Metrics that
the ground truth does not allow are absent, with the reason under ``notes``.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vokit.data.sequence import Sequence as FrameSequence
from vokit.engine.report import Figure, Report, Table, write_report
from vokit.errors import VokitError
from vokit.methods.inference import SequencePrediction
from vokit.metrics.mask import mask_iou

DEPTH_PNG_UNITS = 256.0
"""Depth PNG scale of a run folder: ``depth = value / 256`` (training-scale units, up to 255.99)."""

EVAL_MAX_DEPTH_M = 80.0
"""Upper end of the evaluated ground-truth depth range and the prediction clamp (Eigen protocol), metres."""

"""A pixel is predicted moving when its motion-mask probability exceeds this (METHODS.md section 8.5)."""




def json_ready(value: Any) -> Any:
    """JSON-ready copy: tensors to lists, NaN / inf to None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Tensor):
        return json_ready(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _depth_summary(metrics: Any, n_images: int) -> dict[str, Any]:
    return {
        "mean": metrics.mean.as_dict(),
        "n_images": n_images,
        "scale_ratio_median": metrics.ratio_median,
        "scale_ratio_std": metrics.ratio_std,
        "protocol": {"crop": metrics.crop, "min_depth_m": metrics.min_depth_m, "max_depth_m": metrics.max_depth_m,
                     "median_scaling": metrics.median_scaling, "averaging": "mean of per-image metrics"},
    }


@dataclass(frozen=True)
class Evaluation:
    """Metrics of a run and what the plots need.

    Attributes:
        metrics: the content of ``metrics.json`` (JSON-ready: NaN replaced by None).
        depth: the depth evaluation (all valid pixels), for the error histogram.
        ate: the absolute trajectory error (with the aligned estimate), for the trajectory plots.
        ref_positions_m: ground-truth camera centres, metres.
        times_s: time of each pose from the first one, seconds.
        kitti: KITTI segment errors of the aligned trajectory (paths longer than 100 m), for their plot.
    """

    metrics: dict[str, Any]
    depth: Any = None
    ate: Any = None
    ref_positions_m: Tensor | None = None
    times_s: Tensor | None = None
    kitti: Any = None


def evaluate_prediction(
    sequence: FrameSequence, prediction: SequencePrediction, depth_crop: str = "none"
) -> Evaluation | None:
    """Evaluate a prediction against whatever ground truth the sequence has (see the module docstring).

    Args:
        sequence: the frames the prediction was made on (``prediction.indices`` index into it).
        prediction: depth, trajectory, flow and masks at the sequence's image size.
        depth_crop: ``"none"`` (valid ground truth ``1e-3 < z < 80`` m) or ``"garg"`` (KITTI raw LiDAR).

    Returns:
        The evaluation, or None when the sequence has no ground truth at all.
    """
    from vokit.metrics import eigen_depth_metrics, evaluate_trajectory, flow_metrics

    if not (sequence.has_depth or sequence.has_poses or sequence.has_flow or sequence.has_motion_mask):
        return None
    metrics: dict[str, Any] = {}
    notes: dict[str, str] = {}
    gt_depth, pred_depth, gt_moving, pred_moving = [], [], [], []
    gt_flow, pred_flow, flow_fg, gt_masks, pred_masks = [], [], [], [], []
    n = int(prediction.indices.shape[0])
    need_frames = sequence.has_depth or (prediction.flow is not None and sequence.has_flow) or (
        prediction.motion_mask is not None and sequence.has_motion_mask)
    for k in range(n if need_frames else 0):
        frame = sequence[int(prediction.indices[k])]
        mask = frame.motion_mask
        if frame.depth is not None:
            gt = torch.where(frame.depth < EVAL_MAX_DEPTH_M, frame.depth, 0.0)
            if bool((gt > 0).any()):
                gt_depth.append(gt)
                pred_depth.append(prediction.depth[k])
            if mask is not None and bool(((gt > 0) & mask).any()):
                gt_moving.append(torch.where(mask, gt, 0.0))
                pred_moving.append(prediction.depth[k])
        if prediction.flow is not None and frame.flow is not None and k < n - 1:
            gt_flow.append(frame.flow)
            pred_flow.append(prediction.flow[k])
            flow_fg.append(mask if mask is not None else torch.zeros(frame.flow.shape[:2], dtype=torch.bool))
        if prediction.motion_mask is not None and mask is not None:
            gt_masks.append(mask)
            pred_masks.append(prediction.motion_mask[k])
    depth_result = None
    if gt_depth:
        depth_result = eigen_depth_metrics(gt_depth, pred_depth, pred_kind="depth", crop=depth_crop,  # type: ignore[arg-type]
                                           max_depth_m=EVAL_MAX_DEPTH_M, median_scaling=True)
        metrics["depth"] = _depth_summary(depth_result, len(gt_depth))
    elif sequence.has_depth:
        notes["depth"] = "no frame has valid ground-truth depth"
    if gt_moving:
        moving = eigen_depth_metrics(gt_moving, pred_moving, pred_kind="depth", crop="none",
                                     max_depth_m=EVAL_MAX_DEPTH_M, median_scaling=True)
        metrics["depth_moving"] = _depth_summary(moving, len(gt_moving))
    ate = ref = times = kitti = None
    if sequence.world_from_cam is not None:
        ref_poses = sequence.world_from_cam[prediction.indices]
        try:
            traj = evaluate_trajectory(ref_poses, prediction.world_from_cam, assoc="index", align="sim3",
                                       rpe_delta=1, rpe_unit="frames", kitti_segments=True)
        except VokitError as err:
            notes["trajectory"] = str(err)
        else:
            metrics["trajectory"] = traj.as_dict()
            ate, ref, kitti = traj.ate, traj.ref_positions_m, traj.kitti
            times = prediction.timestamps - prediction.timestamps[0]
    if gt_flow:
        try:
            fm = flow_metrics(pred_flow, gt_flow, fg_masks=flow_fg if sequence.has_motion_mask else None)
        except VokitError as err:
            notes["flow"] = str(err)
        else:
            metrics["flow"] = {**fm.as_dict(), "n_pairs": len(gt_flow),
                               "convention": "epe_pooled / fl_all_pct: pooled over valid pixels (KITTI devkit); "
                                             "epe_image_mean: mean of per-image means (RAFT)"}
    if gt_masks:
        metrics["motion_mask"] = mask_iou(pred_masks, gt_masks)
    if notes:
        metrics["notes"] = notes
    return Evaluation(metrics=json_ready(metrics), depth=depth_result, ate=ate, ref_positions_m=ref,
                       times_s=times, kitti=kitti)


SUMMARY_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("abs_rel", ("depth", "mean", "abs_rel")),
    ("sq_rel", ("depth", "mean", "sq_rel")),
    ("rmse", ("depth", "mean", "rmse")),
    ("a1", ("depth", "mean", "a1")),
    ("abs_rel moving", ("depth_moving", "mean", "abs_rel")),
    ("ATE rmse (m)", ("trajectory", "ape", "translation_m", "rmse")),
    ("RPE trans rmse (m)", ("trajectory", "rpe", "translation_m", "rmse")),
    ("RPE rot rmse (deg)", ("trajectory", "rpe", "rotation_deg", "rmse")),
    ("flow EPE (px)", ("flow", "epe_pooled")),
    ("Fl-all (%)", ("flow", "fl_all_pct")),
    ("mask IoU", ("motion_mask", "iou_pooled")),
)
"""Columns of the one-line-per-method summary (name, key path into ``metrics.json``)."""


def summary_row(metrics: Mapping[str, Any] | None, frames_per_second: float | None = None) -> dict[str, float | str]:
    """One row of the summary table: the headline numbers of a ``metrics.json`` ("-" where absent)."""
    row: dict[str, float | str] = {}
    for name, keys in SUMMARY_COLUMNS:
        value: Any = metrics
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        row[name] = float(value) if isinstance(value, (int, float)) else "-"
    if frames_per_second is not None:
        row["frames/s"] = float(frames_per_second)
    return row


COMPACT_COLUMNS: tuple[str, ...] = ("abs_rel", "a1", "abs_rel moving", "ATE rmse (m)", "RPE trans rmse (m)",
                                    "flow EPE (px)", "mask IoU", "frames/s")
"""The summary columns printed on the terminal."""


def format_summary(rows: Mapping[str, Mapping[str, float | str]], columns: Sequence[str] | None = None) -> str:
    """A plain-text table of summary rows (one per method).

    Args:
        rows: method name -> :func:`summary_row`.
        columns: columns to show, in order (default: every column of the rows).

    Returns:
        The table, a header line, a rule and one line per row.
    """
    shown: list[str] = []
    if columns is None:
        for row in rows.values():
            shown += [c for c in row if c not in shown]
    else:
        shown = list(columns)
    cells = [["method", *shown]]
    for name, row in rows.items():
        values = (row.get(c, "-") for c in shown)
        cells.append([name, *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values)])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------------


def write_frames(out: Path, sequence: FrameSequence, prediction: SequencePrediction, progress: bool) -> int:
    """Depth PNGs and previews, flow previews, motion masks; returns the number of depth pixels beyond 255.99."""
    from PIL import Image
    from tqdm.auto import tqdm

    from vokit.data.writers import write_depth_png
    from vokit.engine.visualize import depth_preview, flow_to_color, inv_depth_range, mask_overlay, save_rgb

    n = int(prediction.indices.shape[0])
    ranges = [inv_depth_range(prediction.depth[k]) for k in range(0, n, max(1, n // 16))]
    inv_max = float(np.median(ranges)) if ranges else None
    too_far = 0
    for k in tqdm(range(n), desc="writing", unit="frame", disable=not progress, dynamic_ncols=True):
        stem = f"{k:06d}.png"
        too_far += write_depth_png(out / "depth" / stem, prediction.depth[k], DEPTH_PNG_UNITS)
        save_rgb(out / "depth_preview" / stem, depth_preview(prediction.depth[k], inv_max))
        if prediction.flow is not None and k < n - 1:
            save_rgb(out / "flow_preview" / stem, flow_to_color(prediction.flow[k]))
        if prediction.motion_mask is not None:
            m = prediction.motion_mask[k].detach().cpu()
            (out / "motion_mask").mkdir(exist_ok=True)
            probability = np.rint(np.clip(m.numpy(), 0.0, 1.0) * 255.0).astype(np.uint8)
            Image.fromarray(probability).save(out / "motion_mask" / stem, compress_level=1)
            image = sequence[int(prediction.indices[k])].image
            save_rgb(out / "motion_mask_preview" / stem, mask_overlay(image, m))
    return too_far


def _panel_frames(n: int, count: int = 3) -> list[int]:
    last = max(n - 2, 0)
    return sorted({round(x) for x in np.linspace(0, last, min(count, last + 1))})


def write_panel(path: Path, sequence: FrameSequence, prediction: SequencePrediction, tile_width: int = 256) -> Path:
    """A grid of a few frames: image, depth (and its ground truth), flow (and GT), motion mask (and GT)."""
    from vokit.engine.visualize import (
        depth_preview,
        flow_to_color,
        inv_depth_range,
        mask_overlay,
        panel,
        resize_rgb,
        save_rgb,
    )

    rows: list[list[Tensor | None]] = []
    labels = ["image", "depth"]
    has_flow = prediction.flow is not None
    has_mask = prediction.motion_mask is not None
    if sequence.has_depth:
        labels.append("depth GT")
    if has_flow:
        labels += ["flow", "flow GT"] if sequence.has_flow else ["flow"]
    if has_mask:
        labels += ["motion mask", "motion mask GT"] if sequence.has_motion_mask else ["motion mask"]
    n = int(prediction.indices.shape[0])
    for k in _panel_frames(n):
        frame = sequence[int(prediction.indices[k])]
        depth = prediction.depth[k].double()
        tiles: list[Tensor | None] = [frame.image]
        if frame.depth is not None:
            gt = frame.depth.double()
            ok = gt > 0
            ratio = float(gt[ok].median() / depth[ok].median()) if bool(ok.any()) else 1.0
            top = inv_depth_range(gt)
            tiles += [depth_preview(depth * ratio, top), depth_preview(gt, top)]
        else:
            tiles.append(depth_preview(depth))
        if has_flow and prediction.flow is not None:
            pred_flow = prediction.flow[min(k, n - 2)]
            if frame.flow is not None:
                gt_flow = frame.flow
                known = torch.isfinite(gt_flow).all(-1)
                top_flow = float(torch.linalg.vector_norm(gt_flow[known], dim=-1).max()) if bool(known.any()) else None
                tiles += [flow_to_color(pred_flow, top_flow), flow_to_color(gt_flow, top_flow)]
            else:
                tiles.append(flow_to_color(pred_flow))
        if has_mask and prediction.motion_mask is not None:
            tiles.append(mask_overlay(frame.image, prediction.motion_mask[k]))
            if frame.motion_mask is not None:
                tiles.append(mask_overlay(frame.image, frame.motion_mask))
        rows.append([None if t is None else resize_rgb(t, min(tile_width, t.shape[-1])) for t in tiles])
    return save_rgb(path, panel(rows, labels))


def _vertical_axis(sequence: FrameSequence) -> int | None:
    """The ground truth's vertical world axis, for views from above.

    1 (y, down) when the world is the first camera's frame (first pose the identity), as in KITTI and vokit's
    synthetic world; None, letting the plot pick the two largest extents, for worlds with their own axes (TUM,
    EuRoC).
    """
    poses = sequence.world_from_cam
    if poses is None or len(poses) == 0:
        return None
    first = poses[0].double()
    anchored = bool(first[:3].abs().max() < 1e-6 and first[6].abs() > 1 - 1e-9)
    return 1 if anchored else None


def _plot_estimate(path: Path, positions_m: Tensor, title: str) -> Path:
    """Top view of an estimated trajectory alone (no ground truth)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    from vokit.metrics.plots import top_view_axes

    p = positions_m.detach().cpu().double()
    a, b = top_view_axes(p, vertical_axis=1)  # vokit's trajectories start at the first camera, y down
    fig = MplFigure(figsize=(6.0, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(p[:, a].numpy(), p[:, b].numpy(), "-", color="tab:blue", lw=1.5, label="estimate")
    ax.plot(p[:1, a].numpy(), p[:1, b].numpy(), "ko", ms=4, label="start")
    ax.set_xlabel(f"{'xyz'[a]} (training-scale units)")
    ax.set_ylabel(f"{'xyz'[b]} (training-scale units)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def write_plots(out: Path, sequence: FrameSequence, prediction: SequencePrediction,
                evaluation: Evaluation | None, method: str) -> list[Figure]:
    """Write the run's plots into ``out/plots`` and return them as report figures.

    With ground-truth poses: the Sim(3)-aligned trajectory against the ground truth from above and the ATE over
    time (and KITTI segment errors on paths over 100 m); without: the estimated trajectory alone. Always, first:
    a panel of a few frames. With ground-truth depth: the per-pixel depth error histogram.
    """
    from vokit.metrics.plots import (
        plot_depth_error_histogram,
        plot_error_over_time,
        plot_kitti_segment_errors,
        plot_trajectory_top_view,
    )

    plots = out / "plots"
    figures: list[Figure] = []
    title = method
    if evaluation is not None and evaluation.ate is not None and evaluation.ref_positions_m is not None:
        ate = evaluation.ate
        figures.append(Figure(plot_trajectory_top_view(
            evaluation.ref_positions_m, ate.est_aligned[:, :3], ate.errors.trans_m, plots / "trajectory_top_view.png",
            title=f"{title}: Sim(3)-aligned estimate vs ground truth", vertical_axis=_vertical_axis(sequence)),
            f"Trajectory of {sequence.name} from above: ground truth (dashed) and the Sim(3)-aligned estimate, "
            "coloured by its error"))
        times = evaluation.times_s if evaluation.times_s is not None else torch.arange(ate.errors.trans_m.shape[0])
        figures.append(Figure(plot_error_over_time(
            times, ate.errors.trans_m, plots / "ate_over_time.png", ylabel="APE translation (m)",
            title=f"{title}: absolute trajectory error", stats=ate.errors.trans),
            "Absolute translation error over time after Sim(3) alignment"))
    else:
        figures.append(Figure(_plot_estimate(plots / "trajectory_top_view.png", prediction.world_from_cam[:, :3],
                                             f"{title}: estimated trajectory"),
                              "Estimated trajectory from above (no ground truth)"))
    panel_caption = "A few frames: image, depth (median-scaled to the ground truth when present)"
    if prediction.flow is not None:
        panel_caption += ", forward flow (Middlebury colours)"
    if prediction.motion_mask is not None:
        panel_caption += ", motion mask (red)"
    figures.insert(0, Figure(write_panel(plots / "frames_panel.png", sequence, prediction),
                             panel_caption + "; ground truth beside each prediction when present"))
    if evaluation is not None and evaluation.kitti is not None:
        figures.append(Figure(plot_kitti_segment_errors(evaluation.kitti, plots / "kitti_segment_errors.png"),
                              "KITTI segment errors (100-800 m) of the Sim(3)-aligned trajectory"))
    if evaluation is not None and evaluation.depth is not None:
        figures.append(Figure(plot_depth_error_histogram(evaluation.depth, plots / "depth_error_histogram.png",
                                                         title=f"{title}: depth error"),
                              "Per-pixel depth abs-rel error over all evaluated pixels (median-scaled)"))
    return figures


def _detail_tables(metrics: Mapping[str, Any]) -> list[Table]:
    tables: list[Table] = []
    depth_rows = {name: metrics[key]["mean"] for key, name in (("depth", "all valid pixels"),
                                                                ("depth_moving", "moving-object pixels"))
                  if key in metrics}
    if depth_rows:
        proto = metrics.get("depth", metrics.get("depth_moving", {})).get("protocol", {})
        tables.append(Table("Depth (Eigen metrics)", {k: _table_values(v) for k, v in depth_rows.items()},
                            note=f"Per-image median scaling, ground truth {1e-3:g} < gt < {proto.get('max_depth_m')}"
                                 f" m, crop {proto.get('crop')}; mean over images."))
    if "trajectory" in metrics:
        t = metrics["trajectory"]
        rows = {"ATE translation (m)": t["ape"]["translation_m"], "ATE rotation (deg)": t["ape"]["rotation_deg"],
                "RPE translation (m)": t["rpe"]["translation_m"], "RPE rotation (deg)": t["rpe"]["rotation_deg"]}
        keep = ("rmse", "mean", "median", "std", "max")
        tables.append(Table("Trajectory", {k: _table_values({s: v.get(s) for s in keep}) for k, v in rows.items()},
                            note=f"Sim(3) Umeyama alignment (scale {t['alignment']['scale']:.4g}) over "
                                 f"{t['alignment']['n_used']} poses; RPE over consecutive frames."))
    if "flow" in metrics:
        f = metrics["flow"]
        names = ("epe_pooled", "epe_image_mean", "fl_all_pct", "fl_fg_pct", "fl_bg_pct", "px1", "px3")
        tables.append(Table("Optical flow", {"forward flow": _table_values({k: f.get(k) for k in names})},
                            note=f["convention"]))
    if "motion_mask" in metrics:
        m = metrics["motion_mask"]
        tables.append(Table("Motion mask", {"IoU": _table_values({k: m.get(k) for k in
                                                                 ("iou_pooled", "iou_image_mean", "n_images")})},
                            note=f"Predicted moving where the mask > {m['threshold']}; pooled = summed "
                                 "intersections over summed unions."))
    return tables


def _table_values(values: Mapping[str, Any]) -> dict[str, float | int | str]:
    return {k: ("-" if v is None else v) for k, v in values.items()}


def write_run_report(
    out: Path,
    title: str,
    rows: Mapping[str, Mapping[str, float | str]],
    metrics: Mapping[str, Any] | None,
    figures: Sequence[Figure],
    summary: Sequence[str],
    config: Mapping[str, Any],
) -> Path:
    """Write ``out/report.html``: the summary table (one row per method), detail tables, figures, run config.

    Args:
        out: the run folder.
        title: the page title.
        rows: method -> :func:`summary_row`, the run's own method first.
        metrics: the run's ``metrics.json`` content for the detail tables (None: no ground truth).
        figures: PNG figures to embed.
        summary: sentences shown under the title.
        config: the run's parameters, shown at the end.

    Returns:
        The report path.
    """
    tables = [Table("Summary", rows, note="Depth: Eigen metrics, median-scaled; ATE/RPE after Sim(3) alignment; "
                                          "mask IoU pooled over frames. '-' = no ground truth or not predicted.")]
    if metrics:
        tables += _detail_tables(metrics)
    report = Report(title=title, summary=summary, tables=tables, figures=figures, config=config)
    return write_report(report, out / "report.html")
