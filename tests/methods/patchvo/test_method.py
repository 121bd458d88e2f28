"""patchvo through the method interface: `vokit run --method patchvo` without weights, and 20 training steps."""

import json
from pathlib import Path

import torch
from tests.engine.tiny import tiny_config

from vokit.app.pipeline import run_sequence
from vokit.data.synthetic import make_sequence
from vokit.engine import load_checkpoint, train
from vokit.methods import registry
from vokit.methods.interface import Method
from vokit.methods.patchvo.method import PatchVOModel, PatchVOSettings, training_loss


def test_patchvo_is_a_registered_method() -> None:
    method = registry.get_method("patchvo")
    assert isinstance(method, Method) and "patches" in method.outputs


def test_run_lk_without_weights_writes_every_output(tmp_path: Path) -> None:
    seq = make_sequence("room", n_frames=12, seed=5, height=64, width=96)
    result = run_sequence(seq, method="patchvo", operator="lk", out=tmp_path / "run", progress=False)
    out = result.out
    for name in ("trajectory_tum.txt", "trajectory_kitti.txt", "points.ply", "metrics.json", "report.html",
                 "config.yaml"):
        assert (out / name).is_file(), name
    assert not (out / "depth").exists()
    rows = [r for r in (out / "trajectory_tum.txt").read_text().splitlines() if not r.startswith("#")]
    assert len(rows) == 12
    header = (out / "points.ply").read_bytes().split(b"end_header")[0].decode()
    assert "element vertex" in header and "red" in header
    metrics = json.loads((out / "metrics.json").read_text())
    assert "trajectory" in json.dumps(metrics)
    pred = result.prediction
    assert pred.depth is None and pred.patches is not None and pred.patches.shape[0] == 12
    assert pred.points_world is not None and bool(torch.isfinite(pred.points_world).all())


def test_training_loss_has_gradients_and_warmup_fixes_poses() -> None:
    seq = make_sequence("room", n_frames=5, seed=3, height=48, width=64)
    clip = seq.clip(list(range(5)))
    assert clip.world_from_cam is not None and clip.depth is not None
    st = PatchVOSettings(operator="learned", hidden_dim=16, width=0.125, train_patches=6, train_iters=3,
                         structure_warmup_steps=1)
    model = PatchVOModel(st, (48, 64))
    for step in (0, 1):
        loss, terms = training_loss(model, clip.images, clip.intrinsics, clip.world_from_cam, clip.depth, step, st,
                                    torch.Generator().manual_seed(0))
        model.zero_grad()
        loss.backward()
        assert bool(torch.isfinite(loss))
        grads = [p.grad for p in model.net.update.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0
        assert (float(terms["loss/pose"]) == 0.0) == (step == 0)  # no pose loss in the warm-up


def test_patchvo_synthetic_trains_20_steps(tmp_path: Path) -> None:
    config = tiny_config("patchvo-synthetic", tmp_path, steps=20,
                         data=dict(sequence_frames=6, clip_frames=4))
    run_dir = train(config)
    model, loaded_config = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert isinstance(model, PatchVOModel) and loaded_config.model.method == "patchvo"
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
