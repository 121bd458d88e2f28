"""Configs as plain data: dataclasses <-> primitives <-> YAML, with the git SHA and package version.

A saved config holds only YAML primitives (``yaml.safe_dump``): no ``!!python/`` tags and no pickles, so a file
written by one vokit version loads in another, and a renamed class never breaks it (STYLE.md section 7). Loading
rebuilds the frozen dataclasses field by field and names the offending key on any mismatch.
"""

import dataclasses
import subprocess
import types
import typing
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

import vokit
from vokit.engine.configs import ExperimentConfig
from vokit.errors import VokitError

T = TypeVar("T")
META_KEY = "meta"


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as nested dicts of primitives (tuples become lists).

    Args:
        config: a dataclass instance.

    Returns:
        A dict that ``yaml.safe_dump`` accepts and :func:`config_from_dict` rebuilds.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return {f.name: _to_primitive(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _to_primitive(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_to_primitive(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"config value {value!r} of type {type(value).__name__} is not a YAML primitive")


def config_from_dict(cls: type[T], data: Any, where: str = "", path: str | Path | None = None) -> T:
    """Rebuild a dataclass config from nested primitives, checking every key and value type.

    Keys missing from ``data`` keep their defaults, so configs written before a field was added still load.

    Args:
        cls: the dataclass type to build (e.g. :class:`ExperimentConfig`).
        data: nested dicts of primitives, as written by :func:`config_to_dict`.
        where: dotted prefix of ``data`` inside the whole config, for error messages.
        path: file the data came from, for error messages.

    Returns:
        The frozen dataclass instance.

    Raises:
        VokitError: on an unknown key or a value of the wrong type.
    """
    if not isinstance(data, Mapping):
        raise VokitError(f"config section {where or '<root>'!r} must be a mapping, got {type(data).__name__}", path)
    hints = typing.get_type_hints(cls, include_extras=False)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise VokitError(f"unknown config key(s) {', '.join(where + k for k in unknown)}", path)
    kwargs = {name: _from_primitive(hints[name], data[name], f"{where}{name}", path) for name in data}
    return cls(**kwargs)


def _from_primitive(tp: Any, value: Any, key: str, path: str | Path | None) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _from_primitive(typing.get_args(tp)[0], value, key, path)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return config_from_dict(tp, value, key + ".", path)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _from_primitive(option, value, key, path)
            except VokitError as err:
                errors.append(err.message)
        raise VokitError(f"config key {key}: {value!r} matches none of {tp} ({'; '.join(errors)})", path)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise VokitError(f"config key {key}: {value!r} is not one of {list(typing.get_args(tp))}", path)
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise VokitError(f"config key {key}: expected a list, got {value!r}", path)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_primitive(args[0], v, key, path) for v in value)
        if len(args) != len(value):
            raise VokitError(f"config key {key}: expected {len(args)} values, got {len(value)}", path)
        return tuple(_from_primitive(a, v, key, path) for a, v in zip(args, value, strict=True))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise VokitError(f"config key {key}: expected {getattr(tp, '__name__', tp)}, got {value!r}", path)


def git_sha() -> str:
    """The git commit of the vokit source tree, with ``-dirty`` when it has changes; ``unknown`` outside git."""
    src = Path(vokit.__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=src, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def config_to_yaml(config: ExperimentConfig, extra_meta: Mapping[str, Any] | None = None) -> str:
    """The resolved config as YAML text with a ``meta`` section (vokit version, git SHA, time).

    Args:
        config: the experiment config.
        extra_meta: more primitive values for the ``meta`` section (e.g. the number of processes).

    Returns:
        YAML text of primitives only.
    """
    meta: dict[str, Any] = {
        "vokit_version": vokit.__version__,
        "git_sha": git_sha(),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update(extra_meta or {})
    return yaml.safe_dump({META_KEY: meta, **config_to_dict(config)}, sort_keys=False)


def save_config(config: ExperimentConfig, path: str | Path, extra_meta: Mapping[str, Any] | None = None) -> Path:
    """Write the resolved config as YAML (see :func:`config_to_yaml`); returns the path."""
    path = Path(path)
    path.write_text(config_to_yaml(config, extra_meta))
    return path


def config_from_yaml(text: str, path: str | Path | None = None) -> ExperimentConfig:
    """Rebuild an :class:`ExperimentConfig` from YAML text (the ``meta`` section is ignored)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise VokitError(f"not valid YAML: {err}", path) from err
    if not isinstance(data, dict):
        raise VokitError("a config file must hold a mapping", path)
    data = {k: v for k, v in data.items() if k != META_KEY}
    return config_from_dict(ExperimentConfig, data, path=path)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read a config YAML file written by :func:`save_config` (or a run folder holding ``config.yaml``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise VokitError("config file not found", path)
    return config_from_yaml(path.read_text(), path)
