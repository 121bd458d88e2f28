"""COLMAP text export: written, parsed back, and checked against vokit's own poses and projections.

The default suite checks the format by parsing (`read_colmap_text`); the pycolmap round trip is in
test_colmap_pycolmap.py (skips without the ``dev`` extra's pycolmap).
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from vokit.data.colmap import (
    COLMAP_FILES,
    PIXEL_OFFSET,
    colmap_world_from_cam,
    points_from_depth,
    points_from_patches,
    read_colmap_text,
    write_colmap_text,
)
from vokit.errors import VokitError
from vokit.geometry.camera import distort_radtan, project
from vokit.geometry.lie import se3_act, se3_exp, se3_inverse, se3_to_matrix


def scene(n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Poses, intrinsics, depth maps (1-6 m) and images of a small plausible scene."""
    g = torch.Generator().manual_seed(seed)
    xi = torch.randn(n, 6, generator=g, dtype=torch.float64) * torch.tensor([0.5, 0.1, 0.5, 0.05, 0.2, 0.05],
                                                                             dtype=torch.float64)
    poses = se3_exp(xi)
    intrinsics = torch.tensor([120.0, 118.0, 39.5, 29.5], dtype=torch.float64)  # 80 x 60 image
    depths = [1.0 + 5.0 * torch.rand(60, 80, generator=g, dtype=torch.float64) for _ in range(n)]
    images = [torch.rand(3, 60, 80, generator=g) for _ in range(n)]
    return poses, intrinsics, depths, images


def _distort(u: float, v: float, intrinsics: torch.Tensor, distortion: torch.Tensor) -> tuple[float, float]:
    fx, fy, cx, cy = intrinsics.tolist()
    xy = distort_radtan(torch.tensor([(u - cx) / fx, (v - cy) / fy], dtype=torch.float64), distortion)
    return fx * float(xy[0]) + cx, fy * float(xy[1]) + cy


def _write(tmp_path: Path, distortion: torch.Tensor | None = None) -> tuple[Path, torch.Tensor, torch.Tensor, object]:
    poses, intrinsics, depths, images = scene()
    points = points_from_depth(depths, images, intrinsics, poses, stride=10)
    # a second observation of every tenth point, projected into the next frame: tracks longer than one
    obs = [list(o) for o in points.observations]
    for k in range(0, len(obs), 10):
        frame = obs[k][0][0]
        if frame + 1 < poses.shape[0]:
            pts_cam = se3_act(se3_inverse(poses[frame + 1]), points.points_world[k])
            u, v = project(pts_cam, intrinsics).tolist()
            obs[k].append((frame + 1, u, v))
    if distortion is not None:  # observations of the original, distorted images (vokit's radtan model)
        obs = [[(f, *_distort(u, v, intrinsics, distortion)) for f, u, v in o] for o in obs]
    names = [f"{i:06d}.png" for i in range(poses.shape[0])]
    out = tmp_path / "colmap"
    write_colmap_text(out, intrinsics, (60, 80), poses, names, points.points_world, points.colors, obs, distortion)
    return out, poses, intrinsics, (points, obs)


