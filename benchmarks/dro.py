"""``vokit bench dro``: DRO milliseconds per frame and peak memory (one target with two neighbours as references).

    vokit bench dro                                   # 128x416, it12, the preset and the reference widths, CPU
    vokit bench dro --sizes 128x416 320x960 --device cuda --out runs/bench/dro
    python benchmarks/dro.py --models preset --threads 2

One frame of ``vokit run --method dro`` is one :class:`~vokit.nets.dro.DRONet` call on the frame and its two
neighbours: the feature net on three images, the depth context net, the pose context net on two pairs, the initial
heads and the unrolled optimiser (``it12``: 12 depth-GRU steps and 2 x 12 pose-GRU steps, the cost recomputed at
each). Weights are untrained (the cost does not depend on them); inputs are random; inference mode. Models:
``small`` has encoders x0.25, hidden 32, features 32, context 16; ``preset`` is dro-synthetic's (encoders x0.5,
hidden 64, features 64); ``reference`` the paper's ``it12-h`` (ResNet-18 widths, hidden 128, features 128).
Peak memory is measured after the timings, as in ``vokit bench ba`` (CPU: peak resident set above the start, with
glibc returning freed blocks; CUDA: ``max_memory_allocated``).
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import torch

from benchmarks.ba import _peak_end, _peak_start, _time_calls, _use_mmap_for_large_allocations
from vokit.errors import VokitError
from vokit.nets.dro import DRONet, DROSchedule


@dataclass(frozen=True)
class ModelSize:
    """Widths of one benchmarked model."""

    width: float
    hidden: int
    features: int
    context: int = 32


MODELS = {"small": ModelSize(0.25, 32, 32, 16), "preset": ModelSize(0.5, 64, 64), "reference": ModelSize(1.0, 128, 128)}


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise VokitError(f"--sizes: {text!r} is not HxW") from None
    if h < 16 or w < 16 or h % 16 or w % 16:
        raise VokitError(f"--sizes: {text} must have sides that are multiples of 16")
    return h, w


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["128x416"], help="HxW, multiples of 16")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--version", default="it12", help="schedule it{N}[-seq{S}] (default it12: 3 stages x 4)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls after one warm-up (>= 1)")
    p.add_argument("--out", default="runs/bench/dro", help="folder for dro.json and dro.md")
    args = p.parse_args(argv)
    if args.repeats < 1:
        raise VokitError("--repeats must be >= 1")
    if args.threads is not None:
        if args.threads < 1:
            raise VokitError("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    sizes = [_size(s) for s in args.sizes]
    device = torch.device(args.device)
    rows = []
    print(f"DRO ms per frame ({args.version}, 2 references), {torch.get_num_threads()} torch threads, {device}")
    for h, w in sizes:
        for name in args.models:
            m = MODELS[name]
            try:
                schedule = DROSchedule.from_version(args.version, hidden=m.hidden)
            except ValueError as err:
                raise VokitError(f"--version: {err}") from None
            torch.manual_seed(0)
            net = DRONet(schedule, width=m.width, feature_dim=m.features, context_dim=m.context, input_size=(h, w))
            net = net.to(device).eval()
            target, refs = torch.rand(1, 3, h, w, device=device), torch.rand(1, 2, 3, h, w, device=device)
            intr = torch.tensor([[0.58 * w, 1.92 * h, 0.5 * w, 0.5 * h]], device=device)

            def call(net: DRONet = net, target: torch.Tensor = target, refs: torch.Tensor = refs,
                     intr: torch.Tensor = intr) -> None:
                with torch.inference_mode():
                    net(target, refs, intr)

            times = _time_calls(call, device, budget_s=0.0, max_repeats=args.repeats)
            n_params = sum(x.numel() for x in net.parameters())
            rows.append({"size": f"{h}x{w}", "model": name, "median_ms": median(times), "min_ms": min(times),
                         "params_m": n_params / 1e6, "call": call})
            print(f"{h}x{w} {name:<9} median {median(times):8.1f} ms  min {min(times):8.1f} ms  "
                  f"{n_params / 1e6:.2f} M parameters", flush=True)
    if device.type == "cpu":
        _use_mmap_for_large_allocations()
    for row in rows:
        start = _peak_start(device)
        row.pop("call")()
        row["peak_mb"] = _peak_end(device, start)
        print(f"{row['size']} {row['model']:<9} peak {row['peak_mb']:.0f} MB", flush=True)
    md = ["| size | model | median ms/frame | min ms/frame | peak MB | parameters (M) |", "|---|---|---|---|---|---|"]
    md += [f"| {r['size']} | {r['model']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['peak_mb']:.0f} | "
           f"{r['params_m']:.2f} |" for r in rows]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"threads": torch.get_num_threads(), "device": str(device), "version": args.version,
            "command": " ".join(["vokit bench dro", *argv])}
    (out / "dro.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / "dro.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
