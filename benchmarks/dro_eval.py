"""Evaluate trained DRO weights per iteration: depth abs_rel and two-view pose errors, beside trivial predictors.

    python benchmarks/dro_eval.py runs/dro-synthetic                       # synthetic test split, street + room
    python benchmarks/dro_eval.py WEIGHTS --synthetic 0 --real ../shared/data/7scenes_redkitchen_300f/data --stride 3
    python benchmarks/dro_eval.py WEIGHTS --json runs/dro_eval.json

Each frame with both neighbours (at ``--stride``) is a target with those two as references. The model runs with
every GRU step as an output (``inter``; the weights do not change), so the table shows depth abs_rel (Eigen
protocol, per-image median scaling, no crop, ``gt > 0`` up to ``--max-depth``) and the two-view errors of the pose
of the next frame (rotation and translation-direction angles, METHODS.md 9.5) after each iteration: iteration 0 is
the initial heads, then one column per depth step (pose steps alternate with them stage by stage). Beside them: a
median-scaled constant depth, and the Sim(3) ATE of the chained final poses beside a static camera and a
constant-velocity line. Synthetic sequences are ``split_seed("test", i)`` of the street and room scenes.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from vokit.data.readers import open_sequence
from vokit.data.sequence import Sequence
from vokit.data.synthetic import make_sequence, split_seed
from vokit.engine import load_checkpoint
from vokit.geometry import camera, lie
from vokit.methods.inference import chain_poses, network_geometry, to_network
from vokit.metrics.depth import eigen_depth_metrics
from vokit.metrics.trivial import compare_with_trivial, constant_depth_metrics
from vokit.metrics.two_view import relative_pose_errors
from vokit.nets.dro import INPUT_STRIDE, DRONet


def evaluate(model: DRONet, seq: Sequence, stride: int, max_frames: int, max_depth: float) -> dict:
    """Per-iteration depth and pose errors on one sequence (see the module docstring)."""
    assert seq.world_from_cam is not None and seq.has_depth
    idx = list(range(0, len(seq), stride))[:max_frames]
    geometry = network_geometry(seq.image_size, model.input_size, INPUT_STRIDE)
    h, w = geometry.resized_size
    images = {k: to_network(seq.image(k)[None], geometry)[0] for k in idx}
    preds: list[list[torch.Tensor]] = []
    gts, poses, rel_final = [], [], []
    with torch.inference_mode():
        for j in range(1, len(idx) - 1):
            k, refs = idx[j], [idx[j - 1], idx[j + 1]]
            intr = camera.scale_intrinsics(seq.intrinsics[k].float(), *geometry.scale_xy)
            out = model(images[k][None], torch.stack([images[r] for r in refs])[None], intr[None])
            preds.append([F.interpolate(d[None, :, :h, :w].float(), size=seq.image_size, mode="bilinear",
                                        align_corners=False)[0, 0] for d in out.inv_depths])
            depth = seq.depth(k)
            assert depth is not None
            gts.append(torch.where(depth < max_depth, depth, torch.zeros_like(depth)))
            poses.append(out.poses[0, 1].double())  # cam_next_from_cam_k per iterate
            if j == 1:  # cam_1_from_cam_0 from the first target's earlier reference
                rel_final.append(lie.se3_inverse(out.poses[0, 0, -1].double()))
            rel_final.append(out.poses[0, 1, -1].double())
    world = seq.world_from_cam.double()
    gt_rel = torch.stack([lie.se3_compose(lie.se3_inverse(world[idx[j + 1]]), world[idx[j]])
                          for j in range(1, len(idx) - 1)])
    n_iter = len(preds[0])
    abs_rel, rot, t_ang = [], [], []
    for i in range(n_iter):
        m = eigen_depth_metrics(gts, [p[i] for p in preds], crop="none", max_depth_m=max_depth)
        abs_rel.append(m.mean.abs_rel)
        err = relative_pose_errors(gt_rel, torch.stack([p[i] for p in poses]))
        rot.append(float(err.rot_err_deg.mean()))
        t_ang.append(float(err.t_err_deg.mean()))
    constant = constant_depth_metrics(gts, crop="none", max_depth_m=max_depth).mean.abs_rel
    traj = chain_poses(torch.stack(rel_final))
    cmp = compare_with_trivial(world[idx[: len(rel_final) + 1]], traj, seq.timestamps[idx[: len(rel_final) + 1]],
                               align="sim3")
    return {"name": seq.name, "frames": len(gts), "abs_rel": abs_rel, "constant_abs_rel": constant,
            "rot_err_deg": rot, "t_err_deg": t_ang, "ate": cmp.estimate.ate.rmse, "ate_static": cmp.static.ate.rmse,
            "ate_line": cmp.line.ate.rmse}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="run folder, checkpoint or exported weights of a dro model")
    p.add_argument("--synthetic", type=int, default=2, help="test sequences per synthetic scene (0: none)")
    p.add_argument("--scenes", nargs="+", default=["street", "room"])
    p.add_argument("--frames", type=int, default=30, help="frames per sequence (after --stride)")
    p.add_argument("--stride", type=int, default=1, help="frame gap between a target and its references")
    p.add_argument("--size", default="128x416", help="synthetic render size HxW")
    p.add_argument("--real", nargs="*", default=[], help="dataset folders with depth and poses (e.g. 7-Scenes)")
    p.add_argument("--max-depth", type=float, default=80.0, help="metres; ground truth beyond it is ignored")
    p.add_argument("--json", default=None, help="write the rows here")
    args = p.parse_args(argv)
    model, _ = load_checkpoint(args.weights)
    assert isinstance(model, DRONet), f"{args.weights} does not hold a dro model"
    model.schedule = dataclasses.replace(model.schedule, inter=True)
    model.eval()
    h, w = (int(x) for x in args.size.split("x"))
    seqs = [make_sequence(scene, n_frames=args.frames * args.stride, seed=split_seed("test", i), height=h, width=w)
            for scene in args.scenes for i in range(args.synthetic)]
    seqs += [open_sequence(path) for path in args.real]
    rows = []
    for seq in seqs:
        row = evaluate(model, seq, args.stride, args.frames, args.max_depth)
        rows.append(row)
        its = " ".join(f"{x:.3f}" for x in row["abs_rel"])
        print(f"{row['name']}: {row['frames']} targets; abs_rel per iteration {its}; constant depth "
              f"{row['constant_abs_rel']:.3f}")
        print(f"  rot err deg {' '.join(f'{x:.2f}' for x in row['rot_err_deg'])}")
        print(f"  t angle deg {' '.join(f'{x:.1f}' for x in row['t_err_deg'])}")
        print(f"  Sim(3) ATE {row['ate']:.3f} m (static {row['ate_static']:.3f}, line {row['ate_line']:.3f})",
              flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"command": " ".join(["benchmarks/dro_eval.py", *argv]),
                                               "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
