"""COLMAP text models (``cameras.txt``, ``images.txt``, ``points3D.txt``): a writer, a reader, points from depth.

The format is COLMAP's (colmap.github.io/format.html, "Text format"):

- ``cameras.txt``: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]`` with ``PINHOLE`` = ``fx fy cx cy`` or ``OPENCV`` =
  ``fx fy cx cy k1 k2 p1 p2``;
- ``images.txt``: two lines per image, ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` (the pose is
  ``cam_from_world``, quaternion **w, x, y, z**) and ``X Y POINT3D_ID`` triples (``-1`` for an observation of no
  3-D point);
- ``points3D.txt``: ``POINT3D_ID X Y Z R G B ERROR (IMAGE_ID POINT2D_IDX)...``, with ``POINT2D_IDX`` the 0-based
  position of the observation in its image's second line.

vokit's conventions differ in three ways, converted here and only here: poses are ``world_from_cam`` ``[t, q_xyzw]``
(COLMAP stores the inverse, in wxyz order); ids are 0-based frame indices (COLMAP's are 1-based); and vokit's pixel
coordinates put integers at pixel *centres*, COLMAP's put them at the top-left *corner* of a pixel (the centre of
the first pixel is (0.5, 0.5)), so principal points and observations gain 0.5 px on the way out and lose it on the
way back.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float, UInt8
from torch import Tensor

from vokit.data.file_io import read_lines
from vokit.errors import VokitError
from vokit.geometry.camera import unproject
from vokit.geometry.lie import se3_act, se3_inverse

COLMAP_FILES: tuple[str, ...] = ("cameras.txt", "images.txt", "points3D.txt")
"""The three files of a COLMAP text model."""

PIXEL_OFFSET = 0.5
"""COLMAP pixel coordinate minus vokit pixel coordinate (corner-origin vs centre-origin integers)."""

Observation = tuple[int, float, float]
"""One 2-D observation of a 3-D point: ``(frame_index, u, v)``, 0-based frame, vokit pixel coordinates."""


@dataclass(frozen=True)
class ColmapCamera:
    """One COLMAP camera.

    Attributes:
        camera_id: 1-based id.
        model: ``"PINHOLE"`` or ``"OPENCV"``.
        width: image width, pixels.
        height: image height, pixels.
        params: COLMAP's parameters (``fx fy cx cy [k1 k2 p1 p2]``, corner-origin pixels).
    """

    camera_id: int
    model: str
    width: int
    height: int
    params: tuple[float, ...]


@dataclass(frozen=True)
class ColmapImage:
    """One COLMAP image.

    Attributes:
        image_id: 1-based id.
        qvec_wxyz: ``cam_from_world`` rotation, quaternion (w, x, y, z).
        tvec: ``cam_from_world`` translation.
        camera_id: its camera.
        name: file name.
        xys: (K, 2) observations, COLMAP pixel coordinates (corner origin).
        point3d_ids: (K,) the 3-D point of each observation, -1 for none.
    """

    image_id: int
    qvec_wxyz: np.ndarray
    tvec: np.ndarray
    camera_id: int
    name: str
    xys: np.ndarray
    point3d_ids: np.ndarray


@dataclass(frozen=True)
class ColmapPoint:
    """One COLMAP 3-D point.

    Attributes:
        point3d_id: 1-based id.
        xyz: position in the world.
        rgb: colour, 0-255.
        error: mean reprojection error, pixels (-1 when unknown).
        track: ``(image_id, point2d_idx)`` pairs.
    """

    point3d_id: int
    xyz: np.ndarray
    rgb: tuple[int, int, int]
    error: float
    track: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ColmapModel:
    """A COLMAP text model read back: cameras, images and points keyed by their ids."""

    cameras: dict[int, ColmapCamera]
    images: dict[int, ColmapImage]
    points3d: dict[int, ColmapPoint]


@dataclass(frozen=True)
class DepthPoints:
    """3-D points taken from depth maps, with their colours and 2-D observations.

    Attributes:
        points_world: (P, 3) positions in the world frame, in the depth maps' units.
        colors: (P, 3) uint8 colours, sampled from the images.
        observations: per point, its observations ``(frame_index, u, v)`` (vokit pixel coordinates).
    """

    points_world: Float[Tensor, "P 3"]
    colors: UInt8[Tensor, "P 3"]
    observations: list[list[Observation]]


def _camera_rows(
    intrinsics: Tensor, n_images: int, image_size: tuple[int, int], distortion: Tensor | None
) -> tuple[list[ColmapCamera], list[int]]:
    """One camera for all images when the intrinsics agree, else one per image; and each image's camera id."""
    k = intrinsics.detach().to(torch.float64).cpu().reshape(-1, 4)
    if k.shape[0] not in (1, n_images):
        raise VokitError(f"intrinsics: expected (4,) or ({n_images}, 4), got {tuple(intrinsics.shape)}")
    if not bool(torch.isfinite(k).all()) or bool((k[:, :2] <= 0).any()):
        raise VokitError("intrinsics must be finite with positive focal lengths")
    shared = bool((k == k[:1]).all())
    rows = k[:1] if shared else k
    height, width = image_size
    model = "PINHOLE" if distortion is None else "OPENCV"
    extra: tuple[float, ...] = ()
    if distortion is not None:
        d = distortion.detach().to(torch.float64).cpu().reshape(-1)
        if d.numel() != 4 or not bool(torch.isfinite(d).all()):
            raise VokitError(f"distortion: expected 4 finite numbers (k1 k2 p1 p2), got {tuple(distortion.shape)}")
        extra = tuple(float(v) for v in d)
    cameras = []
    for i, (fx, fy, cx, cy) in enumerate(rows.tolist(), start=1):
        params = (fx, fy, cx + PIXEL_OFFSET, cy + PIXEL_OFFSET, *extra)
        cameras.append(ColmapCamera(camera_id=i, model=model, width=int(width), height=int(height), params=params))
    ids = [1] * n_images if shared else list(range(1, n_images + 1))
    return cameras, ids


