"""Frozen vs online-adapted (vs aligned, meta-trained + adapted) networks on shifted domains (METHODS.md 7.6).

Every source is run with `vokit.app.pipeline.run_sequence` once frozen and once per adaptation setting, with the
same frames; the table lists ATE (Sim(3)-aligned), RPE, depth abs_rel (median-scaled), the trivial trajectories
(static camera, constant-velocity line) and the constant-depth predictor, and the seconds per frame (the frozen run
streams one frame per network call, as the online loop does). Sources: ``synthetic:<domain>`` (a test-split
sequence of a `vokit.data.synthetic.domain` domain, e.g. ``synthetic:street-night``) or a dataset folder.

    OMP_NUM_THREADS=1 nice python benchmarks/adapt_eval.py --weights src/vokit/weights/monodepth2-synthetic.pt \
        --sources synthetic:street-night synthetic:room ../shared/data/kitti_odom01_51f --frames 40 \
        --setting adam:1e-4:1:5:1 --out runs/adapt-eval --json runs/adapt-eval/table.json

A dataset folder written ``PATH@K`` uses every K-th frame. A setting is ``optimizer:lr:steps:window:every``.
Pick settings on synthetic sources only.

``--align`` adds an ``adapt+align`` arm per setting: the same online run with feature alignment (METHODS.md 7.4) to
the source statistics stored in the weights (``vokit adapt-stats WEIGHTS --out NEW.pt`` writes them); a setting
with 0 steps then measures alignment alone:

    vokit adapt-stats src/vokit/weights/monodepth2-synthetic.pt --clips 32 --out runs/monodepth2-aligned.pt
    OMP_NUM_THREADS=1 nice python benchmarks/adapt_eval.py --weights runs/monodepth2-aligned.pt \
        --sources synthetic:street-night --frames 40 --setting adam:1e-4:0:3:2 adam:1e-4:1:3:2 --align
"""

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from vokit.adapt.online import AdaptSettings
from vokit.app.pipeline import RunResult, run_sequence
from vokit.data.sequence import Sequence
from vokit.data.synthetic import get_domain, make_sequence, split_seed

SYNTHETIC_SIZE = {"street": (128, 416), "room": (192, 256)}
"""Image size (H, W) of the synthetic sources per scene (the networks resize to their pixel budget)."""


def parse_setting(text: str) -> AdaptSettings:
    """``optimizer:lr:steps:window:every`` -> :class:`AdaptSettings`."""
    optimizer, lr, steps, window, every = text.split(":")
    return AdaptSettings(steps=int(steps), lr=float(lr), optimizer=optimizer, window=int(window),  # type: ignore[arg-type]
                         every=int(every))


def open_benchmark_source(spec: str, frames: int) -> Sequence | str:
    """A synthetic domain's test sequence for ``synthetic:<domain>``, else the path itself."""
    if not spec.startswith("synthetic:"):
        return spec
    name = spec.split(":", 1)[1]
    scene = name.split("-")[0]
    domain = get_domain(scene, name)
    return make_sequence(domain.scene, n_frames=frames, seed=split_seed("test", 0), height=SYNTHETIC_SIZE[scene][0],
                         width=SYNTHETIC_SIZE[scene][1], domain=domain)


def row_of(result: RunResult) -> dict[str, Any]:
    """The table's numbers of one run (None where the source has no such ground truth)."""
    metrics = result.metrics or {}
    depth = (metrics.get("depth") or {}).get("mean", {})
    const = (metrics.get("depth_constant") or {}).get("mean", {})
    trivial = metrics.get("trivial") or {}

    def score(name: str, key: str) -> float | None:
        value = (trivial.get(name) or {}).get(key)
        return float(value) if isinstance(value, (int, float)) else None

    return {
        "ATE": score("estimate", "ate_rmse_m"), "RPE_trans": score("estimate", "rpe_trans_rmse_m"),
        "abs_rel": depth.get("abs_rel"), "const_abs_rel": const.get("abs_rel"),
        "static_ATE": score("static camera", "ate_rmse_m"), "line_ATE": score("constant-velocity line", "ate_rmse_m"),
        "s_per_frame": 1.0 / max(result.frames_per_second, 1e-9),
        "cost_x": adaptation_cost(result.out),
        "predict_s": prediction_seconds(result.out),
    }


def adaptation_cost(run_dir: Path) -> float | None:
    """(prediction + adaptation) / prediction seconds per frame of an adapted run, measured in the same run.

    On a shared CPU the runs' own frames/s swing with the load; the split inside one run does not.
    """
    info = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    adaptation = info.get("adaptation")
    if not adaptation:
        return None
    return float(adaptation["seconds_per_frame"]) / max(float(adaptation["predict_seconds_per_frame"]), 1e-9)


def arms(settings: list[str], align: bool) -> list[tuple[str, AdaptSettings | None, bool]]:
    """``(label, adaptation, align)`` of every run on one source: frozen, each setting, and aligned (``align``)."""
    runs: list[tuple[str, AdaptSettings | None, bool]] = [("frozen", None, False)]
    for text in settings:
        runs.append((f"adapt {text}", parse_setting(text), False))
        if align:
            runs.append((f"adapt+align {text}", parse_setting(text), True))
    return runs


def prediction_seconds(run_dir: Path) -> float | None:
    """Seconds per frame of the predictions alone in an online run (where feature alignment adds its cost)."""
    info = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    adaptation = info.get("adaptation")
    return None if not adaptation else float(adaptation["predict_seconds_per_frame"])


def evaluate(weights: list[Path], sources: list[str], frames: int, settings: list[str], out: Path,
             align: bool = False) -> list[dict[str, Any]]:
    """Run everything; one row per (source, weights, arm). ``PATH@K`` uses every K-th frame of a folder."""
    rows = []
    for spec in sources:
        path_spec, _, every = spec.partition("@")
        stride = int(every) if every else 1
        source = open_benchmark_source(path_spec, frames)
        tag = spec.replace(":", "-").replace("/", "_").replace("@", "-every").strip("._")
        for path in weights:
            for label, adapt, aligned in arms(settings, align):
                result = run_sequence(source, method=None, weights=path, out=out / tag / path.stem / label.replace(
                    " ", "_").replace(":", "_").replace("+", "_"), overwrite=True, progress=False, batch_size=1,
                    max_frames=frames, stride=stride, adapt=adapt, align=aligned)
                row = {"source": spec, "weights": path.stem, "run": label, "frames": result.n_frames,
                       **row_of(result)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    cols = ["source", "weights", "run", "frames", "ATE", "RPE_trans", "abs_rel", "const_abs_rel", "static_ATE",
            "line_ATE", "s_per_frame", "cost_x", "predict_s"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = [f"{row[c]:.3f}" if isinstance(row[c], float) else ("-" if row[c] is None else str(row[c]))
                 for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, nargs="+", required=True)
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--setting", nargs="*", default=["adam:1e-4:1:5:1"])
    parser.add_argument("--out", type=Path, default=Path("runs/adapt-eval"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--align", action="store_true",
                        help="add an adapt+align arm per setting (the weights must store source statistics)")
    args = parser.parse_args()
    rows = evaluate(args.weights, args.sources, args.frames, args.setting, args.out, args.align)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
