"""What the trainer writes while it runs: scalars, image panels and the progress bar."""

from dataclasses import dataclass


@dataclass(frozen=True)
class LogConfig:
    """Scalars, image panels and progress bar."""

    log_every: int = 20
    """Steps between scalar logs (TensorBoard and ``scalars.jsonl``); >= 1."""

    image_every: int = 500
    """Steps between image panels (depth, flow, motion mask); 0 disables image panels."""

    use_tensorboard: bool = True
    """Write TensorBoard event files (without the tensorboard package: warn, scalars.jsonl and PNGs only)."""

    use_progress_bar: bool = True
    """Show a progress bar with steps/s and ETA (on the first process only)."""
