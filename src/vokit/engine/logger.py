"""Run logging: TensorBoard scalars and image panels, ``scalars.jsonl``, and the progress bar.

``scalars.jsonl`` (one JSON object per logged step) is always written, so a run can be read without TensorBoard.
When the ``tensorboard`` package is missing, the logger warns once and writes image panels as PNG files under
``images/`` instead. On resume, logged entries past the resumed step are dropped, so the curves have no
duplicated or stale tail.
"""

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

SCALARS_FILE = "scalars.jsonl"


class RunLogger:
    """Writes scalars and images of one run (only instantiate on the main process).

    Args:
        run_dir: the run folder.
        use_tensorboard: write TensorBoard event files under ``run_dir/tb`` when the package is available.
        start_step: the step training starts from (0, or the resumed step); later entries are discarded.
    """

    def __init__(self, run_dir: str | Path, use_tensorboard: bool, start_step: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._scalars_path = self.run_dir / SCALARS_FILE
        _truncate_jsonl(self._scalars_path, start_step)
        self._scalars = open(self._scalars_path, "a")
        self._writer: Any = None
        if use_tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                warnings.warn(
                    "tensorboard is not installed: logging scalars to scalars.jsonl and images as PNG files only "
                    "(pip install tensorboard for the TensorBoard view)",
                    stacklevel=2,
                )
            else:
                purge = start_step + 1 if start_step else None
                self._writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge)

    @property
    def has_tensorboard(self) -> bool:
        """Whether TensorBoard event files are being written."""
        return self._writer is not None

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Log named floats at ``step`` (completed optimisation steps)."""
        self._scalars.write(json.dumps({"step": int(step), **{k: float(v) for k, v in values.items()}}) + "\n")
        self._scalars.flush()
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(name, float(value), step)

    def images(self, step: int, panels: Mapping[str, Tensor]) -> None:
        """Log image panels, each (3, h, w) RGB in [0, 1], at ``step``."""
        for name, image in panels.items():
            image = image.detach().float().clamp(0, 1).cpu()
            if self._writer is not None:
                self._writer.add_image(name, image, step)
            else:
                from PIL import Image

                out = self.run_dir / "images" / f"{name.replace('/', '_')}_{step:08d}.png"
                out.parent.mkdir(exist_ok=True)
                array = (image.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
                Image.fromarray(array).save(out)

    def close(self) -> None:
        """Flush and close the files."""
        self._scalars.close()
        if self._writer is not None:
            self._writer.close()


def read_scalars(run_dir: str | Path) -> list[dict[str, Any]]:
    """The logged scalars of a run, one dict per logged step (with its ``step``), in file order."""
    path = Path(run_dir) / SCALARS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _truncate_jsonl(path: Path, start_step: int) -> None:
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= start_step]
    path.write_text("".join(line + "\n" for line in kept))


def to_float_dict(values: Mapping[str, Tensor | float]) -> dict[str, float]:
    """Named 0-d tensors or numbers as plain floats (one device sync for all tensors)."""
    tensors = {k: v for k, v in values.items() if isinstance(v, Tensor)}
    out = {k: float(v) for k, v in values.items() if not isinstance(v, Tensor)}
    if tensors:
        device = next(iter(tensors.values())).device
        stacked = torch.stack([t.detach().float().reshape(()).to(device) for t in tensors.values()]).cpu().tolist()
        out.update(dict(zip(tensors.keys(), stacked, strict=True)))
    return out
