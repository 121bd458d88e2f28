"""Range checks of an experiment config, with messages that name the offending key (``--section.key``)."""

from collections.abc import Callable
from typing import Any

from vokit.engine.configs import ExperimentConfig
from vokit.errors import VokitError


def check_config(config: ExperimentConfig) -> None:
    """Raise :class:`VokitError` for the first out-of-range value of ``config``.

    Args:
        config: the experiment config.
    """
    d, m, loss, o, t, log = config.data, config.model, config.loss, config.optim, config.train, config.log
    rules: list[tuple[str, Any, Callable[[Any], bool], str]] = [
        ("data.height", d.height, lambda v: v >= 64 and v % 32 == 0, "a multiple of 32, at least 64"),
        ("data.width", d.width, lambda v: v >= 64 and v % 32 == 0, "a multiple of 32, at least 64"),
        ("data.clip-frames", d.clip_frames, lambda v: v >= 2, ">= 2 (a target and at least one source)"),
        ("data.frame-stride", d.frame_stride, lambda v: v >= 1, ">= 1"),
        ("data.batch-size", d.batch_size, lambda v: v >= 1, ">= 1"),
        ("data.num-workers", d.num_workers, lambda v: v >= 0, ">= 0"),
        ("data.n-sequences", d.n_sequences, lambda v: v >= 1, ">= 1"),
        ("data.first-sequence", d.first_sequence, lambda v: v >= 0, ">= 0"),
        ("data.sequence-frames", d.sequence_frames,
         lambda v: d.source != "synthetic" or v >= (d.clip_frames - 1) * d.frame_stride + 1,
         "long enough for one clip ((clip_frames - 1) * frame_stride + 1)"),
        ("data.hflip-prob", d.hflip_prob, lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
        ("data.color-jitter-prob", d.color_jitter_prob, lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
        ("model.width", m.width, lambda v: v > 0, "> 0"),
        ("model.flow-width", m.flow_width, lambda v: v > 0, "> 0"),
        ("model.flow-levels", m.flow_levels, lambda v: v is None or 2 <= v <= 6, "between 2 and 6, or None"),
        ("model.pose-rotation-scale", m.pose_rotation_scale, lambda v: v > 0, "> 0"),
        ("model.min-depth", m.min_depth, lambda v: 0 < v < m.max_depth, "> 0 and < model.max-depth"),
        ("loss.num-scales", loss.num_scales, lambda v: 1 <= v <= 4, "between 1 and 4"),
        ("loss.smoothness-weight", loss.smoothness_weight, lambda v: v >= 0, ">= 0"),
        ("loss.consistency-weight", loss.consistency_weight, lambda v: v >= 0, ">= 0"),
        ("loss.flow-smoothness-weight", loss.flow_smoothness_weight, lambda v: v >= 0, ">= 0"),
        ("loss.apportion-every", loss.apportion_every, lambda v: v >= 1, ">= 1"),
        ("loss.rigid-warmup", loss.rigid_warmup, lambda v: v >= 0, ">= 0"),
        ("loss.flow-occlusion-start", loss.flow_occlusion_start, lambda v: v >= 0, ">= 0"),
        ("loss.structure-warmup-steps", loss.structure_warmup_steps, lambda v: v >= 0, ">= 0"),
        ("loss.apportion-history", loss.apportion_history, lambda v: v >= 1, ">= 1"),
        ("loss.balance-every", loss.balance_every, lambda v: v >= 1, ">= 1"),
        ("optim.lr", o.lr, lambda v: v > 0, "> 0"),
        ("optim.weight-decay", o.weight_decay, lambda v: v >= 0, ">= 0"),
        ("optim.betas", o.betas, lambda v: all(0.0 <= b < 1.0 for b in v), "each in [0, 1)"),
        ("optim.eps", o.eps, lambda v: v > 0, "> 0"),
        ("optim.milestones", o.milestones, lambda v: all(0.0 < x <= 1.0 for x in v), "fractions in (0, 1]"),
        ("optim.gamma", o.gamma, lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
        ("optim.warmup-steps", o.warmup_steps, lambda v: v >= 0, ">= 0"),
        ("optim.min-lr-ratio", o.min_lr_ratio, lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
        ("optim.grad-clip-norm", o.grad_clip_norm, lambda v: v is None or v > 0, "> 0, or None"),
        ("train.steps", t.steps, lambda v: v >= 1, ">= 1"),
        ("train.checkpoint-every", t.checkpoint_every, lambda v: v >= 1, ">= 1"),
        ("train.keep-checkpoints", t.keep_checkpoints, lambda v: v >= 1, ">= 1"),
        ("log.log-every", log.log_every, lambda v: v >= 1, ">= 1"),
        ("log.image-every", log.image_every, lambda v: v >= 0, ">= 0 (0 disables image panels)"),
    ]
    for key, value, ok, requirement in rules:
        if not ok(value):
            raise VokitError(f"--{key} is {value!r}; it must be {requirement}")
