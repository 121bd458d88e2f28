"""Source feature statistics of a trained depth + pose model, stored in its checkpoint (METHODS.md section 7.4).

Online feature alignment (:class:`vokit.adapt.alignment.FeatureAlignment`) pulls the running statistics of the
encoder layers on a new sequence onto those of the training data. :func:`compute_source_statistics` records them:
per chosen layer (default :data:`~vokit.adapt.alignment.DEFAULT_LAYERS`), per-channel mean and variance over all
pixels of ``n_clips`` training clips of the checkpoint's own data config (the synthetic world of its preset), taken
at evenly spaced clip windows, without flips or colour jitter. The depth network sees every frame but the last of a
clip, the pose network every consecutive pair (as it sees them while running).

:func:`write_with_source_statistics` (``vokit adapt-stats``) writes a copy of a checkpoint with them under the key
:data:`SOURCE_STATISTICS_KEY`, never over its input. The key is optional: checkpoints without it load as before and
mean "no alignment available" (:func:`read_source_statistics` returns None); :func:`load_checkpoint` ignores it.
"""

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vokit.adapt.alignment import DEFAULT_LAYERS, LayerStats, source_statistics
from vokit.engine.checkpoint import atomic_torch_save, find_checkpoint, load_checkpoint, read_checkpoint
from vokit.engine.configs import DataConfig
from vokit.engine.data import ClipDataset, ClipSpec, TrainingData, build_training_data
from vokit.errors import VokitError

SOURCE_STATISTICS_KEY = "source_statistics"
"""Checkpoint key of the stored statistics (absent: no alignment available)."""

CLIPS_PER_BATCH = 8
"""Training clips per network call while recording."""


@dataclass(frozen=True)
class SourceStatistics:
    """Per-layer source statistics and where they came from.

    Attributes:
        layers: module path (e.g. ``depth_net.encoder.layer1``) -> per-channel mean and variance.
        clips: training clips recorded.
        clip_frames: frames per clip.
        data: the training data they describe, in words (``synthetic:street``, ``kitti-raw``).
    """

    layers: dict[str, LayerStats]
    clips: int
    clip_frames: int
    data: str

    def to_state(self) -> dict[str, Any]:
        """The checkpoint entry: tensors and primitives only (loadable with ``weights_only=True``)."""
        return {
            "layers": {name: {"mean": s.mean.detach().cpu().float(), "var": s.var.detach().cpu().float()}
                       for name, s in self.layers.items()},
            "clips": self.clips, "clip_frames": self.clip_frames, "data": self.data,
        }


def describe_data(data: DataConfig) -> str:
    """The training data of a config in words: ``synthetic:<scene or mix>[:<domain>]`` or the dataset source."""
    if data.source != "synthetic":
        return data.source
    scenes = "+".join(data.scenes) if data.scenes else data.scene
    return f"synthetic:{scenes}" + (f":{data.domain}" if data.domain else "")


def training_pairs(training: TrainingData, data: DataConfig, windows: Sequence[int],
                   clips_per_batch: int = CLIPS_PER_BATCH) -> Iterator[tuple[Tensor, Tensor]]:
    """``(images, next_images)`` batches of the training clips at ``windows``.

    Args:
        training: the training sequences and their clip windows (`vokit.engine.data.build_training_data`).
        data: the data section they came from (image size, clip layout).
        windows: indices into ``training.windows``, one clip each.
        clips_per_batch: clips per yielded batch.

    Yields:
        ``(B, 3, H, W)`` frames ``0 .. N-2`` of each clip and ``(B, 3, H, W)`` frames ``1 .. N-1``, RGB in [0, 1]
        at the training size, no augmentation.
    """
    dataset = ClipDataset(training, replace(data, color_jitter_prob=0.0, cache_frames=False))
    for lo in range(0, len(windows), clips_per_batch):
        clips = [dataset[ClipSpec(int(w), hflip=False, jitter_seed=0)][0].images
                 for w in windows[lo:lo + clips_per_batch]]
        yield torch.cat([c[:-1] for c in clips]), torch.cat([c[1:] for c in clips])


def evenly_spaced(n_windows: int, n_clips: int) -> list[int]:
    """``min(n_clips, n_windows)`` distinct window indices spread evenly over ``0 .. n_windows - 1``."""
    if n_clips < 1 or n_windows < 1:
        raise VokitError(f"need at least one clip and one training window, got {n_clips} and {n_windows}")
    return [int(i) for i in np.unique(np.linspace(0, n_windows - 1, min(n_clips, n_windows)).round())]


