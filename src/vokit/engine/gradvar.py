"""Gradient signal-to-noise of checkpoints on held-out synthetic clips (METHODS.md sections 5.4 and 9.6).

For each checkpoint: render ``n_clips`` clips from the synthetic world's **validation** split (scene and image size
of the checkpoint's training data unless overridden), compute for every clip the method's flow loss alone, in the
``weighted`` and the ``unweighted`` arm, with the same patch draws and initial depths in both arms, and collect
per-sample gradients of the heads that feed the differentiable-optimiser layer
(:class:`vokit.methods.interface.GradientProbe`); then the SNR per head and arm
(:func:`vokit.metrics.gradient_snr.gradient_snr`, ``20 log10``) and the mean loss per arm.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vokit.engine.checkpoint import find_checkpoint, load_checkpoint, read_checkpoint
from vokit.engine.configs import DataConfig
from vokit.engine.registry import get_method, method_settings
from vokit.errors import VokitError
from vokit.methods.batch import ClipBatch, collate_clips
from vokit.methods.interface import GradientProbe
from vokit.metrics.gradient_snr import GradientSnr, gradient_snr, per_sample_gradients

ARMS: tuple[str, ...] = ("weighted", "unweighted")
"""The loss arms: flow loss with the detached BA confidences (METHODS.md 5.2) or without."""


@dataclass(frozen=True)
class GradVarResult:
    """Gradient SNR of one checkpoint.

    Attributes:
        checkpoint: the checkpoint file.
        step: its training step.
        method: the method name.
        snr: one entry per head and arm.
        mean_loss: arm -> mean flow loss over the clips.
        n_clips: clips used.
        clip_frames: frames per clip.
        update_calls: update calls (each followed by the optimiser layer) per clip.
        image_size: (H, W) of the clips.
    """

    checkpoint: str
    step: int
    method: str
    snr: list[GradientSnr]
    mean_loss: dict[str, float]
    n_clips: int
    clip_frames: int
    update_calls: int
    image_size: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def heldout_clips(data: DataConfig, n_clips: int, clip_frames: int, image_size: tuple[int, int] | None = None,
                  first_sequence: int = 0) -> list[ClipBatch]:
    """One clip of ``clip_frames`` consecutive frames (``data.frame_stride`` apart) per validation sequence.

    Args:
        data: the checkpoint's data section (its scene, image size, stride, domain); must be synthetic.
        n_clips: number of clips (sequences ``first_sequence ...`` of the validation split).
        clip_frames: frames per clip.
        image_size: (H, W) override of the data section's size.
        first_sequence: index of the first validation sequence.

    Returns:
        Single-clip batches.

    Raises:
        VokitError: a non-synthetic data source.
    """
    from vokit.data.synthetic import make_sequence
    from vokit.data.synthetic.domain import split_seed

    if data.source != "synthetic":
        raise VokitError(f"gradvar draws held-out clips from the synthetic world; this checkpoint trained on "
                         f"{data.source!r}")
    h, w = image_size if image_size is not None else (data.height, data.width)
    span = (clip_frames - 1) * data.frame_stride + 1
    clips = []
    for i in range(n_clips):
        seq = make_sequence(scene=data.scene, n_frames=span, seed=split_seed("val", first_sequence + i), height=h,
                            width=w, domain=data.domain)
        clips.append(collate_clips([seq.clip(list(range(0, span, data.frame_stride)))]))
    return clips


def measure_gradient_snr(
    checkpoint: str | Path,
    n_clips: int,
    clip_frames: int = 8,
    update_calls: int = 8,
    arms: Sequence[str] = ARMS,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    settings_overrides: Mapping[str, Any] | None = None,
    clips: list[ClipBatch] | None = None,
) -> GradVarResult:
    """The SNR protocol of section 5.4 on one checkpoint.

    Args:
        checkpoint: a checkpoint file or run folder.
        n_clips: S, held-out clips (200 in the protocol; at least 2).
        clip_frames: frames per clip (8).
        update_calls: update calls per clip (8).
        arms: loss arms, a subset of :data:`ARMS`.
        seed: seed of the per-clip generators (patch draws, initial depths), shared by the arms.
        image_size: (H, W) of the clips; default the checkpoint's training size.
        settings_overrides: fields of the method settings to replace (e.g. ``train_patches`` for a quick look).
        clips: pre-rendered clips (to share them between checkpoints); default :func:`heldout_clips`.

    Raises:
        VokitError: fewer than 2 clips, an unknown arm or setting, or a method without a differentiable-optimiser
            layer.
    """
    if n_clips < 2:
        raise VokitError(f"gradvar needs at least 2 clips, got {n_clips}")
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise VokitError(f"unknown loss arm(s) {unknown}; choose from {', '.join(ARMS)}")
    file = find_checkpoint(checkpoint)
    step = int(read_checkpoint(file, check_finite=False)["step"])
    model, config = load_checkpoint(file)
    method = get_method(config.model.method).method
    if not isinstance(method, GradientProbe):
        raise VokitError(f"method {method.name!r} has no differentiable-optimiser layer to probe", file)
    settings = method_settings(method, config)
    try:
        settings = dataclasses.replace(settings, **dict(settings_overrides or {}))
    except TypeError as err:
        raise VokitError(f"bad setting override for {method.name}: {err}") from None
    heads = method.probe_heads(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for head in heads.values():
        head.requires_grad_(True)
    clips = clips if clips is not None else heldout_clips(config.data, n_clips, clip_frames, image_size)
    snr: list[GradientSnr] = []
    mean_loss: dict[str, float] = {}
    for arm in arms:
        def loss_of(s: int, weighted: bool = arm == "weighted") -> torch.Tensor:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + s)
            return method.probe_loss(model, clips[s], settings, weighted, update_calls, gen)

        grads = per_sample_gradients(loss_of, heads, len(clips))
        mean_loss[arm] = float(grads.losses.mean())
        snr += [gradient_snr(g, parameter=name, step=step, loss_arm=arm, seed=seed) for name, g in grads.grads.items()]
    h, w = clips[0].images.shape[-2:]
    return GradVarResult(checkpoint=str(file), step=step, method=method.name, snr=snr, mean_loss=mean_loss,
                         n_clips=len(clips), clip_frames=int(clips[0].images.shape[1]), update_calls=update_calls,
                         image_size=(int(h), int(w)))


__all__ = ["ARMS", "GradVarResult", "heldout_clips", "measure_gradient_snr"]