def _check_points(
    n_images: int, points_world: Tensor | None, colors: Tensor | None, observations: Sequence[Sequence[Observation]]
) -> tuple[np.ndarray, np.ndarray]:
    if points_world is None:
        if observations:
            raise VokitError("observations given without points")
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.uint8)
    pts = points_world.detach().to(torch.float64).cpu().numpy()
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.isfinite(pts).all():
        raise VokitError(f"points_world: expected finite (P, 3), got shape {pts.shape}")
    if colors is None:
        rgb = np.full((pts.shape[0], 3), 128, dtype=np.uint8)
    else:
        rgb = colors.detach().cpu().numpy()
        if rgb.shape != pts.shape or rgb.dtype != np.uint8:
            raise VokitError(f"colors: expected uint8 {pts.shape}, got {rgb.dtype} {rgb.shape}")
    if len(observations) != pts.shape[0]:
        raise VokitError(f"one observation list per point: {len(observations)} lists for {pts.shape[0]} points")
    for obs in observations:
        for frame, _, _ in obs:
            if not 0 <= int(frame) < n_images:
                raise VokitError(f"an observation names frame {frame}, but there are {n_images} images")
    return pts, rgb


def write_colmap_text(
    out_dir: str | Path,
    intrinsics: Float[Tensor, "4"] | Float[Tensor, "N 4"],
    image_size: tuple[int, int],
    world_from_cam: Float[Tensor, "N 7"],
    image_names: Sequence[str],
    points_world: Float[Tensor, "P 3"] | None = None,
    colors: UInt8[Tensor, "P 3"] | None = None,
    observations: Sequence[Sequence[Observation]] = (),
    distortion: Float[Tensor, "4"] | None = None,
) -> list[Path]:
    """Write a trajectory, its camera and 3-D points as a COLMAP text model.

    Args:
        out_dir: folder for ``cameras.txt``, ``images.txt`` and ``points3D.txt`` (created).
        intrinsics: ``(fx, fy, cx, cy)`` in vokit pixels (integers at pixel centres), one row for all images or one
            per image (identical rows share one camera).
        image_size: ``(height, width)`` in pixels.
        world_from_cam: camera poses ``[t, q_xyzw]`` (written as COLMAP's ``cam_from_world``, wxyz).
        image_names: one file name per pose (COLMAP matches images by name).
        points_world: 3-D points in the world frame (``None``: an empty ``points3D.txt``).
        colors: their uint8 colours (``None``: grey).
        observations: per point, its ``(frame_index, u, v)`` observations in vokit pixels (0-based frames).
        distortion: ``(k1, k2, p1, p2)`` (vokit's ``distort_radtan`` model, which is COLMAP's ``OPENCV``): an
            ``OPENCV`` camera of the original images, whose names and observations must then refer to those
            distorted images; ``None``: ``PINHOLE`` (undistorted images, as vokit runs see them).

    Returns:
        The three files written.

    Raises:
        VokitError: inconsistent lengths, bad shapes, non-finite values, or an observation of a missing frame.
    """
    poses = world_from_cam.detach().to(torch.float64).cpu()
    n = poses.shape[0]
    if poses.ndim != 2 or poses.shape[1] != 7 or not bool(torch.isfinite(poses).all()):
        raise VokitError(f"world_from_cam: expected finite (N, 7) [t, q_xyzw], got shape {tuple(poses.shape)}")
    if len(image_names) != n:
        raise VokitError(f"{len(image_names)} image names for {n} poses")
    if any(not name or any(c.isspace() for c in name) for name in image_names):
        raise VokitError("COLMAP image names must be non-empty and hold no whitespace")
    cameras, camera_ids = _camera_rows(intrinsics, n, image_size, distortion)
    pts, rgb = _check_points(n, points_world, colors, observations)
    q = poses[:, 3:] / torch.linalg.vector_norm(poses[:, 3:], dim=-1, keepdim=True)
    cam_from_world = se3_inverse(torch.cat([poses[:, :3], q], dim=-1))

    per_image: list[list[tuple[float, float, int]]] = [[] for _ in range(n)]
    tracks: list[list[tuple[int, int]]] = []
    for point_id, obs in enumerate(observations, start=1):
        track = []
        for frame, u, v in obs:
            per_image[int(frame)].append((float(u) + PIXEL_OFFSET, float(v) + PIXEL_OFFSET, point_id))
            track.append((int(frame) + 1, len(per_image[int(frame)]) - 1))
        tracks.append(track)

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VokitError(f"cannot create the COLMAP folder: {err.strerror or err}", out) from None
    cam_lines = ["# Camera list with one line of data per camera:",
                 "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]", f"# Number of cameras: {len(cameras)}"]
    cam_lines += [f"{c.camera_id} {c.model} {c.width} {c.height} " + " ".join(f"{p:.17g}" for p in c.params)
                  for c in cameras]
    img_lines = ["# Image list with two lines of data per image:",
                 "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
                 "#   POINTS2D[] as (X, Y, POINT3D_ID)", f"# Number of images: {n}"]
    for i in range(n):
        t, qx, qy, qz, qw = cam_from_world[i, :3].tolist(), *cam_from_world[i, 3:].tolist()
        img_lines.append(f"{i + 1} " + " ".join(f"{v:.17g}" for v in (qw, qx, qy, qz, *t))
                         + f" {camera_ids[i]} {image_names[i]}")
        img_lines.append(" ".join(f"{x:.17g} {y:.17g} {pid}" for x, y, pid in per_image[i]))
    pt_lines = ["# 3D point list with one line of data per point:",
                "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
                f"# Number of points: {pts.shape[0]}"]
    for k in range(pts.shape[0]):
        track_text = " ".join(f"{img} {idx}" for img, idx in tracks[k])
        pt_lines.append(f"{k + 1} " + " ".join(f"{v:.17g}" for v in pts[k]) + " "
                        + " ".join(str(int(c)) for c in rgb[k]) + f" -1 {track_text}".rstrip())
    written = []
    for name, lines in zip(COLMAP_FILES, (cam_lines, img_lines, pt_lines), strict=True):
        path = out / name
        try:
            path.write_text("\n".join(lines) + "\n")
        except OSError as err:
            raise VokitError(f"cannot write {name}: {err.strerror or err}", path) from None
        written.append(path)
    return written


