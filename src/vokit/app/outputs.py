"""What a run measures and writes: evaluation against ground truth, frame outputs, plots and the report page.

Used by `vokit.app.pipeline` (``vokit run`` / ``vokit demo``). Both the evaluation and the frame files are fed one
finished frame at a time (:class:`EvaluationAccumulator`, :class:`FrameWriter`), in the same pass as inference, so
every image is decoded once and ground truth only for what is evaluated. The evaluation follows METHODS.md sections
8.5 and 9: Eigen depth metrics with per-image median scaling on ground truth ``1e-3 < z < 80`` m (KITTI raw: also
the Garg crop), over all valid pixels and over moving-object pixels; ATE after Sim(3) alignment and RPE over
consecutive frames (index association); forward-flow EPE and Fl; motion-mask IoU of ``mask > 0.5``. Metrics that
the ground truth does not allow are absent, with the reason under ``notes``.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vokit.app.report import Figure, Report, Table, write_report
from vokit.data.sequence import Sequence as FrameSequence
from vokit.errors import VokitError
from vokit.methods.inference import FrameResult, SequencePrediction
from vokit.metrics.depth import DepthMetrics
from vokit.metrics.evaluate import TrajectoryEvaluation
from vokit.metrics.flow import FlowMetrics
from vokit.metrics.mask import mask_iou
from vokit.metrics.serialize import json_ready
from vokit.metrics.trivial import TrivialComparison, beats_constant_depth, constant_depth_verdict

DEPTH_PNG_UNITS = 256.0
"""Depth PNG scale of a run folder: ``depth = value / 256`` (training-scale units, up to 255.99)."""

EVAL_MAX_DEPTH_M = 80.0
"""Upper end of the evaluated ground-truth depth range and the prediction clamp (Eigen protocol), metres."""

FLOW_CONVENTION = ("epe_pooled / fl_all_pct: pooled over valid pixels (KITTI devkit); epe_image_mean: mean of "
                   "per-image means (RAFT)")


def _depth_summary(metrics: DepthMetrics, n_images: int) -> dict[str, Any]:
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
    """A run's metrics as the result types `vokit.metrics` returns; dicts only in :meth:`as_json`.

    Attributes:
        depth: Eigen metrics over all valid pixels, and the number of images that had valid ground truth.
        depth_moving: the same over moving-object pixels.
        trajectory: ATE / RPE (and KITTI segment errors) of the Sim(3)-aligned trajectory.
        flow: forward-flow errors, and the number of frame pairs.
        motion_mask: motion-mask IoU (`vokit.metrics.mask.mask_iou`).
        trivial: the trajectory beside a static camera and a constant-velocity line (`vokit.metrics.trivial`).
        depth_constant: the Eigen metrics of a constant depth, median-scaled per image, on the same pixels.
        notes: why a metric the ground truth seemed to allow is absent.
    """

    depth: tuple[DepthMetrics, int] | None = None
    depth_moving: tuple[DepthMetrics, int] | None = None
    trajectory: TrajectoryEvaluation | None = None
    flow: tuple[FlowMetrics, int] | None = None
    motion_mask: dict[str, float | int | None] | None = None
    trivial: TrivialComparison | None = None
    depth_constant: tuple[DepthMetrics, int] | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def verdicts(self) -> list[str]:
        """One sentence per trivial comparison (trajectory, depth): better than the trivial predictor or not."""
        out = []
        if self.trivial is not None:
            out.append(f"Trajectory: {self.trivial.verdict}.")
        if self.depth is not None and self.depth_constant is not None:
            out.append(f"Depth: {constant_depth_verdict(self.depth[0], self.depth_constant[0])}.")
        return out

    def as_json(self) -> dict[str, Any]:
        """The content of ``metrics.json`` (strict JSON: NaN written as null)."""
        out: dict[str, Any] = {}
        if self.depth is not None:
            out["depth"] = _depth_summary(*self.depth)
        if self.depth_moving is not None:
            out["depth_moving"] = _depth_summary(*self.depth_moving)
        if self.trajectory is not None:
            out["trajectory"] = self.trajectory.as_dict()
        if self.flow is not None:
            out["flow"] = {**self.flow[0].as_dict(), "n_pairs": self.flow[1], "convention": FLOW_CONVENTION}
        if self.motion_mask is not None:
            out["motion_mask"] = self.motion_mask
        if self.trivial is not None:
            out["trivial"] = self.trivial.as_dict()
        if self.depth_constant is not None:
            out["depth_constant"] = _depth_summary(*self.depth_constant)
            if self.depth is not None:
                out["depth_beats_constant"] = beats_constant_depth(self.depth[0], self.depth_constant[0])
        if self.verdicts:
            out["verdicts"] = self.verdicts
        if self.notes:
            out["notes"] = dict(self.notes)
        return json_ready(out)


class EvaluationAccumulator:
    """Collects what the evaluation needs one finished frame at a time, loading only the ground truth it uses.

    Depth is scored per frame as it arrives (the Eigen metrics are per image; the parts are merged in
    :meth:`finish`), so no depth map is kept.

    Args:
        sequence: the frames being run (ground truth is read with its per-field accessors).
        with_flow: the prediction has forward flow.
        with_motion_mask: the prediction has motion masks.
        depth_crop: ``"none"`` (valid ground truth ``1e-3 < z < 80`` m) or ``"garg"`` (KITTI raw LiDAR).
    """

    def __init__(self, sequence: FrameSequence, with_flow: bool, with_motion_mask: bool,
                 depth_crop: str = "none") -> None:
        self.sequence = sequence
        self.with_flow = with_flow and sequence.has_flow
        self.with_mask = with_motion_mask and sequence.has_motion_mask
        self.depth_crop = depth_crop
        self.depth_parts: list[DepthMetrics] = []
        self.constant_parts: list[DepthMetrics] = []
        self.moving_parts: list[DepthMetrics] = []
        self.gt_flow: list[Tensor] = []
        self.pred_flow: list[Tensor] = []
        self.flow_fg: list[Tensor] = []
        self.gt_masks: list[Tensor] = []
        self.pred_masks: list[Tensor] = []

    @property
    def has_ground_truth(self) -> bool:
        """Whether the sequence has any ground truth at all."""
        s = self.sequence
        return s.has_depth or s.has_poses or s.has_flow or s.has_motion_mask

    def add(self, frame: FrameResult) -> None:
        """Take one finished frame (its predictions at the image size)."""
        s = self.sequence
        need_mask = s.has_motion_mask and (s.has_depth or self.with_flow or self.with_mask)
        mask = s.motion_mask(frame.index) if need_mask else None
        gt_depth = s.depth(frame.index) if s.has_depth and frame.depth is not None else None
        if gt_depth is not None and frame.depth is not None:
            from vokit.metrics import constant_depth_metrics, eigen_depth_metrics

            gt = torch.where(gt_depth < EVAL_MAX_DEPTH_M, gt_depth, 0.0)
            if bool((gt > 0).any()):
                self.depth_parts.append(eigen_depth_metrics(
                    [gt], [frame.depth], pred_kind="depth", crop=self.depth_crop,  # type: ignore[arg-type]
                    max_depth_m=EVAL_MAX_DEPTH_M, median_scaling=True))
                self.constant_parts.append(constant_depth_metrics(
                    [gt], crop=self.depth_crop, max_depth_m=EVAL_MAX_DEPTH_M))  # type: ignore[arg-type]
            if mask is not None and bool(((gt > 0) & mask).any()):
                self.moving_parts.append(eigen_depth_metrics(
                    [torch.where(mask, gt, 0.0)], [frame.depth], pred_kind="depth", crop="none",
                    max_depth_m=EVAL_MAX_DEPTH_M, median_scaling=True))
        if self.with_flow and frame.flow_to_next is not None:
            gt_flow = s.flow(frame.index)
            if gt_flow is not None:
                self.gt_flow.append(gt_flow)
                self.pred_flow.append(frame.flow_to_next)
                self.flow_fg.append(mask if mask is not None else torch.zeros(gt_flow.shape[:2], dtype=torch.bool))
        if self.with_mask and frame.motion_mask is not None and mask is not None:
            self.gt_masks.append(mask)
            self.pred_masks.append(frame.motion_mask)

    def finish(self, prediction: SequencePrediction) -> Evaluation | None:
        """The evaluation of everything added (and the trajectory of ``prediction``); None without ground truth.

        Args:
            prediction: the run's prediction (its trajectory is evaluated here).
        """
        from vokit.metrics import compare_with_trivial, evaluate_trajectory, flow_metrics

        if not self.has_ground_truth:
            return None
        notes: dict[str, str] = {}
        depth = moving = trajectory = flow = masks = trivial = constant = None
        if self.depth_parts:
            depth = (merge_depth_metrics(self.depth_parts), len(self.depth_parts))
            constant = (merge_depth_metrics(self.constant_parts), len(self.constant_parts))
        elif self.sequence.has_depth:
            notes["depth"] = "no frame has valid ground-truth depth"
        if self.moving_parts:
            moving = (merge_depth_metrics(self.moving_parts), len(self.moving_parts))
        if self.sequence.world_from_cam is not None:
            ref_poses = self.sequence.world_from_cam[prediction.indices]
            try:
                trajectory = evaluate_trajectory(ref_poses, prediction.world_from_cam, assoc="index", align="sim3",
                                                 rpe_delta=1, rpe_unit="frames", kitti_segments=True,
                                                 ref_stamps_s=prediction.timestamps,
                                                 est_stamps_s=prediction.timestamps)
            except VokitError as err:
                notes["trajectory"] = str(err)
            try:
                trivial = compare_with_trivial(ref_poses, prediction.world_from_cam, prediction.timestamps,
                                               align="sim3", rpe_delta=1)
            except VokitError as err:
                notes["trivial"] = str(err)
        if self.gt_flow:
            try:
                fm = flow_metrics(self.pred_flow, self.gt_flow,
                                  fg_masks=self.flow_fg if self.sequence.has_motion_mask else None)
            except VokitError as err:
                notes["flow"] = str(err)
            else:
                flow = (fm, len(self.gt_flow))
        if self.gt_masks:
            masks = mask_iou(self.pred_masks, self.gt_masks)
        return Evaluation(depth=depth, depth_moving=moving, trajectory=trajectory, flow=flow, motion_mask=masks,
                          trivial=trivial, depth_constant=constant, notes=notes)


def evaluate_prediction(
    sequence: FrameSequence, prediction: SequencePrediction, depth_crop: str = "none"
) -> Evaluation | None:
    """Evaluate a finished prediction against whatever ground truth the sequence has (see the module docstring).

    A run evaluates in the inference pass instead (:class:`EvaluationAccumulator`); this reads the ground truth
    afterwards, never the images.

    Args:
        sequence: the frames the prediction was made on (``prediction.indices`` index into it).
        prediction: depth, trajectory, flow and masks at the sequence's image size.
        depth_crop: ``"none"`` (valid ground truth ``1e-3 < z < 80`` m) or ``"garg"`` (KITTI raw LiDAR).

    Returns:
        The evaluation, or None when the sequence has no ground truth at all.
    """
    acc = EvaluationAccumulator(sequence, prediction.flow is not None, prediction.motion_mask is not None,
                                depth_crop)
    n = int(prediction.indices.shape[0])
    empty = torch.empty(3, 0, 0)
    for k in range(n):
        acc.add(FrameResult(
            position=k, index=int(prediction.indices[k]), image=empty,
            depth=None if prediction.depth is None else prediction.depth[k],
            flow_to_next=None if prediction.flow is None or k >= n - 1 else prediction.flow[k],
            motion_mask=None if prediction.motion_mask is None else prediction.motion_mask[k],
        ))
    return acc.finish(prediction)


def merge_depth_metrics(parts: Sequence[DepthMetrics]) -> DepthMetrics:
    """Eigen depth metrics of several image sets as one (what `eigen_depth_metrics` returns for all images at once).

    Per-image metrics, counts and ratios are concatenated, histograms summed; the mean is over images and the
    ratio statistics are recomputed (``numpy.median`` and the population std of ``ratio / median``).

    Args:
        parts: results with the same protocol, median-scaled.
    """
    import dataclasses

    from vokit.metrics.depth import DepthErrors

    per_image = torch.cat([p.per_image for p in parts])
    ratios = torch.cat([p.scale_ratios for p in parts if p.scale_ratios is not None])
    median = float(np.median(ratios.numpy())) if ratios.numel() else float("nan")
    return dataclasses.replace(
        parts[0],
        mean=DepthErrors(*(float(v) for v in per_image.mean(0))),
        per_image=per_image,
        n_valid=torch.cat([p.n_valid for p in parts]),
        scale_ratios=ratios,
        ratio_median=median,
        ratio_std=float((ratios / median).std(correction=0)) if ratios.numel() else float("nan"),
        abs_rel_hist=torch.stack([p.abs_rel_hist for p in parts]).sum(0),
    )


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


class FrameWriter:
    """Writes each finished frame's files as it comes: depth PNG and preview, flow preview, motion mask and overlay.

    The depth previews share one inverse-depth range, taken from the first frame. The images of the few frames the
    report panel shows are kept (:attr:`panel_images`), so that no image is decoded twice. :meth:`add` may be
    called from several threads at once (PNG encoding releases the GIL), as the run pipeline does.

    Args:
        out: the run folder.
        n_frames: frames in the run.
        progress: show a progress bar.
    """

    def __init__(self, out: Path, n_frames: int, progress: bool = False) -> None:
        import threading

        from tqdm.auto import tqdm

        self.out = out
        self.n_frames = n_frames
        self.too_far = 0
        """Depth pixels beyond the PNG range (written as 0)."""
        self.panel_positions = panel_frames(n_frames)
        self.panel_images: dict[int, Tensor] = {}
        self._inv_depth_max: float | None = None
        self._lock = threading.Lock()
        self._bar = tqdm(total=n_frames, desc="writing", unit="frame", disable=not progress, dynamic_ncols=True,
                         leave=False)

    def add(self, frame: FrameResult) -> None:
        """Write one frame's files (named by its position in the run)."""
        from vokit.app.visualize import save_rgb
        from vokit.data.image_io import write_png8
        from vokit.data.writers import write_depth_png
        from vokit.methods.panels import depth_preview, flow_to_color, inv_depth_range, mask_overlay

        out, k = self.out, frame.position
        with self._lock:
            if self._inv_depth_max is None and frame.depth is not None:
                self._inv_depth_max = inv_depth_range(frame.depth)
            inv_depth_max = self._inv_depth_max
            if k in self.panel_positions:
                self.panel_images[k] = frame.image
        stem = f"{k:06d}.png"
        too_far = 0
        if frame.depth is not None:  # methods without dense depth (patchvo) write no depth files
            too_far = write_depth_png(out / "depth" / stem, frame.depth, DEPTH_PNG_UNITS, compress_level=1)
            save_rgb(out / "depth_preview" / stem, depth_preview(frame.depth, inv_depth_max or None))
        if frame.flow_to_next is not None:
            save_rgb(out / "flow_preview" / stem, flow_to_color(frame.flow_to_next))
        if frame.motion_mask is not None:
            m = frame.motion_mask.detach().cpu()
            probability = np.rint(np.clip(m.numpy(), 0.0, 1.0) * 255.0).astype(np.uint8)
            write_png8(out / "motion_mask" / stem, probability)
            save_rgb(out / "motion_mask_preview" / stem, mask_overlay(frame.image, m))
        with self._lock:
            self.too_far += too_far
            self._bar.update(1)

    def close(self) -> None:
        """Close the progress bar."""
        self._bar.close()


