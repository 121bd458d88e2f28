"""Tiny, fast versions of the presets for the engine's tests (64x96 images, width-1/8 networks, CPU)."""

import dataclasses
from pathlib import Path

from vokit.engine.configs import ExperimentConfig
from vokit.engine.presets import get_preset


def tiny_config(preset: str, out_dir: Path, steps: int = 20, **sections: dict) -> ExperimentConfig:
    """``preset`` shrunk for tests; ``sections`` maps a section name to field overrides."""
    base = get_preset(preset)
    changes: dict[str, dict] = {
        "data": dict(height=64, width=96, n_sequences=1, sequence_frames=3, batch_size=1, hflip_prob=0.0,
                     color_jitter_prob=0.0),
        "model": dict(width=0.125, flow_width=0.125),
        "optim": dict(lr=2e-3),
        "train": dict(steps=steps, checkpoint_every=10, out_dir=str(out_dir), device="cpu"),
        "log": dict(log_every=5, image_every=10, use_progress_bar=False),
    }
    for name, fields in sections.items():
        changes.setdefault(name, {}).update(fields)
    return dataclasses.replace(
        base, **{name: dataclasses.replace(getattr(base, name), **fields) for name, fields in changes.items()}
    )
