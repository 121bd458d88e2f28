"""``vokit eval``: trajectory, depth and flow metrics from files (METHODS.md section 9).

    vokit eval traj GT EST --format tum|kitti|euroc --align se3|sim3|scale|none|kitti_scale|scale_7dof|6dof|7dof|posyaw
        --rpe-delta N [--rpe-unit frames|m]
    vokit eval depth GT|gt_depths.npz PRED --crop garg --median-scaling
    vokit eval flow GT PRED [--fg-mask OBJ_MAP_DIR]
    vokit eval model CHECKPOINT [--real SEQ ...] [--sequences 4 --frames 60 --scene street ...]
    vokit eval pairs GT EST --format tum|kitti|euroc --delta N

Each prints a table, writes ``metrics.json`` and PNG plots to ``--out`` (when given). Bad input raises
`VokitError` naming the file; the ``vokit`` dispatcher prints it and exits with status 2.
"""

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from vokit.cli.options import integer, number
from vokit.errors import VokitError

TRAJ_FORMATS = ("tum", "kitti", "euroc")
ALIGN_CHOICES = ("se3", "sim3", "scale", "none", "kitti_scale", "scale_7dof", "6dof", "7dof", "posyaw")
"""``--align`` values; `vokit.metrics.trajectory.ALIGN_MODES` defines them (the CLI does not import it eagerly)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vokit eval", description="Metrics from files: trajectories, depth, flow; "
                                     "a checkpoint's model-card table.")
    sub = parser.add_subparsers(dest="what", required=True)

    t = sub.add_parser("traj", help="ATE / RPE / KITTI segment errors of an estimated trajectory (evo semantics)")
    t.add_argument("gt", type=Path, help="reference (ground-truth) trajectory file")
    t.add_argument("est", type=Path, help="estimated trajectory file")
    t.add_argument("--format", choices=TRAJ_FORMATS, default="tum", help="format of GT (default tum)")
    t.add_argument("--est-format", choices=TRAJ_FORMATS, default=None,
                   help="format of EST (default: as --format; tum when --format is euroc, as evo_ape euroc)")
    t.add_argument("--align", choices=ALIGN_CHOICES, default="se3",
                   help="alignment of EST to GT: evo's se3 (metric), sim3 (monocular), scale (Umeyama scale), none; "
                        "kitti-odom-eval's kitti_scale (its 'scale': least squares about the first frame), "
                        "scale_7dof, 6dof, 7dof (poses re-anchored at the first frame); rpg's posyaw (translation "
                        "+ yaw about world z = gravity). Default se3")
    t.add_argument("--n-align", type=integer, default=None, help="align on the first N associated poses only")
    t.add_argument("--rpe-delta", type=number, default=1, help="RPE delta (default 1)")
    t.add_argument("--rpe-unit", choices=("frames", "m"), default="frames", help="RPE delta unit (default frames)")
    t.add_argument("--all-pairs", action="store_true", help="RPE over all pairs with the delta, not consecutive ones")
    t.add_argument("--pairs-from", choices=("estimate", "reference"), default="estimate",
                   help="trajectory the RPE pairs are chosen on (evo: estimate)")
    t.add_argument("--assoc", choices=("evo", "tum"), default="evo",
                   help="timestamp association: evo (nearest within 0.01 s) or tum (greedy, < 0.02 s)")
    t.add_argument("--max-diff", type=number, default=None, help="association tolerance in seconds")
    t.add_argument("--offset", type=number, default=0.0, help="seconds added to EST timestamps before matching")
    t.add_argument("--gt-times", type=Path, default=None, help="KITTI times.txt for GT (plots over time)")
    t.add_argument("--kitti-segments", choices=("auto", "on", "off"), default="auto",
                   help="KITTI 100-800 m segment errors (auto: for --format kitti)")
    t.add_argument("--out", type=Path, default=None, help="folder for metrics.json and PNG plots")
    t.add_argument("--title", default="", help="plot title (default: the file names)")

    d = sub.add_parser("depth", help="Eigen depth metrics (Monodepth2 protocol)")
    d.add_argument("gt", type=Path, help="ground-truth depth: folder of .npy / 16-bit .png, an (N,H,W) .npy, or "
                   "Monodepth2's gt_depths.npz (maps under 'data'; read without running pickled code)")
    d.add_argument("pred", type=Path, help="predictions: folder of .npy / 16-bit .png, or an (N,h,w) .npy")
    d.add_argument("--pred-kind", choices=("depth", "inv_depth"), default="depth",
                   help="what PRED holds (inv_depth: e.g. Monodepth2 disparities); default depth")
    d.add_argument("--crop", choices=("garg", "none"), default="garg",
                   help="garg: min<gt<max inside the Garg crop (raw LiDAR); none: gt>0 (default garg)")
    d.add_argument("--median-scaling", action="store_true", help="per-image median scaling (monocular models)")
    d.add_argument("--fixed-scale", type=number, default=1.0, help="factor applied first (5.4 for Monodepth2 stereo)")
    d.add_argument("--min-depth", type=number, default=1e-3, help="lower cap in metres (default 1e-3)")
    d.add_argument("--max-depth", type=number, default=80.0, help="upper cap in metres (default 80)")
    d.add_argument("--gt-png-scale", type=number, default=256.0, help="16-bit PNG units per metre for GT (KITTI 256)")
    d.add_argument("--pred-png-scale", type=number, default=256.0, help="16-bit PNG units per unit for PRED")
    d.add_argument("--out", type=Path, default=None, help="folder for metrics.json and the error histogram")

    p = sub.add_parser("pairs", help="two-view relative pose errors of frame pairs (rot / t angle, t_cm, AUC)")
    p.add_argument("gt", type=Path, help="reference (ground-truth) trajectory file")
    p.add_argument("est", type=Path, help="estimated trajectory file (e.g. a run's trajectory)")
    p.add_argument("--format", choices=TRAJ_FORMATS, default="tum", help="format of both files (default tum)")
    p.add_argument("--delta", type=integer, default=1, help="frame gap of each pair (default 1: consecutive)")
    p.add_argument("--max-diff", type=number, default=None, help="association tolerance in seconds (evo's)")
    p.add_argument("--out", type=Path, default=None, help="folder for metrics.json")

    f = sub.add_parser("flow", help="EPE and Fl-all of optical flow (.flo or KITTI 16-bit .png)")
    f.add_argument("gt", type=Path, help="ground-truth flow file or folder")
    f.add_argument("pred", type=Path, help="predicted flow file or folder")
    f.add_argument("--fg-mask", "--obj-map", dest="fg_mask", type=Path, default=None,
                   help="foreground masks, one 8-bit PNG per flow (file or folder, sorted like GT): non-zero = "
                        "foreground, as KITTI 2015 obj_map; adds EPE and Fl on fg and bg pixels")
    f.add_argument("--out", type=Path, default=None, help="folder for metrics.json")

    m = sub.add_parser("model", help="model-card table of a checkpoint: synthetic test split and real sequences, "
                       "beside trivial predictors")
    m.add_argument("checkpoint", type=Path, help="checkpoint file or training run folder")
    m.add_argument("--real", nargs="*", default=[], help="dataset folders to run as well (any layout vokit run reads)")
    m.add_argument("--scene", nargs="+", default=["street"], choices=("street", "room", "clutter"),
                   help="synthetic test-split scenes, one row each (default street)")
    m.add_argument("--sequences", type=integer, default=4, help="test-split sequences per scene (default 4; 0: none)")
    m.add_argument("--frames", type=integer, default=60, help="frames per synthetic sequence (default 60)")
    m.add_argument("--height", type=integer, default=128, help="synthetic image height (default 128)")
    m.add_argument("--width", type=integer, default=416, help="synthetic image width (default 416)")
    m.add_argument("--out", type=Path, default=None,
                   help="folder for model_card.json, model_card.md and each run's outputs (default: none kept)")
    return parser


def _write_json(out: Path | None, payload: dict[str, Any]) -> None:
    if out is None:
        return
    from vokit.metrics.serialize import json_ready

    text = json.dumps(json_ready(payload), indent=2, allow_nan=False) + "\n"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(text)
    except OSError as err:
        raise VokitError(f"cannot write metrics.json: {err.strerror or err}", out / "metrics.json") from None
    print(f"wrote {out / 'metrics.json'}")


def _finite(value: float | int, option: str, positive: bool = False) -> None:
    if not math.isfinite(value) or (positive and value <= 0):
        raise VokitError(f"{option} must be a finite{' positive' if positive else ''} number, got {value}")


def _check_options(args: argparse.Namespace) -> None:
    """Reject option values that would give wrong numbers or fail deep inside the metrics, before any work."""
    if args.what == "traj":
        _finite(args.rpe_delta, "--rpe-delta", positive=True)
        if args.rpe_unit == "frames" and args.rpe_delta != int(args.rpe_delta):
            raise VokitError(f"--rpe-delta counts frames with --rpe-unit frames, got {args.rpe_delta}")
        _finite(args.offset, "--offset")
        if args.max_diff is not None:
            _finite(args.max_diff, "--max-diff", positive=True)
        if args.n_align is not None and args.n_align < 3:
            raise VokitError(f"--n-align must be at least 3 (the poses an alignment needs), got {args.n_align}")
    elif args.what == "depth":
        _finite(args.fixed_scale, "--fixed-scale", positive=True)
        _finite(args.min_depth, "--min-depth", positive=True)
        _finite(args.max_depth, "--max-depth", positive=True)
        if args.min_depth >= args.max_depth:
            raise VokitError(f"--min-depth ({args.min_depth:g}) must be less than --max-depth ({args.max_depth:g})")
        _finite(args.gt_png_scale, "--gt-png-scale", positive=True)
        _finite(args.pred_png_scale, "--pred-png-scale", positive=True)
    elif args.what == "pairs":
        if args.delta < 1:
            raise VokitError(f"--delta must be >= 1, got {args.delta}")
        if args.max_diff is not None:
            _finite(args.max_diff, "--max-diff", positive=True)
    elif args.what == "flow" and args.fg_mask is not None and not args.fg_mask.exists():
        raise VokitError("--fg-mask: no such file or folder", args.fg_mask)


def _prepare_out(out: Path) -> None:
    """Create the ``--out`` folder and check that it is writable before computing, so a bad --out loses no work."""
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker == out:
        raise VokitError("--out must be a folder, but this is a file", out)
    if blocker is not None:
        raise VokitError(f"--out {out} cannot be created: {blocker} is a file, not a folder", blocker)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".vokit-write-check-"):
            pass
    except OSError as err:
        raise VokitError(f"--out folder is not writable: {err.strerror or err}", out) from None


def _read_traj(path: Path, fmt: str, times: Path | None) -> tuple[Any, Any]:
    """Timestamps and poses of a trajectory file; KITTI poses as the file's raw 3x4 matrices (as evo/devkit)."""
    from vokit.data.trajectory_io import read_kitti_matrices, read_trajectory

    if fmt == "kitti":
        # The rows are only orthonormal to ~1e-7; evo and the devkit use them as they are.
        return read_kitti_matrices(path, times)
    return read_trajectory(path, fmt, times_path=times)


