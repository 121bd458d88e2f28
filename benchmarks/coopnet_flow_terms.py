"""Cost of CoopNet's flow photometric options: seconds per training step (forward + backward) per variant.

The variants are the default SSIM + L1 flow term, UFlow's census error (``--loss.flow-photometric census``), the
forward-backward occlusion mask (``--loss.flow-occlusion-mask``, one more flow forward pass on the swapped pairs)
and both, on the same untrained networks and the same batch of synthetic street clips, interleaved.

    OMP_NUM_THREADS=1 nice python benchmarks/coopnet_flow_terms.py --height 64 --width 224 --batch 4 --width-mult 0.25
"""

import argparse
import time

import torch

from vokit.data.synthetic import SyntheticWorld, split_seed
from vokit.methods.batch import collate_clips
from vokit.methods.coopnet import CoopNetLossParams, CoopNetModel, training_step

VARIANTS = {
    "ssim_l1": CoopNetLossParams(),
    "ssim_l1 + occlusion": CoopNetLossParams(flow_occlusion_mask=True),
    "census": CoopNetLossParams(flow_photometric="census"),
    "census + occlusion": CoopNetLossParams(flow_photometric="census", flow_occlusion_mask=True),
}


def main() -> None:
    """Print the median of the fastest 2/3 of the repeats per variant, in ms per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--width-mult", type=float, default=0.25, help="channel multiplier of all three networks")
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CoopNetModel(width=args.width_mult, flow_width=args.width_mult, input_size=(args.height, args.width),
                         min_depth=0.01, pose_rotation_scale=0.001).train()
    batch = collate_clips([
        SyntheticWorld("street", 30, split_seed("train", i), args.height, args.width).as_sequence().clip([10, 11, 12])
        for i in range(args.batch)
    ])
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, params in VARIANTS.items():
            start = time.perf_counter()
            training_step(model, batch, step=1, params=params).loss.backward()
            model.zero_grad(set_to_none=True)
            times[name].append(time.perf_counter() - start)
    base = None
    for name, values in times.items():
        kept = sorted(values)[: max(1, 2 * len(values) // 3)]
        ms = 1000 * kept[len(kept) // 2]
        base = ms if base is None else base
        print(f"{name:22s} {ms:7.0f} ms/step  ({ms / base:.2f}x)")


if __name__ == "__main__":
    main()
