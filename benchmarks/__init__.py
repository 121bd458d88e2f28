"""Speed and memory benchmarks of vokit: scripts and harnesses beside the library, never part of it.

``benchmarks/`` is an importable directory of the source checkout (like ``tests/``), not an installed package:

* ``benchmarks.ba``: the BA-layer benchmark behind ``vokit bench ba`` (also ``python benchmarks/ba.py``);
* ``benchmarks.references``: the dense-torch and scipy-sparse Gauss-Newton iterations the benchmark compares
  against, shared with the tests (``tests/solvers/test_benchmark.py`` checks them against the BA layer);
* ``benchmarks/render.py``: render speed of the synthetic world (a script).

Timing and memory measurement need process-wide settings (glibc's ``mallopt``, ``/proc/self/clear_refs``, torch's
thread count), which is why this code lives here and not in ``vokit``: no library module changes process-global
state. ``vokit bench`` finds this directory next to ``src/`` of an editable install (``pip install -e .`` from a
clone) and says so in one line when vokit was installed without its source tree.
"""
