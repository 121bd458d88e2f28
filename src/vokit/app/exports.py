"""A run's viewer and interchange outputs: a rerun recording (``--rerun``) and a COLMAP text model (``--colmap``).

`RunExports` is opened before inference (so that a missing rerun-sdk or an unwritable path fails before any
work), fed every finished frame by the run's ``on_frame`` callback, and finished with the prediction:

- rerun (`vokit.data.rerun_log`): each frame's camera, image, depth and depth cloud as it finishes; after the
  pass, the poses, the trajectory so far, the ground truth (Sim(3)-aligned to the estimate with the run's ATE
  alignment when the run was evaluated, else anchored at frame 0) and, for patch-based methods, the patches with
  their tracks (reprojected with the predicted depth and poses);
- COLMAP (`vokit.data.colmap`): ``cameras.txt`` (PINHOLE: the run sees undistorted images), ``images.txt``
  (``cam_from_world`` of the estimated trajectory), ``points3D.txt`` (depth sampled every ``colmap_stride``
  pixels, or the patches for patch-based methods, each observed in its own frame) and ``images/NNNNNN.png``, the
  images as the run saw them, named like the run's other frame files.

Poses and points are in the model's units (monocular: scale unknown).
"""

from collections import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vokit.data.sequence import Sequence as FrameSequence
from vokit.errors import VokitError
from vokit.methods.inference import FrameResult, SequencePrediction


@dataclass(frozen=True)
class ExportOptions:
    """What a run exports besides its own folder.

    Attributes:
        rerun: ``.rrd`` file to write (None: none).
        rerun_spawn: stream to a live rerun viewer (needs a display).
        colmap: folder for the COLMAP text model (None: none).
        colmap_stride: pixels between the depth samples written as 3-D points.
    """

    rerun: Path | None = None
    rerun_spawn: bool = False
    colmap: Path | None = None
    colmap_stride: int = 16

    @property
    def any(self) -> bool:
        """Whether anything is exported."""
        return self.rerun is not None or self.rerun_spawn or self.colmap is not None


def frame_name(position: int) -> str:
    """The image name of frame ``position`` in exports (the run's frame-file numbering)."""
    return f"{position:06d}.png"


