"""Parsers for the reference outputs in ../shared/data/evo_trajectories and cached trajectory loading.

REFERENCE_VALUES_evo-1.38.1.txt holds verbatim ``evo_ape`` / ``evo_rpe -v`` outputs, and
REFERENCE_VALUES_tum-benchmark-tools.txt the ``--verbose`` outputs of the TUM tools' ``evaluate_ate.py`` and
``evaluate_rpe.py``. Printed values carry 6 decimals, so a value is reproduced when it agrees to 1e-6 relative or
to half a unit of the last printed digit.
"""

import functools
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tests.support.data import SHARED_DATA

from vokit.data.trajectory_io import read_trajectory

SHARED_REF_DIR = SHARED_DATA / "evo_trajectories"

PRINTED_ABS_TOL = 5e-7 + 1e-12
"""Half a unit of the 6th decimal (the printed precision), plus float slack."""


def agrees(ours: float, ref: float, abs_tol: float = PRINTED_ABS_TOL) -> bool:
    """Whether a value reproduces a printed reference value (1e-6 relative or within the printed rounding)."""
    return math.isclose(ours, ref, rel_tol=1e-6, abs_tol=abs_tol)


@dataclass
class EvoBlock:
    command: str
    tool: str
    fmt: str
    ref: str
    est: str
    align: str
    relation: str
    delta: float = 1.0
    delta_unit: str = "f"
    all_pairs: bool = False
    stats: dict[str, float] = field(default_factory=dict)
    n_matched: int | None = None
    n_pairs: int | None = None
    n_compared: int | None = None
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None
    scale: float | None = None


def _options(tokens: list[str]) -> tuple[str, str, float, str, bool]:
    flags = set(tokens)
    align_flag = "-a" in flags or "-as" in flags
    scale_flag = "-s" in flags or "-as" in flags
    align = "sim3" if align_flag and scale_flag else "se3" if align_flag else "scale" if scale_flag else "none"
    relation = tokens[tokens.index("-r") + 1] if "-r" in tokens else "trans_part"
    delta = float(tokens[tokens.index("--delta") + 1]) if "--delta" in tokens else 1.0
    unit = tokens[tokens.index("--delta_unit") + 1] if "--delta_unit" in tokens else "f"
    return align, relation, delta, unit, "--all_pairs" in flags


def parse_evo_reference(path: Path) -> list[EvoBlock]:
    blocks = []
    for chunk in path.read_text().split("=" * 64):
        lines = [ln.rstrip() for ln in chunk.strip().splitlines()]
        if not lines or not lines[0].startswith("$ evo_"):
            continue
        tokens = shlex.split(lines[0][2:])
        align, relation, delta, unit, all_pairs = _options(tokens[4:])
        block = EvoBlock(lines[0][2:], tokens[0], tokens[1], tokens[2], tokens[3], align, relation, delta, unit,
                         all_pairs)
        for k, line in enumerate(lines):
            if m := re.match(r"Found (\d+) of max\. \d+ possible matching timestamps", line):
                block.n_matched = int(m.group(1))
            elif m := re.match(r"Found (\d+) pairs with delta", line):
                block.n_pairs = int(m.group(1))
            elif m := re.match(r"Compared (\d+) (absolute|relative) pose pairs", line):
                block.n_compared = int(m.group(1))
            elif line.startswith("Rotation of alignment:"):
                rows = " ".join(lines[k + 1 : k + 4]).replace("[", " ").replace("]", " ")
                block.rotation = np.array([float(v) for v in rows.split()]).reshape(3, 3)
            elif line.startswith("Translation of alignment:"):
                block.translation = np.array([float(v) for v in lines[k + 1].strip("[]").split()])
            elif line.startswith("Scale correction:"):
                block.scale = float(line.split(":")[1])
            elif m := re.match(r"^\s+(max|mean|median|min|rmse|sse|std)\t(\S+)$", line):
                block.stats[m.group(1)] = float(m.group(2))
        blocks.append(block)
    return blocks


@dataclass
class TumBlock:
    command: str
    script: str
    ref: str
    est: str
    values: dict[str, float] = field(default_factory=dict)


def parse_tum_reference(path: Path) -> list[TumBlock]:
    blocks: list[TumBlock] = []
    for line in path.read_text().splitlines():
        if line.startswith("$ python "):
            tokens = shlex.split(line[2:])
            blocks.append(TumBlock(line[2:], tokens[1], tokens[2], tokens[3]))
        elif blocks and (m := re.match(r"^(\S+) (\S+) (pairs|m|deg)$", line)):
            blocks[-1].values[m.group(1)] = float(m.group(2))
    return blocks


@functools.cache
def load_tum(path: Path, fmt: str = "tum") -> tuple[torch.Tensor, torch.Tensor]:
    return read_trajectory(path, fmt)


@functools.cache
def load_kitti_rows(path: Path) -> torch.Tensor:
    """A KITTI pose file's raw 3x4 rows (validated by the vokit reader first)."""
    read_trajectory(path, "kitti")
    return torch.from_numpy(np.loadtxt(path, dtype=np.float64).reshape(-1, 3, 4))
