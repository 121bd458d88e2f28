"""``vokit bench vo``: frames per second of the patchvo loop per preset, operator and image size, with stage times.

    vokit bench vo                                  # lk, default and fast, 240x320 and 480x640; runs/bench/vo/
    vokit bench vo --operators lk learned --frames 40 --out runs/bench/vo
    python benchmarks/vo.py --sizes 240x320 --presets fast --frames 20
    vokit bench vo --scene street --sizes 240x320 --set lk_warp_scale=False     # forward motion, an override

Frames come from a synthetic scene (the room by default; ``street`` and domains such as ``street-highway`` drive
forward, where the ``lk`` operator's scale warp is busiest), rendered once and decoded before timing, so the
numbers are the loop's own:
resizing and patch drawing (``prepare``, ``patchify``), the operator, BA and graph bookkeeping. ``fps`` divides
the frames by the loop's wall time; ``after init`` leaves out the frames up to the end of the one-off
initialisation and their time (the rate on a long video). The learned operator runs an untrained network of the
default size (its cost does not depend on the weights). Threads: whatever torch uses (set ``OMP_NUM_THREADS``).
"""

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

import torch

from vokit.data.synthetic import make_sequence
from vokit.methods.patchvo import run_patchvo
from vokit.methods.patchvo.learned import PatchVONet


def _literal(text: str) -> Any:
    """A Python literal (numbers, True/False/None), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--operators", nargs="+", default=["lk"])
    p.add_argument("--presets", nargs="+", default=["default", "fast"])
    p.add_argument("--sizes", nargs="+", default=["240x320", "480x640"])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--cache", default=None)
    p.add_argument("--scene", default="room", help="room, street, clutter or a domain such as street-highway")
    p.add_argument("--set", nargs="*", default=[], help="PatchVOConfig overrides, FIELD=VALUE (python literal)")
    p.add_argument("--out", default="runs/bench/vo", help="folder for vo.json and vo.md")
    args = p.parse_args(argv)
    overrides = {k: _literal(v) for k, v in (item.split("=", 1) for item in args.set)}
    scene, domain = args.scene.split("-")[0], (args.scene if "-" in args.scene else None)
    rows = []
    head = (f"{'size':>8} {'preset':<8} {'operator':<8} {'fps':>6} {'after init':>10}  per-frame ms: prepare patchify"
            " operator ba graph")
    md = ["| size | preset | operator | frames/s | after initialisation | prepare ms | patchify ms | operator ms"
          " | BA ms | graph ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    print(f"patchvo speed, {args.frames} frames of the synthetic {args.scene}, {torch.get_num_threads()} torch threads"
          + (f", overrides {overrides}" if overrides else ""))
    print(head + "\n" + "-" * len(head), flush=True)
    for size in args.sizes:
        h, w = (int(x) for x in size.split("x"))
        seq = make_sequence(scene, n_frames=args.frames, seed=1000, height=h, width=w, domain=domain,
                            cache_dir=args.cache)
        images = [seq.image(i) for i in range(len(seq))]  # decode once, outside the timing
        seq._load_image = lambda i, images=images: images[i]  # type: ignore[method-assign]
        for preset in args.presets:
            for op in args.operators:
                model = PatchVONet() if op == "learned" else None
                res = run_patchvo(seq, op, preset, model=model, **{"max_pixels": h * w, **overrides})
                t = {k: 1000 * v / args.frames for k, v in res.timings_s.items()}
                steady = res.frames_per_second_after_init
                rows.append({"size": size, "preset": preset, "operator": op, "fps": res.frames_per_second,
                             "fps_after_init": steady, "initialised_after": res.initialised_after,
                             "ms_per_frame": t})
                stages = [f"{t.get(k, 0.0):.1f}" for k in ("prepare", "patchify", "operator", "ba", "graph")]
                after = "-" if steady is None else f"{steady:.2f}"
                print(f"{size:>8} {preset:<8} {op:<8} {res.frames_per_second:>6.2f} {after:>10}  " + " ".join(stages),
                      flush=True)
                md.append(f"| {size} | {preset} | {op} | {res.frames_per_second:.2f} | {after} | " + " | ".join(stages)
                          + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"threads": torch.get_num_threads(), "frames": args.frames, "scene": args.scene, "overrides": overrides,
            "command": " ".join(["vokit bench vo", *argv])}
    (out / "vo.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / "vo.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
