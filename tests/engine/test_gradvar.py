"""`vokit.engine.gradvar`: per-sample gradients through patchvo's BA equal single-sample backward passes."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tests.engine.tiny import tiny_config

from vokit.engine.checkpoint import atomic_torch_save, make_checkpoint
from vokit.engine.gradvar import heldout_clips, measure_gradient_snr
from vokit.engine.registry import get_method, method_settings
from vokit.errors import VokitError
from vokit.methods.interface import GradientProbe
from vokit.metrics.gradient_snr import per_sample_gradients

SIZE = (32, 48)
TINY_SETTINGS = {"train_patches": 4}


def tiny_checkpoint(out: Path, preset: str = "patchvo-v2v-synthetic", step: int = 0, seed: int = 0) -> Path:
    """An untrained width-1/8 checkpoint of ``preset`` at ``step``."""
    cfg = tiny_config(preset, out)
    torch.manual_seed(seed)
    model = get_method(cfg.model.method).build_model(cfg)
    return atomic_torch_save(make_checkpoint(cfg, step, model), out / f"step_{step}.pt")


def test_per_sample_gradients_through_ba_equal_single_sample_backward_passes(tmp_path: Path) -> None:
    cfg = tiny_config("patchvo-v2v-synthetic", tmp_path)
    bound = get_method("patchvo")
    method = bound.method
    assert isinstance(method, GradientProbe)
    torch.manual_seed(0)
    model = bound.build_model(cfg)
    settings = replace(method_settings(method, cfg), **TINY_SETTINGS)
    clips = heldout_clips(cfg.data, 2, 3, SIZE)
    heads = method.probe_heads(model)
    for p in model.parameters():  # as gradvar does: only the heads need gradients
        p.requires_grad_(any(p is h for h in heads.values()))

    def loss_of(s: int) -> torch.Tensor:
        return method.probe_loss(model, clips[s], settings, True, 2, torch.Generator().manual_seed(s))

    got = per_sample_gradients(loss_of, heads, 2)
    summed = {name: torch.zeros_like(p) for name, p in heads.items()}
    for s in range(2):
        model.zero_grad()
        loss_of(s).backward()
        for name, p in heads.items():
            assert p.grad is not None
            torch.testing.assert_close(got.grads[name][s], p.grad.double(), rtol=0, atol=0)
            summed[name] += p.grad
    model.zero_grad()
    (loss_of(0) + loss_of(1)).backward()  # one backward pass of the summed loss: the same sum (float32)
    for name, p in heads.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0
        torch.testing.assert_close(p.grad, summed[name], rtol=1e-5, atol=1e-9)


def test_measure_gradient_snr_reports_both_heads_and_arms(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path, step=7)
    res = measure_gradient_snr(ckpt, 2, clip_frames=3, update_calls=2, image_size=SIZE,
                               settings_overrides=TINY_SETTINGS)
    assert res.step == 7 and res.method == "patchvo" and res.n_clips == 2 and res.image_size == SIZE
    keys = {(s.parameter, s.loss_arm) for s in res.snr}
    assert keys == {(f"net.update.{h}.1.weight", a) for h in ("delta_head", "weight_head")
                    for a in ("weighted", "unweighted")}
    assert all(s.db_convention == "20log10" and s.n_samples == 2 for s in res.snr)
    # confidences in (0, 1) shrink every error: the weighted loss is below the unweighted one
    assert 0 < res.mean_loss["weighted"] < res.mean_loss["unweighted"]


def test_methods_without_an_optimiser_layer_are_refused(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path, preset="monodepth2-synthetic")
    with pytest.raises(VokitError, match="no differentiable-optimiser layer"):
        measure_gradient_snr(ckpt, 2, image_size=SIZE)
    with pytest.raises(VokitError, match="at least 2 clips"):
        measure_gradient_snr(ckpt, 1)