def panel_frames(n: int, count: int = 3) -> list[int]:
    """Positions of the frames the report panel shows (spread over the run, not the last one)."""
    last = max(n - 2, 0)
    return sorted({round(x) for x in np.linspace(0, last, min(count, last + 1))})


def write_panel(path: Path, sequence: FrameSequence, prediction: SequencePrediction,
                images: Mapping[int, Tensor] | None = None, tile_width: int = 256) -> Path:
    """A grid of a few frames: image, depth (and its ground truth), flow (and GT), motion mask (and GT).

    Args:
        path: the PNG to write.
        sequence: the run's frames (ground truth is read per field).
        prediction: the run's prediction.
        images: the panel frames' images by position (:attr:`FrameWriter.panel_images`); others are decoded.
        tile_width: width of each tile, pixels.
    """
    from vokit.app.visualize import panel, resize_rgb, save_rgb
    from vokit.methods.panels import depth_preview, flow_to_color, inv_depth_range, mask_overlay

    rows: list[list[Tensor | None]] = []
    has_depth = prediction.depth is not None
    labels = ["image", "depth"] if has_depth else ["image"]
    has_flow = prediction.flow is not None
    has_mask = prediction.motion_mask is not None
    if sequence.has_depth and has_depth:
        labels.append("depth GT")
    if has_flow:
        labels += ["flow", "flow GT"] if sequence.has_flow else ["flow"]
    if has_mask:
        labels += ["motion mask", "motion mask GT"] if sequence.has_motion_mask else ["motion mask"]
    n = int(prediction.indices.shape[0])
    images = images or {}
    for k in panel_frames(n):
        index = int(prediction.indices[k])
        image = images[k] if k in images else sequence.image(index)
        tiles: list[Tensor | None] = [image]
        gt_depth = sequence.depth(index) if has_depth else None
        depth = prediction.depth[k].double() if prediction.depth is not None else None
        if depth is None:
            pass
        elif gt_depth is not None:
            gt = gt_depth.double()
            ok = gt > 0
            ratio = float(gt[ok].median() / depth[ok].median()) if bool(ok.any()) else 1.0
            top = inv_depth_range(gt)
            tiles += [depth_preview(depth * ratio, top), depth_preview(gt, top)]
        else:
            tiles.append(depth_preview(depth))
        if has_flow and prediction.flow is not None:
            pred_flow = prediction.flow[min(k, n - 2)]
            gt_flow = sequence.flow(index)
            if gt_flow is not None:
                known = torch.isfinite(gt_flow).all(-1)
                top_flow = float(torch.linalg.vector_norm(gt_flow[known], dim=-1).max()) if bool(known.any()) else None
                tiles += [flow_to_color(pred_flow, top_flow), flow_to_color(gt_flow, top_flow)]
            else:
                tiles.append(flow_to_color(pred_flow))
        if has_mask and prediction.motion_mask is not None:
            tiles.append(mask_overlay(image, prediction.motion_mask[k]))
            gt_mask = sequence.motion_mask(index)
            if gt_mask is not None:
                tiles.append(mask_overlay(image, gt_mask))
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


