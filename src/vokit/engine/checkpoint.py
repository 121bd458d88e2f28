"""Checkpoints: atomic writes, finding the latest, loading a trained model for inference.

A checkpoint is a ``torch.save`` dict of tensors and primitives only (loadable with ``weights_only=True``):

- ``format``: :data:`CHECKPOINT_FORMAT`; ``step``: completed optimisation steps;
- ``config``: the experiment config as primitives and ``meta``: vokit version, git SHA;
- ``model``: the model bundle's state dict;
- ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (one RNG snapshot per process): training state, absent from
  exported weights (:func:`export_weights`).

Files are written to a temporary name in the destination folder (``.<name>.tmp-<pid>``), flushed to disk, and moved
over the final name with ``os.replace``, so a crash never leaves a half-written checkpoint under a real name. A process
killed outright (SIGKILL, power loss) can leave its temporary file behind; :func:`remove_stale_temp_files` deletes
them when the run starts or resumes. ``checkpoints/last.pt`` is a hard link to the latest step checkpoint (no extra
disk space; a copy where the file system has no hard links), replaced atomically after every save.

Loading checks that the weights are finite (:func:`check_finite_weights`): a checkpoint with NaN or infinite
parameters is refused with a :class:`~vokit.errors.VokitError` naming the file.
"""

import os
import re
import shutil
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
LAST_CHECKPOINT = "last.pt"
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
_TEMP_FILE = re.compile(r"^\.(step_\d+|last)\.pt\.tmp-\d+$")  # what atomic_torch_save/link_last_checkpoint leave


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
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


def link_last_checkpoint(checkpoint: str | Path) -> Path:
    """Point ``last.pt`` beside ``checkpoint`` at it: a hard link (a copy without hard links), swapped in atomically.

    Args:
        checkpoint: a step checkpoint, ``<run>/checkpoints/step_<N>.pt``.

    Returns:
        The ``last.pt`` path.
    """
    checkpoint = Path(checkpoint)
    last = checkpoint.with_name(LAST_CHECKPOINT)
    tmp = _temp_path(last)
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(checkpoint, tmp)
        except OSError:  # no hard links on this file system
            shutil.copyfile(checkpoint, tmp)
        os.replace(tmp, last)
    finally:
        tmp.unlink(missing_ok=True)
    return last


def remove_stale_temp_files(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files killed checkpoint writes left in a run folder's ``checkpoints/``.

    Only files named exactly as :func:`atomic_torch_save` names them (``.step_<N>.pt.tmp-<pid>``,
    ``.last.pt.tmp-<pid>``) are removed; anything else in the folder is left alone. Call it before the run writes
    (a temporary file of a live writer would otherwise be deleted under it).

    Args:
        run_dir: the run folder.

    Returns:
        The removed paths.
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if _TEMP_FILE.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


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


def unreadable_reason(err: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` failed, in one line.

    Torch's own message advises loading with ``weights_only=False``, which would run any code the file holds; this
    one says what is wrong with the file instead.
    """
    if isinstance(err, EOFError):
        return "the file is empty or truncated"
    text = str(err)
    if "Weights only load failed" in text:
        if "Unsupported global" in text:
            return "it holds pickled Python objects, not just tensors; refused, as loading it could run code"
        return "random or foreign bytes, not a PyTorch file"
    if "zip archive" in text or "central directory" in text:
        return "the file is truncated or corrupt: not a complete PyTorch zip archive"
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def check_finite_weights(state: Mapping[str, Any], path: str | Path | None = None) -> None:
    """Refuse a checkpoint whose model weights (parameters or buffers) hold NaN or infinite values.

    Args:
        state: a checkpoint dict (its ``model`` entry is checked), as :func:`read_checkpoint` returns.
        path: the checkpoint file, for the message.

    Raises:
        VokitError: ``<path>: non-finite parameters in this checkpoint (NaN or inf in <names>) ...``.
    """
    model = state.get("model")
    if not isinstance(model, Mapping):
        raise VokitError("not a vokit checkpoint (no model weights)", path)
    bad = [name for name, value in model.items()
           if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        names = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise VokitError(f"non-finite parameters in this checkpoint (NaN or inf in {names}); it is unusable, pick "
                         "an earlier one", path)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    check_finite: bool = True) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) and check its format.

    Args:
        path: a checkpoint file or a run folder (its latest checkpoint).
        map_location: where tensors go.
        check_finite: also refuse NaN or infinite model weights (:func:`check_finite_weights`).

    Returns:
        The checkpoint dict (see the module docstring).

    Raises:
        VokitError: the file is missing, unreadable, not a vokit checkpoint, or holds non-finite weights.
    """
    file = find_checkpoint(path)
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except OSError as err:
        raise VokitError(f"cannot read checkpoint: {err.strerror or err}", file) from err
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise VokitError(f"cannot read checkpoint: not a vokit checkpoint ({unreadable_reason(err)})", file) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise VokitError(f"not a vokit checkpoint (expected format {CHECKPOINT_FORMAT!r})", file)
    if check_finite:
        check_finite_weights(state, file)
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