def read_colmap_text(folder: str | Path) -> ColmapModel:
    """Parse a COLMAP text model (any COLMAP writer's, including `write_colmap_text`'s).

    Args:
        folder: the folder holding ``cameras.txt``, ``images.txt`` and ``points3D.txt``.

    Returns:
        Cameras, images (pose as COLMAP stores it: ``cam_from_world``, wxyz) and points, by id.

    Raises:
        VokitError: naming the file and line, for a missing file or a malformed line.
    """
    folder = Path(folder)
    cameras: dict[int, ColmapCamera] = {}
    images: dict[int, ColmapImage] = {}
    points: dict[int, ColmapPoint] = {}
    name = ""
    try:
        name = "cameras.txt"
        for line in read_lines(folder / name, "COLMAP cameras.txt"):
            if line.strip() and not line.startswith("#"):
                f = line.split()
                cameras[int(f[0])] = ColmapCamera(int(f[0]), f[1], int(f[2]), int(f[3]),
                                                  tuple(float(v) for v in f[4:]))
        name = "images.txt"
        lines = [ln for ln in read_lines(folder / name, "COLMAP images.txt") if not ln.startswith("#")]
        while lines and not lines[-1].strip():
            lines.pop()
        for k in range(0, len(lines), 2):
            f = lines[k].split()
            obs = lines[k + 1].split() if k + 1 < len(lines) else []
            if len(f) < 10 or len(obs) % 3:
                raise ValueError(f"malformed image entry {lines[k]!r}")
            triples = np.array(obs, dtype=np.float64).reshape(-1, 3)
            images[int(f[0])] = ColmapImage(
                image_id=int(f[0]), qvec_wxyz=np.array(f[1:5], dtype=np.float64),
                tvec=np.array(f[5:8], dtype=np.float64), camera_id=int(f[8]), name=" ".join(f[9:]),
                xys=triples[:, :2], point3d_ids=triples[:, 2].astype(np.int64),
            )
        name = "points3D.txt"
        for line in read_lines(folder / name, "COLMAP points3D.txt"):
            if line.strip() and not line.startswith("#"):
                f = line.split()
                track = tuple((int(f[i]), int(f[i + 1])) for i in range(8, len(f) - 1, 2))
                points[int(f[0])] = ColmapPoint(int(f[0]), np.array(f[1:4], dtype=np.float64),
                                                (int(f[4]), int(f[5]), int(f[6])), float(f[7]), track)
    except (ValueError, IndexError) as err:
        raise VokitError(f"malformed COLMAP text model: {err}", folder / name) from None
    return ColmapModel(cameras=cameras, images=images, points3d=points)


