import builtins
import json

import pytest
import torch

from vokit.engine.logger import RunLogger, read_scalars, to_float_dict


def test_scalars_jsonl_and_tensorboard(tmp_path) -> None:
    log = RunLogger(tmp_path, use_tensorboard=True)
    assert log.has_tensorboard
    log.scalars(1, {"a": torch.tensor(0.5).item(), "b": 2})
    log.images(1, {"image/x": torch.rand(3, 8, 12)})
    log.close()
    assert read_scalars(tmp_path) == [{"step": 1, "a": 0.5, "b": 2.0}]
    assert any((tmp_path / "tb").iterdir())


def test_resume_drops_entries_after_the_resumed_step(tmp_path) -> None:
    log = RunLogger(tmp_path, use_tensorboard=False)
    for step in range(1, 8):
        log.scalars(step, {"loss": float(step)})
    log.close()
    log = RunLogger(tmp_path, use_tensorboard=False, start_step=4)
    log.scalars(5, {"loss": 50.0})
    log.close()
    assert [(r["step"], r["loss"]) for r in read_scalars(tmp_path)] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0),
                                                                         (5, 50.0)]


def test_without_tensorboard_warns_and_writes_pngs(tmp_path, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.warns(UserWarning, match="tensorboard"):
        log = RunLogger(tmp_path, use_tensorboard=True)
    assert not log.has_tensorboard
    log.scalars(3, {"loss": 1.25})
    log.images(3, {"image/depth": torch.rand(3, 8, 12)})
    log.close()
    assert json.loads((tmp_path / "scalars.jsonl").read_text()) == {"step": 3, "loss": 1.25}
    assert (tmp_path / "images" / "image_depth_00000003.png").is_file()
    assert not (tmp_path / "tb").exists()


def test_to_float_dict() -> None:
    out = to_float_dict({"a": torch.tensor(1.5), "b": 2, "c": torch.tensor([3.0]).sum()})
    assert out == {"a": 1.5, "b": 2.0, "c": 3.0}
