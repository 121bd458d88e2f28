"""The training loop every method reuses: ``train(config) -> run folder``.

One call builds the method's model from the config, samples step-keyed batches (:mod:`vokit.engine.data`), runs
the method's training step under optional mixed precision (bf16 autocast on CUDA), updates with AdamW, a per-step
schedule and optional gradient clipping, logs scalars and image panels, and writes atomic checkpoints every K steps,
at the end, and when stopped by SIGINT/SIGTERM (Ctrl-C, ``kill``, a cluster's pre-emption). ``train.resume``
continues from a checkpoint at its exact step with the optimiser, schedule, scaler and every RNG restored, so a
killed and resumed run reproduces the loss curve of an uninterrupted one. Under ``torchrun`` the model is wrapped
in DistributedDataParallel (gloo on the CPU, nccl on CUDA), every process draws its own slice of the global batch,
and only rank 0 writes the run folder.

Run folder layout: ``config.yaml`` (resolved config, git SHA, version), ``scalars.jsonl``, ``tb/`` (TensorBoard),
``checkpoints/step_<N>.pt`` and ``checkpoints/last.pt`` (a hard link to the latest of them).

Faults: the output folder is checked for writability before data or model are built; a non-finite loss or gradient
stops training with a :class:`~vokit.errors.VokitError` naming the step, before the update and without writing a
checkpoint (so the latest checkpoint is the last good one); temporary files of checkpoint writes killed by SIGKILL
are removed when the run starts or resumes.
"""

import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from vokit.engine.checkpoint import (
    CHECKPOINT_DIR,
    atomic_torch_save,
    checkpoint_config,
    find_checkpoint,
    link_last_checkpoint,
    list_checkpoints,
    make_checkpoint,
    prune_checkpoints,
    read_checkpoint,
    remove_stale_temp_files,
    run_dir_of,
    step_checkpoint_path,
    unreadable_reason,
)
from vokit.engine.config_io import config_to_dict, save_config
from vokit.engine.configs import ExperimentConfig
from vokit.engine.data import build_training_data, make_loader
from vokit.engine.distributed import (
    DistInfo,
    all_gather_objects,
    all_true,
    any_true,
    barrier,
    broadcast_buffers,
    init_distributed,
    resolve_device,
    shutdown_distributed,
)
from vokit.engine.logger import RunLogger, to_float_dict
from vokit.engine.optim import build_optimizer, build_scheduler
from vokit.engine.registry import TrainingStep, get_method
from vokit.engine.seeding import get_rng_state, seed_everything, set_rng_state
from vokit.engine.validation import check_config
from vokit.errors import VokitError
from vokit.methods.batch import ClipBatch

# Settings that may change between a run and its resumption without changing what is computed.
_RESUME_FREE_KEYS = {"train.resume", "train.init_weights", "train.steps", "train.out_dir", "train.run_name",
                     "train.checkpoint_every", "train.keep_checkpoints", "train.device", "data.num_workers",
                     "data.cache_frames", "data.cache_dir"}


