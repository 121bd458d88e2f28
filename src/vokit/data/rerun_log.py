"""Rerun recordings of a VO run: camera, image, depth as a coloured point cloud, trajectories and patch tracks.

`RerunRecorder` writes a ``.rrd`` file (open it with ``rerun FILE.rrd``) and/or streams to a live viewer. It needs
the optional ``rerun-sdk`` package (``pip install 'vokit[viz]'``); without it, creating a recorder raises a
`VokitError` that says so. Entities, per frame on the ``frame`` timeline (and ``time`` in seconds):

- ``world``: vokit's world frame, declared RDF (x right, y down, z forward: the first camera's axes);
- ``world/camera``: the ``world_from_cam`` pose (`Transform3D`), with ``world/camera/image``: its `Pinhole`
  (drawn as the frustum) and the RGB image;
- ``world/camera/image/depth``: the depth map (`DepthImage`, metres or the model's units);
- ``world/camera/points``: the depth map back-projected on a pixel grid and coloured by the image (camera frame,
  placed in the world by the frame's pose);
- ``world/trajectory/estimate`` and ``world/trajectory/ground_truth``: the camera centres so far;
- ``world/camera/image/patches`` and ``world/camera/image/tracks``: patchvo's active patches and the last pixel
  positions of each patch id.

Rerun's image coordinates put the top-left *corner* of the first pixel at (0, 0); vokit's put its centre there,
so principal points and 2-D positions are shifted by half a pixel when logged.
"""

import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from vokit.errors import VokitError
from vokit.geometry.camera import unproject

VIZ_INSTALL = "pip install 'vokit[viz]'"
"""The command that installs the optional viewer dependency."""

PIXEL_OFFSET = 0.5
"""Rerun pixel coordinate minus vokit pixel coordinate."""

ENTITY_CAMERA = "world/camera"
ENTITY_IMAGE = "world/camera/image"
ENTITY_DEPTH = "world/camera/image/depth"
ENTITY_POINTS = "world/camera/points"
ENTITY_ESTIMATE = "world/trajectory/estimate"
ENTITY_GROUND_TRUTH = "world/trajectory/ground_truth"
ENTITY_PATCHES = "world/camera/image/patches"
ENTITY_TRACKS = "world/camera/image/tracks"


def import_rerun() -> Any:
    """The ``rerun`` module, or a `VokitError` naming the install command when it is missing."""
    try:
        import rerun
    except ImportError:
        raise VokitError(f"the rerun viewer output needs the optional rerun-sdk package: {VIZ_INSTALL}") from None
    return rerun


