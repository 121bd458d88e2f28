"""``vokit run --adapt``: the run's predictions come from online adaptation (METHODS.md section 7.5).

The loaded model is copied before it adapts, so the weights it was loaded from, in memory and on disk, never change;
the adapted copy can be written into the run folder (:data:`ADAPTED_WEIGHTS`) as a checkpoint that ``vokit run
--weights`` reads. The per-frame times, the settings and the window loss per frame go into ``config.yaml`` and the
report (:meth:`vokit.methods.online.OnlineRun.summary`).

With ``--align`` (:func:`load_alignment`) the copy also aligns its encoder features online to the source statistics
stored in the checkpoint (``vokit adapt-stats``, `vokit.engine.source_statistics`), fresh target statistics per run.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vokit.adapt.alignment import FeatureAlignment
from vokit.adapt.online import AdaptSettings
from vokit.data.sequence import Sequence as FrameSequence
from vokit.engine.checkpoint import atomic_torch_save, make_checkpoint, read_checkpoint
from vokit.engine.configs import ExperimentConfig
from vokit.engine.source_statistics import SOURCE_STATISTICS_KEY, SourceStatistics, read_source_statistics
from vokit.errors import VokitError
from vokit.methods.inference import FrameResult
from vokit.methods.online import OnlineRun, adapt_copy, infer_online

ADAPTED_WEIGHTS = "adapted_weights.pt"
"""File name of the adapted model in a run folder (``--save-adapted``)."""


@dataclass(frozen=True)
class AdaptedRun:
    """An online run and the adapted model copy it leaves."""

    online: OnlineRun
    model: nn.Module


def run_adapted(model: nn.Module, sequence: FrameSequence, settings: AdaptSettings, device: torch.device,
                progress: bool, on_frame: Callable[[FrameResult], None] | None,
                alignment: SourceStatistics | None = None) -> AdaptedRun:
    """Adapt a copy of ``model`` while predicting ``sequence`` (see :func:`vokit.methods.online.infer_online`).

    ``alignment``: source statistics to align the copy's features to (None: no feature alignment); the hooks are
    removed from the copy afterwards.
    """
    adapted = adapt_copy(model)
    aligner = None if alignment is None else FeatureAlignment(alignment.layers)
    online = infer_online(adapted, sequence, settings, device=device, show_progress=progress, on_frame=on_frame,
                          alignment=aligner)
    if aligner is not None:
        aligner.detach()
    return AdaptedRun(online, adapted.eval())


def save_adapted(model: nn.Module, config: ExperimentConfig, step: int, out: Path,
                 alignment: SourceStatistics | None = None) -> Path:
    """Write the adapted model as a slim checkpoint (weights + the training config) to ``out / ADAPTED_WEIGHTS``.

    With ``alignment`` (the run aligned its features) the source statistics go with it, so ``--align`` works on it.
    """
    state = make_checkpoint(config, step, model.cpu())
    slim = {k: state[k] for k in ("format", "step", "config", "meta", "model")}
    if alignment is not None:
        slim[SOURCE_STATISTICS_KEY] = alignment.to_state()
    return atomic_torch_save(slim, out / ADAPTED_WEIGHTS)


def load_alignment(weights: Path, model: nn.Module) -> SourceStatistics:
    """The source statistics stored in the checkpoint ``weights`` of ``model``, for ``--align``.

    Raises:
        VokitError: naming the file: it stores none (older checkpoints; says how to add them), or they name layers
            the model lacks or have another channel count.
    """
    stats = read_source_statistics(read_checkpoint(weights, check_finite=False), weights)
    if stats is None:
        raise VokitError(f"--align: this checkpoint stores no source feature statistics; write a copy with them "
                         f"(`vokit adapt-stats {weights} --out NEW.pt`) and run with --weights NEW.pt", weights)
    for name, layer in stats.layers.items():
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise VokitError(f"--align: the stored source statistics name layer {name!r}, which this model lacks",
                             weights) from None
        norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
        if norms and norms[-1].num_features != layer.mean.shape[0]:
            raise VokitError(f"--align: the stored source statistics of {name!r} have {layer.mean.shape[0]} "
                             f"channels, the model's layer {norms[-1].num_features}", weights)
    return stats


def check_adaptable(method: str, model: nn.Module) -> None:
    """Refuse ``--adapt`` for a model without the self-supervised depth and pose networks it needs.

    Raises:
        VokitError: naming the method.
    """
    if not all(hasattr(model, name) for name in ("depth_net", "pose_net", "min_depth", "max_depth", "input_size")):
        raise VokitError(f"--adapt needs a self-supervised depth + pose model (monodepth2, coopnet, online-meta); "
                         f"{method} has none")


def adaptation_line(summary: dict[str, Any]) -> str:
    """One report line: how the run adapted and what a frame cost."""
    return (f"Online adaptation: {summary['steps']} {summary['optimizer']} step(s) at lr {summary['lr']:g} on "
            f"windows of {summary['window']} frames, every {summary['every']} frame(s) ({summary['adapted_frames']} "
            f"of {summary['frames']} frames); {summary['seconds_per_frame'] * 1000:.0f} ms per frame "
            f"({summary['predict_seconds_per_frame'] * 1000:.0f} ms predicting, "
            f"{summary['adapt_seconds_per_frame'] * 1000:.0f} ms adapting){_alignment_words(summary)}. The weights "
            "file was not changed.")


def alignment_summary(stats: SourceStatistics) -> dict[str, Any]:
    """JSON-ready description of the feature alignment of a run (for ``config.yaml``)."""
    return {"layers": list(stats.layers), "source_clips": stats.clips, "source_clip_frames": stats.clip_frames,
            "source_data": stats.data}


def _alignment_words(summary: dict[str, Any]) -> str:
    aligned = summary.get("feature_alignment")
    if not aligned:
        return ""
    return (f", with online feature alignment of {len(aligned['layers'])} layers to statistics of "
            f"{aligned['source_clips']} {aligned['source_data']} clips")
