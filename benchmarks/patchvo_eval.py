"""Evaluate patchvo (METHODS.md section 4.6) on the synthetic test split and on real sequences.

    python benchmarks/patchvo_eval.py                                   # synthetic test split, --operator lk
    python benchmarks/patchvo_eval.py --synthetic 0 --real /data/kitti_odom01_51f /data/7scenes/data
    python benchmarks/patchvo_eval.py --operators lk oracle --draws 5 --json runs/patchvo_eval.json

Every sequence runs ``--draws`` times with different patch draws (seeds 0..draws-1); the table gives the median
Sim(3) ATE (translation RMSE, metres, and rotation RMSE after the same alignment, degrees) with the min-max spread,
beside the static camera and the constant-velocity line (:func:`vokit.metrics.trivial.compare_with_trivial`) and,
where given with ``--baseline NAME=ATE``, other methods' numbers. Synthetic sequences come from
``split_seed("test", i)`` of the street and room scenes (``--scenes`` also takes clutter and domains such as
``street-highway``). Frames without ground truth are dropped from scoring
(the run still uses them).
"""

import argparse
import ast
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from vokit.data.readers import open_sequence
from vokit.data.sequence import Sequence
from vokit.data.synthetic import make_sequence, split_seed
from vokit.errors import VokitError
from vokit.methods.patchvo import run_patchvo
from vokit.metrics.trivial import compare_with_trivial


def _literal(text: str) -> Any:
    """A Python literal (numbers, True/False/None, tuples), else the text itself (e.g. ``selector=corner``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _score(seq: Sequence, world_from_cam: torch.Tensor) -> dict:
    """Sim(3) ATE and rotation error beside the trivial trajectories; a degenerate estimate (all camera centres at
    one point, which no similarity aligns) scores as the static camera, its rotation error as NaN."""
    assert seq.world_from_cam is not None
    try:
        cmp = compare_with_trivial(seq.world_from_cam, world_from_cam.double(), seq.timestamps, align="sim3")
    except VokitError:
        line = compare_with_trivial(seq.world_from_cam, seq.world_from_cam, seq.timestamps, align="sim3")
        return {"ate": line.static.ate.rmse, "rot": float("nan"), "static": line.static.ate.rmse,
                "line": line.line.ate.rmse, "degenerate": True}
    return {"ate": cmp.estimate.ate.rmse, "rot": cmp.estimate.ate_rot.rmse, "static": cmp.static.ate.rmse,
            "line": cmp.line.ate.rmse, "degenerate": False}


def evaluate(seq: Sequence, operator: str, preset: str, draws: int, overrides: dict, model: Any = None) -> dict:
    """Median, min and max over ``draws`` patch draws of ATE, rotation error and frames/s on one sequence."""
    runs = []
    for seed in range(draws):
        res = run_patchvo(seq, operator, preset, seed=seed, model=model if operator == "learned" else None,
                          **overrides)
        score = _score(seq, res.world_from_cam)
        runs.append({**score, "fps": res.frames_per_second, "keyframes": len(res.keyframes),
                     "timings_s": res.timings_s})
    out = {"sequence": seq.name, "operator": operator, "preset": preset, "frames": len(seq), "runs": runs}
    for key in ("ate", "rot", "fps"):
        values = [r[key] for r in runs]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    out["static"], out["line"] = runs[0]["static"], runs[0]["line"]
    return out


def _row(r: dict, baselines: dict[str, float]) -> str:
    ate, rot, fps = r["ate"], r["rot"], r["fps"]
    base = " ".join(f"{baselines.get(r['sequence'], float('nan')):>9.4g}" for _ in [0] if baselines)
    return (f"{r['sequence'][:30]:<30} {r['operator']:<7} {ate['median']:>9.4g} [{ate['min']:.3g}-{ate['max']:.3g}]"
            f" {rot['median']:>8.3g} {r['static']:>9.4g} {r['line']:>9.4g} {base} {fps['median']:>6.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--operators", nargs="+", default=["lk"], help="lk, oracle, learned")
    p.add_argument("--preset", default="default")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--synthetic", type=int, default=3, help="test-split sequences per scene (0: none)")
    p.add_argument("--scenes", nargs="+", default=["street", "room"],
                   help="scenes or domains of the synthetic world (street, room, clutter, street-highway, ...)")
    p.add_argument("--frames", type=int, default=80, help="frames per synthetic sequence")
    p.add_argument("--size", type=int, nargs=2, default=[240, 320], metavar=("H", "W"))
    p.add_argument("--cache", default=None, help="folder for rendered synthetic frames")
    p.add_argument("--real", nargs="*", default=[], help="real sequence folders (any vokit reader)")
    p.add_argument("--max-frames", type=int, default=None, help="use at most this many frames of a real sequence")
    p.add_argument("--baseline", nargs="*", default=[], help="SEQUENCE_NAME=ATE of another method, printed beside")
    p.add_argument("--set", nargs="*", default=[], help="PatchVOConfig overrides, FIELD=VALUE (python literal)")
    p.add_argument("--json", default=None, help="write all runs here")
    p.add_argument("--weights", default=None, help="patchvo checkpoint (run folder or .pt) for --operators learned")
    args = p.parse_args(argv)

    overrides = {k: _literal(v) for k, v in (s.split("=", 1) for s in args.set)}
    baselines = {k: float(v) for k, v in (s.split("=", 1) for s in args.baseline)}
    model = None
    if args.weights:
        from vokit.engine.checkpoint import load_checkpoint

        model = load_checkpoint(args.weights)[0].net.eval()
    seqs: list[Sequence] = []
    for name in args.scenes if args.synthetic else []:
        scene = name.split("-", 1)[0]  # "street" or a domain of it, e.g. "street-highway"
        for i in range(args.synthetic):
            seqs.append(make_sequence(scene, n_frames=args.frames, seed=split_seed("test", i), height=args.size[0],
                                      width=args.size[1], cache_dir=args.cache, domain=name))
    for path in args.real:
        s = open_sequence(path)
        if args.max_frames:
            s = s.subsequence(0, args.max_frames)
        seqs.append(s)
    head = (f"{'sequence':<30} {'op':<7} {'ATE (m) [min-max]':>24} {'rot(deg)':>8} {'static':>9} {'line':>9}"
            f"{' baseline' if baselines else ''} {'fps':>6}")
    print(f"patchvo, preset {args.preset}, {args.draws} draws, Sim(3) ATE median per sequence; overrides {overrides}")
    print(head + "\n" + "-" * len(head), flush=True)
    rows = []
    for seq in seqs:
        if seq.world_from_cam is None:
            print(f"{seq.name}: no ground truth, skipped", file=sys.stderr)
            continue
        for op in args.operators:
            r = evaluate(seq, op, args.preset, args.draws, overrides, model)
            rows.append(r)
            print(_row(r, baselines), flush=True)
    for op in args.operators:
        mine = [r for r in rows if r["operator"] == op]
        if mine:
            mean = statistics.mean(r["ate"]["median"] for r in mine)
            beats = sum(r["ate"]["median"] < min(r["static"], r["line"]) for r in mine)
            print(f"{op}: mean of medians {mean:.4g} m; better than both trivial trajectories on {beats}/{len(mine)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
