"""The DRO method: registry, training steps on ClipBatches, inference over a sequence, 20-step preset smoke tests."""

import json
from pathlib import Path

import pytest
import torch
from tests.app.test_pipeline import write_tiny_street
from tests.engine.tiny import tiny_config

from vokit.app.pipeline import run_sequence
from vokit.data.synthetic import SyntheticWorld, split_seed
from vokit.engine import load_checkpoint, train
from vokit.errors import VokitError
from vokit.geometry import lie
from vokit.methods import registry
from vokit.methods.batch import collate_clips
from vokit.methods.dro import (
    DROSettings,
    build_model,
    ground_truth_ref_from_target,
    infer_sequence,
    training_step,
)
from vokit.methods.interface import Method
from vokit.nets.dro import DRONet

TINY = DROSettings(width=0.125, dro_hidden=16, dro_feature_dim=8, dro_context_dim=8, dro_version="it4-seq2-h")
TINY_MODEL = dict(width=0.125, dro_hidden=16, dro_feature_dim=8, dro_context_dim=8)


def _batch() -> object:
    sequence = SyntheticWorld("street", 4, split_seed("train", 0), 64, 96).as_sequence()
    return collate_clips([sequence.clip([0, 1, 2]), sequence.clip([1, 2, 3])])


def test_dro_is_registered() -> None:
    method = registry.get_method("dro")
    assert isinstance(method, Method) and method.input_stride == 16 and method.outputs == {"depth"}


def test_ground_truth_poses_are_reference_from_target() -> None:
    world = lie.se3_exp(0.3 * torch.randn(2, 3, 6, dtype=torch.float64))
    rel = ground_truth_ref_from_target(world)
    for v, r in enumerate((0, 2)):
        expected = lie.se3_compose(lie.se3_inverse(world[:, r]), world[:, 1])
        torch.testing.assert_close(lie.se3_act(rel[:, v], torch.ones(2, 3, dtype=torch.float64)),
                                   lie.se3_act(expected, torch.ones(2, 3, dtype=torch.float64)))


@pytest.mark.parametrize("supervision", ["supervised", "self-supervised"])
def test_training_step_trains_every_part(supervision: str) -> None:
    torch.manual_seed(0)
    settings = DROSettings(**{**TINY.__dict__, "dro_supervision": supervision})
    model = build_model(settings, (64, 96))
    out = training_step(model, _batch(), want_images=True, settings=settings)  # type: ignore[arg-type]
    assert torch.isfinite(out.loss) and out.loss > 0
    out.loss.backward()
    for part in (model.fnet, model.cnet_depth, model.cnet_pose, model.depth_gru, model.pose_gru):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert out.images["image/inv_depth"].shape == (3, 64, 96)


def test_supervised_step_needs_ground_truth() -> None:
    batch = _batch()
    model = build_model(TINY, (64, 96))
    no_gt = type(batch)(images=batch.images, net_images=batch.net_images, intrinsics=batch.intrinsics)  # type: ignore[attr-defined]
    with pytest.raises(VokitError, match="ground-truth depth and poses"):
        training_step(model, no_gt, settings=TINY)


def test_bad_sizes_and_versions_are_vokit_errors() -> None:
    with pytest.raises(VokitError, match="multiples of 16"):
        build_model(TINY, (60, 96))
    with pytest.raises(VokitError, match="dro_version"):
        build_model(DROSettings(dro_version="it10"), (64, 96))


def test_infer_sequence_depth_per_frame_and_chained_poses() -> None:
    torch.manual_seed(0)
    model = build_model(TINY, (64, 96))
    sequence = SyntheticWorld("street", 4, split_seed("test", 0), 48, 80).as_sequence()
    seen: list[int] = []
    pred = infer_sequence(model, sequence, show_progress=False, on_frame=lambda f: seen.append(f.position))
    assert seen == [0, 1, 2, 3]
    assert pred.depth is not None and pred.depth.shape == (4, 48, 80) and (pred.depth > 0).all()
    assert pred.cam_next_from_cam.shape == (3, 7) and pred.world_from_cam.shape == (4, 7)
    # the chain: world_from_cam[1] is the inverse of cam_1_from_cam_0
    expected = lie.se3_inverse(pred.cam_next_from_cam[0])
    torch.testing.assert_close(pred.world_from_cam[1, :3], expected[:3])
    with pytest.raises(VokitError, match="two frames"):
        infer_sequence(model, sequence, frames=[0], show_progress=False)


@pytest.mark.slow  # 20-40 s each on the shared 2-core machine
@pytest.mark.parametrize("preset", ["dro-synthetic", "dro-selfsup-synthetic"])
def test_twenty_step_training_smoke(preset: str, tmp_path: Path) -> None:
    config = tiny_config(preset, tmp_path / "runs", steps=20, model=TINY_MODEL, data=dict(width=64))
    run_dir = train(config)
    lines = [json.loads(x) for x in (run_dir / "scalars.jsonl").read_text().splitlines()]
    losses = [x["train/loss"] for x in lines if "train/loss" in x]
    assert lines[-1]["step"] == 20 and all(map(lambda v: v == v and v < 1e3, losses))
    model, loaded = load_checkpoint(run_dir)
    assert isinstance(model, DRONet) and loaded.model.method == "dro"
    assert model.schedule.inter == (preset == "dro-selfsup-synthetic")


def test_vokit_run_method_dro_writes_outputs(tmp_path: Path) -> None:
    config = tiny_config("dro-synthetic", tmp_path / "runs", steps=2, model=TINY_MODEL)
    run_dir = train(config)
    street = write_tiny_street(tmp_path / "street", n_frames=3)
    result = run_sequence(street, method="dro", out=tmp_path / "run", weights=run_dir, progress=False)
    assert result.method == "dro" and result.n_frames == 3
    assert len(list((result.out / "depth").glob("*.png"))) == 3
    metrics = json.loads((result.out / "metrics.json").read_text())
    assert metrics["method"] == "dro" and "depth" in metrics