def colmap_world_from_cam(image: ColmapImage) -> Float[Tensor, "7"]:
    """The ``world_from_cam`` ``[t, q_xyzw]`` (float64) of a COLMAP image's ``cam_from_world`` (wxyz)."""
    w, x, y, z = image.qvec_wxyz.tolist()
    cam_from_world = torch.tensor([*image.tvec.tolist(), x, y, z, w], dtype=torch.float64)
    cam_from_world[3:] /= torch.linalg.vector_norm(cam_from_world[3:])
    return se3_inverse(cam_from_world)


def points_from_depth(
    depths: Sequence[Float[Tensor, "H W"]],
    images: Sequence[Float[Tensor, "3 H W"]] | None,
    intrinsics: Float[Tensor, "4"] | Float[Tensor, "N 4"],
    world_from_cam: Float[Tensor, "N 7"],
    stride: int = 8,
    max_depth: float | None = None,
    frame_stride: int = 1,
) -> DepthPoints:
    """Subsampled 3-D points of depth maps, each observed at its pixel in its own frame.

    Pixels on a ``stride`` grid (offset ``stride // 2``) of every ``frame_stride``-th frame with a depth in
    ``(0, max_depth]`` are back-projected (``unproject``) and moved to the world with the frame's pose; the colour
    is the image's (``[0, 1]`` RGB) at that pixel.

    Args:
        depths: z-depth per frame, (H, W), 0 or non-finite = invalid.
        images: RGB per frame in ``[0, 1]`` (``None``: grey points).
        intrinsics: ``(fx, fy, cx, cy)`` of the depth maps' pixels, (4,) or per frame.
        world_from_cam: poses ``[t, q_xyzw]``, one per depth map.
        stride: pixel spacing of the samples.
        max_depth: drop farther points (``None``: keep all).
        frame_stride: take every ``frame_stride``-th frame.

    Returns:
        Points, colours and one observation per point.
    """
    n = len(depths)
    if world_from_cam.shape[0] != n or (images is not None and len(images) != n):
        raise VokitError(f"need one pose (and image) per depth map: {n} maps, {world_from_cam.shape[0]} poses")
    if stride < 1 or frame_stride < 1:
        raise VokitError(f"stride and frame_stride must be >= 1, got {stride}, {frame_stride}")
    k_all = intrinsics.detach().to(torch.float64).cpu().reshape(-1, 4).expand(n, 4)
    pts, cols = [], []
    obs: list[list[Observation]] = []
    for i in range(0, n, frame_stride):
        depth = depths[i].detach().to(torch.float64).cpu()
        h, w = depth.shape
        vs, us = torch.meshgrid(torch.arange(stride // 2, h, stride), torch.arange(stride // 2, w, stride),
                                indexing="ij")
        d = depth[vs, us]
        keep = torch.isfinite(d) & (d > 0)
        if max_depth is not None:
            keep &= d <= max_depth
        us, vs, d = us[keep], vs[keep], d[keep]
        uv = torch.stack([us, vs], dim=-1).to(torch.float64)
        pts_cam = unproject(uv, d, k_all[i])
        pose = world_from_cam[i].detach().to(torch.float64).cpu()
        pts.append(se3_act(pose.expand(pts_cam.shape[0], 7), pts_cam))
        if images is None:
            cols.append(torch.full((pts_cam.shape[0], 3), 128, dtype=torch.uint8))
        else:
            rgb = images[i].detach().to(torch.float64).cpu()[:, vs, us].T
            cols.append((rgb.clamp(0, 1) * 255).round().to(torch.uint8))
        obs += [[(i, float(u), float(v))] for u, v in zip(us.tolist(), vs.tolist(), strict=True)]
    if not pts:
        return DepthPoints(torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.uint8), [])
    return DepthPoints(points_world=torch.cat(pts), colors=torch.cat(cols), observations=obs)


