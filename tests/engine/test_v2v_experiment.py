"""benchmarks/v2v_experiment.py: the recipes' configs and the steps-to-target summary (the runs are too slow here)."""

import argparse
from pathlib import Path

import pytest
from benchmarks.v2v_experiment import recipe_config, summarise


def _args(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(height=64, width=96, clip_frames=3, sequence_frames=None, n_sequences=1, steps=40,
                              eval_every=10, out=tmp_path, device="cpu")


def test_recipes_differ_only_by_the_v2v_recipe(tmp_path: Path) -> None:
    base, v2v = recipe_config("baseline", 1, _args(tmp_path)), recipe_config("v2v", 1, _args(tmp_path))
    assert base.loss.flow_loss_edges == v2v.loss.flow_loss_edges == "all"  # METHODS.md 5.2: both arms use all edges
    assert not base.loss.weighted_flow_loss and v2v.loss.weighted_flow_loss and v2v.loss.loss_balancing
    assert base.data == v2v.data and base.data.height == 64 and base.data.n_sequences == 1
    assert base.train.steps == v2v.train.steps == 40 and base.train.checkpoint_every == 10
    assert base.train.seed == 1 and base.train.keep_checkpoints >= 5
    assert v2v.optim.lr == pytest.approx(5 * base.optim.lr)


def test_steps_to_target_is_the_first_step_at_or_below_the_baseline_final_mean() -> None:
    curves = [
        {"recipe": "baseline", "seed": 0, "steps": [10, 20, 30], "ate": [0.5, 0.4, 0.30]},
        {"recipe": "baseline", "seed": 1, "steps": [10, 20, 30], "ate": [0.6, 0.35, 0.34]},
        {"recipe": "v2v", "seed": 0, "steps": [10, 20, 30], "ate": [0.31, 0.2, 0.1]},
        {"recipe": "v2v", "seed": 1, "steps": [10, 20, 30], "ate": [0.5, 0.4, 0.35]},
    ]
    out = summarise(curves)
    assert out["target_ate"] == pytest.approx(0.32)
    assert out["baseline"]["steps_to_target"] == [30, None] and out["baseline"]["mean_steps_to_target"] is None
    assert out["v2v"]["steps_to_target"] == [10, None]
    assert out["v2v"]["mean"] == pytest.approx([0.405, 0.3, 0.225])
    assert out["v2v"]["min"] == [0.31, 0.2, 0.1] and out["v2v"]["max"] == [0.5, 0.4, 0.35]
