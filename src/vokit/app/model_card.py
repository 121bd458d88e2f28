"""The model-card table of a checkpoint (``vokit eval model``): metrics beside trivial predictors.

The table covers the synthetic test split and real sequences.

Each sequence is run with `vokit.app.pipeline.run_sequence` (the method stored in the checkpoint) and its
``metrics.json`` read back: depth abs_rel beside a constant depth map (both median-scaled per image, same pixels),
Sim(3) ATE beside a static camera and a constant-velocity line (`vokit.metrics.trivial`), pooled flow EPE beside
zero flow, and pooled motion-mask IoU, each where the method predicts it and the sequence has the ground truth.
Synthetic rows average the per-sequence values over the first N test-split sequences of a scene (each
sequence's values are themselves means over its frames, pooled for flow and masks).
"""

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vokit.data.sequence import Sequence as FrameSequence

CARD_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("abs_rel", ("depth", "mean", "abs_rel")),
    ("abs_rel const. depth", ("depth_constant", "mean", "abs_rel")),
    ("abs_rel moving", ("depth_moving", "mean", "abs_rel")),
    ("a1", ("depth", "mean", "a1")),
    ("ATE (m)", ("trajectory", "ape", "translation_m", "rmse")),
    ("ATE static (m)", ("trivial", "static camera", "ate_rmse_m")),
    ("ATE const. vel. (m)", ("trivial", "constant-velocity line", "ate_rmse_m")),
    ("flow EPE (px)", ("flow", "epe_pooled")),
    ("EPE zero flow (px)", ("flow_zero", "epe_pooled")),
    ("mask IoU", ("motion_mask", "iou_pooled")),
)
"""Columns of the model-card table: name and key path into a run's ``metrics.json`` (plus ``flow_zero``)."""


@dataclass(frozen=True)
class CardRow:
    """One row of the model card.

    Attributes:
        data: what was evaluated (``"synthetic test: street, 4 x 60 frames at 128x416"``, a folder name).
        values: column name (`CARD_COLUMNS`) -> value, None where the method or the ground truth lacks it.
        sequences: number of sequences averaged.
    """

    data: str
    values: dict[str, float | None]
    sequences: int


@dataclass(frozen=True)
class ModelCard:
    """The model-card table of one checkpoint.

    Attributes:
        weights: the checkpoint file.
        method: the method stored in it.
        rows: synthetic rows first, then one per real sequence.
    """

    weights: Path
    method: str
    rows: tuple[CardRow, ...]

    def table(self) -> str:
        """A Markdown table: one row per evaluated data, "-" where a value is absent."""
        names = [name for name, _ in CARD_COLUMNS]
        lines = ["| data | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for row in self.rows:
            cells = ["-" if row.values[n] is None else f"{row.values[n]:.4g}" for n in names]
            lines.append(f"| {row.data} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"weights": str(self.weights), "method": self.method,
                "rows": [{"data": r.data, "sequences": r.sequences, **r.values} for r in self.rows]}


def card_values(metrics: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The `CARD_COLUMNS` values of one run's ``metrics.json`` content (None where absent or not finite)."""
    out: dict[str, float | None] = {}
    for name, keys in CARD_COLUMNS:
        value: Any = metrics
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        ok = isinstance(value, (int, float)) and value == value and abs(value) != float("inf")
        out[name] = float(value) if ok else None
    return out


def mean_values(rows: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Per column, the mean of the rows' values that are present (None when none is)."""
    out: dict[str, float | None] = {}
    for name, _ in CARD_COLUMNS:
        present = [r[name] for r in rows if r[name] is not None]
        out[name] = sum(present) / len(present) if present else None  # type: ignore[arg-type]
    return out


def zero_flow_epe(sequence: FrameSequence, n_pairs: int) -> float | None:
    """Pooled EPE of zero flow over the ground-truth flow of frames ``0 .. n_pairs - 1`` (None without it)."""
    from vokit.metrics import flow_metrics

    if not sequence.has_flow:
        return None
    gts = [f for f in (sequence.flow(i) for i in range(min(n_pairs, len(sequence)))) if f is not None]
    if not gts:
        return None
    return float(flow_metrics([torch.zeros_like(g) for g in gts], gts).epe_pooled)


def _run(sequence: FrameSequence, weights: Path, out: Path) -> tuple[dict[str, float | None], str]:
    """Card values of one run (with the zero-flow EPE on the frame pairs the run evaluated) and its method."""
    from vokit.app.pipeline import run_sequence

    result = run_sequence(sequence, method=None, weights=weights, out=out, overwrite=True, progress=False)
    metrics = dict(result.metrics or {})
    n_pairs = int(metrics["flow"].get("n_pairs", len(sequence) - 1)) if "flow" in metrics else len(sequence) - 1
    epe_zero = zero_flow_epe(sequence, n_pairs) if "flow" in metrics else None
    if epe_zero is not None:
        metrics["flow_zero"] = {"epe_pooled": epe_zero}
    return card_values(metrics), result.method


def evaluate_model(
    weights: str | Path,
    real: Sequence[str | Path] = (),
    scenes: Sequence[str] = ("street",),
    sequences: int = 4,
    frames: int = 60,
    height: int = 128,
    width: int = 416,
    out: str | Path | None = None,
) -> ModelCard:
    """The model-card table of a checkpoint on the synthetic test split and on real sequences.

    Args:
        weights: checkpoint file (or training run folder) with its method's name.
        real: dataset folders to run too (any layout `vokit run` reads), one row each.
        scenes: synthetic scenes, one row each (sequences ``split_seed("test", 0 .. sequences - 1)``).
        sequences: test-split sequences per scene (0 skips the synthetic rows).
        frames: frames per synthetic sequence.
        height: synthetic image height in pixels.
        width: synthetic image width in pixels.
        out: folder for the run outputs (``<out>/<data>/``: depth, report, metrics.json); None = a temporary one.

    Returns:
        The `ModelCard`.

    Raises:
        VokitError: an unreadable checkpoint or sequence, or a bad argument (naming it).
    """
    from vokit.app.pipeline import open_source
    from vokit.data.synthetic import SyntheticWorld, split_seed
    from vokit.errors import VokitError

    if sequences < 0 or frames < 2:
        raise VokitError(f"vokit eval model needs sequences >= 0 and frames >= 2, got {sequences} and {frames}")
    path = Path(weights)
    rows: list[CardRow] = []
    method = ""
    with tempfile.TemporaryDirectory(prefix="vokit-eval-model-") as tmp:
        root = Path(out) if out is not None else Path(tmp)
        for scene in scenes if sequences > 0 else ():
            per_sequence = []
            for index in range(sequences):
                world = SyntheticWorld(scene, frames, split_seed("test", index), height, width, memory_cache=frames)
                values, method = _run(world.as_sequence(), path, root / f"test-{scene}-{index}")
                per_sequence.append(values)
            label = f"synthetic test: {scene}, {sequences} x {frames} frames at {height}x{width}"
            rows.append(CardRow(label, mean_values(per_sequence), sequences))
        for source in real:
            sequence, _ = open_source(source)
            name = Path(source).name or str(source)
            values, method = _run(sequence, path, root / f"real-{name}")
            rows.append(CardRow(f"{name} ({len(sequence)} frames)", values, 1))
    return ModelCard(weights=path, method=method, rows=tuple(rows))
