"""Render cost of synthetic-world configurations relative to the street, interleaved in one process.

    python benchmarks/render_relative.py [--textures DIR] [--rounds 4] [--frames 10]

On a shared machine absolute frames/s swing with the other processes' load; rendering every configuration in
turn, one round of ``--frames`` frames each, and comparing median CPU times cancels most of that. One torch
thread, 128x416, RGB + depth + flow + motion mask. Prints CPU ms / frame, the ratio to ``street`` and the best
wall-clock frames/s of each configuration.
"""

import argparse
import statistics
import time

import torch

from vokit.data.synthetic import SyntheticWorld

CONFIGS = (("street", None), ("room", None), ("clutter", None), ("street", "street-camera"),
           ("clutter", "clutter-camera"))


def main(argv: list[str] | None = None) -> int:
    """Time the configurations (plus street and clutter with ``--textures``) and print the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--textures", default=None, help="folder of images: also time street and clutter with it")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--frames", type=int, default=10, help="frames per configuration and round")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    configs = [(s, d, None) for s, d in CONFIGS]
    if args.textures:
        configs += [("street", None, args.textures), ("clutter", None, args.textures)]
    n = args.rounds * args.frames
    worlds = [SyntheticWorld(s, n + 1, 0, 128, 416, d, memory_cache=1, textures=t) for s, d, t in configs]
    for world in worlds:
        world.renderer.render(0)
    cpu_ms: list[list[float]] = [[] for _ in configs]
    fps: list[list[float]] = [[] for _ in configs]
    for rnd in range(args.rounds):
        for i, world in enumerate(worlds):
            cpu, wall = time.process_time(), time.perf_counter()
            for k in range(rnd * args.frames, (rnd + 1) * args.frames):
                world.renderer.render(k)
            cpu_ms[i].append((time.process_time() - cpu) / args.frames * 1e3)
            fps[i].append(args.frames / (time.perf_counter() - wall))
    base = statistics.median(cpu_ms[0])
    print("| configuration | CPU ms / frame | relative to street | best frames/s (1 thread) |")
    print("|---|---|---|---|")
    for (scene, domain, textures), ms, rate in zip(configs, cpu_ms, fps, strict=True):
        name = (domain or scene) + (" + photos" if textures else "")
        print(f"| {name} | {statistics.median(ms):.1f} | {statistics.median(ms) / base:.2f} | {max(rate):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
