"""Output folders: ``--overwrite`` removes exactly what vokit wrote and refuses anything else (issue: data loss)."""

import json
from pathlib import Path

import pytest

from vokit.cli.synth import synth
from vokit.data.output_folder import (
    MANIFEST_NAME,
    abandon_output_folder,
    finish_output_folder,
    prepare_output_folder,
    read_manifest,
)
from vokit.errors import VokitError


def _fake_run(folder: Path) -> None:
    f = prepare_output_folder(folder, "run")
    (folder / "depth").mkdir()
    (folder / "depth" / "000000.png").write_bytes(b"x")
    (folder / "report.html").write_text("<html/>")
    finish_output_folder(f)


def test_manifest_lists_every_file_written(tmp_path: Path) -> None:
    _fake_run(tmp_path / "run")
    kind, files = read_manifest(tmp_path / "run") or ("", [])
    assert kind == "run" and files == ["depth/000000.png", "report.html"]


def test_overwrite_replaces_exactly_the_earlier_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_run(run)
    with pytest.raises(VokitError, match="not empty"):
        prepare_output_folder(run, "run")
    prepare_output_folder(run, "run", overwrite=True)
    assert list(run.iterdir()) == []


def test_overwrite_refuses_a_folder_with_a_foreign_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_run(run)
    (run / "depth" / "notes.txt").write_text("mine")
    with pytest.raises(VokitError, match="depth/notes.txt") as err:
        prepare_output_folder(run, "run", overwrite=True)
    assert err.value.path == run
    assert (run / "depth" / "000000.png").exists() and (run / "depth" / "notes.txt").exists()


@pytest.mark.parametrize("layout", ["tum", "kitti"])
def test_a_run_never_overwrites_a_synth_dataset(tmp_path: Path, layout: str) -> None:
    """Issue row 1: `vokit run S --out S --overwrite` deleted the ground-truth depth of a synth dataset."""
    data = synth(tmp_path / "S", "room", 2, 0, layout, 24, 32, progress=False)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    with pytest.raises(VokitError, match="vokit synth"):
        prepare_output_folder(data, "run", overwrite=True)
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    # and synth may replace its own output
    synth(data, "room", 2, 1, layout, 24, 32, overwrite=True, progress=False)
    assert read_manifest(data) is not None


def test_a_training_run_or_dataset_without_manifest_is_refused(tmp_path: Path) -> None:
    train = tmp_path / "train"
    (train / "checkpoints").mkdir(parents=True)
    (train / "config.yaml").write_text("a: 1\n")
    (train / "checkpoints" / "step_000100.pt").write_bytes(b"w")
    with pytest.raises(VokitError, match="did not record writing"):
        prepare_output_folder(train, "run", overwrite=True)
    with pytest.raises(VokitError, match="did not record writing"):
        synth(train, "room", 2, 0, "tum", 24, 32, overwrite=True, progress=False)
    assert (train / "config.yaml").read_text() == "a: 1\n" and (train / "checkpoints" / "step_000100.pt").exists()


def test_legacy_run_folder_is_recognised_only_with_its_exact_outputs(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    (legacy / "plots").mkdir(parents=True)
    (legacy / "plots" / "a.png").write_bytes(b"p")
    (legacy / "report.html").write_text("r")
    (legacy / "config.yaml").write_text("c")
    prepare_output_folder(legacy, "run", overwrite=True)
    assert list(legacy.iterdir()) == []
    (legacy / "report.html").write_text("r")
    (legacy / "rgb.txt").write_text("a dataset file")
    with pytest.raises(VokitError, match="did not record writing"):
        prepare_output_folder(legacy, "run", overwrite=True)


def test_a_corrupt_manifest_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_run(run)
    (run / MANIFEST_NAME).write_text(json.dumps({"kind": "run", "files": "*"}))
    with pytest.raises(VokitError, match="not a vokit manifest"):
        prepare_output_folder(run, "run", overwrite=True)
    assert (run / "report.html").exists()


def test_symlinks_are_removed_not_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("k")
    run = tmp_path / "run"
    f = prepare_output_folder(run, "run")
    (run / "link").symlink_to(precious, target_is_directory=True)
    finish_output_folder(f)
    prepare_output_folder(run, "run", overwrite=True)
    assert not (run / "link").exists() and (precious / "keep.txt").read_text() == "k"


def test_path_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(VokitError, match="not a folder"):
        prepare_output_folder(tmp_path / "file", "run")
    with pytest.raises(VokitError, match="cannot create or write"):
        prepare_output_folder(tmp_path / "file" / "sub", "run")


def test_abandon_removes_only_an_empty_folder_it_created(tmp_path: Path) -> None:
    f = prepare_output_folder(tmp_path / "new", "run")
    abandon_output_folder(f)
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    abandon_output_folder(prepare_output_folder(existing, "run"))
    assert existing.is_dir()
    f = prepare_output_folder(tmp_path / "partial", "run")
    (tmp_path / "partial" / "trajectory_tum.txt").write_text("0 0 0 0 0 0 0 1\n")
    abandon_output_folder(f)
    assert read_manifest(tmp_path / "partial") == ("run", ["trajectory_tum.txt"])
