"""``vokit bench <name>``: speed and memory benchmarks, run from the source checkout's ``benchmarks/`` directory.

The benchmarks are not part of the installed library: measuring time and memory needs process-wide settings
(glibc's allocator, ``/proc/self/clear_refs``, torch's thread count) that no ``vokit`` module may change, and
their reference solvers are shared with the tests. So each benchmark is a module ``benchmarks/<name>.py`` of the
repository, beside ``src/`` and ``tests/``, with ``main(argv: list[str]) -> int``; :data:`BENCHMARKS` lists them
with their help lines. This command finds that directory next to ``src/`` of an editable install (``pip install
-e .`` from a clone, as ``make setup`` does) and imports it as the package ``benchmarks``; when vokit was installed
without its source tree it says so in one line (exit status 2).
"""

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import vokit
from vokit.errors import VokitError

BENCHMARKS: dict[str, str] = {
    "ba": "one BA Gauss-Newton iteration: vokit vs dense torch vs scipy sparse",
    "vo": "patchvo frames/s and per-stage time per preset, operator and image size",
    "render": "synthetic-world render frames/s per scene and domain (1 thread, 2 threads, 2 workers)",
    "dro": "DRO ms per frame and peak memory at 128x416, 12 iterations",
}


def _usage() -> str:
    lines = ["usage: vokit bench <name> [options]", "", "benchmarks:"]
    lines += [f"  {name:<6} {help_text}" for name, help_text in BENCHMARKS.items()]
    lines += ["", "Run `vokit bench <name> --help` for a benchmark's options (they need the source checkout)."]
    return "\n".join(lines)


def benchmarks_dir() -> Path:
    """The ``benchmarks/`` directory of the checkout vokit is imported from (``<repo>/src/vokit`` -> ``<repo>``)."""
    return Path(vokit.__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks.<name>`` from the source checkout.

    Raises:
        VokitError: the checkout's ``benchmarks/`` is absent (vokit installed from a wheel), or another module
            named ``benchmarks`` is already imported.
    """
    folder = benchmarks_dir()
    init = folder / "__init__.py"
    if not (folder / f"{name}.py").is_file() or not init.is_file():
        raise VokitError(
            f"`vokit bench {name}` runs benchmarks/{name}.py of the source checkout, and there is none at "
            f"{folder}: install vokit from a clone with `pip install -e .` (or `make setup`) and run it there"
        )
    package = sys.modules.get("benchmarks")
    if package is None:
        spec = importlib.util.spec_from_file_location("benchmarks", init, submodule_search_locations=[str(folder)])
        if spec is None or spec.loader is None:
            raise VokitError(f"cannot import {init}")
        package = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules["benchmarks"]
            raise
    elif [Path(p).resolve() for p in getattr(package, "__path__", [])] != [folder]:
        raise VokitError(f"a different module named 'benchmarks' is already imported ({package!r}), not {folder}")
    return importlib.import_module(f"benchmarks.{name}")


def main(argv: list[str]) -> int:
    """Dispatch ``vokit bench <name> ...`` to ``benchmarks/<name>.py``'s ``main``."""
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] not in BENCHMARKS:
        raise VokitError(f"unknown benchmark {argv[0]!r}; choose one of {sorted(BENCHMARKS)}")
    module = load_benchmark(argv[0])
    saved = sys.argv[:1]
    sys.argv[:1] = [f"vokit bench {argv[0]}"]  # argparse's default prog: usage lines name the command typed
    try:
        return int(module.main(argv[1:]))
    finally:
        sys.argv[:1] = saved