def has_display() -> bool:
    """Whether a live viewer window can open here (Linux needs ``DISPLAY`` or ``WAYLAND_DISPLAY``)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _viewer_on_path() -> None:
    """Put the ``rerun`` viewer installed beside this Python on ``PATH`` (a venv used without activating it)."""
    import shutil

    beside = Path(sys.executable).parent
    if shutil.which("rerun") is None and (beside / "rerun").is_file():
        os.environ["PATH"] = f"{beside}{os.pathsep}{os.environ.get('PATH', '')}"


def _rgb_uint8(image: Tensor) -> np.ndarray:
    rgb = image.detach().to(torch.float32).cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def reprojected_patches(
    patches: Float[Tensor, "N P 2"],
    depths: Float[Tensor, "N H W"],
    intrinsics: Float[Tensor, "4"] | Float[Tensor, "N 4"],
    world_from_cam: Float[Tensor, "N 7"],
    frame: int,
    window: int = 8,
) -> tuple[Float[Tensor, "Q 2"], Int[Tensor, " Q"]]:
    """The patches of the last ``window`` frames, moved into ``frame`` with their predicted depth and the poses.

    A patch born in frame k at ``uv`` with depth ``d`` (the depth map at its nearest pixel) is back-projected,
    moved by ``cam_frame_from_cam_k`` and projected; it keeps the id ``k * P + p``, so that logging these per
    frame with `RerunRecorder.log_patches` draws each patch's predicted track. Patches behind the camera or outside
    the image are dropped.

    Args:
        patches: patch centres per frame (vokit pixels).
        depths: predicted z-depth per frame.
        intrinsics: ``(fx, fy, cx, cy)``, (4,) or per frame.
        world_from_cam: poses ``[t, q_xyzw]``.
        frame: the frame to draw in.
        window: frames of patches kept (the newest is ``frame`` itself).

    Returns:
        ``uv`` in ``frame`` and the patch ids.
    """
    from vokit.geometry.camera import project
    from vokit.geometry.lie import se3_act, se3_compose, se3_inverse

    n, n_patches = patches.shape[:2]
    h, w = depths.shape[-2:]
    k_all = intrinsics.detach().to(torch.float64).cpu().reshape(-1, 4).expand(n, 4)
    poses = world_from_cam.detach().to(torch.float64).cpu()
    uvs, ids = [torch.zeros(0, 2, dtype=torch.float64)], [torch.zeros(0, dtype=torch.int64)]
    for k in range(max(0, frame - window + 1), frame + 1):
        uv = patches[k].detach().to(torch.float64).cpu()
        col, row = uv[:, 0].round().long().clamp(0, w - 1), uv[:, 1].round().long().clamp(0, h - 1)
        d = depths[k].detach().to(torch.float64).cpu()[row, col]
        cam_j_from_cam_k = se3_compose(se3_inverse(poses[frame]), poses[k])
        pts = se3_act(cam_j_from_cam_k.expand(uv.shape[0], 7), unproject(uv, d, k_all[k]))
        uv_j = project(pts, k_all[frame])
        keep = (d > 0) & (pts[:, 2] > 1e-6) & (uv_j[:, 0] >= -0.5) & (uv_j[:, 0] <= w - 0.5) \
            & (uv_j[:, 1] >= -0.5) & (uv_j[:, 1] <= h - 0.5)
        uvs.append(uv_j[keep])
        ids.append(k * n_patches + torch.arange(n_patches)[keep])
    return torch.cat(uvs), torch.cat(ids)


class RerunRecorder:
    """Logs a VO run frame by frame to a ``.rrd`` file and/or a live rerun viewer.

    Example (needs rerun-sdk)::

        with RerunRecorder("run.rrd") as rec:
            for k, frame in enumerate(frames):
                rec.log_frame(k, frame.timestamp, frame.image, frame.intrinsics, pose[k], depth=depth[k])
    """

    def __init__(
        self,
        path: str | Path | None = None,
        spawn: bool = False,
        application_id: str = "vokit",
        point_stride: int = 4,
        max_depth: float | None = None,
        frustum_depth: float = 0.3,
        track_length: int = 12,
        send_layout: bool = True,
    ) -> None:
        """Open the recording.

        Args:
            path: the ``.rrd`` file to write (its folder is created); ``None``: none.
            spawn: also start a live viewer and stream to it (needs a display).
            application_id: rerun's application id (the recording's name in the viewer).
            point_stride: pixel spacing of the depth samples in ``world/points``.
            max_depth: leave farther depth samples out of the point cloud (``None``: keep all).
            frustum_depth: distance of the drawn image plane from the camera, in world units.
            track_length: frames of history drawn per patch track.
            send_layout: store vokit's default viewer layout in the recording (False: the viewer's own, or one
                given with ``rerun FILE.rrd LAYOUT.rbl``).

        Raises:
            VokitError: rerun-sdk is missing (naming the install command), neither a path nor ``spawn`` was given,
                ``spawn`` without a display, or the file cannot be created.
        """
        rr = import_rerun()
        if path is None and not spawn:
            raise VokitError("give a .rrd path, spawn=True, or both")
        if spawn and not has_display():
            raise VokitError("--rerun-spawn needs a display (no DISPLAY or WAYLAND_DISPLAY is set); write a file "
                             "with --rerun FILE.rrd and open it elsewhere with `rerun FILE.rrd`")
        if point_stride < 1 or track_length < 1:
            raise VokitError(f"point_stride and track_length must be >= 1, got {point_stride}, {track_length}")
        self._rr = rr
        self.path = None if path is None else Path(path)
        self.point_stride = point_stride
        self.max_depth = max_depth
        self.frustum_depth = frustum_depth
        self.track_length = track_length
        self._stream = rr.RecordingStream(application_id)
        sinks = []
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.touch()
            except OSError as err:
                raise VokitError(f"cannot write the rerun recording: {err.strerror or err}", self.path) from None
            sinks.append(rr.FileSink(str(self.path)))
        if spawn:
            _viewer_on_path()
            try:
                rr.spawn(connect=False)
            except (RuntimeError, OSError) as err:
                raise VokitError(f"cannot start the rerun viewer: {str(err).splitlines()[0]}") from None
            sinks.append(rr.GrpcSink())
        self._stream.set_sinks(*sinks)
        self._stream.log("world", rr.ViewCoordinates.RDF, static=True)
        if send_layout:
            self._send_layout()
        self._estimate: list[np.ndarray] = []
        self._ground_truth: list[np.ndarray] = []
        self._tracks: dict[int, deque[tuple[float, float]]] = {}
        self.n_frames = 0
        self._closed = False

    def _send_layout(self) -> None:
        """A default layout: the 3-D scene following the camera, beside the image (with patches) and the depth.

        Best effort: blueprint options differ between rerun versions, and without a layout the viewer picks one.
        """
        try:
            import rerun.blueprint as rrb

            eye = rrb.EyeControls3D(tracking_entity=ENTITY_CAMERA, eye_up=(0.0, -1.0, 0.0))
            scene = rrb.Spatial3DView(origin="world", name="scene", contents=["+ $origin/**", f"- {ENTITY_DEPTH}"],
                                      eye_controls=eye)
            image = rrb.Spatial2DView(origin=ENTITY_IMAGE, name="image and patches",
                                      contents=["+ $origin/**", f"- {ENTITY_DEPTH}"])
            depth = rrb.Spatial2DView(origin=ENTITY_DEPTH, name="depth")
            layout = rrb.Blueprint(rrb.Horizontal(scene, rrb.Vertical(image, depth), column_shares=[3, 2]),
                                   collapse_panels=True)
            self._stream.send_blueprint(layout)
        except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover - older rerun-sdk
            pass

    def __enter__(self) -> "RerunRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_frame(
        self,
        index: int,
        timestamp: float | None,
        image: Float[Tensor, "3 H W"],
        intrinsics: Float[Tensor, "4"],
        world_from_cam: Float[Tensor, "7"],
        depth: Float[Tensor, "H W"] | None = None,
        gt_world_from_cam: Float[Tensor, "7"] | None = None,
        patches: Float[Tensor, "P 2"] | None = None,
        patch_ids: Int[Tensor, " P"] | None = None,
    ) -> None:
        """Log one frame: `log_view` and `log_pose` together.

        Args:
            index: frame index (the ``frame`` timeline).
            timestamp: seconds (the ``time`` timeline; ``None``: not set).
            image: RGB in ``[0, 1]``.
            intrinsics: ``(fx, fy, cx, cy)`` in pixels of ``image`` (vokit pixel coordinates).
            world_from_cam: estimated pose ``[t, q_xyzw]``.
            depth: z-depth at the image's resolution (0 or non-finite = invalid).
            gt_world_from_cam: ground-truth pose, added to the ground-truth trajectory.
            patches: active patch centres ``uv`` in this image (vokit pixels).
            patch_ids: a persistent id per patch, to draw its track over the last frames (``None``: no tracks).

        Raises:
            VokitError: after `close`, or on mismatched sizes.
        """
        self.log_view(index, timestamp, image, intrinsics, depth, patches, patch_ids)
        self.log_pose(index, timestamp, world_from_cam, gt_world_from_cam)

    def _set_time(self, index: int, timestamp: float | None) -> None:
        if self._closed:
            raise VokitError("the rerun recording is closed")
        self._stream.set_time("frame", sequence=int(index))
        if timestamp is not None:
            self._stream.set_time("time", duration=float(timestamp))

    def log_view(
        self,
        index: int,
        timestamp: float | None,
        image: Float[Tensor, "3 H W"],
        intrinsics: Float[Tensor, "4"],
        depth: Float[Tensor, "H W"] | None = None,
        patches: Float[Tensor, "P 2"] | None = None,
        patch_ids: Int[Tensor, " P"] | None = None,
    ) -> None:
        """Log what frame ``index`` sees (camera model, image, depth and its cloud, patches), without its pose.

        Everything is in the camera frame, under ``world/camera``, so it is placed by the pose of the same frame
        whenever that is logged (rerun orders by the timelines, not by the order of the calls). Arguments as
        `log_frame`.
        """
        self._set_time(index, timestamp)
        rr, rec = self._rr, self._stream
        height, width = image.shape[-2:]
        if depth is not None and tuple(depth.shape) != (height, width):
            raise VokitError(f"depth {tuple(depth.shape)} and image {(height, width)} differ in size")
        fx, fy, cx, cy = intrinsics.detach().to(torch.float64).cpu().tolist()
        rec.log(ENTITY_IMAGE, rr.Pinhole(focal_length=[fx, fy], principal_point=[cx + PIXEL_OFFSET,
                                         cy + PIXEL_OFFSET], resolution=[width, height],
                                         image_plane_distance=self.frustum_depth))
        rec.log(ENTITY_IMAGE, rr.Image(_rgb_uint8(image)))
        if depth is not None:
            d = depth.detach().to(torch.float32).cpu()
            rec.log(ENTITY_DEPTH, rr.DepthImage(torch.nan_to_num(d, nan=0.0, posinf=0.0).numpy(), meter=1.0))
            points, colors = self._depth_points(image, d, intrinsics)
            rec.log(ENTITY_POINTS, rr.Points3D(points, colors=colors, radii=rr.Radius.ui_points(2.5)))
        if patches is not None:
            self._log_patches(patches, patch_ids)
        self.n_frames += 1

    def log_patches(
        self, index: int, timestamp: float | None, patches: Float[Tensor, "P 2"], patch_ids: Int[Tensor, " P"] | None
    ) -> None:
        """Log frame ``index``'s active patches (and, with ids, their tracks) alone; call in frame order."""
        self._set_time(index, timestamp)
        self._log_patches(patches, patch_ids)

    def log_pose(
        self,
        index: int,
        timestamp: float | None,
        world_from_cam: Float[Tensor, "7"],
        gt_world_from_cam: Float[Tensor, "7"] | None = None,
    ) -> None:
        """Log frame ``index``'s estimated (and ground-truth) pose and the trajectories up to it.

        Call it in frame order: each call extends the trajectories drawn at its frame. Arguments as `log_frame`.
        """
        self._set_time(index, timestamp)
        rr, rec = self._rr, self._stream
        pose = world_from_cam.detach().to(torch.float64).cpu()
        rec.log(ENTITY_CAMERA, rr.Transform3D(translation=pose[:3].numpy(), quaternion=rr.Quaternion(
            xyzw=(pose[3:] / torch.linalg.vector_norm(pose[3:])).numpy())))
        self._estimate.append(pose[:3].numpy())
        rec.log(ENTITY_ESTIMATE, rr.LineStrips3D([np.stack(self._estimate)], colors=[(255, 120, 0)]))
        if gt_world_from_cam is not None:
            self._ground_truth.append(gt_world_from_cam.detach().to(torch.float64).cpu()[:3].numpy())
            rec.log(ENTITY_GROUND_TRUTH, rr.LineStrips3D([np.stack(self._ground_truth)], colors=[(0, 160, 255)]))

    def _depth_points(self, image: Tensor, depth: Tensor, intrinsics: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Depth samples back-projected into the camera frame, with their image colours."""
        s = self.point_stride
        h, w = depth.shape
        vs, us = torch.meshgrid(torch.arange(s // 2, h, s), torch.arange(s // 2, w, s), indexing="ij")
        d = depth[vs, us].to(torch.float64)
        keep = torch.isfinite(d) & (d > 0)
        if self.max_depth is not None:
            keep &= d <= self.max_depth
        us, vs, d = us[keep], vs[keep], d[keep]
        pts_cam = unproject(torch.stack([us, vs], -1).to(torch.float64), d,
                            intrinsics.detach().to(torch.float64).cpu())
        colors = _rgb_uint8(image)[vs.numpy(), us.numpy()]
        return pts_cam.numpy(), colors

    def _log_patches(self, patches: Tensor, patch_ids: Tensor | None) -> None:
        rr, rec = self._rr, self._stream
        uv = patches.detach().to(torch.float64).cpu().numpy() + PIXEL_OFFSET
        rec.log(ENTITY_PATCHES, rr.Points2D(uv, radii=rr.Radius.ui_points(3.0), colors=[(60, 255, 60)]))
        if patch_ids is None:
            return
        ids = patch_ids.detach().cpu().tolist()
        if len(ids) != uv.shape[0]:
            raise VokitError(f"{len(ids)} patch ids for {uv.shape[0]} patches")
        for pid, (u, v) in zip(ids, uv.tolist(), strict=True):
            self._tracks.setdefault(int(pid), deque(maxlen=self.track_length)).append((u, v))
        active = set(int(p) for p in ids)
        self._tracks = {pid: track for pid, track in self._tracks.items() if pid in active}
        strips = [np.asarray(track) for track in self._tracks.values() if len(track) > 1]
        rec.log(ENTITY_TRACKS, rr.LineStrips2D(strips, colors=[(255, 220, 0)], radii=rr.Radius.ui_points(1.0)))

    def close(self) -> None:
        """Flush and close the recording (the ``.rrd`` file is complete afterwards); idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.flush()
        except RuntimeError as err:  # a live viewer that never came up or was closed: the file sink is complete
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            print(f"vokit: the live rerun viewer could not be reached ({first})", file=sys.stderr)
        self._stream.disconnect()
