"""The training loop: length, device, precision, seeding, run folder, checkpoints, resuming."""

from dataclasses import dataclass
from typing import Annotated, Literal

import tyro


@dataclass(frozen=True)
class TrainConfig:
    """Loop length, device, precision, seeding, run folder and checkpoints."""

    steps: int = 20000
    """Total optimisation steps (a resumed run continues up to this number); >= 1."""

    seed: int = 0
    """Seed of model initialisation, loss noise and the clip sampler (all processes share it)."""

    deterministic: bool = False
    """Ask torch for deterministic kernels (slower on GPU; CPU runs are reproducible either way)."""

    device: Annotated[str, tyro.conf.arg(aliases=("--device",))] = "auto"
    """Torch device: auto (CUDA if available), cpu, cuda, cuda:N; under torchrun, cuda:LOCAL_RANK."""

    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """auto = bf16 autocast on CUDA, fp32 on CPU; fp16 adds a grad scaler. Mixed precision is CUDA-only."""

    out_dir: Annotated[str, tyro.conf.arg(aliases=("--out",))] = "runs"
    """Folder that receives the run folder."""

    run_name: str | None = None
    """Run folder name inside ``out_dir``; default ``<preset>-<YYYYmmdd-HHMMSS>``."""

    init_weights: str | None = None
    """Checkpoint, exported weights or run folder whose model weights start a new run (step 0, fresh optimiser)."""

    resume: Annotated[str | None, tyro.conf.arg(aliases=("--resume",))] = None
    """Run folder or checkpoint file to continue from, at its exact step (weights, optimiser, schedule, RNG)."""

    checkpoint_every: int = 1000
    """Steps between checkpoints (one is also written at the end and on interruption); >= 1."""

    keep_checkpoints: int = 3
    """Number of most recent step checkpoints kept (``last.pt`` is always kept); >= 1."""

    find_unused_parameters: bool = False
    """DDP: tolerate parameters that get no gradient in a step (slower; only needed for partial models)."""
