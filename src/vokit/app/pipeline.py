"""The main job: run a trained depth + pose (+ flow) model over a sequence, write everything, evaluate, report.

:func:`run_sequence` is ``vokit run`` and :func:`demo` is ``vokit demo``. A run folder holds:

- ``trajectory_tum.txt`` (``t tx ty tz qx qy qz qw``) and ``trajectory_kitti.txt`` (row-major 3x4): the chained
  ``world_from_cam`` trajectory, frame 0 at the identity, in the model's training-scale units (monocular: the
  scale is unknown; the synthetic-trained models learned metres);
- ``depth/NNNNNN.png``: 16-bit z-depth, ``depth = value / 256`` in the same units, 0 = invalid (the scale is also
  stored in each PNG's ``vokit_depth`` text entry); ``depth_preview/``: colour inverse depth (near = bright);
- with a flow network (methods whose ``outputs`` include flow): ``flow_preview/NNNNNN.png`` (forward flow of
  frame N to N + 1 in the Middlebury colour code), ``motion_mask/NNNNNN.png`` (8-bit moving-object probability,
  255 = moving) and ``motion_mask_preview/`` (the mask in red over the image);
- ``metrics.json`` when the sequence has ground truth: Eigen depth metrics with per-image median scaling (all valid
  pixels ``1e-3 < gt < 80`` m, and moving-object pixels), ATE after Sim(3) alignment and RPE over consecutive
  frames, flow EPE / Fl, motion-mask IoU (mask > 0.5);
- ``plots/``: the trajectory plots of ``vokit eval traj`` (``trajectory.png`` from above against the ground truth,
  ``ape.png``, ``rpe.png``, ``summary.png``; without ground truth ``trajectory.png`` alone), depth error
  histogram and a panel of a few frames (image, depth, flow, motion mask, each beside its ground truth);
- ``config.yaml``: the run's parameters, the model's training config, vokit version and git SHA;
- ``report.html``: one self-contained page with the metric tables and the figures.

Frame files are numbered by position in the run (after ``stride`` / ``max_frames``), like the trajectory rows.
The network sees every image at its own aspect ratio, resized to the model's training pixel budget and padded to
the network stride (intrinsics scaled by the same factors, METHODS.md section 1); its depth, flow and masks are
cropped and resized back to the input size. Each image is decoded once: frame files are written and the
evaluation is accumulated as frames finish, in the inference pass. A run reports two speeds: inference frames/s
(decoding and networks) and end-to-end frames/s (everything up to the report).
"""

import json
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

import vokit
from vokit.adapt.online import AdaptSettings
from vokit.app.adaptation import (
    adaptation_line,
    alignment_summary,
    check_adaptable,
    load_alignment,
    run_adapted,
    save_adapted,
)
from vokit.app.exports import ExportOptions, RunExports
from vokit.app.outputs import (
    COMPACT_COLUMNS,
    DEPTH_PNG_UNITS,
    EvaluationAccumulator,
    FrameWriter,
    format_summary,
    summary_row,
    write_plots,
    write_run_report,
)
from vokit.data.output_folder import OutputFolder, prepare_output_folder, recording
from vokit.data.sequence import Sequence as FrameSequence
from vokit.engine.configs import ExperimentConfig
from vokit.engine.source_statistics import SourceStatistics
from vokit.errors import VokitError
from vokit.methods import registry
from vokit.methods.inference import FrameResult, SequencePrediction
from vokit.metrics.mask import mask_iou
from vokit.metrics.serialize import json_ready

__all__ = [
    "BASELINE_DIR", "COMPACT_COLUMNS", "DEMO_FRAMES", "LoadedModel", "RunResult", "RunSource",
    "demo", "format_summary", "load_model", "mask_iou", "open_source", "prepare_output_dir", "resolve_weights",
    "run_sequence", "select_frames", "shipped_weights_path", "summary_row",
]

DEMO_METHOD = registry.DEFAULT_METHOD
"""The method ``vokit demo`` shows."""

DEMO_BASELINE = registry.BASELINE_METHOD
"""The baseline ``vokit demo`` compares it with."""

