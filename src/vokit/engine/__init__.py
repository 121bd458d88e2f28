"""vokit.engine: ``vokit train``: the trainer, configs and presets, checkpoints, DDP and logging (DESIGN.md section 2).

The run application (``vokit run`` / ``vokit demo``) is `vokit.app`, above this package; methods and their names
are in `vokit.methods` (`vokit.methods.registry`). Public entry points (imported lazily, so importing a submodule
such as ``vokit.engine.configs`` stays light):

- :func:`train` (``vokit train``): ``train(config) -> run folder``;
- :func:`load_checkpoint`: ``(model, config)`` from a checkpoint or run folder, ready for inference;
- :data:`PRESETS` / :func:`get_preset`: the named configs; :class:`ExperimentConfig` and its sections;
- :func:`load_config` / :func:`save_config`: configs as plain YAML.
"""

import importlib
from typing import Any

_EXPORTS = {
    "train": "vokit.engine.trainer",
    "StepInfo": "vokit.engine.trainer",
    "TrainingInterrupted": "vokit.engine.trainer",
    "load_checkpoint": "vokit.engine.checkpoint",
    "export_weights": "vokit.engine.checkpoint",
    "read_checkpoint": "vokit.engine.checkpoint",
    "PRESETS": "vokit.engine.presets",
    "get_preset": "vokit.engine.presets",
    "ExperimentConfig": "vokit.engine.configs",
    "load_config": "vokit.engine.config_io",
    "save_config": "vokit.engine.config_io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vokit.engine' has no attribute {name!r}")
