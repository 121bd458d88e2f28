"""Render-speed benchmark of the synthetic world (frames/s with RGB, depth, flow and motion masks).

    python benchmarks/render.py                        # 128x416, all scenes, 1 and 2 threads, 2 workers
    vokit bench render --scenes clutter street-camera --modes 1-thread 2-workers --textures runs/textures
    python benchmarks/render.py --frames 60 --out runs/bench/render.json

Three ways to use two cores are measured: one process with 1 torch thread, one process with 2 torch threads
(intra-op parallelism), and 2 worker processes with 1 thread each rendering different frames (how a data loader
with 2 workers uses them). Each configuration renders ``--frames`` frames ``--repeats`` times after one warm-up
frame and reports the best repeat (least disturbed by other processes on a shared machine) and the median, as
frames/s (wall clock) and milliseconds of CPU time per frame. Scene building (layout, textures, atlas) is timed
separately. Prints a table and writes JSON.
"""

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from vokit.data.synthetic import SyntheticWorld


def _render_range(
    scene: str,
    domain: str | None,
    seed: int,
    n_frames: int,
    size: tuple[int, int],
    frames: list[int],
    threads: int,
    textures: str | None = None,
) -> tuple[float, float]:
    """Render ``frames`` of one world; returns (wall seconds, CPU seconds) of the rendering alone."""
    torch.set_num_threads(threads)
    world = SyntheticWorld(scene, n_frames, seed, size[0], size[1], domain, memory_cache=1, textures=textures)
    world.renderer.render(frames[0])
    wall, cpu = time.perf_counter(), time.process_time()
    for k in frames:
        world.renderer.render(k)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(
    scene: str, domain: str | None, size: tuple[int, int], n: int, repeats: int, mode: str, textures: str | None = None
) -> dict:
    """Frames/s of one configuration: mode ``1-thread``, ``2-threads`` or ``2-workers``."""
    frames = list(range(n))
    rates, cpu_ms = [], []
    for _ in range(repeats):
        if mode == "2-workers":
            halves = [frames[0::2], frames[1::2]]
            with ProcessPoolExecutor(2) as pool:
                jobs = [pool.submit(_render_range, scene, domain, 0, n + 1, size, h, 1, textures) for h in halves]
                results = [j.result() for j in jobs]
            # the workers' own render time (their start-up and scene building are not counted)
            wall = max(r[0] for r in results)
            cpu = sum(r[1] for r in results)
        else:
            threads = 1 if mode == "1-thread" else 2
            wall, cpu = _render_range(scene, domain, 0, n + 1, size, frames, threads, textures)
        rates.append(n / wall)
        cpu_ms.append(1e3 * cpu / n)
    return {
        "scene": scene,
        "domain": (domain or scene) + ("+photo" if textures else ""),
        "size": f"{size[0]}x{size[1]}",
        "mode": mode,
        "frames": n,
        "fps_best": max(rates),
        "fps_median": statistics.median(rates),
        "cpu_ms_per_frame_best": min(cpu_ms),
    }


def build_time(scene: str, size: tuple[int, int], n: int) -> float:
    """Seconds to build a scene (layout, camera path, textures, atlas) for an ``n``-frame sequence."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    SyntheticWorld(scene, n, 0, size[0], size[1])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the configurations, print the table and write the JSON; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=416)
    parser.add_argument("--frames", type=int, default=40, help="frames per repeat (default 40)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per configuration (default 3)")
    parser.add_argument(
        "--scenes",
        nargs="+",
        default=["street", "room", "clutter", "street-night", "street-fog", "street-camera", "clutter-camera"],
        help="scenes or domains to time (default street room clutter street-night street-fog street-camera "
        "clutter-camera)",
    )
    parser.add_argument("--textures", default=None, help="folder of images for photographic textures")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["1-thread", "2-threads", "2-workers"],
        choices=["1-thread", "2-threads", "2-workers"],
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench/render.json"), help="JSON output file")
    args = parser.parse_args(argv)
    size = (args.height, args.width)
    rows = []
    for name in args.scenes:
        scene = name.split("-")[0]
        domain = name if "-" in name else None
        for mode in args.modes:
            rows.append(measure(scene, domain, size, args.frames, args.repeats, mode, args.textures))
            r = rows[-1]
            print(f"  {r['domain']:<14} {r['mode']:<10} {r['fps_best']:7.1f} fps", flush=True)
    builds = {scene: build_time(scene, size, 100) for scene in ("street", "room", "clutter")}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print()
    print(
        f"synthetic render speed, {size[0]}x{size[1]}, RGB + depth + flow + motion mask "
        f"({os.cpu_count()} CPUs, load average {load:.1f}, torch {torch.__version__})"
    )
    print(
        f"| {'domain':<14} | {'mode':<10} | {'frames/s (best)':>15} | {'frames/s (median)':>17} | "
        f"{'CPU ms/frame':>12} |"
    )
    print(f"|{'-' * 16}|{'-' * 12}|{'-' * 17}|{'-' * 19}|{'-' * 14}|")
    for r in rows:
        print(
            f"| {r['domain']:<14} | {r['mode']:<10} | {r['fps_best']:>15.1f} | {r['fps_median']:>17.1f} | "
            f"{r['cpu_ms_per_frame_best']:>12.1f} |"
        )
    print("scene build (100 frames, 1 thread): " + ", ".join(f"{k} {v:.2f} s" for k, v in builds.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "rows": rows,
                "scene_build_s": builds,
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average_1min": load,
                    "platform": platform.platform(),
                    "torch": torch.__version__,
                },
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