DEMO_FRAMES = 24
"""Frames of the ``vokit demo`` street sequence."""

BASELINE_DIR = f"baseline-{DEMO_BASELINE}"
"""Sub-folder of the demo's run folder holding the baseline run."""


@dataclass(frozen=True)
class RunResult:
    """What a run wrote and measured.

    Attributes:
        out: the run folder.
        method: the method's registry name.
        sequence_name: the sequence's name.
        n_frames: frames processed.
        frames_per_second: inference throughput (image decoding and the networks, while the frame writers run
            on other threads; see `SequencePrediction.frames_per_second`).
        end_to_end_frames_per_second: frames over the whole run (inference, files, evaluation, plots, report).
        weights: the checkpoint file used.
        metrics: the content of ``metrics.json`` (None without ground truth).
        report: the ``report.html`` path.
        prediction: depth, trajectory, flow and masks at the input resolution.
        baselines: further runs on the same frames compared in the report (the demo's baseline).
    """

    out: Path
    method: str
    sequence_name: str
    n_frames: int
    frames_per_second: float
    end_to_end_frames_per_second: float
    weights: Path
    metrics: dict[str, Any] | None
    report: Path
    prediction: SequencePrediction
    baselines: tuple["RunResult", ...] = field(default_factory=tuple)


# ----------------------------------------------------------------------------------------------------------------
# Inputs: output folder, weights, sequence
# ----------------------------------------------------------------------------------------------------------------


def prepare_output_dir(out: str | Path, overwrite: bool = False) -> OutputFolder:
    """Create the run folder and check that it can be written, before any work is done.

    Args:
        out: the folder (created with its parents).
        overwrite: replace an earlier vokit run in ``out``: exactly the files its manifest lists
            (`vokit.data.output_folder`); a folder holding anything else (a dataset, a training run, a user's file)
            is refused, naming the file.

    Returns:
        The prepared, empty folder; :func:`_execute` records what it writes there.

    Raises:
        VokitError: the folder cannot be created or written, is not empty and ``overwrite`` is False, or holds
            files that are not an earlier run's.
    """
    return prepare_output_folder(out, "run", overwrite)


def shipped_weights_path(method: str) -> Path:
    """Where the shipped weights of ``method`` live: ``vokit/weights/<method>-synthetic.pt`` in the package."""
    return Path(vokit.__file__).resolve().parent / "weights" / f"{method}-synthetic.pt"


def resolve_weights(method: str, weights: str | Path | None) -> Path:
    """The checkpoint to load: ``weights`` (a file or a training run folder) or the shipped file of ``method``.

    Raises:
        VokitError: the file is missing (for the shipped weights, saying how to train them).
    """
    if weights is not None:
        path = Path(weights)
        if not path.exists():
            raise VokitError("weights file (or run folder) not found", path)
        return path
    path = shipped_weights_path(method)
    if not path.is_file():
        raise VokitError(
            f"the shipped {method} weights are missing. Train them with `vokit train {method}-synthetic` and pass "
            f"the run folder with --weights RUNS/{method}-synthetic-..., or export the trained checkpoint to this "
            "path with vokit.engine.export_weights(checkpoint, path)",
            path,
        )
    return path


@dataclass(frozen=True)
class LoadedModel:
    """A trained model ready for inference, with where it came from.

    Attributes:
        model: the model in eval mode.
        config: its training config.
        weights: the checkpoint file.
        step: the training step the checkpoint holds.
    """

    model: nn.Module
    config: ExperimentConfig
    weights: Path
    step: int

    @property
    def method(self) -> str:
        """The method's registry name."""
        return self.config.model.method


@dataclass(frozen=True)
class RunSource:
    """What a run was pointed at, as recorded in its ``config.yaml`` and report.

    Attributes:
        source: the path, ``synthetic:...`` spec or description given.
        format: the reader used.
        calib: the ``--calib`` given (file or numbers), if any.
        calibration: where the intrinsics used came from, in words (`Sequence.calibration_source`).
        stride: every ``stride``-th frame was used.
        max_frames: at most this many frames (None: all).
        command: the command line when run as ``vokit``.
    """

    source: str
    format: str
    calib: str | list[float] | None = None
    calibration: str | None = None
    stride: int = 1
    max_frames: int | None = None
    command: str | None = None


