"""A sequence through :class:`~vokit.adapt.online.OnlineAdapter`: predictions while the networks adapt (section 7.5).

Frames are prepared as :func:`~vokit.methods.inference.run_inference` prepares them (the training pixel budget at
the frames' aspect, padded to the stride) and go through the adapter one at a time; depth is resized back to the
sequence's image size and the frame-to-frame poses are chained into ``world_from_cam``. Any self-supervised depth +
pose model works (Monodepth2, CoopNet, the online-meta model); only depth and poses are produced (a CoopNet flow
network is not run). The model is adapted in place: pass a copy to keep the original (:func:`adapt_copy`).
"""

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vokit.adapt.alignment import FeatureAlignment
from vokit.adapt.online import AdaptSettings, OnlineAdapter
from vokit.data.sequence import Sequence as FrameSequence
from vokit.errors import VokitError
from vokit.geometry import camera
from vokit.methods.inference import (
    FrameResult,
    SequencePrediction,
    chain_poses,
    network_geometry,
    resize_depth,
    to_network,
)


@dataclass(frozen=True)
class OnlineRun:
    """The predictions of an online run and what adaptation cost.

    Attributes:
        prediction: depth and trajectory, as :meth:`Method.infer` returns them (no flow, no motion masks).
        window_loss: per frame, the window loss before its adaptation steps (None where none were taken).
        predict_seconds: total wall time of the predictions.
        adapt_seconds: total wall time of the adaptation steps.
        settings: how it adapted.
    """

    prediction: SequencePrediction
    window_loss: list[float | None]
    predict_seconds: float
    adapt_seconds: float
    settings: AdaptSettings

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers for a run's ``config.yaml`` / report: settings, per-frame times, losses."""
        n = len(self.window_loss)
        losses = [x for x in self.window_loss if x is not None]
        s = self.settings
        return {
            "steps": s.steps, "lr": s.lr, "optimizer": s.optimizer, "window": s.window, "every": s.every,
            "frames": n, "adapted_frames": len(losses),
            "predict_seconds_per_frame": round(self.predict_seconds / max(n, 1), 5),
            "adapt_seconds_per_frame": round(self.adapt_seconds / max(n, 1), 5),
            "seconds_per_frame": round((self.predict_seconds + self.adapt_seconds) / max(n, 1), 5),
            "window_loss_first": None if not losses else round(losses[0], 6),
            "window_loss_last": None if not losses else round(losses[-1], 6),
            "window_loss": [None if x is None else round(x, 6) for x in self.window_loss],
        }


def adapt_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` to adapt (the loaded weights, and any file they came from, stay untouched)."""
    return copy.deepcopy(model)


def infer_online(
    model: nn.Module,
    sequence: FrameSequence,
    settings: AdaptSettings,
    device: torch.device | str = "cpu",
    frames: Sequence[int] | None = None,
    show_progress: bool = True,
    on_frame: Callable[[FrameResult], None] | None = None,
    alignment: FeatureAlignment | None = None,
    stride: int = 32,
) -> OnlineRun:
    """Predict every frame, adapting after each (see the module docstring).

    Args:
        model: a depth + pose model with ``input_size`` (changed in place).
        sequence: the frames (only images are decoded).
        settings: :class:`AdaptSettings` (``steps = 0``: no adaptation, memories still carry).
        device: where to run.
        frames: optional subset of frame indices, in order (default: all).
        show_progress: show a progress bar.
        on_frame: called with each finished frame (its time is not counted).
        alignment: online feature alignment (None: off).
        stride: the networks' input stride.

    Returns:
        :class:`OnlineRun`.
    """
    from tqdm.auto import tqdm

    idx = list(range(len(sequence))) if frames is None else [int(i) for i in frames]
    if not idx:
        raise VokitError(f"no frames to run on in sequence {sequence.name!r}", sequence.source)
    device = torch.device(device)
    model = model.to(device)
    adapter = OnlineAdapter(model, settings, alignment)
    size = sequence.image_size
    geometry = network_geometry(size, tuple(model.input_size), stride)  # type: ignore[arg-type]
    h_r, w_r = geometry.resized_size
    n = len(idx)
    depth_out = torch.empty(n, *size)
    rel = torch.empty(max(n - 1, 0), 7, dtype=torch.float64)
    losses: list[float | None] = []
    predict_s = adapt_s = callback_s = 0.0
    start = time.perf_counter()
    bar = tqdm(total=n, unit="frame", desc=f"{sequence.name} (adapting)", disable=not show_progress,
               dynamic_ncols=True)
    for k, i in enumerate(idx):
        raw = sequence.image(i)
        image = to_network(raw[None].to(device), geometry)[0]
        intr = camera.scale_intrinsics(sequence.intrinsics[i].to(device).float(), *geometry.scale_xy)
        step = adapter.step(image, intr)
        depth_out[k] = resize_depth(step.depth[None, :h_r, :w_r].float(), size)[0].cpu()
        if step.cam_from_prev is not None:
            rel[k - 1] = step.cam_from_prev.double().cpu()
        losses.append(step.window_loss)
        predict_s += step.predict_seconds
        adapt_s += step.adapt_seconds
        if on_frame is not None:
            tick = time.perf_counter()
            on_frame(FrameResult(position=k, index=i, image=raw, depth=depth_out[k], flow_to_next=None,
                                 motion_mask=None))
            callback_s += time.perf_counter() - tick
        bar.update(1)
    bar.close()
    elapsed = max(time.perf_counter() - start - callback_s, 1e-9)
    prediction = SequencePrediction(
        indices=torch.tensor(idx, dtype=torch.long),
        timestamps=sequence.timestamps[torch.tensor(idx, dtype=torch.long)].clone(),
        depth=depth_out, cam_next_from_cam=rel, world_from_cam=chain_poses(rel), flow=None, motion_mask=None,
        frames_per_second=n / elapsed, network_input_size=geometry.input_size,
    )
    return OnlineRun(prediction, losses, predict_s, adapt_s, settings)
