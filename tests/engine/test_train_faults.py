"""Faults while training (issue 12): unwritable output, killed checkpoint writes, non-finite losses and gradients.

Each test reproduces one reported fault and checks the fix: a one-line ``VokitError`` (exit status 2 from the CLI)
naming the file or the step, nothing lost, no stray files.
"""

import dataclasses
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jaxtyping
import pytest
import torch
from tests.engine.tiny import tiny_config

from vokit.cli import main as cli_main
from vokit.engine import train
from vokit.engine import trainer as trainer_module
from vokit.engine.checkpoint import list_checkpoints, read_checkpoint, step_checkpoint_path
from vokit.errors import VokitError
from vokit.methods.registry import get_method

TINY_ARGS = ["--device", "cpu", "--data.height", "64", "--data.width", "96", "--data.n-sequences", "1",
             "--data.sequence-frames", "3", "--data.batch-size", "1", "--model.width", "0.125",
             "--log.no-use-progress-bar"]


@pytest.fixture(autouse=True)
def unchecked_shapes():
    """Switch off the suite's runtime jaxtyping checks inside training loops (see tests/engine/test_trainer.py)."""
    before = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", before)


@pytest.fixture
def nothing_built(monkeypatch):
    """Fail the test if training data or a model is built (the output checks must come first)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("data or model built before the output folder was checked")

    monkeypatch.setattr(trainer_module, "build_training_data", forbidden)
    monkeypatch.setattr(trainer_module, "get_method", forbidden)


def _read_only(monkeypatch, root: Path) -> None:
    """Make ``os.access`` report every path under ``root`` as unwritable, as on a read-only mount.

    Tests run as root, where ``chmod a-w`` does not stop writes, so the read-only file system is simulated.
    """
    real = os.access
    root = root.resolve()

    def access(path, mode, *args, **kwargs):
        inside = Path(path).resolve().is_relative_to(root)
        return False if inside and mode & os.W_OK else real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def _poison(monkeypatch, at_step: int, what: str) -> None:
    """Make the monodepth2 training step's loss (``what="loss"``) or its gradients (``"grad"``) NaN at ``at_step``."""
    method = get_method("monodepth2")
    real_step = method.training_step

    class NanGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            return grad * float("nan")

    def poisoned(model, batch, step, want_images, settings):
        out = real_step(model, batch, step, want_images, settings)
        if step != at_step:
            return out
        loss = out.loss * float("nan") if what == "loss" else NanGrad.apply(out.loss)
        return dataclasses.replace(out, loss=loss)

    monkeypatch.setattr(method, "training_step", poisoned)


def _all_finite(path: Path) -> bool:
    model = torch.load(path, weights_only=True)["model"]
    return all(bool(torch.isfinite(v).all()) for v in model.values() if v.is_floating_point())


# --- row 4: --out under a regular file, read-only file system, read-only --resume --------------------------------