@dataclass(frozen=True)
class RunJob:
    """Everything one run needs: the frames, the model, where to write, and how.

    Attributes:
        sequence: the selected frames.
        source: what they came from.
        loaded: the model.
        out: the prepared run folder.
        device: where the networks run.
        batch_size: frames per network call.
        progress: show progress bars.
        depth_crop: depth evaluation crop (``garg`` for KITTI raw LiDAR, else ``none``).
        exports: the rerun recording and COLMAP model to write besides the run folder (`vokit.app.exports`).
        adapt: adapt the networks online while predicting (None: the frozen model, `vokit.app.adaptation`).
        save_adapted: write the adapted weights into the run folder.
        alignment: with ``adapt``, align the features online to these source statistics (None: no alignment).
    """

    sequence: FrameSequence
    source: RunSource
    loaded: LoadedModel
    out: Path
    device: torch.device
    batch_size: int = 8
    progress: bool = True
    depth_crop: str = "none"
    exports: ExportOptions = field(default_factory=ExportOptions)
    adapt: AdaptSettings | None = None
    save_adapted: bool = False
    alignment: SourceStatistics | None = None


def _weightless_model(method: str | None, weights: str | Path | None, operator: str | None) -> LoadedModel | None:
    """A model that needs no checkpoint, or None.

    That is a method's `Method.model_without_weights` for ``operator``, when no weights are given and none are
    shipped.
    """
    if method is None or weights is not None or shipped_weights_path(method).is_file():
        return None
    model = registry.get_method(method).model_without_weights(operator)
    if model is None:
        return None
    from vokit.engine.configs import ExperimentConfig

    config = ExperimentConfig()
    config = replace(config, model=replace(config.model, method=method))
    return LoadedModel(model=model, config=config, weights=Path("none"), step=0)


def load_model(
    method: str | None, weights: str | Path | None, device: str | torch.device = "cpu"
) -> LoadedModel:
    """Load a trained model for inference.

    Args:
        method: a registered method name; None takes the method of ``weights`` (required then).
        weights: checkpoint file or training run folder; None for the shipped weights of ``method``.
        device: where the model goes.

    Returns:
        The model in eval mode, its training config, the checkpoint file, and the training step it holds.

    Raises:
        VokitError: unknown method, missing or corrupt weights, or weights of another method.
    """
    from vokit.engine.checkpoint import find_checkpoint, load_checkpoint, read_checkpoint

    if method is not None:
        registry.get_method(method)  # raises, naming the known methods
    if method is None and weights is None:
        raise VokitError("give a method or a weights file")
    path = find_checkpoint(resolve_weights(method or "", weights))
    model, config = load_checkpoint(path, device=device)
    if method is not None and config.model.method != method:
        raise VokitError(f"these weights are a {config.model.method} model, not {method} (drop --method or pass "
                         f"--method {config.model.method})", path)
    step = int(read_checkpoint(path).get("step", 0))
    return LoadedModel(model=model, config=config, weights=path, step=step)


