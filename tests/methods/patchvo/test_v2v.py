"""patchvo's V2V options (METHODS.md 5.2-5.3): the preset, the balancing in the training step, and its checkpoint."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tests.engine.tiny import tiny_config

from vokit.data.synthetic import make_sequence
from vokit.engine import load_checkpoint, train
from vokit.engine.checkpoint import atomic_torch_save, make_checkpoint
from vokit.engine.registry import get_method, method_settings
from vokit.losses.v2v import LossBalancer
from vokit.methods.patchvo.method import PatchVOModel, PatchVOSettings, training_loss


def _clip():  # noqa: ANN202
    seq = make_sequence("room", n_frames=5, seed=3, height=48, width=64)
    clip = seq.clip(list(range(5)))
    assert clip.world_from_cam is not None and clip.depth is not None
    return clip


def _loss(model: PatchVOModel, st: PatchVOSettings, step: int):  # noqa: ANN202
    clip = _clip()
    return training_loss(model, clip.images, clip.intrinsics, clip.world_from_cam, clip.depth, step, st,
                         torch.Generator().manual_seed(0))


TINY = dict(operator="learned", hidden_dim=16, width=0.125, train_patches=6, train_iters=3)


def test_preset_is_the_baseline_plus_the_v2v_options() -> None:
    base, v2v = tiny_config("patchvo-synthetic", Path(".")), tiny_config("patchvo-v2v-synthetic", Path("."))
    assert v2v.data == base.data and v2v.model == base.model
    assert v2v.loss.weighted_flow_loss and v2v.loss.loss_balancing and v2v.loss.flow_loss_edges == "all"
    assert v2v.loss.structure_warmup_steps == 0 and base.loss.structure_warmup_steps == 1000
    assert not base.loss.weighted_flow_loss
    settings = method_settings(get_method("patchvo").method, v2v)
    assert settings.weighted_flow_loss and settings.loss_balancing and settings.structure_warmup_steps == 0


def test_without_v2v_options_the_loss_is_the_reference_sum() -> None:
    st = PatchVOSettings(**TINY, structure_warmup_steps=0)
    loss, terms = _loss(PatchVOModel(st, (48, 64)), st, 1)
    assert "balance/beta" not in terms
    expected = 0.1 * terms["loss/flow"] + 10.0 * terms["loss/pose"]
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-6, atol=0)  # float32 sums in another order


def test_balancing_runs_every_k_steps_in_training_only() -> None:
    st = PatchVOSettings(**TINY, structure_warmup_steps=0, weighted_flow_loss=True, flow_loss_edges="all",
                         loss_balancing=True, balance_every=2)
    model = PatchVOModel(st, (48, 64)).train()
    assert isinstance(model.balancer, LossBalancer)
    _loss(model, st, 1)
    assert int(model.balancer.count) == 0  # not a balancing step
    loss, terms = _loss(model, st, 2)
    assert int(model.balancer.count) == 1 and float(terms["balance/beta"]) != 1.0
    beta = float(model.balancer.beta)
    # the step's loss uses the updated beta: beta * 0.1 * flow + 10 (tr + gamma ro) >= beta * 0.1 * flow
    assert float(loss.detach()) >= beta * 0.1 * float(terms["loss/flow"]) * (1 - 1e-6)
    model.eval()
    _loss(model, st, 4)
    assert int(model.balancer.count) == 1


def test_balancing_state_is_in_the_checkpoint(tmp_path: Path) -> None:
    config = tiny_config("patchvo-v2v-synthetic", tmp_path)
    bound = get_method("patchvo")
    model = bound.build_model(config).train()
    st = method_settings(bound.method, config)
    assert isinstance(model, PatchVOModel) and isinstance(model.balancer, LossBalancer)
    model.balancer.update(1.0, 3.0, 2.0, 1.0)
    model.balancer.update(1.0, 5.0, 2.0, 4.0)
    path = atomic_torch_save(make_checkpoint(config, 40, model), tmp_path / "step_40.pt")
    loaded, _ = load_checkpoint(path)
    assert isinstance(loaded, PatchVOModel) and isinstance(loaded.balancer, LossBalancer)
    for name, value in model.balancer.state_dict().items():
        assert torch.equal(loaded.balancer.state_dict()[name], value), name
    assert float(loaded.balancer.beta) == pytest.approx(4.0) and st.balance_every == 20


@pytest.mark.slow
def test_resumed_run_continues_the_balancing(tmp_path: Path) -> None:
    """2 steps, then resumed to 4, balancing every step: the resumed run extends the saved history (~1 min)."""
    sections = dict(data=dict(sequence_frames=6, clip_frames=4), loss=dict(balance_every=1))
    half = train(tiny_config("patchvo-v2v-synthetic", tmp_path, steps=2, **sections))
    saved, _ = load_checkpoint(half / "checkpoints" / "last.pt")
    cfg = tiny_config("patchvo-v2v-synthetic", tmp_path, steps=4, **sections)
    resumed = train(replace(cfg, train=replace(cfg.train, resume=str(half / "checkpoints" / "last.pt"))))
    final, _ = load_checkpoint(resumed / "checkpoints" / "last.pt")
    assert isinstance(saved, PatchVOModel) and isinstance(final, PatchVOModel)
    assert saved.balancer is not None and final.balancer is not None
    assert int(saved.balancer.count) == 1  # step 1 (step 0 never balances)
    assert int(final.balancer.count) == 3  # steps 2 and 3 appended to the restored history, not to a fresh one
    for name in ("beta_history", "gamma_history"):
        assert float(getattr(final.balancer, name)[-3]) == float(getattr(saved.balancer, name)[-1]), name
