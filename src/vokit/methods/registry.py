"""The one place method names live: name -> :class:`~vokit.methods.interface.Method`.

Config choices (``model.method``), ``vokit run --method``, checkpoint loading and the run application all read
from here. A built-in method is one module under ``vokit.methods`` exposing ``METHOD`` and one line in
:data:`_BUILTIN` (imported on first use, so ``vokit --help`` stays light); a method from elsewhere (a plug-in, a
test) calls :func:`register` and, when done, :func:`unregister`.
"""

import importlib
from typing import TYPE_CHECKING

from vokit.errors import VokitError

if TYPE_CHECKING:  # the interface imports torch; names alone must stay light for `vokit --help`
    from vokit.methods.interface import Method

_BUILTIN: dict[str, str] = {
    "coopnet": "vokit.methods.coopnet",
    "dro": "vokit.methods.dro",
    "monodepth2": "vokit.methods.monodepth2",
    "online-meta": "vokit.methods.online_meta",
    "patchvo": "vokit.methods.patchvo.method",
}
"""Built-in methods: name -> module holding ``METHOD``."""

DEFAULT_METHOD = "coopnet"
"""What ``vokit run`` runs, ``vokit demo`` shows and a bare experiment config trains when no method is named."""

BASELINE_METHOD = "monodepth2"
"""The baseline ``vokit demo`` compares :data:`DEFAULT_METHOD` with."""

_REGISTERED: dict[str, "Method"] = {}


def register(method: "Method") -> "Method":
    """Make ``method`` available under ``method.name``; returns it.

    Raises:
        VokitError: the name is taken, or ``method`` does not implement :class:`Method`.
    """
    from vokit.methods.interface import Method

    if not isinstance(method, Method):
        raise VokitError(f"{method!r} does not implement vokit.methods.interface.Method")
    if method.name in _BUILTIN or method.name in _REGISTERED:
        raise VokitError(f"a method named {method.name!r} is already registered")
    _REGISTERED[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method added with :func:`register` (built-in methods stay)."""
    _REGISTERED.pop(name, None)


def method_names() -> tuple[str, ...]:
    """Every known method name, sorted (built-in and registered)."""
    return tuple(sorted({*_BUILTIN, *_REGISTERED}))


def builtin_method_names() -> tuple[str, ...]:
    """The built-in method names, sorted (fixed at import time; what config types and CLI choices list)."""
    return tuple(sorted(_BUILTIN))


def get_method(name: str) -> "Method":
    """The method called ``name``.

    Raises:
        VokitError: unknown name (the message lists the known ones).
    """
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise VokitError(f"unknown method {name!r}; known methods: {', '.join(method_names())}")
    from vokit.methods.interface import Method

    method = importlib.import_module(_BUILTIN[name]).METHOD
    if not isinstance(method, Method) or method.name != name:
        raise VokitError(f"module {_BUILTIN[name]} does not define METHOD for {name!r}")
    return method
