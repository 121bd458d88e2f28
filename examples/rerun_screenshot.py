"""The README's viewer screenshot: a ``vokit run`` of the synthetic street, recorded and shown in rerun.

    python examples/rerun_screenshot.py [--frames 24] [--out runs/rerun-street]

Runs the shipped model over the synthetic test street, writes ``run.rrd`` with `vokit.data.rerun_log` (estimated
and ground-truth trajectories, per-frame camera, image and depth cloud; the monocular estimate and its depth
Sim(3)-aligned to the ground truth, as ``vokit eval traj --align sim3`` scores it) and a COLMAP text export, then
opens the
recording in a headless rerun viewer and saves ``docs/images/rerun_viewer.png``. The headless viewer needs a
graphics adapter (a GPU, or Mesa's lavapipe Vulkan driver: ``apt-get install mesa-vulkan-drivers``).
"""

import argparse
import os
import shutil
import time
from pathlib import Path


def _shrink(path: Path) -> None:
    """Resize the 1920x1080 screenshot to 1440x810 and quantise it to 256 colours (a quarter of the bytes)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").resize((1440, 810), Image.Resampling.LANCZOS)
    small.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def _zoomed_layout(rrd: Path, centre: list[float]) -> None:
    """Append a layout whose 3-D eye looks at the middle of the run from behind and above (for the picture)."""
    import rerun.blueprint as rrb

    from vokit.data.rerun_log import ENTITY_DEPTH, ENTITY_IMAGE

    x, y, z = centre
    eye = rrb.EyeControls3D(position=(x - 6.0, y - 5.0, z - 9.0), look_target=(x, y, z + 4.0),
                            eye_up=(0.0, -1.0, 0.0))
    scene = rrb.Spatial3DView(origin="world", name="scene", contents=["+ $origin/**", f"- {ENTITY_DEPTH}"],
                              eye_controls=eye)
    image = rrb.Spatial2DView(origin=ENTITY_IMAGE, name="image and patches",
                              contents=["+ $origin/**", f"- {ENTITY_DEPTH}"])
    layout = rrb.Blueprint(rrb.Horizontal(scene, rrb.Vertical(image, rrb.Spatial2DView(origin=ENTITY_DEPTH,
                                                                                       name="depth")),
                                          column_shares=[3, 2]), collapse_panels=True)
    layout.save("vokit", str(rrd.with_suffix(".rbl")))


def main() -> None:
    """Run, record, export and take the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--method", default="monodepth2")
    parser.add_argument("--out", type=Path, default=Path("runs/rerun-street"))
    parser.add_argument("--screenshot", type=Path, default=Path("docs/images/rerun_viewer.png"))
    parser.add_argument("--port", type=int, default=9877)
    args = parser.parse_args()

    from vokit.app.pipeline import open_source, run_sequence
    from vokit.data.colmap import points_from_depth, write_colmap_text
    from vokit.data.rerun_log import RerunRecorder
    from vokit.metrics.trajectory import align_trajectory, apply_sim3_to_poses

    sequence, _ = open_source("synthetic:street", synthetic_frames=args.frames)
    result = run_sequence(sequence, method=args.method, out=args.out / "run", overwrite=True, progress=False)
    pred = result.prediction
    # Monocular: trajectory and depth come in the model's scales (not even the same one for the shipped models).
    # Show them as vokit evaluates them: the trajectory Sim(3)-aligned to the ground truth (`--align sim3`), the
    # depth scaled by the run's median ground-truth / prediction ratio (Monodepth2's median scaling).
    alignment = align_trajectory(sequence.world_from_cam, pred.world_from_cam, "sim3")
    poses = apply_sim3_to_poses(alignment.ref_from_est, pred.world_from_cam)
    depth_scale = float((result.metrics or {}).get("depth", {}).get("scale_ratio_median", alignment.scale))
    depths = [d * depth_scale for d in pred.depth]
    print(f"trajectory Sim(3) scale {alignment.scale:.2f}, depth median ratio {depth_scale:.2f}")
    rrd = args.out / "run.rrd"
    with RerunRecorder(rrd, point_stride=2, max_depth=40.0, frustum_depth=0.5,
                       send_layout=False) as rec:
        for k in range(len(sequence)):
            frame = sequence[k]
            rec.log_frame(k, float(pred.timestamps[k]), frame.image, frame.intrinsics, poses[k], depth=depths[k],
                          gt_world_from_cam=frame.world_from_cam)
    images = [sequence[k].image for k in range(len(sequence))]
    points = points_from_depth(depths, images, sequence.intrinsics, poses, stride=16,
                               max_depth=40.0, frame_stride=4)
    write_colmap_text(args.out / "colmap", sequence.intrinsics, tuple(images[0].shape[-2:]), poses,
                      [f"{k:06d}.png" for k in range(len(sequence))], points.points_world, points.colors,
                      points.observations)
    print(f"wrote {rrd} and {args.out / 'colmap'}")
    _zoomed_layout(rrd, poses[len(sequence) // 2, :3].tolist())

    from rerun.experimental import ViewerClient

    os.environ["PATH"] = f"{Path(shutil.which('rerun') or 'rerun').parent}:{os.environ['PATH']}"
    viewer = ViewerClient.spawn(headless=True, port=args.port, hide_welcome_screen=True)
    try:
        viewer.open(str(rrd.with_suffix(".rbl").resolve()), navigate=False)
        viewer.open(str(rrd.resolve()))
        time.sleep(5)
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        viewer.save_screenshot(str(args.screenshot.resolve()))
        _shrink(args.screenshot)
        print(f"wrote {args.screenshot}")
    finally:
        viewer.quit()


if __name__ == "__main__":
    main()
