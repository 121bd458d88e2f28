"""Frames per second of the patchvo loop, per preset, operator and image size, with the time of each stage.

    python benchmarks/patchvo_speed.py                                  # lk, default and fast, 240x320 and 480x640
    python benchmarks/patchvo_speed.py --operators lk learned --frames 40 --json runs/bench/patchvo_speed.json

Frames come from the synthetic room (rendered once, decoded before timing), so the numbers are the loop's own:
resizing and patch drawing (``prepare``, ``patchify``), the operator, BA and graph bookkeeping. ``end to end``
divides the frames by the loop's wall time. The learned operator runs an untrained network of the default size
(its cost does not depend on the weights). Threads: whatever torch uses (set ``OMP_NUM_THREADS``).
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from vokit.data.synthetic import make_sequence
from vokit.methods.patchvo import run_patchvo
from vokit.methods.patchvo.learned import PatchVONet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--operators", nargs="+", default=["lk"])
    p.add_argument("--presets", nargs="+", default=["default", "fast"])
    p.add_argument("--sizes", nargs="+", default=["240x320", "480x640"])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--cache", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rows = []
    head = f"{'size':>8} {'preset':<8} {'operator':<8} {'fps':>6}  per-frame ms: prepare patchify operator ba graph"
    print(f"patchvo speed, {args.frames} frames of the synthetic room, {torch.get_num_threads()} torch threads")
    print(head + "\n" + "-" * len(head), flush=True)
    for size in args.sizes:
        h, w = (int(x) for x in size.split("x"))
        seq = make_sequence("room", n_frames=args.frames, seed=1000, height=h, width=w, cache_dir=args.cache)
        images = [seq.image(i) for i in range(len(seq))]  # decode once, outside the timing
        seq._load_image = lambda i, images=images: images[i]  # type: ignore[method-assign]
        for preset in args.presets:
            for op in args.operators:
                model = PatchVONet() if op == "learned" else None
                res = run_patchvo(seq, op, preset, model=model, max_pixels=h * w)
                t = {k: 1000 * v / args.frames for k, v in res.timings_s.items()}
                rows.append({"size": size, "preset": preset, "operator": op, "fps": res.frames_per_second,
                             "ms_per_frame": t})
                print(f"{size:>8} {preset:<8} {op:<8} {res.frames_per_second:>6.2f}  "
                      + " ".join(f"{t.get(k, 0.0):.1f}" for k in ("prepare", "patchify", "operator", "ba", "graph")),
                      flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