def run_traj(args: argparse.Namespace) -> int:
    """``vokit eval traj``."""
    from vokit.metrics.evaluate import evaluate_trajectory, format_trajectory_table

    est_format = args.est_format or ("tum" if args.format == "euroc" else args.format)
    ref_stamps, ref = _read_traj(args.gt, args.format, args.gt_times)
    est_stamps, est = _read_traj(args.est, est_format, None)
    indexed = args.format == "kitti" and est_format == "kitti"
    if not indexed and "kitti" in (args.format, est_format):
        raise VokitError("mixing kitti with timestamped formats is not supported: convert both to tum", args.est)
    if indexed and ref.shape[0] != est.shape[0]:
        raise VokitError(f"KITTI files need one estimated pose per ground-truth pose: {est.shape[0]} rows here, "
                         f"{ref.shape[0]} in {args.gt}", args.est)
    kitti = args.kitti_segments == "on" or (args.kitti_segments == "auto" and indexed)
    result = evaluate_trajectory(
        ref, est, ref_stamps, est_stamps,
        assoc="index" if indexed else args.assoc, max_diff_s=args.max_diff, offset_s=args.offset,
        align=args.align, n_align=args.n_align, rpe_delta=args.rpe_delta, rpe_unit=args.rpe_unit,
        rpe_all_pairs=args.all_pairs, pairs_from=args.pairs_from, kitti_segments=kitti,
    )
    print(f"vokit eval traj: {args.gt} vs {args.est} ({args.format}/{est_format})")
    print(format_trajectory_table(result))
    trivial = _trivial_comparison(result, ref, est, args)
    if args.out is not None:
        payload = {"gt": str(args.gt), "est": str(args.est), "format": args.format, "est_format": est_format,
                   **result.as_dict(), "trivial": trivial}
        _write_json(args.out, payload)
        _traj_plots(result, args.out, args.title or f"{args.est.name} vs {args.gt.name}", indexed and
                    args.gt_times is None)
    return 0


