"""What online feature alignment adds to one prediction: depth + pose forward with and without the hooks.

One frame is one depth-network call and one pose-network call on a (1, 3, H, W) input, as in the online loop. The
two variants alternate, so load from other processes hits both alike; prints the median and minimum per variant.

    vokit adapt-stats src/vokit/weights/monodepth2-synthetic.pt --clips 32 --out runs/monodepth2-aligned.pt
    OMP_NUM_THREADS=1 nice python benchmarks/align_overhead.py --weights runs/monodepth2-aligned.pt
"""

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from vokit.adapt.alignment import FeatureAlignment
from vokit.engine.checkpoint import load_checkpoint, read_checkpoint
from vokit.engine.source_statistics import read_source_statistics


def frame_seconds(model: nn.Module, images: torch.Tensor) -> float:
    """Wall time of one depth + pose prediction on ``images`` ``(2, 1, 3, H, W)`` (previous, current)."""
    start = time.perf_counter()
    with torch.no_grad():
        model.depth_net(images[1])
        model.pose_net(images[0], images[1])
    return time.perf_counter() - start


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, required=True, help="a checkpoint with source statistics")
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="input size (default: the training size)")
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    model, config = load_checkpoint(args.weights)
    stats = read_source_statistics(read_checkpoint(args.weights), args.weights)
    if stats is None:
        raise SystemExit(f"{args.weights}: no source statistics (run vokit adapt-stats first)")
    h, w = args.size or (config.data.height, config.data.width)
    images = torch.rand(2, 1, 3, h, w, generator=torch.Generator().manual_seed(0))
    alignment = FeatureAlignment(stats.layers)
    for _ in range(5):
        frame_seconds(model, images)
    times: dict[str, list[float]] = {"plain": [], "aligned": []}
    for _ in range(args.repeats):
        times["plain"].append(frame_seconds(model, images))
        alignment.attach(model)
        times["aligned"].append(frame_seconds(model, images))
        alignment.detach()
    for label, values in times.items():
        values.sort()
        print(f"{label}: median {1000 * values[len(values) // 2]:.2f} ms, min {1000 * values[0]:.2f} ms per frame "
              f"({h}x{w}, {len(stats.layers)} layers)")


if __name__ == "__main__":
    main()
