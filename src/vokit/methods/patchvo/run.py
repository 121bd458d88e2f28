"""Run patchvo over a :class:`vokit.data.sequence.Sequence`: the library entry point."""

import time
from dataclasses import replace
from typing import Any

import torch

from vokit.data.sequence import Sequence
from vokit.methods.patchvo.operators import LKOperator, OracleOperator, PatchOperator
from vokit.methods.patchvo.presets import PatchVOConfig, patchvo_config
from vokit.methods.patchvo.system import PatchVO, PatchVOResult, prepare_frame, working_size

OPERATORS = ("lk", "learned", "oracle")


def make_operator(name: str, config: PatchVOConfig, model: Any = None,
                  generator: torch.Generator | None = None) -> PatchOperator:
    """The operator ``name`` (``"lk"``, ``"learned"`` with a model, ``"oracle"``) configured from ``config``.

    Raises:
        ValueError: on an unknown name, or ``"learned"`` without a model.
    """
    if name == "lk":
        return LKOperator(config.lk_levels, config.lk_iters, config.lk_fb_sigma_px, config.lk_retrack_px,
                          config.lk_scale, config.lk_interpolation, config.lk_radius, config.lk_robust_px,
                          config.lk_max_gap, config.lk_ncc_sigma, config.lk_fb_levels, config.lk_warp_scale)
    if name == "oracle":
        return OracleOperator(generator=generator)
    if name == "learned":
        if model is None:
            raise ValueError("the learned operator needs a model (weights); use operator='lk' without one")
        from vokit.methods.patchvo.learned import LearnedOperator

        return LearnedOperator(model)
    raise ValueError(f"unknown patchvo operator {name!r}; choose one of {OPERATORS}")


def run_patchvo(
    sequence: Sequence,
    operator: str | PatchOperator = "lk",
    preset: str | PatchVOConfig = "default",
    seed: int = 0,
    model: Any = None,
    frames: list[int] | None = None,
    **overrides: Any,
) -> PatchVOResult:
    """Estimate the trajectory of a monocular sequence with patchvo.

    Args:
        sequence: the frames (RGB, intrinsics, timestamps; ground truth only for the oracle).
        operator: ``"lk"`` (no weights needed), ``"learned"`` (needs ``model``), ``"oracle"`` (needs ground-truth
            depth and poses), or an operator object.
        preset: ``"default"``, ``"fast"`` or a :class:`PatchVOConfig`.
        seed: seed of the patch draws and initial depths.
        model: the learned operator's network, for ``operator="learned"``.
        frames: input indices to process (default: all), in order.
        **overrides: :class:`PatchVOConfig` fields to replace.

    Returns:
        One ``world_from_cam`` per processed frame, the patch point cloud and timings.

    Example:
        >>> from vokit.data.synthetic import make_sequence
        >>> seq = make_sequence("room", n_frames=12, seed=3, height=96, width=128)  # doctest: +SKIP
        >>> run_patchvo(seq, "lk", "fast").world_from_cam.shape  # doctest: +SKIP
        torch.Size([12, 7])
    """
    cfg = patchvo_config(preset, **overrides)
    gen = torch.Generator().manual_seed(seed)
    op = make_operator(operator, cfg, model, gen) if isinstance(operator, str) else operator
    needs_gt = getattr(op, "name", "") == "oracle"
    indices = list(range(len(sequence))) if frames is None else list(frames)
    size = working_size(*sequence.image_size, cfg.max_pixels)
    vo = PatchVO(op, cfg, gen)
    start = time.perf_counter()
    load_s = 0.0
    initialised_after = None
    for count, i in enumerate(indices, start=1):
        t0 = time.perf_counter()
        if needs_gt:
            f = sequence[i]
            image, depth, pose = f.image, f.depth, f.world_from_cam
        else:
            image, depth, pose = sequence._load_image(i), None, None  # images only: no ground-truth decoding
        load_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        prepared = prepare_frame(image, sequence.intrinsics[i], size, depth, pose)
        vo.timings["prepare"] += time.perf_counter() - t0
        vo(prepared, float(sequence.timestamps[i]))
        if initialised_after is None and vo.initialized:
            initialised_after = (count, time.perf_counter() - start - load_s)
    result = vo.finish()
    wall = time.perf_counter() - start - load_s
    timings = {**result.timings_s, "load": load_s}
    stamps = sequence.timestamps[indices].clone()
    return replace(result, timestamps=stamps, timings_s=timings, wall_s=wall, initialised_after=initialised_after)


__all__ = ["OPERATORS", "make_operator", "run_patchvo"]
