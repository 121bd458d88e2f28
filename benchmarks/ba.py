"""Benchmark of the BA layer: same as `vokit bench ba` (see `python benchmarks/ba.py --help`).

Example:
    python benchmarks/ba.py --poses 8 16 32 --patches 96 384 --threads 1 --out runs/bench/ba
"""

import sys

from vokit.cli.bench import ba_main

if __name__ == "__main__":
    sys.exit(ba_main(sys.argv[1:]))