def write_plots(out: Path, sequence: FrameSequence, prediction: SequencePrediction,
                evaluation: Evaluation | None, method: str,
                panel_images: Mapping[int, Tensor] | None = None) -> list[Figure]:
    """Write the run's plots into ``out/plots`` and return the report's figures.

    Always, first: a panel of a few frames. With ground-truth poses: the trajectory plots of ``vokit eval traj``
    (`vokit.metrics.plots.write_trajectory_plots`: the Sim(3)-aligned estimate against the ground truth from
    above, APE and RPE over time, KITTI segment errors on paths over 100 m); without: the estimated trajectory
    alone. With ground-truth depth: the per-pixel depth error histogram.
    """
    from vokit.metrics.plots import (
        plot_depth_error_histogram,
        plot_estimated_trajectory,
        write_trajectory_plots,
    )

    plots = out / "plots"
    panel_caption = "A few frames: image, depth (median-scaled to the ground truth when present)"
    if prediction.flow is not None:
        panel_caption += ", forward flow (Middlebury colours)"
    if prediction.motion_mask is not None:
        panel_caption += ", motion mask (red)"
    figures = [Figure(write_panel(plots / "frames_panel.png", sequence, prediction, panel_images),
                      panel_caption + "; ground truth beside each prediction when present")]
    trajectory = None if evaluation is None else evaluation.trajectory
    if trajectory is not None:
        written = write_trajectory_plots(trajectory, plots, f"{method} on {sequence.name}",
                                         vertical_axis=_vertical_axis(sequence))
        figures.append(Figure(written["trajectory.png"],
                              f"Trajectory of {sequence.name} from above: ground truth (dashed) and the "
                              "Sim(3)-aligned estimate, coloured by its error"))
        figures.append(Figure(written["ape.png"], "Absolute translation error over time after Sim(3) alignment"))
        if "kitti_segments.png" in written:
            figures.append(Figure(written["kitti_segments.png"],
                                  "KITTI segment errors (100-800 m) of the Sim(3)-aligned trajectory"))
    else:
        figures.append(Figure(plot_estimated_trajectory(prediction.world_from_cam[:, :3], plots / "trajectory.png",
                                                        f"{method}: estimated trajectory"),
                              "Estimated trajectory from above (no ground truth)"))
    if evaluation is not None and evaluation.depth is not None:
        figures.append(Figure(plot_depth_error_histogram(evaluation.depth[0], plots / "depth_error_histogram.png",
                                                         title=f"{method}: depth error"),
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
    if "trivial" in metrics:
        t = metrics["trivial"]
        rows_of = ("estimate", "static camera", "constant-velocity line")
        tables.append(Table("Beside trivial trajectories", {n: _table_values(t[n]) for n in rows_of if n in t},
                            note=f"{t['verdict']}. Same alignment ({t['align']}) for all three; the line moves along "
                                 f"the first frame's optical axis at the ground truth's mean speed "
                                 f"({t['line_speed_m_s']:.3g} m/s). rmse values."))
    if "depth_constant" in metrics and "depth" in metrics:
        depth_keep = ("abs_rel", "sq_rel", "rmse", "a1")
        tables.append(Table("Depth beside a constant", {
            "prediction": _table_values({k: metrics["depth"]["mean"].get(k) for k in depth_keep}),
            "constant depth (median-scaled)": _table_values({k: metrics["depth_constant"]["mean"].get(k)
                                                             for k in depth_keep})},
            note="The same pixels and protocol; a constant depth scaled by each image's ground-truth median."))
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
