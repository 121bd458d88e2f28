"""Checkpoints: atomic writes, finding the latest, loading a trained model for inference.

A checkpoint is a ``torch.save`` dict of tensors and primitives only (loadable with ``weights_only=True``):

- ``format``: :data:`CHECKPOINT_FORMAT`; ``step``: completed optimisation steps;
- ``config``: the experiment config as primitives and ``meta``: vokit version, git SHA;
- ``model``: the model bundle's state dict;
- ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (one RNG snapshot per process): training state, absent from
  exported weights (:func:`export_weights`).

Files are written to a temporary name in the destination folder, flushed to disk, and moved over the final name
with ``os.replace``, so a crash never leaves a half-written checkpoint under a real name.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import vokit
from vokit.engine.config_io import config_from_dict, config_to_dict, git_sha
from vokit.engine.configs import ExperimentConfig
from vokit.errors import VokitError

CHECKPOINT_FORMAT = "vokit-checkpoint/1"
CHECKPOINT_DIR = "checkpoints"
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def step_checkpoint_path(run_dir: str | Path, step: int) -> Path:
    """``<run_dir>/checkpoints/step_<step>.pt``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of a run folder's step checkpoints, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return sorted(found)


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent step checkpoints of a run folder."""
    for _, path in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint file named by ``path``: the file itself, or the latest one of a run folder.

    Raises:
        VokitError: nothing usable at ``path``.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for run_dir in (path, path.parent):
            found = list_checkpoints(run_dir)
            if found:
                return found[-1][1]
        raise VokitError(f"no checkpoints in this folder (expected {CHECKPOINT_DIR}/step_*.pt)", path)
    raise VokitError("checkpoint or run folder not found", path)


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run folder that holds a checkpoint file (``<run>/checkpoints/step_N.pt`` -> ``<run>``)."""
    checkpoint = Path(checkpoint).resolve()
    return checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINT_DIR else checkpoint.parent


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) and check its format.

    Args:
        path: a checkpoint file or a run folder (its latest checkpoint).
        map_location: where tensors go.

    Returns:
        The checkpoint dict (see the module docstring).

    Raises:
        VokitError: the file is missing, unreadable, or not a vokit checkpoint.
    """
    file = find_checkpoint(path)
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise VokitError(f"cannot read checkpoint: {err}", file) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise VokitError(f"not a vokit checkpoint (expected format {CHECKPOINT_FORMAT!r})", file)
    return state


def checkpoint_config(state: Mapping[str, Any], path: str | Path | None = None) -> ExperimentConfig:
    """The experiment config stored in a checkpoint dict."""
    return config_from_dict(ExperimentConfig, state["config"], path=path)


def make_checkpoint(
    config: ExperimentConfig, step: int, model: nn.Module, training_state: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Assemble a checkpoint dict (model weights, config, and optionally optimiser/scheduler/RNG state)."""
    state: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "config": config_to_dict(config),
        "meta": {"vokit_version": vokit.__version__, "git_sha": git_sha()},
        "model": model.state_dict(),
    }
    state.update(training_state or {})
    return state


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ExperimentConfig]:
    """Rebuild a trained model bundle from a checkpoint, ready for inference.

    Args:
        path: a checkpoint file, exported weights, or a run folder (its latest checkpoint).
        device: where the model goes.

    Returns:
        The model bundle in eval mode on ``device``, and the experiment config it was trained with.

    Raises:
        VokitError: unreadable checkpoint, unknown method, or weights that do not fit the model.
    """
    from vokit.engine.registry import get_method

    file = find_checkpoint(path)
    state = read_checkpoint(file, map_location="cpu")
    config = checkpoint_config(state, file)
    model = get_method(config.model.method).build_model(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise VokitError(f"weights do not fit the {config.model.method} model of this config: {err}", file) from err
    return model.to(device).eval(), config


def export_weights(checkpoint: str | Path, out: str | Path, half: bool = False) -> Path:
    """Write a slim checkpoint (model weights and config only) for shipping or inference.

    Args:
        checkpoint: a checkpoint file or run folder.
        out: the destination file.
        half: store floating-point weights as float16 (half the size; loaded back as float32).

    Returns:
        The written path.
    """
    state = read_checkpoint(checkpoint)
    model = state["model"]
    if half:
        model = {k: (v.half() if v.is_floating_point() else v) for k, v in model.items()}
    slim = {k: state[k] for k in ("format", "step", "config", "meta")}
    slim["model"] = model
    return atomic_torch_save(slim, out)