def points_from_patches(
    patches: Float[Tensor, "N P 2"],
    depths: Sequence[Float[Tensor, "H W"]],
    images: Sequence[Float[Tensor, "3 H W"]] | None,
    intrinsics: Float[Tensor, "4"] | Float[Tensor, "N 4"],
    world_from_cam: Float[Tensor, "N 7"],
) -> DepthPoints:
    """3-D points of patch centres (patch-based methods), each observed at its centre in its own frame.

    The depth of a patch is the depth map's value at the nearest pixel of its centre; patches outside the image
    or on invalid depth are left out.

    Args:
        patches: patch centres ``uv`` per frame (vokit pixels), (N, P, 2).
        depths: z-depth per frame, (H, W).
        images: RGB per frame in ``[0, 1]`` for the colours (``None``: grey).
        intrinsics: ``(fx, fy, cx, cy)``, (4,) or per frame.
        world_from_cam: poses ``[t, q_xyzw]``.

    Returns:
        Points, colours and one observation ``(frame, u, v)`` per point (the patch centre).
    """
    n = len(depths)
    if patches.ndim != 3 or patches.shape[0] != n or patches.shape[2] != 2:
        raise VokitError(f"patches: expected ({n}, P, 2), got {tuple(patches.shape)}")
    k_all = intrinsics.detach().to(torch.float64).cpu().reshape(-1, 4).expand(n, 4)
    pts, cols = [], []
    obs: list[list[Observation]] = []
    for i in range(n):
        depth = depths[i].detach().to(torch.float64).cpu()
        h, w = depth.shape
        uv = patches[i].detach().to(torch.float64).cpu()
        col, row = uv[:, 0].round().long(), uv[:, 1].round().long()
        inside = torch.isfinite(uv).all(-1) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        uv, col, row = uv[inside], col[inside], row[inside]
        d = depth[row, col]
        keep = torch.isfinite(d) & (d > 0)
        uv, col, row, d = uv[keep], col[keep], row[keep], d[keep]
        pose = world_from_cam[i].detach().to(torch.float64).cpu()
        pts.append(se3_act(pose.expand(uv.shape[0], 7), unproject(uv, d, k_all[i])))
        if images is None:
            cols.append(torch.full((uv.shape[0], 3), 128, dtype=torch.uint8))
        else:
            rgb = images[i].detach().to(torch.float64).cpu()[:, row, col].T
            cols.append((rgb.clamp(0, 1) * 255).round().to(torch.uint8))
        obs += [[(i, float(u), float(v))] for u, v in uv.tolist()]
    if not pts:
        return DepthPoints(torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.uint8), [])
    return DepthPoints(points_world=torch.cat(pts), colors=torch.cat(cols), observations=obs)
