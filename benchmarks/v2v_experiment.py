"""Baseline vs V2V training of patchvo at the same budget (METHODS.md sections 4.5 and 5.3), measured as steps saved.

    python benchmarks/v2v_experiment.py --steps 2000 --eval-every 200 --seeds 3 --out runs/v2v_experiment
    python benchmarks/v2v_experiment.py --steps 2 --eval-every 1 --seeds 1 --val-sequences 1 --val-frames 10 \\
        --height 48 --width 64 --clip-frames 3 --sequence-frames 6 --n-sequences 1 --out /tmp/v2v_smoke  # smoke

Recipes: ``baseline`` is ``patchvo-synthetic`` with the flow loss on all edges (section 5.2: both arms of the
comparison use ``all``, so that only the V2V recipe differs: weighting, balancing, no structure-only warm-up,
5x learning rate); ``v2v`` is ``patchvo-v2v-synthetic``. Each recipe trains ``--seeds`` runs of ``--steps`` steps
(``train.seed`` = 0, 1, ...), keeping a checkpoint every ``--eval-every`` steps. Every checkpoint runs the learned
operator over ``--val-sequences`` held-out sequences of the synthetic world's validation split (the training
scene, ``--val-frames`` frames each, patch-draw seed 0) and is scored by the Sim(3)-aligned ATE (translation RMSE,
metres; METHODS.md 4.6 / 9.2), averaged over the sequences.

Writes ``v2v_experiment.json`` (every run's curve, per-recipe mean / min / max over seeds, steps-to-target),
``v2v_curves.png`` (mean validation ATE over steps, the band spanning the seeds' min and max) and prints the
steps-to-target table: the first evaluated step at which a run's validation ATE is at or below the baseline's final
mean validation ATE (the paper's claim: V2V gets there in half the steps or fewer).
"""

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vokit.data.sequence import Sequence
from vokit.data.synthetic import make_sequence, split_seed
from vokit.engine import get_preset, load_checkpoint, train
from vokit.engine.checkpoint import list_checkpoints
from vokit.engine.configs import ExperimentConfig
from vokit.methods.patchvo import run_patchvo
from vokit.methods.patchvo.method import PatchVOModel
from vokit.metrics.plots import plot_series_over_steps
from vokit.metrics.trajectory import absolute_trajectory_error

RECIPES = {"baseline": "patchvo-synthetic", "v2v": "patchvo-v2v-synthetic"}


def recipe_config(recipe: str, seed: int, args: argparse.Namespace) -> ExperimentConfig:
    """The preset of ``recipe`` with the experiment's budget, seed, folders and optional size overrides."""
    cfg = get_preset(RECIPES[recipe])
    data: dict[str, Any] = {k: v for k, v in (("height", args.height), ("width", args.width),
                                              ("clip_frames", args.clip_frames),
                                              ("sequence_frames", args.sequence_frames),
                                              ("n_sequences", args.n_sequences)) if v is not None}
    loss = replace(cfg.loss, flow_loss_edges="all")
    n_ckpt = args.steps // args.eval_every + 1
    train_cfg = replace(cfg.train, steps=args.steps, checkpoint_every=args.eval_every, keep_checkpoints=n_ckpt,
                        seed=seed, out_dir=str(args.out / "runs"), run_name=f"{recipe}-seed{seed}",
                        device=args.device)
    log = replace(cfg.log, use_progress_bar=False, image_every=0)
    return replace(cfg, data=replace(cfg.data, **data), loss=loss, train=train_cfg, log=log)


def validation_sequences(cfg: ExperimentConfig, count: int, frames: int) -> list[Sequence]:
    """Held-out sequences: the validation split of the training scene at the training size."""
    d = cfg.data
    return [make_sequence(d.scene, n_frames=frames, seed=split_seed("val", i), height=d.height, width=d.width,
                          domain=d.domain) for i in range(count)]


def validation_ate(checkpoint: Path, sequences: list[Sequence], preset: str | None = None) -> float:
    """Mean over the sequences of the Sim(3)-aligned ATE (m) of the learned operator (patch-draw seed 0).

    ``preset`` is the VO-loop preset (default: the checkpoint's).
    """
    model, _ = load_checkpoint(checkpoint)
    assert isinstance(model, PatchVOModel)
    ates = []
    with torch.no_grad():
        for seq in sequences:
            assert seq.world_from_cam is not None
            res = run_patchvo(seq, "learned", preset or model.preset, seed=0, model=model.net)
            ate = absolute_trajectory_error(seq.world_from_cam, res.world_from_cam.double(), "sim3")
            ates.append(ate.errors.trans.rmse)
    return statistics.fmean(ates)