def test_files_parse_back_with_vokit_values(tmp_path: Path) -> None:
    out, poses, intrinsics, (points, obs) = _write(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == sorted(COLMAP_FILES)
    model = read_colmap_text(out)
    (camera,) = model.cameras.values()
    assert (camera.model, camera.width, camera.height) == ("PINHOLE", 80, 60)
    expected = intrinsics.tolist()
    expected[2:] = [c + PIXEL_OFFSET for c in expected[2:]]  # corner-origin principal point
    assert camera.params == pytest.approx(expected, abs=1e-12)
    assert sorted(model.images) == [1, 2, 3, 4] and len(model.points3d) == points.points_world.shape[0]
    for i, image in model.images.items():
        assert image.name == f"{i - 1:06d}.png"
        torch.testing.assert_close(se3_to_matrix(colmap_world_from_cam(image)), se3_to_matrix(poses[i - 1]))
        # COLMAP's pose is cam_from_world with w first
        cam_from_world = se3_inverse(poses[i - 1])
        q_wxyz = cam_from_world[[6, 3, 4, 5]]
        assert np.allclose(image.qvec_wxyz, q_wxyz.numpy(), atol=1e-12) or np.allclose(image.qvec_wxyz,
                                                                                        -q_wxyz.numpy(), atol=1e-12)
        np.testing.assert_allclose(image.tvec, cam_from_world[:3].numpy(), atol=1e-12)


def test_observations_reproject_and_tracks_point_back(tmp_path: Path) -> None:
    out, poses, intrinsics, (points, obs) = _write(tmp_path)
    model = read_colmap_text(out)
    n_long = 0
    for pid, point in model.points3d.items():
        np.testing.assert_allclose(point.xyz, points.points_world[pid - 1].numpy(), atol=1e-12)
        assert point.rgb == tuple(points.colors[pid - 1].tolist())
        assert len(point.track) == len(obs[pid - 1])
        n_long += len(point.track) > 1
        for (image_id, idx), (frame, u, v) in zip(point.track, obs[pid - 1], strict=True):
            image = model.images[image_id]
            assert image_id == frame + 1 and image.point3d_ids[idx] == pid
            np.testing.assert_allclose(image.xys[idx], [u + PIXEL_OFFSET, v + PIXEL_OFFSET], atol=1e-12)
            # the COLMAP pose and camera reproject the point onto its stored observation
            fx, fy, cx, cy = model.cameras[image.camera_id].params
            pose = colmap_world_from_cam(image)
            p = se3_act(se3_inverse(pose), torch.from_numpy(point.xyz)).numpy()
            np.testing.assert_allclose([fx * p[0] / p[2] + cx, fy * p[1] / p[2] + cy], image.xys[idx], atol=1e-9)
    assert n_long > 0


def test_opencv_camera_and_per_frame_intrinsics(tmp_path: Path) -> None:
    out, *_ = _write(tmp_path, distortion=torch.tensor([-0.1, 0.01, 1e-4, -2e-4], dtype=torch.float64))
    (camera,) = read_colmap_text(out).cameras.values()
    assert camera.model == "OPENCV" and camera.params[4:] == pytest.approx((-0.1, 0.01, 1e-4, -2e-4))
    poses, intrinsics, _, _ = scene(2)
    per_frame = torch.stack([intrinsics, intrinsics * 1.1])
    write_colmap_text(tmp_path / "two", per_frame, (60, 80), poses, ["a.png", "b.png"])
    model = read_colmap_text(tmp_path / "two")
    assert sorted(model.cameras) == [1, 2] and [im.camera_id for im in model.images.values()] == [1, 2]
    assert model.points3d == {}


def test_points_from_depth_back_project_onto_their_pixels() -> None:
    poses, intrinsics, depths, images = scene(2)
    depths[1][:] = 0.0
    depths[0][5, 5] = float("nan")
    pts = points_from_depth(depths, images, intrinsics, poses, stride=5, max_depth=4.0)
    assert all(len(o) == 1 and o[0][0] == 0 for o in pts.observations)  # frame 1 has no valid depth
    for k in range(0, len(pts.observations), 7):
        frame, u, v = pts.observations[k][0]
        pts_cam = se3_act(se3_inverse(poses[frame]), pts.points_world[k])
        torch.testing.assert_close(project(pts_cam, intrinsics), torch.tensor([u, v], dtype=torch.float64))
        assert float(pts_cam[2]) == pytest.approx(float(depths[frame][int(v), int(u)]))
        assert float(pts_cam[2]) <= 4.0
        expected = (images[frame][:, int(v), int(u)].double() * 255).round().to(torch.uint8)
        assert pts.colors[k].tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_names": ["a.png"]}, "image names"),
        ({"image_names": ["a b.png", "c.png"]}, "whitespace"),
        ({"observations": [[(5, 1.0, 1.0)]]}, "frame 5"),
        ({"observations": []}, "one observation list per point"),
        ({"intrinsics": torch.tensor([0.0, 1.0, 1.0, 1.0])}, "positive focal"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, kwargs: dict, match: str) -> None:
    poses, intrinsics, _, _ = scene(2)
    args = {"out_dir": tmp_path, "intrinsics": intrinsics, "image_size": (60, 80), "world_from_cam": poses,
            "image_names": ["a.png", "b.png"], "points_world": torch.zeros(1, 3, dtype=torch.float64) + 1,
            "observations": [[(0, 1.0, 1.0)]]}
    args.update(kwargs)
    with pytest.raises(VokitError, match=match):
        write_colmap_text(**args)


def test_malformed_model_names_the_file(tmp_path: Path) -> None:
    out, *_ = _write(tmp_path)
    (out / "points3D.txt").write_text("1 0 0 zero 1 2 3 -1\n")
    with pytest.raises(VokitError, match="malformed") as err:
        read_colmap_text(out)
    assert err.value.path == out / "points3D.txt"


def test_points_from_patches_sit_on_their_centres() -> None:
    poses, intrinsics, depths, images = scene(2)
    patches = torch.tensor([[[10.2, 20.7], [79.4, 0.0], [200.0, 5.0]], [[3.0, 4.0], [40.0, 30.0], [-1.0, 2.0]]],
                           dtype=torch.float64)  # two outside the image
    depths[1][30, 40] = 0.0  # and one on invalid depth
    pts = points_from_patches(patches, depths, images, intrinsics, poses)
    assert [o[0][:1] for o in pts.observations] == [(0,), (0,), (1,)]
    for k, ((frame, u, v),) in enumerate(pts.observations):
        pts_cam = se3_act(se3_inverse(poses[frame]), pts.points_world[k])
        torch.testing.assert_close(project(pts_cam, intrinsics), torch.tensor([u, v], dtype=torch.float64))
        assert float(pts_cam[2]) == pytest.approx(float(depths[frame][round(v), round(u)]))