@dataclass(frozen=True)
class StepInfo:
    """What :func:`train` passes to its ``on_step`` callback after every optimisation step.

    Attributes:
        step: completed optimisation steps (1 after the first).
        loss: the step's loss on this process.
        scalars: the method's logged scalars on this process.
        rank: this process's rank.
        model: the (unwrapped) model bundle.
        run_dir: the run folder.
    """

    step: int
    loss: float
    scalars: dict[str, float]
    rank: int
    model: nn.Module
    run_dir: Path


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped early (Ctrl-C, SIGTERM); a checkpoint of the last completed step was written.

    Attributes:
        run_dir: the run folder (resume with ``vokit train --resume <run_dir>``).
        step: completed optimisation steps saved in the checkpoint.
    """

    def __init__(self, run_dir: Path, step: int, reason: str) -> None:
        super().__init__(f"training stopped by {reason} after step {step}; checkpoint saved in {run_dir}")
        self.run_dir = run_dir
        self.step = step


class _StepModule(nn.Module):
    """Wraps model + training step so DistributedDataParallel sees the step as one ``forward``."""

    def __init__(self, model: nn.Module, step_fn: TrainingStep) -> None:
        super().__init__()
        self.model = model
        self.step_fn = step_fn

    def forward(self, batch: ClipBatch, step: int, want_images: bool) -> tuple[Tensor, dict[str, Any], dict[str, Any]]:
        out = self.step_fn(self.model, batch, step, want_images)
        return out.loss, dict(out.scalars), dict(out.images)


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps (a second Ctrl-C interrupts at once)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def train(config: ExperimentConfig, on_step: Callable[[StepInfo], None] | None = None) -> Path:
    """Train ``config`` and return its run folder (see the module docstring for what it holds).

    Args:
        config: the experiment (a preset with overrides, or a config loaded from YAML).
        on_step: optional callback after every optimisation step, on every process.

    Returns:
        The run folder.

    Raises:
        VokitError: invalid config, missing data, a non-finite loss, or a checkpoint that cannot be resumed.
        TrainingInterrupted: stopped by a signal or Ctrl-C (a checkpoint was saved first).
    """
    check_config(config)
    info = init_distributed(config.train.device)
    try:
        return _Trainer(config, info).run(on_step)
    finally:
        shutdown_distributed(info)


def _amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "auto" and not torch.cuda.is_bf16_supported():
        return None
    return torch.bfloat16


class _Trainer:
    def __init__(self, config: ExperimentConfig, info: DistInfo) -> None:
        self.config = config
        self.info = info
        self.device = resolve_device(config.train.device, info.local_rank)
        self.amp_dtype = _amp_dtype(config.train.precision, self.device)
        _check_output_writable(config, info)
        resume = read_checkpoint(config.train.resume) if config.train.resume else None
        if resume is not None:
            _warn_config_changes(checkpoint_config(resume), config)
        seed_everything(config.train.seed, config.train.deterministic)
        method = get_method(config.model.method)
        self.model = method.build_model(config).to(self.device)
        if config.model.imagenet_weights and resume is None:
            _load_imagenet(self.model, config.model.imagenet_weights)
        if config.train.init_weights and resume is None:
            _load_weights(self.model, config.train.init_weights)
        self.optimizer = build_optimizer(self.model.parameters(), config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim, config.train.steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self._resume_rng: dict[str, Any] | None = None
        if resume is not None:
            self._load_training_state(resume)
        self.run_dir = self._resolve_run_dir()
        wrapped: nn.Module = _StepModule(self.model, method.make_training_step(config))
        if info.enabled:
            wrapped = nn.parallel.DistributedDataParallel(
                wrapped, device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=config.train.find_unused_parameters,
            )
        self.step_module = wrapped
        self._saved_step = self.step if resume is not None else -1
        self._mid_step = False
        self._in_update = False
        self._rng_mark: dict[str, Any] | None = None
        self._rate_mark = (time.perf_counter(), self.step)

    def _load_training_state(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise VokitError(f"checkpoint cannot be resumed with this config: {err}", self.config.train.resume) from err
        self.step = int(state["step"])
        rngs = state["rng"]
        self._resume_rng = rngs[self.info.rank] if self.info.rank < len(rngs) else rngs[0]
        if self.step >= self.config.train.steps:
            raise VokitError(f"the checkpoint is already at step {self.step} of --train.steps "
                             f"{self.config.train.steps}; raise --train.steps to continue", self.config.train.resume)

    def _resolve_run_dir(self) -> Path:
        cfg = self.config.train
        if cfg.resume:
            return run_dir_of(find_checkpoint(cfg.resume))
        name, problem = "", ""
        if self.info.is_main:  # rank 0 names the folder (timestamps could differ between processes)
            name = cfg.run_name or f"{self.config.preset}-{datetime.now():%Y%m%d-%H%M%S}"
            base, k = name, 1
            while cfg.run_name is None and (Path(cfg.out_dir) / name).exists():
                k += 1
                name = f"{base}-{k}"
            if list_checkpoints(Path(cfg.out_dir) / name):
                problem = "run folder already holds checkpoints; continue it with --resume, or pick another " \
                          "--train.run-name"
        name, problem = all_gather_objects((name, problem), self.info)[0]
        if problem:
            raise VokitError(problem, Path(cfg.out_dir) / name)
        return Path(cfg.out_dir) / name

    def run(self, on_step: Callable[[StepInfo], None] | None) -> Path:
        cfg = self.config
        data = build_training_data(cfg.data)
        loader = make_loader(data, cfg.data, cfg.train.seed, self.step, cfg.train.steps, self.info.rank,
                             self.info.world_size)
        logger = None
        if self.info.is_main:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                remove_stale_temp_files(self.run_dir)
                save_config(cfg, self.run_dir / "config.yaml", {"world_size": self.info.world_size,
                                                                 "device": str(self.device), "command": sys.argv})
            except OSError as err:
                raise VokitError(f"cannot write the run folder: {err.strerror or err}", self.run_dir) from None
            logger = RunLogger(self.run_dir, cfg.log.use_tensorboard, start_step=self.step)
        if self._resume_rng is not None:
            set_rng_state(self._resume_rng)
        stop = _StopRequest()
        stop.install()
        bar = tqdm(total=cfg.train.steps, initial=self.step, unit="step", dynamic_ncols=True, desc=cfg.preset,
                   disable=not (self.info.is_main and cfg.log.use_progress_bar))
        self.model.train()
        batches = iter(loader)
        try:
            while self.step < cfg.train.steps:
                if any_true(stop.reason is not None, self.info, self.device):
                    self._save()
                    raise TrainingInterrupted(self.run_dir, self.step, stop.reason or "another process")
                self._rng_mark, self._mid_step = get_rng_state(), True
                batch = self._next_batch(batches, stop)
                result = self._one_step(batch)
                # _in_update (set before the optimiser step) clears only once the step counter has moved on
                self.step, self._mid_step, self._in_update = self.step + 1, False, False
                self._after_step(result, logger, bar, on_step)
        except KeyboardInterrupt as err:
            if not isinstance(err, TrainingInterrupted):
                self._save_after_exception()
                raise TrainingInterrupted(self.run_dir, self.step, "KeyboardInterrupt") from None
            raise
        finally:
            stop.restore()
            bar.close()
            if logger is not None:
                logger.close()
        return self.run_dir

    def _next_batch(self, batches: Any, stop: _StopRequest) -> ClipBatch:
        try:
            return next(batches)
        except (RuntimeError, OSError):
            if stop.reason is None:  # a data-loading failure
                raise
            # the signal also reached the DataLoader workers, which died: treat it as the stop it is
            raise KeyboardInterrupt from None

    def _one_step(self, batch: ClipBatch) -> dict[str, Any]:
        cfg = self.config
        want_images = self.info.is_main and cfg.log.image_every > 0 and (self.step + 1) % cfg.log.image_every == 0
        batch = batch.to(self.device, non_blocking=True)
        amp = self.amp_dtype
        with torch.autocast(self.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss, scalars, images = self.step_module(batch, self.step, want_images)
        if not all_true(bool(torch.isfinite(loss.detach())), self.info, self.device):
            raise VokitError(self._non_finite_message("loss"), self.run_dir)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        if cfg.optim.grad_clip_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip_norm)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        if not self.scaler.is_enabled() and not bool(torch.isfinite(grad_norm)):  # gradients agree across ranks
            raise VokitError(self._non_finite_message("gradients"), self.run_dir)
        lr = self.optimizer.param_groups[0]["lr"]
        self._in_update = True
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {"loss": loss.detach(), "scalars": scalars, "images": images, "grad_norm": grad_norm.detach(),
                "lr": lr, "time": time.perf_counter()}

    def _kept_checkpoint(self) -> str:
        found = list_checkpoints(self.run_dir)
        return f"the latest checkpoint, {found[-1][1].name}, is intact" if found else "no checkpoint was written"

    def _non_finite_message(self, what: str) -> str:
        return (f"non-finite {what} at step {self.step + 1}; stopped before the update, nothing saved for it; "
                f"{self._kept_checkpoint()} (try a lower --optim.lr or --optim.grad-clip-norm)")

    def _after_step(self, result: dict[str, Any], logger: RunLogger | None, bar: Any,
                    on_step: Callable[[StepInfo], None] | None) -> None:
        cfg, step = self.config, self.step
        last = step == cfg.train.steps
        floats: dict[str, float] | None = None
        if logger is not None and (step % cfg.log.log_every == 0 or last):
            floats = to_float_dict({"train/loss": result["loss"], "train/grad_norm": result["grad_norm"],
                                    **result["scalars"]})
            now, (t0, s0) = result["time"], self._rate_mark
            self._rate_mark = (now, step)
            rate = (step - s0) / max(now - t0, 1e-9)
            logger.scalars(step, {**floats, "train/lr": result["lr"], "train/steps_per_s": rate})
            bar.set_postfix(loss=f"{floats['train/loss']:.4f}", refresh=False)
        if logger is not None and result["images"]:
            logger.images(step, result["images"])
        bar.update(1)
        if step % cfg.train.checkpoint_every == 0 or last:
            self._save()
        if on_step is not None:
            floats = floats or to_float_dict({"train/loss": result["loss"], **result["scalars"]})
            on_step(StepInfo(step, floats["train/loss"], floats, self.info.rank, self.model, self.run_dir))

    def _training_state(self, rngs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rngs,
            "sampler": {"seed": self.config.train.seed, "next_step": self.step},
        }

    def _save(self, rngs: list[dict[str, Any]] | None = None) -> None:
        """Write the checkpoint of the current step (collective under DDP: every rank must call it)."""
        if self.step == self._saved_step:
            return
        rngs = rngs if rngs is not None else all_gather_objects(get_rng_state(), self.info)
        broadcast_buffers(self.model, self.info)
        bad = [name for name, value in self.model.state_dict().items()
               if value.is_floating_point() and not bool(torch.isfinite(value).all())]
        if bad:  # weights and (broadcast) buffers agree across ranks, so every rank stops here
            raise VokitError(f"non-finite parameters after step {self.step} ({bad[0]}); not checkpointing; "
                             f"{self._kept_checkpoint()}", self.run_dir)
        if self.info.is_main:
            state = make_checkpoint(self.config, self.step, self.model, self._training_state(rngs))
            path = step_checkpoint_path(self.run_dir, self.step)
            try:
                atomic_torch_save(state, path)
                link_last_checkpoint(path)
            except OSError as err:
                raise VokitError(f"cannot write checkpoint: {err.strerror or err}", path) from None
            prune_checkpoints(self.run_dir, self.config.train.keep_checkpoints)
        self._saved_step = self.step
        barrier(self.info)

    def _save_after_exception(self) -> None:
        """Checkpoint after an exception inside a step: consistent unless it hit the parameter update."""
        if self.info.enabled or self._in_update:
            warnings.warn(f"interrupted {'inside the parameter update' if self._in_update else 'under DDP'} at "
                          f"step {self.step}; not checkpointing (the last periodic checkpoint stands)", stacklevel=2)
            return
        rng = self._rng_mark if self._mid_step and self._rng_mark is not None else get_rng_state()
        self._save([rng])


def _write_problem(folder: Path) -> str:
    """Why a run cannot write into ``folder`` (created if missing, nothing is created here); '' when it can."""
    probe = folder.absolute()
    while not probe.exists() and not probe.is_symlink() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder" if probe.exists() else f"{probe} cannot be created"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable (read-only file system or no permission)"
    return ""


def _check_output_writable(config: ExperimentConfig, info: DistInfo) -> None:
    """Stop before any data or model is built when the run folder (new or resumed) cannot be written."""
    cfg, problem = config.train, ""
    if cfg.resume:
        where = run_dir_of(find_checkpoint(cfg.resume))
        if info.is_main and (problem := _write_problem(where) or _write_problem(where / CHECKPOINT_DIR)):
            problem = f"cannot resume the run here: {problem}"
    else:
        where = Path(cfg.out_dir) / cfg.run_name if cfg.run_name else Path(cfg.out_dir)
        if info.is_main and (problem := _write_problem(where)):
            problem = f"cannot write the run folder (--out): {problem}"
    problem = all_gather_objects(problem, info)[0]
    if problem:
        raise VokitError(problem, where)


def _warn_config_changes(saved: ExperimentConfig, current: ExperimentConfig) -> None:
    changed = [key for key, (a, b) in _diff(config_to_dict(saved), config_to_dict(current)).items()
               if key not in _RESUME_FREE_KEYS and not key.startswith("log.")]
    if changed:
        warnings.warn(f"resuming with settings that differ from the checkpoint's: {', '.join(changed)}; "
                      "the run will not match an uninterrupted one", stacklevel=3)


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out.update(_diff(va, vb, f"{prefix}{key}."))
        elif va != vb:
            out[f"{prefix}{key}"] = (va, vb)
    return out


def _load_weights(model: nn.Module, path: str) -> None:
    state = read_checkpoint(path)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise VokitError(f"--train.init-weights do not fit this model: {err}", find_checkpoint(path)) from err


def _load_imagenet(model: nn.Module, path: str) -> None:
    file = Path(path).expanduser()
    if not file.is_file():
        raise VokitError("ImageNet weights file not found", file)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise VokitError(f"not an ImageNet weights file: {unreadable_reason(err)}", file) from None
    found = [getattr(getattr(model, net, None), "encoder", None) for net in ("depth_net", "pose_net")]
    encoders: list[Any] = [e for e in found if e is not None and hasattr(e, "load_imagenet_state_dict")]
    if not encoders:
        raise VokitError("this method's networks cannot load ImageNet weights", file)
    for encoder in encoders:  # the pose encoder's first filter is repeated over its two images and halved
        try:
            encoder.load_imagenet_state_dict(state)
        except (ValueError, RuntimeError, KeyError) as err:
            raise VokitError(f"ImageNet weights do not fit the encoders (width 1.0 only): {err}", file) from err


__all__ = ["StepInfo", "TrainingInterrupted", "train"]