def test_out_under_a_regular_file_is_a_one_line_error(tmp_path, capsys, nothing_built) -> None:
    some_file = tmp_path / "some_file"
    some_file.write_text("not a folder")
    config = tiny_config("monodepth2-synthetic", some_file / "x", steps=2)
    with pytest.raises(VokitError, match="is a file, not a folder") as err:
        train(config)
    assert str(some_file) in str(err.value)
    assert cli_main.main(["train", "monodepth2-synthetic", "--out", str(some_file / "x"), *TINY_ARGS]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is a file, not a folder" in lines[0] and str(some_file) in lines[0], lines
    assert "Traceback" not in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["some_file"] and some_file.read_text() == "not a folder"


def test_read_only_out_is_a_one_line_error_naming_the_folder(tmp_path, capsys, monkeypatch, nothing_built) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    _read_only(monkeypatch, out)
    with pytest.raises(VokitError, match="not writable") as err:
        train(tiny_config("monodepth2-synthetic", out / "runs", steps=2, train=dict(run_name="r")))
    assert str(out) in str(err.value)
    assert cli_main.main(["train", "monodepth2-synthetic", "--out", str(out), *TINY_ARGS]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0] and str(out) in lines[0], lines
    assert not any(out.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the test above simulates it")
def test_really_read_only_out(tmp_path) -> None:  # pragma: no cover - runs only as a normal user
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(VokitError, match="not writable"):
            train(tiny_config("monodepth2-synthetic", out, steps=2))
    finally:
        out.chmod(0o755)


def test_resume_of_a_read_only_run_is_a_one_line_error(tmp_path, capsys, monkeypatch) -> None:
    config = tiny_config("monodepth2-synthetic", tmp_path, steps=2, train=dict(run_name="r", checkpoint_every=1))
    run_dir = train(config)
    _read_only(monkeypatch, run_dir)
    resume = dataclasses.replace(config, train=dataclasses.replace(config.train, resume=str(run_dir), steps=3))
    with pytest.raises(VokitError, match="cannot resume the run here: .* not writable") as err:
        train(resume)
    assert str(err.value).startswith(f"{run_dir}: ")
    assert cli_main.main(["train", "--resume", str(run_dir), "--train.steps", "3"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0] and str(run_dir) in lines[0], lines
    assert [s for s, _ in list_checkpoints(run_dir)] == [1, 2]


def test_a_failed_checkpoint_write_is_a_one_line_error_and_loses_nothing(tmp_path, monkeypatch) -> None:
    config = tiny_config("monodepth2-synthetic", tmp_path, steps=4, train=dict(run_name="r", checkpoint_every=2))
    real_save, calls = torch.save, []

    def disk_full_on_second_save(obj, handle, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            handle.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_on_second_save)
    with pytest.raises(VokitError, match="cannot write checkpoint: No space left on device") as err:
        train(config)
    run_dir = tmp_path / "r"
    assert err.value.path == step_checkpoint_path(run_dir, 4)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.pt", "step_00000002.pt"]
    assert read_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 2


# --- row 6: a SIGKILL during a checkpoint write leaves a temp file; the next start or resume removes it ----------

_KILLED_DURING_SAVE = """
import os, signal, sys, torch
sys.path.insert(0, {root!r})
from tests.engine.tiny import tiny_config
from vokit.engine import train

real_save, calls = torch.save, []

def save_then_die(obj, handle, *args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the checkpoint of step 2: half written, then killed outright
        handle.write(b"x" * 4096)
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, handle, *args, **kwargs)

torch.save = save_then_die
train(tiny_config("monodepth2-synthetic", {out!r}, steps=3, train=dict(run_name="r", checkpoint_every=1)))
"""


def test_sigkill_during_a_checkpoint_write_then_resume_removes_the_temp_file(tmp_path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    script = _KILLED_DURING_SAVE.format(root=root, out=str(tmp_path))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    run_dir, folder = tmp_path / "r", tmp_path / "r" / "checkpoints"
    stale = [p.name for p in folder.iterdir() if ".tmp-" in p.name]
    assert len(stale) == 1 and re.fullmatch(r"\.step_00000002\.pt\.tmp-\d+", stale[0]), stale
    assert (folder / stale[0]).stat().st_size == 4096
    (folder / "my-notes.txt").write_text("keep me")
    config = tiny_config("monodepth2-synthetic", tmp_path, steps=3,
                         train=dict(run_name="r", checkpoint_every=1, resume=str(run_dir)))
    assert train(config) == run_dir
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "my-notes.txt", "step_00000001.pt",
                                                        "step_00000002.pt", "step_00000003.pt"]
    assert (folder / "my-notes.txt").read_text() == "keep me"
    assert os.path.samefile(folder / "last.pt", step_checkpoint_path(run_dir, 3))


def test_a_new_start_in_a_named_folder_removes_stale_temp_files(tmp_path) -> None:
    folder = tmp_path / "r" / "checkpoints"  # killed while writing its first checkpoint: no checkpoint, a temp file
    folder.mkdir(parents=True)
    (folder / ".step_00000001.pt.tmp-4242").write_bytes(b"x" * 100)
    (folder / ".last.pt.tmp-4242").write_bytes(b"x" * 100)
    (folder / "step_00000001.pt.tmp-4242").write_bytes(b"not ours: no leading dot")
    train(tiny_config("monodepth2-synthetic", tmp_path, steps=1, train=dict(run_name="r")))
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_00000001.pt", "step_00000001.pt.tmp-4242"]


# --- deliverable 3: a non-finite loss or gradient stops training, names the step, saves nothing new ---------------

def test_non_finite_loss_exits_2_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys,
                                                                                      monkeypatch) -> None:
    _poison(monkeypatch, at_step=3, what="loss")  # the 4th step (steps count from 1 in messages)
    args = ["train", "monodepth2-synthetic", "--out", str(tmp_path), "--train.steps", "6", "--train.run-name", "r",
            "--train.checkpoint-every", "2", *TINY_ARGS]
    assert cli_main.main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "non-finite loss at step 4" in lines[0], lines
    assert "step_00000002.pt, is intact" in lines[0]
    run_dir = tmp_path / "r"
    assert [s for s, _ in list_checkpoints(run_dir)] == [2]
    assert os.path.samefile(run_dir / "checkpoints" / "last.pt", step_checkpoint_path(run_dir, 2))
    assert _all_finite(step_checkpoint_path(run_dir, 2))
    assert not [p for p in (run_dir / "checkpoints").iterdir() if ".tmp-" in p.name]


def test_non_finite_gradients_stop_before_the_update(tmp_path, monkeypatch) -> None:
    _poison(monkeypatch, at_step=2, what="grad")  # finite loss, NaN gradients: the update would poison the weights
    config = tiny_config("monodepth2-synthetic", tmp_path, steps=4, train=dict(run_name="r", checkpoint_every=3))
    with pytest.raises(VokitError, match="non-finite gradients at step 3; .*no checkpoint was written"):
        train(config)
    assert list_checkpoints(tmp_path / "r") == []


def test_checkpoint_with_non_finite_parameters_is_never_written(tmp_path) -> None:
    def spoil(info):  # an overflowed batch-norm statistic: invisible to the training loss, fatal at inference
        if info.step == 3:
            bn = next(m for m in info.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
            bn.running_var.fill_(float("inf"))

    config = tiny_config("monodepth2-synthetic", tmp_path, steps=4, train=dict(run_name="r", checkpoint_every=2))
    with pytest.raises(VokitError, match="non-finite parameters after step 4 .*; not checkpointing; the latest "
                                         "checkpoint, step_00000002.pt, is intact"):
        train(config, on_step=spoil)
    assert [s for s, _ in list_checkpoints(tmp_path / "r")] == [2]
    assert _all_finite(tmp_path / "r" / "checkpoints" / "last.pt")


def test_resume_from_a_non_finite_checkpoint_is_refused(tmp_path, capsys) -> None:
    config = tiny_config("monodepth2-synthetic", tmp_path, steps=1, train=dict(run_name="r"))
    run_dir = train(config)
    path = step_checkpoint_path(run_dir, 1)
    state = torch.load(path, weights_only=True)
    first = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][first].view(-1)[0] = float("nan")
    torch.save(state, path)
    assert cli_main.main(["train", "--resume", str(run_dir), "--train.steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "non-finite parameters in this checkpoint" in err and str(path) in err


# --- row 13: last.pt as the help promises, TensorBoard hint only with TensorBoard on ------------------------------

def test_last_pt_links_the_latest_checkpoint_and_the_tensorboard_hint_needs_tensorboard(tmp_path, capsys) -> None:
    args = ["train", "monodepth2-synthetic", "--out", str(tmp_path), "--train.steps", "3", "--train.run-name", "r",
            "--train.checkpoint-every", "2", "--train.keep-checkpoints", "1", "--log.no-use-tensorboard", *TINY_ARGS]
    assert cli_main.main(args) == 0
    out = capsys.readouterr().out
    assert "tensorboard" not in out.lower()
    folder = tmp_path / "r" / "checkpoints"
    assert str(folder / "last.pt") in out
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_00000003.pt"]
    assert os.path.samefile(folder / "last.pt", folder / "step_00000003.pt")
    assert read_checkpoint(folder / "last.pt")["step"] == 3