def _check_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise VokitError(f"unknown device {str(device)!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VokitError(f"device {str(device)!r} requested but CUDA is not available here; use --device cpu")
    return dev


def _synthetic_source(spec: str, n_frames: int) -> FrameSequence:
    """``synthetic[:scene[:seed]]``: a sequence of the synthetic world (default: the first test-split street)."""
    from vokit.data.synthetic import SyntheticWorld, split_seed

    parts = spec.split(":")
    scene = parts[1] if len(parts) > 1 and parts[1] else "street"
    try:
        seed = int(parts[2]) if len(parts) > 2 else split_seed("test", 0)
    except ValueError:
        raise VokitError(f"synthetic source {spec!r}: the seed must be an integer (synthetic:SCENE:SEED)") from None
    height, width = (128, 416) if scene == "street" else (240, 320)
    return SyntheticWorld(scene, n_frames, seed, height, width, memory_cache=min(n_frames, 64)).as_sequence()


def open_source(
    source: str | Path | FrameSequence,
    format: str | None = None,
    calib: str | Path | Sequence[float] | None = None,
    synthetic_frames: int = 100,
    calib_override: bool = False,
) -> tuple[FrameSequence, str]:
    """Open what ``vokit run`` was pointed at.

    Args:
        source: an image folder, a video, a dataset sequence folder (any `vokit.data.readers` layout),
            ``synthetic[:scene[:seed]]`` for the synthetic world, or a `Sequence`.
        format: the reader name (``kitti-odom``, ``tum``, ``images``, ``video``, ...); detected when None.
        calib: ``fx fy cx cy [k1 k2 p1 p2]`` (numbers or one string) or a calibration file: required for image
            folders and videos without a ``calib.txt``; replaces the intrinsics of TUM-format, 7-Scenes and
            TartanAir sequences; refused for KITTI and EuRoC, whose calibration files are authoritative, unless
            ``calib_override`` (`vokit.data.readers.registry.OWN_CALIBRATION`); refused for the synthetic world.
        synthetic_frames: frames to render for a synthetic source.
        calib_override: let ``calib`` replace an authoritative calibration file.

    Returns:
        The sequence and its format name.

    Raises:
        VokitError: missing calibration for images or video, a refused calibration, or anything the reader rejects
            (which names the file).
    """
    from vokit.data.readers import detect_format, open_sequence

    if isinstance(source, FrameSequence):
        if calib is not None:
            raise VokitError("give the calibration when building the Sequence, not as --calib")
        return source, format or "sequence"
    text = str(source)
    if format == "synthetic" or text == "synthetic" or text.startswith("synthetic:"):
        if calib is not None:
            raise VokitError("--calib does not apply to the synthetic world: its calibration is exact")
        spec = text if text.startswith("synthetic") else f"synthetic:{text}"
        return _synthetic_source(spec, synthetic_frames), "synthetic"
    path = Path(source)
    fmt = format or detect_format(path)
    if fmt in ("images", "video"):
        folder = path if fmt == "images" else path.parent
        if calib is None and not (folder / "calib.txt").is_file():
            raise VokitError(
                f"no camera calibration for this {'image folder' if fmt == 'images' else 'video'}: pass --calib "
                "fx fy cx cy [k1 k2 p1 p2] (pixels of these images) or --calib FILE, or put a calib.txt with those "
                f"numbers in {folder}",
                path,
            )
    given = None if calib is None else calib if isinstance(calib, (str, Path)) else [float(x) for x in calib]
    return open_sequence(path, fmt, calib=given, calib_override=calib_override), fmt


def select_frames(sequence: FrameSequence, stride: int = 1, max_frames: int | None = None) -> FrameSequence:
    """Every ``stride``-th frame, at most ``max_frames`` of them (ground-truth flow is dropped when stride > 1)."""
    if stride < 1:
        raise VokitError(f"--stride must be >= 1, got {stride}")
    if max_frames is not None and max_frames < 2:
        raise VokitError(f"--max-frames must be >= 2 (poses need frame pairs), got {max_frames}")
    if stride == 1 and (max_frames is None or max_frames >= len(sequence)):
        selected = sequence
    else:
        stop = None if max_frames is None else max_frames * stride
        selected = sequence.subsequence(0, stop, stride)
    if len(selected) < 2:
        raise VokitError(f"sequence {sequence.name!r} has {len(selected)} frame(s) after --stride {stride}; "
                         "a run needs at least 2", sequence.source)
    return selected


# ----------------------------------------------------------------------------------------------------------------
# The main job
# ----------------------------------------------------------------------------------------------------------------


def _execute(job: RunJob, baselines: Sequence[RunResult] = ()) -> RunResult:
    """Inference, frame outputs and evaluation in one pass, then trajectory files, plots and report."""
    from vokit.data.writers import write_kitti_trajectory, write_tum_trajectory
    from vokit.engine.config_io import config_to_dict, git_sha

    sequence, out, loaded = job.sequence, job.out, job.loaded
    method = registry.get_method(loaded.method)
    start = time.perf_counter()
    n = len(sequence)
    writer = FrameWriter(out, n, job.progress)
    dense = job.adapt is None  # online adaptation predicts depth and poses only
    evaluator = EvaluationAccumulator(sequence, dense and "flow" in method.outputs,
                                      dense and "motion_mask" in method.outputs, job.depth_crop)
    adapted = None

    # Frame files are encoded on worker threads (PNG encoding and numpy release the GIL) and the evaluation is
    # accumulated on one more, in order, while the networks run; at most `backlog` frames wait.
    workers = max(1, min(4, os.cpu_count() or 1))
    backlog = 2 * job.batch_size + 2 * workers
    waiting: deque[Future[None]] = deque()
    exports = RunExports(job.exports, sequence) if job.exports.any else None  # fails here, before any work
    with ThreadPoolExecutor(workers, thread_name_prefix="vokit-write") as write_pool, \
            ThreadPoolExecutor(1, thread_name_prefix="vokit-eval") as eval_pool:

        def on_frame(frame: FrameResult) -> None:
            _check_finite_frame(frame, loaded.weights)
            waiting.append(write_pool.submit(writer.add, frame))
            waiting.append(eval_pool.submit(evaluator.add, frame))
            if exports is not None:
                exports.on_frame(frame)
            while len(waiting) > 2 * backlog:
                waiting.popleft().result()

        try:
            if job.adapt is None:
                prediction = method.infer(loaded.model, sequence, device=job.device, batch_size=job.batch_size,
                                          show_progress=job.progress, on_frame=on_frame)
            else:
                adapted = run_adapted(loaded.model, sequence, job.adapt, job.device, job.progress, on_frame,
                                      job.alignment)
                prediction = adapted.online.prediction
        except BaseException:
            if exports is not None:
                exports.close()
            raise
        finally:
            while waiting:
                waiting.popleft().result()
            writer.close()
    if not bool(torch.isfinite(prediction.world_from_cam).all()):
        bad = int((~torch.isfinite(prediction.world_from_cam).all(-1)).nonzero()[0, 0])
        raise VokitError(f"the model predicted a non-finite pose at frame {bad} of the run; these weights are "
                         "unusable on this sequence (nothing after the frame files was written)", loaded.weights)
    write_tum_trajectory(out / "trajectory_tum.txt", prediction.timestamps, prediction.world_from_cam)
    write_kitti_trajectory(out / "trajectory_kitti.txt", prediction.world_from_cam)
    if prediction.points_world is not None:  # sparse methods (patchvo): their 3-D points, world frame
        from vokit.data.writers import write_ply

        write_ply(out / "points.ply", prediction.points_world, prediction.point_colors)
    evaluation = evaluator.finish(prediction)
    if exports is not None:
        trajectory = None if evaluation is None else evaluation.trajectory
        exports.finish(prediction, None if trajectory is None else trajectory.ate.alignment.ref_from_est)
    metrics = None
    if evaluation is not None:
        metrics = {"sequence": sequence.name, "method": method.name, "n_frames": int(prediction.indices.shape[0]),
                   **evaluation.as_json()}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    figures = write_plots(out, sequence, prediction, evaluation, method.name, writer.panel_images)
    n_frames = int(prediction.indices.shape[0])
    src = job.source
    info: dict[str, Any] = {
        "source": src.source, "format": src.format, "calib": src.calib, "calibration": src.calibration,
        "stride": src.stride,
        "max_frames": src.max_frames, "command": src.command,
        "method": method.name,
        "weights": str(loaded.weights),
        "weights_step": loaded.step,
        "device": str(job.device),
        "batch_size": job.batch_size,
        "sequence": {"name": sequence.name, "frames": n_frames, "image_size": list(sequence.image_size),
                     "ground_truth": {"poses": sequence.has_poses, "depth": sequence.has_depth,
                                      "flow": sequence.has_flow, "motion_mask": sequence.has_motion_mask}},
        "training_input_size": [loaded.config.data.height, loaded.config.data.width],
        "network_input_size": list(prediction.network_input_size),
        "depth_png": {"units_per_unit": DEPTH_PNG_UNITS, "pixels_beyond_range_written_as_0": writer.too_far,
                      "meaning": "depth = value / 256 in the model's training-scale units; 0 = invalid"},
        "frames_per_second": round(prediction.frames_per_second, 3),
        "seconds_per_frame": round(1.0 / max(prediction.frames_per_second, 1e-9), 5),
        "vokit_version": vokit.__version__,
        "git_sha": git_sha(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    rows: dict[str, dict[str, float | str]] = {method.name: summary_row(metrics, prediction.frames_per_second)}
    for base in baselines:
        rows[f"{base.method} (baseline)"] = summary_row(base.metrics, base.frames_per_second)
    height, width = sequence.image_size
    net_h, net_w = prediction.network_input_size
    summary = [
        f"Sequence {sequence.name}: {n_frames} frames from {src.source} (format {src.format}), {width}x{height} px; "
        f"calibration from {src.calibration or 'the caller'}.",
        f"Model {method.name} from {loaded.weights.name} (step {loaded.step}), trained at "
        f"{loaded.config.data.width}x{loaded.config.data.height} px; network input {net_w}x{net_h} px (same pixel "
        f"budget, the images' aspect, padded to the stride); {prediction.frames_per_second:.2f} frames/s inference "
        f"on {job.device}.",
        "Trajectory and depth are in the model's training-scale units (monocular: scale unknown); depth PNGs "
        f"store value = depth x {DEPTH_PNG_UNITS:g}.",
    ]
    if adapted is not None:
        info["adaptation"] = adapted.online.summary()
        if job.alignment is not None:
            info["adaptation"]["feature_alignment"] = alignment_summary(job.alignment)
        summary.append(adaptation_line(info["adaptation"]))
        if job.save_adapted:
            info["adapted_weights"] = str(save_adapted(adapted.model, loaded.config, loaded.step, out,
                                                       job.alignment))
    if not metrics:
        summary.append("No ground truth: nothing to evaluate.")
    elif evaluation is not None:
        summary += evaluation.verdicts
    write_run_report(out, f"vokit run: {method.name} on {sequence.name}", rows, metrics, figures, summary, info)
    elapsed = time.perf_counter() - start
    info["total_seconds"] = round(elapsed, 2)
    info["end_to_end_frames_per_second"] = round(n_frames / max(elapsed, 1e-9), 3)
    info["model_config"] = config_to_dict(loaded.config)
    (out / "config.yaml").write_text(yaml.safe_dump(json_ready(info), sort_keys=False), encoding="utf-8")
    return RunResult(out=out, method=method.name, sequence_name=sequence.name, n_frames=n_frames,
                     frames_per_second=prediction.frames_per_second,
                     end_to_end_frames_per_second=n_frames / max(elapsed, 1e-9), weights=loaded.weights,
                     metrics=metrics, report=out / "report.html", prediction=prediction, baselines=tuple(baselines))


def _check_finite_frame(frame: FrameResult, weights: Path) -> None:
    """Stop the run (exit 2) on a non-finite prediction, naming the frame and the checkpoint."""
    for what, value in (("depth", frame.depth), ("flow", frame.flow_to_next), ("motion mask", frame.motion_mask)):
        if value is not None and not bool(torch.isfinite(value).all()):
            raise VokitError(f"the model predicted non-finite {what} at frame {frame.position} of the run (sequence "
                             f"index {frame.index}); these weights are unusable on this sequence", weights)


def default_out_dir(method: str | None, name: str) -> Path:
    """``runs/run-<method>-<source name>-<UTC time>`` (``runs/run-<name>-<time>`` without a method), fresh per run."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "sequence"
    return Path("runs") / "-".join(["run", *([method] if method else []), safe, stamp])


def run_sequence(
    source: str | Path | FrameSequence,
    method: str | None = registry.DEFAULT_METHOD,
    out: str | Path | None = None,
    weights: str | Path | None = None,
    calib: str | Path | Sequence[float] | None = None,
    format: str | None = None,
    device: str | torch.device = "cpu",
    stride: int = 1,
    max_frames: int | None = None,
    batch_size: int = 8,
    overwrite: bool = False,
    progress: bool = True,
    calib_override: bool = False,
    rerun: str | Path | None = None,
    rerun_spawn: bool = False,
    colmap: str | Path | None = None,
    operator: str | None = None,
    adapt: AdaptSettings | None = None,
    save_adapted: bool = False,
    align: bool = False,
) -> RunResult:
    """``vokit run``: depth, trajectory (and flow, motion masks) of a sequence, written with a report.

    Args:
        source: an image folder, video file, dataset sequence folder (``kitti-odom``, ``kitti-raw``, ``tum``,
            ``euroc``, ``tartanair``, ``7scenes`` layouts, or one written by ``vokit synth``),
            ``synthetic[:scene[:seed]]``, or a `Sequence`.
        method: a registered method name (default :data:`vokit.methods.registry.DEFAULT_METHOD`); None takes the
            method of ``weights``.
        out: the run folder (default :func:`default_out_dir`); checked for writing before any work.
        weights: checkpoint file or training run folder (default: the shipped ``<method>-synthetic.pt``).
        calib: ``fx fy cx cy [k1 k2 p1 p2]`` in pixels or a calibration file (see :func:`open_source` for which
            sources take it).
        format: reader name; detected from the layout when None.
        device: ``cpu`` or ``cuda``.
        stride: use every ``stride``-th frame.
        max_frames: use at most this many frames (after the stride).
        batch_size: frames per network call.
        overwrite: replace an earlier run's outputs in ``out``.
        progress: show progress bars (frames/s).
        calib_override: let ``calib`` replace a KITTI or EuRoC calibration file.
        rerun: also write a rerun recording to this ``.rrd`` file (needs ``pip install 'vokit[viz]'``).
        rerun_spawn: also stream to a live rerun viewer (needs the extra and a display).
        colmap: also write a COLMAP text model (and the images as the run saw them) to this folder.
        operator: the update operator of a method that has one (patchvo: ``lk`` needs no weights, ``learned``
            does); None keeps the model's own.
        adapt: adapt a copy of the networks online while predicting (METHODS.md section 7.5; self-supervised
            depth + pose methods); the weights file is never written.
        save_adapted: with ``adapt``, write the adapted weights to ``out/adapted_weights.pt``.
        align: with ``adapt``, align the encoder features online to the source statistics stored in the
            checkpoint (METHODS.md section 7.4; ``vokit adapt-stats`` adds them).

    Returns:
        The :class:`RunResult`.

    Raises:
        VokitError: unwritable output folder, missing calibration, unreadable images (naming the file), missing or
            corrupt weights, or bad arguments.
    """
    if batch_size < 1:
        raise VokitError(f"--batch-size must be >= 1, got {batch_size}")
    if stride < 1 or (max_frames is not None and max_frames < 2):
        raise VokitError(f"--stride must be >= 1 and --max-frames >= 2, got {stride} and {max_frames}")
    dev = _check_device(device)
    if out is None:
        name = source.name if isinstance(source, FrameSequence) else Path(str(source)).name or "sequence"
        out = default_out_dir(method, name)
    if method is None and weights is None:
        raise VokitError("give --method or --weights")
    if align and adapt is None:
        raise VokitError("--align needs --adapt")
    with recording(prepare_output_dir(out, overwrite)) as folder:
        loaded = _weightless_model(method, weights, operator) or load_model(method, weights, dev)
        if operator is not None:
            chosen = registry.get_method(loaded.method)
            if operator not in chosen.operators:
                raise VokitError(f"--operator {operator}: {chosen.name} offers "
                                 f"{', '.join(chosen.operators) or 'no operator choice'}")
            chosen.set_operator(loaded.model, operator)
        synthetic_frames = 100 if max_frames is None else max_frames * stride
        sequence, fmt = open_source(source, format, calib, synthetic_frames=synthetic_frames,
                                    calib_override=calib_override)
        sequence = select_frames(sequence, stride, max_frames)
        run_source = RunSource(
            source=str(source.source or source.name) if isinstance(source, FrameSequence) else str(source),
            format=fmt,
            calib=None if calib is None else (str(calib) if isinstance(calib, (str, Path)) else list(calib)),
            calibration=sequence.calibration_source,
            stride=stride,
            max_frames=max_frames,
            command=" ".join(["vokit", *sys.argv[1:]]) if Path(sys.argv[0]).name == "vokit" else None,
        )
        crop = "garg" if fmt == "kitti-raw" else "none"
        exports = ExportOptions(rerun=None if rerun is None else Path(rerun), rerun_spawn=rerun_spawn,
                                colmap=None if colmap is None else Path(colmap))
        if adapt is not None:
            check_adaptable(loaded.method, loaded.model)
        alignment = load_alignment(loaded.weights, loaded.model) if align else None
        return _execute(RunJob(sequence=sequence, source=run_source, loaded=loaded, out=folder.path, device=dev,
                               batch_size=batch_size, progress=progress, depth_crop=crop, exports=exports,
                               adapt=adapt, save_adapted=save_adapted, alignment=alignment))

def demo(
    out: str | Path = "runs/demo",
    frames: int = DEMO_FRAMES,
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    baseline_weights: str | Path | None = None,
    seed_index: int = 0,
    batch_size: int = 8,
    progress: bool = True,
) -> RunResult:
    """``vokit demo``: a synthetic street with moving cars, the shipped :data:`DEMO_METHOD` (and baseline), evaluated.

    The street is sequence ``seed_index`` of the synthetic world's test split (seeds no training run uses),
    rendered at the model's training resolution. :data:`DEMO_METHOD` writes the run folder ``out``; the
    :data:`DEMO_BASELINE` baseline, when its weights exist (``baseline_weights`` or the shipped file), runs on the
    same frames into ``out/`` :data:`BASELINE_DIR` and joins the summary table of ``out/report.html``. Earlier demo
    outputs in ``out`` are replaced.

    Args:
        out: the run folder.
        frames: frames to render (>= 3).
        device: ``cpu`` or ``cuda``.
        weights: :data:`DEMO_METHOD` checkpoint (default: its shipped ``<method>-synthetic.pt``).
        baseline_weights: baseline checkpoint (default: the shipped file when present, else no baseline).
        seed_index: which test-split street.
        batch_size: frames per network call.
        progress: show progress bars.

    Returns:
        The :data:`DEMO_METHOD` run, with the baseline run in ``baselines``.

    Raises:
        VokitError: missing or corrupt weights, an unwritable folder, or bad arguments.
    """
    from vokit.data.synthetic import SyntheticWorld, split_seed

    if frames < 3:
        raise VokitError(f"--frames must be >= 3, got {frames}")
    dev = _check_device(device)
    with recording(prepare_output_dir(out, overwrite=True)) as folder:
        loaded = load_model(DEMO_METHOD, weights, dev)
        baseline = None
        if baseline_weights is not None or shipped_weights_path(DEMO_BASELINE).is_file():
            baseline = load_model(DEMO_BASELINE, baseline_weights, dev)
        seed = split_seed("test", seed_index)
        height, width = loaded.config.data.height, loaded.config.data.width
        world = SyntheticWorld("street", frames, seed, height, width, memory_cache=frames)
        sequence = world.as_sequence()
        run_source = RunSource(source=f"synthetic street, test split sequence {seed_index} (seed {seed})",
                               format="synthetic", calibration=sequence.calibration_source, stride=1,
                               max_frames=frames, command="vokit demo")
        baselines: list[RunResult] = []
        if baseline is not None:
            with recording(prepare_output_dir(folder.path / BASELINE_DIR, overwrite=True)) as base:
                baselines.append(_execute(RunJob(sequence=sequence, source=run_source, loaded=baseline,
                                                 out=base.path, device=dev, batch_size=batch_size,
                                                 progress=progress)))
        return _execute(RunJob(sequence=sequence, source=run_source, loaded=loaded, out=folder.path, device=dev,
                               batch_size=batch_size, progress=progress), baselines=baselines)