def _trivial_comparison(result: Any, ref: Any, est: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Print the estimate beside a static camera and a constant-velocity line (same alignment); JSON form."""
    from vokit.metrics.trivial import compare_with_trivial

    a = result.association
    delta = int(args.rpe_delta) if args.rpe_unit == "frames" and float(args.rpe_delta).is_integer() else 1
    stamps = None if a.method == "index" and args.gt_times is None else result.ref_times_s
    try:
        comparison = compare_with_trivial(ref[a.ref_idx], est[a.est_idx], stamps, args.align, delta)
    except VokitError as err:
        print(f"trivial trajectories not scored: {err.message}")
        return {"skipped": err.message}
    print(f"\nbeside trivial trajectories ({args.align} alignment, RPE over {delta} frame(s); rmse):")
    print(comparison.table())
    return comparison.as_dict()


def _traj_plots(result: Any, out: Path, title: str, frames: bool) -> None:
    from vokit.metrics.plots import write_trajectory_plots

    for path in write_trajectory_plots(result, out, title, frames=frames).values():
        print(f"wrote {path}")


def _list_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    from vokit.data.file_io import require_file

    if path.is_file():
        return [path]
    if not path.is_dir():
        require_file(path, "input file or folder")  # "not found", or names a FIFO / device as such
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise VokitError(f"folder holds no {' / '.join(suffixes)} files", path)
    return files


def _read_maps(path: Path, png_scale: float) -> list[Any]:
    """Per-image 2-D maps from a folder of .npy / 16-bit .png files, one (N, H, W) or (H, W) .npy, or an .npz."""
    import numpy as np
    import torch

    from vokit.data.file_io import load_npy
    from vokit.data.image_io import read_png16

    if path.is_file() and path.suffix.lower() == ".npz":
        from vokit.data.depth_npz import read_gt_depths_npz

        return [torch.from_numpy(m) for m in read_gt_depths_npz(path)]
    maps = []
    for file in _list_files(path, (".npy", ".png")):
        if file.suffix.lower() == ".png":
            array = read_png16(file).astype(np.float64) / png_scale
        else:
            array = load_npy(file, "depth .npy file")
            if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
                raise VokitError(f"depth .npy has dtype {array.dtype}, expected a number type", file)
        if array.ndim == 3 and path.is_file():
            maps += [torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in array]
        elif array.ndim == 2:
            maps.append(torch.from_numpy(np.asarray(array, dtype=np.float64)))
        else:
            raise VokitError(f"expected a 2-D map (or an (N, H, W) stack), got shape {array.shape}", file)
        if not np.isfinite(array).all():
            raise VokitError("map contains NaN or infinite values", file)
    return maps


def run_depth(args: argparse.Namespace) -> int:
    """``vokit eval depth``."""
    from vokit.metrics.depth import DEPTH_METRIC_NAMES, eigen_depth_metrics
    from vokit.metrics.plots import plot_depth_error_histogram
    from vokit.metrics.trivial import beats_constant_depth, constant_depth_metrics, constant_depth_verdict

    gts = _read_maps(args.gt, args.gt_png_scale)
    preds = _read_maps(args.pred, args.pred_png_scale)
    if len(gts) != len(preds):
        raise VokitError(f"{len(preds)} predictions for {len(gts)} ground-truth maps in {args.gt}", args.pred)
    for k, pred in enumerate(preds):
        if not bool((pred > 0).all()):
            raise VokitError(f"prediction {k} has non-positive values (need positive {args.pred_kind})", args.pred)
    m = eigen_depth_metrics(gts, preds, pred_kind=args.pred_kind, crop=args.crop, min_depth_m=args.min_depth,
                            max_depth_m=args.max_depth, median_scaling=args.median_scaling,
                            fixed_scale=args.fixed_scale)
    scaling = "median scaling" if m.median_scaling else "no median scaling"
    print(f"vokit eval depth: {len(gts)} images, crop {m.crop}, caps [{m.min_depth_m:g}, {m.max_depth_m:g}] m, "
          f"{scaling}, fixed scale {m.fixed_scale:g}, mean over images")
    if m.median_scaling:
        print(f"scaling ratios: median {m.ratio_median:.3f}, std(ratio / median) {m.ratio_std:.3f}")
    constant = constant_depth_metrics(gts, crop=args.crop, min_depth_m=args.min_depth, max_depth_m=args.max_depth)
    print(f"{'':<26}" + "".join(f"{n:>10}" for n in DEPTH_METRIC_NAMES))
    print(f"{'prediction':<26}" + "".join(f"{v:>10.4f}" for v in m.mean.as_dict().values()))
    print(f"{'constant (median-scaled)':<26}" + "".join(f"{v:>10.4f}" for v in constant.mean.as_dict().values()))
    print(constant_depth_verdict(m, constant))
    if args.out is not None:
        payload = {"gt": str(args.gt), "pred": str(args.pred), "n_images": len(gts), "crop": m.crop,
                   "min_depth_m": m.min_depth_m, "max_depth_m": m.max_depth_m, "median_scaling": m.median_scaling,
                   "fixed_scale": m.fixed_scale, "pred_kind": m.pred_kind, "averaging": "mean of per-image values",
                   "ratio_median": m.ratio_median, "ratio_std": m.ratio_std, "metrics": m.mean.as_dict(),
                   "constant_depth_metrics": constant.mean.as_dict(),
                   "beats_constant_depth": beats_constant_depth(m, constant)}
        _write_json(args.out, payload)
        print(f"wrote {plot_depth_error_histogram(m, args.out / 'depth_error_hist.png', str(args.pred))}")
    return 0


def _read_flows(path: Path) -> tuple[list[Any], list[Any]]:
    from vokit.data.flow_io import read_flow

    pairs = [read_flow(file) for file in _list_files(path, (".flo", ".png"))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _read_fg_masks(path: Path, gts: list[Any]) -> list[Any]:
    """Foreground masks (non-zero = foreground, KITTI 2015 ``obj_map``), one PNG per flow, checked in size."""
    import torch

    from vokit.data.image_io import read_mask_png

    files = _list_files(path, (".png",))
    if len(files) != len(gts):
        raise VokitError(f"{len(files)} foreground masks for {len(gts)} ground-truth flows", path)
    masks = []
    for file, gt in zip(files, gts, strict=True):
        mask = torch.from_numpy(read_mask_png(file))
        if tuple(mask.shape) != tuple(gt.shape[:2]):
            raise VokitError(f"mask is {tuple(mask.shape)} but its flow is {tuple(gt.shape[:2])}", file)
        masks.append(mask)
    return masks


def run_flow(args: argparse.Namespace) -> int:
    """``vokit eval flow``."""
    from vokit.metrics.flow import flow_metrics

    gts, valids = _read_flows(args.gt)
    preds, _ = _read_flows(args.pred)
    if len(gts) != len(preds):
        raise VokitError(f"{len(preds)} predicted flows for {len(gts)} ground-truth flows in {args.gt}", args.pred)
    for k, (p, g) in enumerate(zip(preds, gts, strict=True)):
        if p.shape != g.shape:
            raise VokitError(f"flow {k}: prediction {tuple(p.shape)} and ground truth {tuple(g.shape)} differ",
                             args.pred)
    fg_masks = None if args.fg_mask is None else _read_fg_masks(args.fg_mask, gts)
    m = flow_metrics(preds, gts, valids, fg_masks)
    print(f"vokit eval flow: {len(gts)} flow fields, {int(m.n_valid.sum())} valid pixels")
    print(f"EPE pooled over pixels (KITTI devkit)   {m.epe_pooled:.4f} px")
    print(f"EPE mean of per-image means (RAFT KITTI) {m.epe_image_mean:.4f} px")
    print(f"Fl-all pooled                            {m.fl_all_pct:.3f} %")
    print(f"1px / 3px / 5px accuracy (pooled)        {m.px1:.4f} / {m.px3:.4f} / {m.px5:.4f}")
    if fg_masks is not None:
        n_bg = int(m.n_valid.sum()) - m.n_fg
        print(f"background ({n_bg} px): EPE {m.epe_bg:.4f} px, Fl-bg {m.fl_bg_pct:.3f} % (pooled)")
        print(f"foreground ({m.n_fg} px): EPE {m.epe_fg:.4f} px, Fl-fg {m.fl_fg_pct:.3f} % (pooled)")
    payload = {"gt": str(args.gt), "pred": str(args.pred), "n_images": len(gts), **m.as_dict(),
               "per_image_epe": m.per_image_epe.tolist(), "per_image_fl_pct": m.per_image_fl_pct.tolist()}
    if fg_masks is not None:
        payload["fg_mask"] = str(args.fg_mask)
        payload["n_fg_pixels"] = m.n_fg
    _write_json(args.out, payload)
    return 0


def run_model(args: argparse.Namespace) -> int:
    """``vokit eval model``: the model-card table (`vokit.app.model_card`)."""
    from vokit.app.model_card import evaluate_model
    from vokit.metrics.serialize import json_ready

    if not args.checkpoint.exists():
        raise VokitError("no such checkpoint file or run folder", args.checkpoint)
    card = evaluate_model(args.checkpoint, args.real, args.scene, args.sequences, args.frames, args.height,
                          args.width, None if args.out is None else args.out / "runs")
    print(f"vokit eval model: {args.checkpoint} ({card.method}); depth median-scaled per image, Sim(3) ATE, "
          "pooled flow EPE and mask IoU")
    print(card.table())
    if args.out is not None:
        (args.out / "model_card.md").write_text(card.table() + "\n")
        (args.out / "model_card.json").write_text(json.dumps(json_ready(card.as_dict()), indent=2) + "\n")
        print(f"wrote {args.out / 'model_card.md'} and model_card.json")
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    """``vokit eval pairs``: METHODS.md section 9.5 on the pairs (k, k + delta) of two associated trajectories."""
    from vokit.data.trajectory_io import read_trajectory
    from vokit.metrics.association import associate
    from vokit.metrics.two_view import relative_pose_errors, summarize_two_view, trajectory_pairs

    ref_stamps, ref = read_trajectory(args.gt, args.format)
    est_stamps, est = read_trajectory(args.est, args.format)
    if args.format == "kitti":
        if ref.shape[0] != est.shape[0]:
            raise VokitError(f"{est.shape[0]} estimated poses for {ref.shape[0]} in {args.gt}", args.est)
        ref_m, est_m = ref, est
    else:
        a = associate(ref_stamps, est_stamps, "evo", args.max_diff)
        ref_m, est_m = ref[a.ref_idx], est[a.est_idx]
    summary = summarize_two_view(relative_pose_errors(trajectory_pairs(ref_m, args.delta),
                                                      trajectory_pairs(est_m, args.delta)))
    print(f"vokit eval pairs: {args.gt} vs {args.est}, {summary.n_pairs} pairs (k, k + {args.delta})")
    print(f"rotation error      mean {summary.rot_err_deg[0]:.3f}  median {summary.rot_err_deg[1]:.3f} deg")
    print(f"translation angle   mean {summary.t_err_deg[0]:.3f}  median {summary.t_err_deg[1]:.3f} deg")
    print(f"t_cm (scale fitted) mean {summary.t_cm[0]:.3f}  median {summary.t_cm[1]:.3f} cm")
    print("pose AUC @5/10/20 deg " + " / ".join(f"{x:.4f}" for x in summary.auc))
    _write_json(args.out, {"gt": str(args.gt), "est": str(args.est), "format": args.format, "delta": args.delta,
                           **summary.as_dict()})
    return 0


def main(argv: list[str]) -> int:
    """Run ``vokit eval``; returns the exit status (0 ok; bad input raises `VokitError`, exit 2)."""
    args = _parser().parse_args(argv)
    run = {"traj": run_traj, "depth": run_depth, "flow": run_flow, "model": run_model, "pairs": run_pairs}[args.what]
    _check_options(args)
    created = args.out is not None and not args.out.exists()
    if args.out is not None:
        _prepare_out(args.out)
    try:
        return run(args)
    except VokitError as err:
        if created and args.out.is_dir() and not any(args.out.iterdir()):
            args.out.rmdir()  # a failed evaluation leaves no empty --out behind
        if err.path is not None:
            raise
        # A metric rejected the data (no matching stamps, degenerate alignment, ...): name the inputs.
        if args.what == "model":
            raise VokitError(err.message, args.checkpoint) from err
        named = args.est if args.what in ("traj", "pairs") else args.pred
        raise VokitError(f"{err.message} (reference: {args.gt})", named) from err
