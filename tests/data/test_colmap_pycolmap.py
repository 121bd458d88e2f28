"""The COLMAP export loaded by pycolmap itself: poses and reprojections agree with vokit's values.

Needs pycolmap (in the ``dev`` extra); skipped, saying so, without it.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

pycolmap = pytest.importorskip("pycolmap", reason="pycolmap is not installed (pip install -e '.[dev]')")

from tests.data.test_colmap import _write  # noqa: E402

from vokit.geometry.lie import se3_inverse, se3_to_matrix  # noqa: E402

POSE_ATOL = 1e-9
"""Pose agreement (rotation entries, translation in scene units): the text holds 17 significant digits."""
REPROJ_ATOL_PX = 1e-6
"""pycolmap's reprojection of each point against the observation vokit stored, pixels."""


def _cam_from_world(image: object) -> object:
    """pycolmap >= 3.12 made ``Image.cam_from_world`` a method; earlier versions expose a property."""
    pose = image.cam_from_world  # type: ignore[attr-defined]
    return pose() if callable(pose) else pose


@pytest.mark.parametrize("distorted", [False, True])
def test_pycolmap_reads_vokit_poses_and_reprojects(tmp_path: Path, distorted: bool) -> None:
    dist = torch.tensor([-0.05, 0.01, 1e-4, -2e-4], dtype=torch.float64) if distorted else None
    out, poses, intrinsics, (points, obs) = _write(tmp_path, dist)
    rec = pycolmap.Reconstruction(str(out))
    assert (rec.num_images(), rec.num_points3D()) == (poses.shape[0], points.points_world.shape[0])
    for image_id, image in rec.images.items():
        expected = se3_to_matrix(se3_inverse(poses[image_id - 1])).numpy()  # COLMAP's cam_from_world
        np.testing.assert_allclose(_cam_from_world(image).matrix(), expected[:3], atol=POSE_ATOL)
        assert image.name == f"{image_id - 1:06d}.png"
    camera = rec.camera(1)
    assert camera.model.name == ("OPENCV" if distorted else "PINHOLE")
    assert camera.width == 80 and camera.height == 60
    worst = 0.0
    for point_id, point in rec.points3D.items():
        np.testing.assert_allclose(point.xyz, points.points_world[point_id - 1].numpy(), atol=1e-12)
        for element in point.track.elements:
            image = rec.image(element.image_id)
            # pycolmap projects with its camera model (OPENCV: COLMAP's radial-tangential distortion)
            uv = camera.img_from_cam(_cam_from_world(image) * point.xyz)
            worst = max(worst, float(np.abs(uv - image.points2D[element.point2D_idx].xy).max()))
    assert worst < REPROJ_ATOL_PX  # distorted: vokit's distort_radtan agrees with COLMAP's OPENCV model
    rec.update_point_3d_errors()
    assert rec.compute_mean_reprojection_error() < REPROJ_ATOL_PX
