"""Output folders that vokit may overwrite: a manifest of what vokit wrote, and nothing else is ever deleted.

Every command that writes a folder (``vokit run``, ``vokit demo``, ``vokit synth``) prepares it with
`prepare_output_folder` and, when done, records every file it holds in ``.vokit-manifest.json`` with
`finish_output_folder`. ``--overwrite`` then removes exactly the files listed there, and refuses (naming the
file) a folder holding anything else: a dataset, a training run, a user's file, or the output of another kind of
vokit command (a run never replaces a ``vokit synth`` dataset, and the other way round).

Folders written by vokit before manifests existed are recognised as earlier runs only when every entry is one of
the run outputs of that time and ``report.html`` is among them (`LEGACY_RUN_OUTPUTS`).
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vokit.errors import VokitError

MANIFEST_NAME = ".vokit-manifest.json"
"""The manifest file in each vokit output folder."""

MANIFEST_VERSION = 1

LEGACY_RUN_OUTPUTS: frozenset[str] = frozenset({
    "trajectory_tum.txt", "trajectory_kitti.txt", "depth", "depth_preview", "flow_preview", "motion_mask",
    "motion_mask_preview", "plots", "metrics.json", "config.yaml", "report.html", "baseline-monodepth2",
})
"""Top-level names a ``vokit run`` / ``vokit demo`` folder held before manifests (vokit <= 0.1 runs)."""


@dataclass(frozen=True)
class OutputFolder:
    """A prepared output folder.

    Attributes:
        path: the folder.
        kind: what writes it (``"run"``, ``"synth"``, ...); an overwrite only replaces the same kind.
        created: whether `prepare_output_folder` created it (a failed command then removes it if still empty).
    """

    path: Path
    kind: str
    created: bool


def _files_under(folder: Path) -> list[str]:
    """Relative POSIX paths of every non-folder entry under ``folder`` (symlinks are entries, never followed)."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root)
        for name in files + [d for d in dirs if (base / d).is_symlink()]:
            out.append((base / name).relative_to(folder).as_posix())
    return sorted(out)


def read_manifest(folder: str | Path) -> tuple[str, list[str]] | None:
    """``(kind, files)`` of a folder's manifest, or None when it has none.

    Raises:
        VokitError: the manifest exists but is not one vokit wrote (naming the file).
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        kind, files = data["kind"], data["files"]
        if not isinstance(kind, str) or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError("wrong field types")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise VokitError(f"not a vokit manifest ({err}); refusing to overwrite this folder", path) from None
    return kind, files


def _check_replaceable(folder: Path, kind: str) -> list[str]:
    """The files an overwrite of ``folder`` may delete; raises naming the first file it must not."""
    manifest = read_manifest(folder)
    on_disk = [f for f in _files_under(folder) if f != MANIFEST_NAME]
    if manifest is None:
        top = {p.name for p in folder.iterdir()}
        if kind == "run" and "report.html" in top and top <= LEGACY_RUN_OUTPUTS:
            return on_disk
        raise VokitError(f"--overwrite refused: the folder holds files vokit did not record writing (e.g. "
                         f"{(on_disk or sorted(top))[0]!r}, and no {MANIFEST_NAME}); it may be a dataset or a "
                         "training run. Choose another output folder", folder)
    written_kind, listed = manifest
    if written_kind != kind:
        raise VokitError(f"--overwrite refused: the folder holds the output of 'vokit {written_kind}', not of a "
                         f"vokit {kind}; choose another output folder", folder)
    unlisted = sorted(set(on_disk) - set(listed))
    if unlisted:
        raise VokitError(f"--overwrite refused: {unlisted[0]!r} is not an output of the earlier vokit {kind} "
                         f"(not in {MANIFEST_NAME}); move it away or choose another output folder", folder)
    return on_disk


def _remove(folder: Path, files: list[str]) -> None:
    """Delete ``files`` (relative to ``folder``), the manifest, then the sub-folders left empty."""
    for rel in [*files, MANIFEST_NAME]:
        (folder / rel).unlink(missing_ok=True)
    for root, dirs, _ in sorted(os.walk(folder, followlinks=False), key=lambda w: -len(Path(w[0]).parts)):
        for d in dirs:
            sub = Path(root) / d
            if not sub.is_symlink() and sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()


def prepare_output_folder(out: str | Path, kind: str, overwrite: bool = False) -> OutputFolder:
    """Create (or clear) an output folder and check it can be written, before any work is done.

    Args:
        out: the folder (created with its parents).
        kind: the writing command (``"run"``, ``"synth"``); recorded by `finish_output_folder`.
        overwrite: remove the files of an earlier output of the same kind (exactly those in its manifest).

    Returns:
        The prepared folder, empty.

    Raises:
        VokitError: the path is a file or lies under one, the folder cannot be created or written, it is not empty
            and ``overwrite`` is False, or it holds anything vokit did not record writing there.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise VokitError("the output path exists and is not a folder", path)
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".vokit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise VokitError(f"cannot create or write the output folder: {err.strerror or err}", path) from None
    if any(path.iterdir()):
        if not overwrite:
            raise VokitError("the output folder is not empty; choose another output folder, or pass --overwrite to "
                             f"replace an earlier vokit {kind} there", path)
        files = _check_replaceable(path, kind)
        try:
            _remove(path, files)
        except OSError as err:
            raise VokitError(f"cannot remove the earlier {kind}'s files: {err.strerror or err}", path) from None
    return OutputFolder(path=path, kind=kind, created=created)


def finish_output_folder(folder: OutputFolder) -> Path:
    """Record every file now in the folder as written by this command (its manifest); returns the manifest path.

    Call it when the command is done (or has failed after writing part of its output, so that ``--overwrite``
    can replace that part later).
    """
    files = [f for f in _files_under(folder.path) if f != MANIFEST_NAME]
    manifest = folder.path / MANIFEST_NAME
    payload = {"version": MANIFEST_VERSION, "kind": folder.kind, "files": files}
    tmp = manifest.with_name(f"{MANIFEST_NAME}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    tmp.replace(manifest)
    return manifest


def abandon_output_folder(folder: OutputFolder) -> None:
    """After a failure: remove the folder if this command created it and left it empty, else record its files."""
    try:
        if folder.created and folder.path.is_dir() and not any(folder.path.iterdir()):
            folder.path.rmdir()
        elif folder.path.is_dir():
            finish_output_folder(folder)
    except OSError:
        pass  # best effort while another error is already being reported


@contextmanager
def recording(folder: OutputFolder) -> Iterator[OutputFolder]:
    """Write into a prepared folder: on success `finish_output_folder`, on any failure `abandon_output_folder`."""
    try:
        yield folder
    except BaseException:
        abandon_output_folder(folder)
        raise
    finish_output_folder(folder)
