"""How well can the CoopNet motion mixture find moving cars at all? An upper bound with perfect networks.

Feeds the synthetic world's ground truth (z-depth, relative pose and forward flow F_{k->k+1}) into the same
photometric errors and mixture that training and inference use (METHODS.md section 8.2) and scores the mask
``m > 0.5`` against the exact moving-object masks with the section 8.5 IoU. Uniformly coloured car bodies that the
rigid warp still explains, and occlusion borders, cap the IoU well below 1: trained networks can at best approach
this number. One neighbour (the next frame) is used, since the renderer gives forward flow only.

    python examples/motion_mask_oracle.py --sequences 16 --height 64 --width 224
"""

import argparse

import torch

from vokit.data.sequence import Sequence as FrameSequence
from vokit.data.synthetic import SyntheticWorld, split_seed
from vokit.geometry import lie, warp
from vokit.losses.coopnet import fit_error_mixture, flow_reconstruction_errors
from vokit.losses.photometric import photometric_error
from vokit.metrics.mask import mask_iou

FAR_DEPTH = 1000.0  # depth given to sky pixels (z-depth 0 in the renderer)


def oracle_masks(sequence: FrameSequence, frames: list[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Mixture motion masks from ground-truth geometry and flow, and the true moving masks, for frames k -> k + 1."""
    predicted, truth = [], []
    for k in frames:
        clip = sequence.clip([k, k + 1])
        world_from_cam = clip.world_from_cam.double()
        next_from_cam = lie.se3_compose(lie.se3_inverse(world_from_cam[1]), world_from_cam[0]).float()[None]
        depth = clip.depth[0][None].clone()
        depth[depth <= 0] = FAR_DEPTH
        target, source = clip.images[0][None], clip.images[1][None]
        rigid, _ = warp.warp_with_depth(source, depth, next_from_cam, clip.intrinsics[0][None])
        e_rigid = photometric_error(target, rigid)
        e_flow = flow_reconstruction_errors(target, source[:, None], clip.flow[0][None, None])[:, 0]
        predicted.append(fit_error_mixture(e_rigid - e_flow).motion_mask[0])
        truth.append(clip.motion_mask[0])
    return predicted, truth


def main() -> None:
    """Parse the options, score the oracle masks and print the IoU."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=16, help="test-split street sequences")
    parser.add_argument("--frames", type=int, default=40, help="frames per sequence; every 12th is scored")
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=224)
    args = parser.parse_args()
    predicted, truth = [], []
    for index in range(args.sequences):
        world = SyntheticWorld("street", args.frames, split_seed("test", index), args.height, args.width)
        p, t = oracle_masks(world.as_sequence(), list(range(8, args.frames - 1, 12)))
        predicted += p
        truth += t
    scores = mask_iou(predicted, truth)
    print(f"oracle motion-mask IoU on {scores['n_images']} test frames at {args.height}x{args.width}: "
          f"pooled {scores['iou_pooled']:.3f}, per-image mean {scores['iou_image_mean']:.3f}")


if __name__ == "__main__":
    main()