def compute_source_statistics(model: nn.Module, data: DataConfig, n_clips: int,
                              layers: Sequence[str] = DEFAULT_LAYERS, device: str | torch.device = "cpu"
                              ) -> SourceStatistics:
    """Record the source statistics of ``model`` over ``n_clips`` clips of its training data (module docstring).

    Args:
        model: a depth + pose model (``depth_net``, ``pose_net``), in evaluation mode.
        data: its training config's data section.
        n_clips: training clips to record.
        layers: module paths to record.
        device: where the networks run.

    Returns:
        :class:`SourceStatistics`.
    """
    device = torch.device(device)
    model = model.to(device).eval()
    training = build_training_data(data)
    windows = evenly_spaced(len(training.windows), n_clips)
    batches = ((a.to(device), b.to(device)) for a, b in training_pairs(training, data, windows))
    stats = source_statistics(model, batches, layers)
    return SourceStatistics(stats, clips=len(windows), clip_frames=data.clip_frames, data=describe_data(data))


def read_source_statistics(state: Mapping[str, Any], path: str | Path | None = None) -> SourceStatistics | None:
    """The statistics stored in a checkpoint dict, or None when it has none (an older checkpoint).

    Raises:
        VokitError: a malformed entry (naming ``path``): not per-layer 1-D mean and variance of equal length,
            non-finite values or negative variances.
    """
    entry = state.get(SOURCE_STATISTICS_KEY)
    if entry is None:
        return None
    bad = f"malformed {SOURCE_STATISTICS_KEY!r} entry in this checkpoint"
    layers = entry.get("layers") if isinstance(entry, Mapping) else None
    if not isinstance(layers, Mapping) or not layers:
        raise VokitError(f"{bad}: no per-layer statistics", path)
    parsed = {}
    for name, value in layers.items():
        mean = value.get("mean") if isinstance(value, Mapping) else None
        var = value.get("var") if isinstance(value, Mapping) else None
        if not (isinstance(mean, Tensor) and isinstance(var, Tensor) and mean.ndim == 1 and mean.shape == var.shape
                and mean.is_floating_point() and var.is_floating_point()):
            raise VokitError(f"{bad}: layer {name!r} needs 1-D 'mean' and 'var' tensors of equal length", path)
        if not (bool(torch.isfinite(mean).all()) and bool(torch.isfinite(var).all()) and bool((var >= 0).all())):
            raise VokitError(f"{bad}: layer {name!r} has non-finite values or negative variances", path)
        parsed[str(name)] = LayerStats(mean.float(), var.float())
    return SourceStatistics(parsed, clips=int(entry.get("clips", 0)), clip_frames=int(entry.get("clip_frames", 0)),
                            data=str(entry.get("data", "unknown")))


def write_with_source_statistics(checkpoint: str | Path, out: str | Path, n_clips: int, force: bool = False,
                                 device: str | torch.device = "cpu") -> SourceStatistics:
    """Copy a checkpoint to ``out`` with its source statistics added (``vokit adapt-stats``).

    Every entry of the input is kept (weights, config, training state); an existing statistics entry is replaced
    in the copy. The input file is only read.

    Args:
        checkpoint: a checkpoint file or run folder (its latest checkpoint).
        out: the new checkpoint file.
        n_clips: training clips to record.
        force: replace an existing ``out`` (never the input itself).
        device: where the networks run.

    Returns:
        The recorded :class:`SourceStatistics`.

    Raises:
        VokitError: ``out`` is the input, or exists without ``force``; the model has no depth and pose networks.
    """
    file = find_checkpoint(checkpoint)
    out = Path(out)
    if out.exists() and os.path.samefile(out, file):
        raise VokitError("refusing to write over the input checkpoint; pick another --out", out)
    if out.is_dir():
        raise VokitError("output is a folder; give a file name", out)
    if out.exists() and not force:
        raise VokitError("output file exists; pass --force to replace it", out)
    state = read_checkpoint(file)
    model, config = load_checkpoint(file, device=device)
    if not all(hasattr(model, name) for name in ("depth_net", "pose_net")):
        raise VokitError(f"feature alignment needs a self-supervised depth + pose model (monodepth2, coopnet, "
                         f"online-meta); this is a {config.model.method} model", file)
    stats = compute_source_statistics(model, config.data, n_clips, device=device)
    atomic_torch_save({**state, SOURCE_STATISTICS_KEY: stats.to_state()}, out)
    return stats
