"""Metrics of trained weights on the synthetic test split (the numbers in the model cards and the README).

Runs each checkpoint over the first K test-split street sequences with `vokit.app.pipeline.run_sequence`,
then averages the headline metrics over sequences (each sequence's numbers are themselves means over its frames,
pooled for flow EPE and motion-mask IoU). Optional real sequences (../shared/data samples) are run once each.

    python examples/evaluate_weights.py --weights src/vokit/weights/coopnet-synthetic.pt \
        src/vokit/weights/monodepth2-synthetic.pt --sequences 4 --frames 60 --out runs/model-card-eval
"""

import argparse
import json
from pathlib import Path
from typing import Any

from vokit.app.outputs import format_summary, summary_row
from vokit.app.pipeline import run_sequence
from vokit.data.synthetic import SyntheticWorld, split_seed


def _mean_rows(rows: list[dict[str, float | str]]) -> dict[str, float | str]:
    keys = rows[0].keys()
    out: dict[str, float | str] = {}
    for key in keys:
        values = [r[key] for r in rows if isinstance(r[key], float)]
        out[key] = sum(values) / len(values) if values else "-"
    return out


def evaluate(weights: list[Path], sequences: int, frames: int, out: Path, real: list[str]) -> dict[str, Any]:
    """Run every checkpoint on the test split (and the real sources); returns the tables as plain data."""
    synthetic: dict[str, dict[str, float | str]] = {}
    per_source: dict[str, dict[str, dict[str, float | str]]] = {}
    for path in weights:
        name = path.stem
        rows = []
        for index in range(sequences):
            seed = split_seed("test", index)
            sequence = SyntheticWorld("street", frames, seed, 128, 416, memory_cache=frames).as_sequence()
            result = run_sequence(sequence, method=None, weights=path, out=out / name / f"test-{index}",
                                  overwrite=True, progress=False)
            rows.append(summary_row(result.metrics, result.frames_per_second))
        synthetic[name] = _mean_rows(rows)
        for source in real:
            result = run_sequence(source, method=None, weights=path, out=out / name / Path(source).name,
                                  overwrite=True, progress=False)
            per_source.setdefault(Path(source).name, {})[name] = summary_row(result.metrics,
                                                                            result.frames_per_second)
    return {"synthetic_test": synthetic, "real": per_source, "sequences": sequences, "frames": frames}


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, nargs="+", required=True)
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--real", nargs="*", default=[], help="dataset folders to run as well (e.g. KITTI 01)")
    parser.add_argument("--out", type=Path, default=Path("runs/model-card-eval"))
    args = parser.parse_args()
    tables = evaluate(args.weights, args.sequences, args.frames, args.out, args.real)
    print(f"synthetic test split: street, {args.sequences} sequences x {args.frames} frames, 128x416")
    print(format_summary(tables["synthetic_test"]))
    for source, rows in tables["real"].items():
        print(f"\n{source}")
        print(format_summary(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(tables, indent=2))


if __name__ == "__main__":
    main()