class _WrittenImages(abc.Sequence):
    """The exported ``images/NNNNNN.png`` as a lazy list (8-bit colours, as COLMAP will see them)."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder, self.n = folder, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> torch.Tensor:  # type: ignore[override]
        from vokit.data.image_io import read_image_rgb

        return read_image_rgb(self.folder / frame_name(k))


class RunExports:
    """Collects a run's frames for the rerun recording and the COLMAP model (see the module docstring)."""

    def __init__(self, options: ExportOptions, sequence: FrameSequence) -> None:
        """Open the outputs; raises `VokitError` (missing rerun-sdk, no display, unwritable path) before any work."""
        if options.colmap_stride < 1:
            raise VokitError(f"the COLMAP depth sample stride must be >= 1, got {options.colmap_stride}")
        self.options = options
        self.sequence = sequence
        self.recorder: Any = None
        if options.rerun is not None or options.rerun_spawn:
            from vokit.data.rerun_log import RerunRecorder

            self.recorder = RerunRecorder(options.rerun, spawn=options.rerun_spawn)
        self._written: set[int] = set()
        if options.colmap is not None:
            try:
                (options.colmap / "images").mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise VokitError(f"cannot create the COLMAP folder: {err.strerror or err}", options.colmap) from None

    def on_frame(self, frame: FrameResult) -> None:
        """Log a finished frame to rerun and keep what the COLMAP model needs (a subsampled depth and colours)."""
        k = frame.position
        timestamp = float(self.sequence.timestamps[k])
        if self.recorder is not None:
            self.recorder.log_view(k, timestamp, frame.image, self.sequence.intrinsics[k], frame.depth)
        if self.options.colmap is not None:
            from vokit.data.image_io import write_image_rgb

            write_image_rgb(self.options.colmap / "images" / frame_name(k), frame.image)
            self._written.add(k)

    def finish(self, prediction: SequencePrediction, ref_from_est: torch.Tensor | None = None) -> None:
        """Write the poses, trajectories and patches to rerun, and the COLMAP model.

        Args:
            prediction: the run's prediction.
            ref_from_est: the run's Sim(3) ATE alignment ``[t, q_xyzw, s]`` (None: not evaluated).
        """
        try:
            if self.recorder is not None:
                self._finish_rerun(prediction, ref_from_est)
            if self.options.colmap is not None:
                self._finish_colmap(prediction)
        finally:
            self.close()

    def _ground_truth(self, n: int, ref_from_est: torch.Tensor | None) -> torch.Tensor | None:
        gt = self.sequence.world_from_cam
        if gt is None:
            return None
        from vokit.geometry.lie import se3_compose, se3_inverse
        from vokit.metrics.trajectory import apply_sim3_to_poses

        gt = gt[:n].to(torch.float64)
        if ref_from_est is None:
            return se3_compose(se3_inverse(gt[0]).expand(n, 7), gt)
        # est_from_ref = inverse similarity: R^T, translation -R^T t / s, scale 1 / s
        from vokit.geometry.lie import quat_conjugate, quat_to_matrix

        s = float(ref_from_est[7])
        q_inv = quat_conjugate(ref_from_est[3:7].to(torch.float64))
        t_inv = -(quat_to_matrix(q_inv) @ ref_from_est[:3].to(torch.float64)) / s
        return apply_sim3_to_poses(torch.cat([t_inv, q_inv, torch.tensor([1.0 / s], dtype=torch.float64)]), gt)

    def _finish_rerun(self, prediction: SequencePrediction, ref_from_est: torch.Tensor | None) -> None:
        from vokit.data.rerun_log import reprojected_patches

        n = int(prediction.world_from_cam.shape[0])
        gt = self._ground_truth(n, ref_from_est)
        for k in range(n):
            t = float(prediction.timestamps[k])
            self.recorder.log_pose(k, t, prediction.world_from_cam[k], None if gt is None else gt[k])
            if prediction.patches is not None and prediction.depth is not None:
                uv, ids = reprojected_patches(prediction.patches, prediction.depth, self.sequence.intrinsics,
                                              prediction.world_from_cam, k)
                self.recorder.log_patches(k, t, uv, ids)
            elif prediction.patches is not None:  # sparse methods: the frame's own patches (NaN off keyframes)
                uv = prediction.patches[k]
                keep = torch.isfinite(uv).all(-1)
                self.recorder.log_patches(k, t, uv[keep], torch.nonzero(keep)[:, 0])

    def _finish_colmap(self, prediction: SequencePrediction) -> None:
        from vokit.data.colmap import points_from_depth, points_from_patches, write_colmap_text

        n = int(prediction.world_from_cam.shape[0])
        if sorted(self._written) != list(range(n)):
            raise VokitError(f"COLMAP export: {len(self._written)} frames written for {n} poses")
        assert self.options.colmap is not None
        intrinsics = self.sequence.intrinsics[:n]
        names = [frame_name(k) for k in range(n)]
        if prediction.depth is None:  # sparse methods: their world points, without 2-D observations
            pts = prediction.points_world
            colors = None if prediction.point_colors is None or pts is None else \
                (prediction.point_colors.clamp(0, 1) * 255).round().to(torch.uint8)
            write_colmap_text(self.options.colmap, intrinsics, self.sequence.image_size, prediction.world_from_cam,
                              names, pts, colors, [] if pts is None else [[] for _ in range(pts.shape[0])])
            return
        depths = list(prediction.depth)
        images = _WrittenImages(self.options.colmap / "images", n)  # read back one at a time: memory stays flat
        if prediction.patches is not None:
            points = points_from_patches(prediction.patches, depths, images, intrinsics, prediction.world_from_cam)
        else:
            points = points_from_depth(depths, images, intrinsics, prediction.world_from_cam,
                                       stride=self.options.colmap_stride)
        write_colmap_text(self.options.colmap, intrinsics, self.sequence.image_size, prediction.world_from_cam,
                          names, points.points_world, points.colors, points.observations)

    def close(self) -> None:
        """Close the rerun recording (idempotent); a failed run still leaves a readable ``.rrd``."""
        if self.recorder is not None:
            self.recorder.close()
