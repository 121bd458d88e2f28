"""``vokit run --adapt``: the run's predictions come from online adaptation (METHODS.md section 7.5).

The loaded model is copied before it adapts, so the weights it was loaded from, in memory and on disk, never change;
the adapted copy can be written into the run folder (:data:`ADAPTED_WEIGHTS`) as a checkpoint that ``vokit run
--weights`` reads. The per-frame times, the settings and the window loss per frame go into ``config.yaml`` and the
report (:meth:`vokit.methods.online.OnlineRun.summary`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vokit.adapt.online import AdaptSettings
from vokit.data.sequence import Sequence as FrameSequence
from vokit.engine.checkpoint import atomic_torch_save, make_checkpoint
from vokit.engine.configs import ExperimentConfig
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
                progress: bool, on_frame: Callable[[FrameResult], None] | None) -> AdaptedRun:
    """Adapt a copy of ``model`` while predicting ``sequence`` (see :func:`vokit.methods.online.infer_online`)."""
    adapted = adapt_copy(model)
    online = infer_online(adapted, sequence, settings, device=device, show_progress=progress, on_frame=on_frame)
    return AdaptedRun(online, adapted.eval())


def save_adapted(model: nn.Module, config: ExperimentConfig, step: int, out: Path) -> Path:
    """Write the adapted model as a slim checkpoint (weights + the training config) to ``out / ADAPTED_WEIGHTS``."""
    state = make_checkpoint(config, step, model.cpu())
    return atomic_torch_save({k: state[k] for k in ("format", "step", "config", "meta", "model")},
                             out / ADAPTED_WEIGHTS)


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
            f"{summary['adapt_seconds_per_frame'] * 1000:.0f} ms adapting). The weights file was not changed.")
