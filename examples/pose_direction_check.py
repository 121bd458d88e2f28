"""Is a checkpoint's pose network moving the right way? Translation direction cosine on validation clips.

For 8 validation-split street clips (frames 19, 20, 21) this prints the mean cosine between the predicted and
true translation of ``cam_s_from_cam_t`` for both sources, and abs_rel of median-scaled depth on static pixels.
A pose network trained from scratch first settles near cosine 0.65 (a sideways translation plus roll) and, when
training goes well, later jumps to ~1 (docs/training.md). Works on run checkpoints and exported weights.

    python examples/pose_direction_check.py runs/train2/coopnet-synthetic/checkpoints/step_00008000.pt
"""

import argparse

import torch

from vokit.data.synthetic import SyntheticWorld, split_seed
from vokit.engine.checkpoint import load_checkpoint
from vokit.geometry import lie
from vokit.methods.batch import collate_clips
from vokit.methods.monodepth2 import predict_src_from_tgt


def check(path: str, clips: int = 8) -> tuple[float, float]:
    """Mean translation direction cosine and static-pixel abs_rel of the checkpoint at ``path``."""
    model, _ = load_checkpoint(path, "cpu")
    model.eval()
    height, width = model.input_size
    batch = collate_clips([
        SyntheticWorld("street", 40, split_seed("val", i), height, width).as_sequence().clip([19, 20, 21])
        for i in range(clips)
    ])
    with torch.no_grad():
        pred = predict_src_from_tgt(model.pose_net, batch.images)
        world_from_cam = batch.world_from_cam.double()
        true = torch.stack([
            torch.stack([lie.se3_compose(lie.se3_inverse(world_from_cam[k, s]), world_from_cam[k, 1]) for s in (0, 2)])
            for k in range(clips)
        ]).float()
        cosine = torch.nn.functional.cosine_similarity(pred[..., :3], true[..., :3], dim=-1).mean()
        depth, gt = model.depth(batch.images[:, 1]), batch.depth[:, 1]
        errors = []
        for k in range(clips):
            valid = (gt[k] > 0) & (gt[k] < 80) & ~batch.motion_mask[k, 1]
            scaled = depth[k][valid] * gt[k][valid].median() / depth[k][valid].median()
            errors.append(((scaled - gt[k][valid]).abs() / gt[k][valid]).mean())
    return float(cosine), float(torch.stack(errors).mean())


def main() -> None:
    """Print one line per checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    args = parser.parse_args()
    for path in args.checkpoints:
        cosine, abs_rel = check(path)
        print(f"{path}: translation direction cosine {cosine:.3f}, static abs_rel {abs_rel:.3f}")


if __name__ == "__main__":
    main()