def run_curve(recipe: str, seed: int, args: argparse.Namespace, sequences: list[Sequence]) -> dict[str, Any]:
    """Train one run and score each of its checkpoints; {"steps": [...], "ate": [...], "train_s": ...}."""
    cfg = recipe_config(recipe, seed, args)
    start = time.perf_counter()
    run_dir = train(cfg)
    train_s = time.perf_counter() - start
    steps, ates = [], []
    for step, path in list_checkpoints(run_dir):
        steps.append(step)
        ates.append(validation_ate(path, sequences, args.val_preset))
        print(f"  {recipe} seed {seed} step {step}: validation ATE {ates[-1]:.4f} m", flush=True)
    return {"recipe": recipe, "seed": seed, "run_dir": str(run_dir), "steps": steps, "ate": ates, "train_s": train_s}


def summarise(curves: list[dict[str, Any]]) -> dict[str, Any]:
    """Per recipe: mean / min / max over seeds at each step, and the steps to the baseline's final mean ATE."""
    out: dict[str, Any] = {}
    for recipe in RECIPES:
        runs = [c for c in curves if c["recipe"] == recipe]
        steps = runs[0]["steps"]
        per_step = list(zip(*(r["ate"] for r in runs), strict=True))
        out[recipe] = {"steps": steps, "mean": [statistics.fmean(v) for v in per_step],
                       "min": [min(v) for v in per_step], "max": [max(v) for v in per_step]}
    target = out["baseline"]["mean"][-1]
    for recipe in RECIPES:
        reached = []
        for run in (c for c in curves if c["recipe"] == recipe):
            hit = [s for s, a in zip(run["steps"], run["ate"], strict=True) if a <= target]
            reached.append(hit[0] if hit else None)
        done = [s for s in reached if s is not None]
        out[recipe]["steps_to_target"] = reached
        out[recipe]["mean_steps_to_target"] = statistics.fmean(done) if len(done) == len(reached) else None
    out["target_ate"] = target
    return out


def _table(summary: dict[str, Any]) -> str:
    lines = [f"target: baseline final mean validation ATE {summary['target_ate']:.4f} m",
             "| recipe | final mean ATE (m) [min-max] | steps to target per seed | mean |", "|---|---|---|---|"]
    for recipe in RECIPES:
        r = summary[recipe]
        mean = r["mean_steps_to_target"]
        lines.append(f"| {recipe} | {r['mean'][-1]:.4f} [{r['min'][-1]:.4f}-{r['max'][-1]:.4f}] | "
                     f"{r['steps_to_target']} | {'not reached by every seed' if mean is None else f'{mean:.0f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the experiment; exit status 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps per run (same for both recipes)")
    parser.add_argument("--eval-every", type=int, default=200, help="K: validation every K steps")
    parser.add_argument("--seeds", type=int, default=3, help="runs per recipe (train.seed 0..N-1)")
    parser.add_argument("--val-sequences", type=int, default=4, help="held-out validation sequences")
    parser.add_argument("--val-frames", type=int, default=40, help="frames per validation sequence")
    parser.add_argument("--val-preset", choices=("default", "fast"), default=None,
                        help="VO-loop preset of the validation runs (default: the model's)")
    parser.add_argument("--height", type=int, default=None, help="training and validation image height")
    parser.add_argument("--width", type=int, default=None, help="training and validation image width")
    parser.add_argument("--clip-frames", type=int, default=None, help="frames per training clip")
    parser.add_argument("--sequence-frames", type=int, default=None, help="frames per training sequence")
    parser.add_argument("--n-sequences", type=int, default=None, help="training sequences")
    parser.add_argument("--device", default="auto", help="torch device of the training runs")
    parser.add_argument("--out", type=Path, default=Path("runs/v2v_experiment"), help="output folder")
    args = parser.parse_args(argv)
    if args.steps < args.eval_every or args.eval_every < 1:
        parser.error("--eval-every must be >= 1 and <= --steps")
    sequences = validation_sequences(recipe_config("baseline", 0, args), args.val_sequences, args.val_frames)
    curves = [run_curve(recipe, seed, args, sequences) for recipe in RECIPES for seed in range(args.seeds)]
    summary = summarise(curves)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"args": {k: str(v) for k, v in vars(args).items()}, "curves": curves, "summary": summary}
    (args.out / "v2v_experiment.json").write_text(json.dumps(payload, indent=2) + "\n")
    series = {r: (summary[r]["steps"], summary[r]["mean"]) for r in RECIPES}
    spread = {r: (summary[r]["min"], summary[r]["max"]) for r in RECIPES}
    plot_series_over_steps(series, args.out / "v2v_curves.png", "validation ATE, m (Sim(3))",
                           title=f"baseline vs V2V, {args.seeds} seed(s): mean, min-max band", spread=spread)
    print(_table(summary))
    print(f"wrote {args.out / 'v2v_experiment.json'} and {args.out / 'v2v_curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
