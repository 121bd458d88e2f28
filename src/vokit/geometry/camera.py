"""Pinhole cameras: projection, back-projection, intrinsics and radial-tangential (EuRoC) distortion.

Conventions (METHODS.md section 1, ``vokit.geometry.conventions``): camera frame x right, y down, z forward;
pixel coordinates ``uv`` have integers at pixel centres with (0, 0) the centre of the top-left pixel;
``intrinsics`` are ``(fx, fy, cx, cy)`` in pixels of the image they describe, ``K`` the matching 3x3 matrix;
``xy_norm`` are normalised image coordinates ``(x / z, y / z)``.

Every division by depth goes through :func:`guarded_inverse_depth`, which owns the clamp constants.
"""

from dataclasses import dataclass, replace
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.geometry.sampling import inverse_warp

MIN_Z_BA: float = 0.2
"""Smallest depth ratio Z the bundle-adjustment layer divides by (METHODS.md sections 3.1-3.2, DPVO ``ba.py``)."""

MIN_Z_PROJECT: float = 1e-6
"""Smallest depth :func:`project` divides by; points at or behind it are "not in front of the camera"."""

UNDISTORT_ITERS: int = 8
"""Default Gauss-Newton iterations of :func:`undistort_radtan` (EuRoC corners converge in 4-5 in float64)."""


def guarded_inverse_depth(
    z: Float[Tensor, "*batch"], min_z: float
) -> tuple[Float[Tensor, "*batch"], Bool[Tensor, "*batch"]]:
    """The one guarded division by depth: ``1 / z`` where ``z > min_z``, else 0.

    Points with ``z <= min_z`` (or NaN) get inverse depth 0, so every ``1/z`` term built from it vanishes, as
    METHODS.md section 3.2 prescribes for the BA Jacobians. The division only ever sees a safe denominator, so
    gradients are finite everywhere (and zero on invalid entries).

    Args:
        z: depth along the optical axis (or the homogeneous depth ratio Z of METHODS.md section 3.1), any shape.
        min_z: threshold, e.g. :data:`MIN_Z_BA` (0.2) for BA or :data:`MIN_Z_PROJECT` for plain projection.

    Returns:
        ``(inv_z, valid)``: ``inv_z`` with the shape of ``z`` (units of 1/z), and the mask ``z > min_z``.

    Example:
        >>> inv_z, valid = guarded_inverse_depth(torch.tensor([2.0, 0.1, -1.0]), MIN_Z_BA)
        >>> inv_z, valid
        (tensor([0.5000, 0.0000, 0.0000]), tensor([ True, False, False]))
    """
    valid = z > min_z
    z_safe = torch.where(valid, z, torch.ones_like(z))
    inv_z = torch.where(valid, 1.0 / z_safe, torch.zeros_like(z))
    return inv_z, valid


def project(
    pts_cam: Float[Tensor, "*#batch 3"], intrinsics: Float[Tensor, "*#batch 4"], min_z: float = MIN_Z_PROJECT
) -> Float[Tensor, "*batch 2"]:
    """Pinhole projection ``uv = (fx x / z + cx, fy y / z + cy)``.

    Points with ``z <= min_z`` get inverse depth 0 (see :func:`guarded_inverse_depth`) and land on the
    principal point; callers that care test ``pts_cam[..., 2] > min_z`` themselves.

    Args:
        pts_cam: points in the camera frame (x right, y down, z forward), any units.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels; broadcasts against ``pts_cam``'s leading dims.
        min_z: depth guard, in the units of ``pts_cam``.

    Returns:
        Pixel coordinates ``uv`` (integers at pixel centres).

    Example:
        >>> project(torch.tensor([0.5, -0.25, 2.0]), torch.tensor([400.0, 400.0, 320.0, 240.0]))
        tensor([420., 190.])
    """
    inv_z, _ = guarded_inverse_depth(pts_cam[..., 2], min_z)
    fx, fy, cx, cy = intrinsics.unbind(-1)
    u = fx * pts_cam[..., 0] * inv_z + cx
    v = fy * pts_cam[..., 1] * inv_z + cy
    return torch.stack(torch.broadcast_tensors(u, v), dim=-1)


def project_jacobian(
    pts_cam: Float[Tensor, "*#batch 3"], intrinsics: Float[Tensor, "*#batch 4"], min_z: float = MIN_Z_PROJECT
) -> Float[Tensor, "*batch 2 3"]:
    """Jacobian ``J_uv_pcam`` of :func:`project` with respect to the camera-frame point.

    ``[[fx/z, 0, -fx x/z^2], [0, fy/z, -fy y/z^2]]``; every ``1/z`` term is 0 where ``z <= min_z``
    (METHODS.md section 3.2 with ``min_z = MIN_Z_BA``), which is also the exact derivative of :func:`project`
    there.

    Args:
        pts_cam: points in the camera frame.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels; broadcasts against ``pts_cam``.
        min_z: depth guard, as in :func:`project`.

    Returns:
        ``J_uv_pcam`` in pixels per unit of ``pts_cam``.

    Example:
        >>> project_jacobian(torch.tensor([0.5, -0.25, 2.0]), torch.tensor([400.0, 400.0, 320.0, 240.0]))
        tensor([[200.,   0., -50.],
                [  0., 200.,  25.]])
    """
    inv_z, _ = guarded_inverse_depth(pts_cam[..., 2], min_z)
    x, y, _ = pts_cam.unbind(-1)
    fx, fy, _, _ = intrinsics.unbind(-1)
    zero = torch.zeros_like(inv_z)
    rows = torch.broadcast_tensors(fx * inv_z, zero, -fx * x * inv_z**2, zero, fy * inv_z, -fy * y * inv_z**2)
    return torch.stack(rows, dim=-1).unflatten(-1, (2, 3))


def unproject(
    uv: Float[Tensor, "*#batch 2"], depth: Float[Tensor, "*#batch"], intrinsics: Float[Tensor, "*#batch 4"]
) -> Float[Tensor, "*batch 3"]:
    """Back-project pixels with z-depth: ``p = depth * ((u - cx) / fx, (v - cy) / fy, 1)``.

    Args:
        uv: pixel coordinates (integers at pixel centres).
        depth: z-depth along the optical axis (not the ray length), e.g. metres.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels.

    Returns:
        ``pts_cam`` in the camera frame, in the units of ``depth``.

    Example:
        >>> unproject(torch.tensor([420.0, 190.0]), torch.tensor(2.0), torch.tensor([400.0, 400.0, 320.0, 240.0]))
        tensor([ 0.5000, -0.2500,  2.0000])
    """
    fx, fy, cx, cy = intrinsics.unbind(-1)
    x = (uv[..., 0] - cx) / fx * depth
    y = (uv[..., 1] - cy) / fy * depth
    return torch.stack(torch.broadcast_tensors(x, y, depth), dim=-1)


def unproject_jacobian(
    uv: Float[Tensor, "*#batch 2"], depth: Float[Tensor, "*#batch"], intrinsics: Float[Tensor, "*#batch 4"]
) -> Float[Tensor, "*batch 3 3"]:
    """Jacobian ``J_pcam_uvd`` of :func:`unproject` with respect to ``(u, v, depth)``.

    Args:
        uv: pixel coordinates.
        depth: z-depth.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels.

    Returns:
        ``J_pcam_uvd``; columns are d/du, d/dv (units of depth per pixel) and d/d depth (unitless).

    Example:
        >>> unproject_jacobian(torch.tensor([420.0, 190.0]), torch.tensor(2.0),
        ...                    torch.tensor([400.0, 400.0, 320.0, 240.0]))
        tensor([[ 0.0050,  0.0000,  0.2500],
                [ 0.0000,  0.0050, -0.1250],
                [ 0.0000,  0.0000,  1.0000]])
    """
    fx, fy, cx, cy = intrinsics.unbind(-1)
    zero = torch.zeros_like(depth)
    entries = torch.broadcast_tensors(
        depth / fx, zero, (uv[..., 0] - cx) / fx,
        zero, depth / fy, (uv[..., 1] - cy) / fy,
        zero, zero, torch.ones_like(depth),
    )  # fmt: skip
    return torch.stack(entries, dim=-1).unflatten(-1, (3, 3))


def scale_intrinsics(
    intrinsics: Float[Tensor, "*batch 4"], scale_x: float, scale_y: float | None = None
) -> Float[Tensor, "*batch 4"]:
    """Intrinsics of an image resized by ``(scale_x, scale_y)``: the reference rule, all four multiplied.

    ``fx' = sx fx, cx' = sx cx, fy' = sy fy, cy' = sy cy``. Monodepth2 (normalised K times W, H) and DPVO (divide
    by 4 at 1/4 resolution) both do this, so vokit keeps it for published numbers to carry over. Under vokit's
    pixel-centre convention the exact rule for the principal point would be ``c' = s (c + 0.5) - 0.5``; the
    difference is ``(s - 1) / 2`` pixels (METHODS.md section 1).

    Args:
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the original image.
        scale_x: new width / old width.
        scale_y: new height / old height; defaults to ``scale_x``.

    Returns:
        ``(fx, fy, cx, cy)`` in pixels of the resized image.

    Example:
        >>> scale_intrinsics(torch.tensor([400.0, 400.0, 320.0, 240.0]), 0.25)
        tensor([100., 100.,  80.,  60.])
    """
    sy = scale_x if scale_y is None else scale_y
    factors = torch.tensor([scale_x, sy, scale_x, sy], dtype=intrinsics.dtype, device=intrinsics.device)
    return intrinsics * factors


def intrinsics_to_K(intrinsics: Float[Tensor, "*batch 4"]) -> Float[Tensor, "*batch 3 3"]:
    """The 3x3 calibration matrix ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.

    Args:
        intrinsics: ``(fx, fy, cx, cy)`` in pixels.

    Returns:
        ``K`` in pixels.

    Example:
        >>> intrinsics_to_K(torch.tensor([400.0, 410.0, 320.0, 240.0]))
        tensor([[400.,   0., 320.],
                [  0., 410., 240.],
                [  0.,   0.,   1.]])
    """
    fx, fy, cx, cy = intrinsics.unbind(-1)
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    return torch.stack([fx, zero, cx, zero, fy, cy, zero, zero, one], dim=-1).unflatten(-1, (3, 3))


def K_to_intrinsics(K: Float[Tensor, "*batch 3 3"]) -> Float[Tensor, "*batch 4"]:
    """``(fx, fy, cx, cy)`` from a 3x3 calibration matrix (skew and the last row are ignored).

    Args:
        K: calibration matrix in pixels.

    Returns:
        ``(fx, fy, cx, cy)`` in pixels.

    Example:
        >>> K_to_intrinsics(intrinsics_to_K(torch.tensor([400.0, 410.0, 320.0, 240.0])))
        tensor([400., 410., 320., 240.])
    """
    return torch.stack([K[..., 0, 0], K[..., 1, 1], K[..., 0, 2], K[..., 1, 2]], dim=-1)


def distort_radtan(xy_norm: Float[Tensor, "*#batch 2"], dist: Float[Tensor, "*#batch 4"]) -> Float[Tensor, "*batch 2"]:
    """Apply radial-tangential (plumb-bob, EuRoC/Kalibr/OpenCV) distortion to normalised coordinates.

    With ``r^2 = x^2 + y^2`` and ``radial = 1 + k1 r^2 + k2 r^4``:
    ``x_d = x radial + 2 p1 x y + p2 (r^2 + 2 x^2)``, ``y_d = y radial + p1 (r^2 + 2 y^2) + 2 p2 x y``
    (OpenCV ``projectPoints`` with ``k3 = 0``).

    Args:
        xy_norm: undistorted normalised coordinates ``(x / z, y / z)``.
        dist: ``(k1, k2, p1, p2)``; broadcasts against ``xy_norm``.

    Returns:
        Distorted normalised coordinates; pixels are ``(fx x_d + cx, fy y_d + cy)``.

    Example:
        >>> distort_radtan(torch.tensor([0.5, 0.0]), torch.tensor([-0.2, 0.0, 0.0, 0.0]))
        tensor([0.4750, 0.0000])
    """
    x, y = xy_norm.unbind(-1)
    k1, k2, p1, p2 = dist.unbind(-1)
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    x_d = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    y_d = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack(torch.broadcast_tensors(x_d, y_d), dim=-1)


def distort_radtan_jacobian(
    xy_norm: Float[Tensor, "*#batch 2"], dist: Float[Tensor, "*#batch 4"]
) -> Float[Tensor, "*batch 2 2"]:
    """Jacobian ``J_xyd_xy`` of :func:`distort_radtan` with respect to the undistorted coordinates.

    Args:
        xy_norm: undistorted normalised coordinates.
        dist: ``(k1, k2, p1, p2)``.

    Returns:
        ``J_xyd_xy`` (unitless), rows ``(x_d, y_d)``, columns ``(x, y)``.

    Example:
        >>> distort_radtan_jacobian(torch.tensor([0.5, 0.0]), torch.tensor([-0.2, 0.0, 0.0, 0.0]))
        tensor([[0.8500, 0.0000],
                [0.0000, 0.9500]])
    """
    x, y = xy_norm.unbind(-1)
    k1, k2, p1, p2 = dist.unbind(-1)
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    d_radial_d_r2 = k1 + 2 * k2 * r2
    # d r2 / dx = 2x, d r2 / dy = 2y
    dxd_dx = radial + 2 * x * x * d_radial_d_r2 + 2 * p1 * y + 6 * p2 * x
    dxd_dy = 2 * x * y * d_radial_d_r2 + 2 * p1 * x + 2 * p2 * y
    dyd_dx = 2 * x * y * d_radial_d_r2 + 2 * p1 * x + 2 * p2 * y
    dyd_dy = radial + 2 * y * y * d_radial_d_r2 + 6 * p1 * y + 2 * p2 * x
    entries = torch.broadcast_tensors(dxd_dx, dxd_dy, dyd_dx, dyd_dy)
    return torch.stack(entries, dim=-1).unflatten(-1, (2, 2))


def _gauss_newton_step(xy: Tensor, xy_distorted: Tensor, dist: Tensor) -> Tensor:
    """One Gauss-Newton (Newton, the system is square) step on ``distort_radtan(xy) = xy_distorted``."""
    residual = distort_radtan(xy, dist) - xy_distorted
    J = distort_radtan_jacobian(xy, dist)
    a, b, c, d = J[..., 0, 0], J[..., 0, 1], J[..., 1, 0], J[..., 1, 1]
    det = a * d - b * c
    # A singular Jacobian only occurs past the fold of a strongly distorting model; keep the step finite there.
    det = torch.where(det.abs() > 1e-12, det, torch.full_like(det, 1e-12))
    rx, ry = residual.unbind(-1)
    step_x = (d * rx - b * ry) / det
    step_y = (a * ry - c * rx) / det
    return xy - torch.stack([step_x, step_y], dim=-1)


def undistort_radtan(
    xy_distorted: Float[Tensor, "*#batch 2"], dist: Float[Tensor, "*#batch 4"], num_iters: int = UNDISTORT_ITERS
) -> Float[Tensor, "*batch 2"]:
    """Invert :func:`distort_radtan` by Newton's method, starting from the distorted coordinates.

    The iterations run without autograd; one final Newton step from the (detached) solution carries the
    gradient, which at convergence equals the implicit-function gradient ``J^-1`` (and ``-J^-1 d f / d dist``).
    Valid inside the region where the distortion map is monotone in the radius, i.e. any calibrated image area.

    Args:
        xy_distorted: distorted normalised coordinates ``((u - cx) / fx, (v - cy) / fy)``.
        dist: ``(k1, k2, p1, p2)``; broadcasts against ``xy_distorted``.
        num_iters: Newton iterations before the final differentiable step.

    Returns:
        Undistorted normalised coordinates ``(x / z, y / z)``.

    Example:
        >>> dist = torch.tensor([-0.28, 0.07, 2e-4, 2e-5], dtype=torch.float64)
        >>> xy = torch.tensor([0.6, -0.4], dtype=torch.float64)
        >>> bool(torch.allclose(undistort_radtan(distort_radtan(xy, dist), dist), xy, atol=1e-12))
        True
    """
    if num_iters < 0:
        raise ValueError(f"undistort_radtan: num_iters must be >= 0, got {num_iters}")
    xy_distorted = xy_distorted.expand(*torch.broadcast_shapes(xy_distorted.shape[:-1], dist.shape[:-1]), 2)
    with torch.no_grad():
        xy = xy_distorted.detach().clone()
        dist_detached = dist.detach()
        for _ in range(num_iters):
            xy = _gauss_newton_step(xy, xy_distorted.detach(), dist_detached)
    return _gauss_newton_step(xy, xy_distorted, dist)


def undistortion_map(
    intrinsics: Float[Tensor, "#B 4"],
    dist: Float[Tensor, "#B 4"],
    height: int,
    width: int,
    new_intrinsics: Float[Tensor, "#B 4"] | None = None,
) -> Float[Tensor, "B H W 2"]:
    """For every pixel of the undistorted image, the raw-image pixel to sample (like ``cv2.initUndistortRectifyMap``).

    Args:
        intrinsics: ``(fx, fy, cx, cy)`` of the distorted (raw) image, in pixels.
        dist: ``(k1, k2, p1, p2)`` of the raw image.
        height: output image height in pixels.
        width: output image width in pixels.
        new_intrinsics: intrinsics of the undistorted image; defaults to ``intrinsics``.

    Returns:
        ``uv_distorted``: raw-image pixel coordinates (integers at pixel centres) for each output pixel.

    Example:
        >>> intr = torch.tensor([[400.0, 400.0, 2.0, 1.0]])
        >>> undistortion_map(intr, torch.zeros(1, 4), 3, 5)[0, 1, 2]
        tensor([2., 1.])
    """
    new_intrinsics = intrinsics if new_intrinsics is None else new_intrinsics
    dtype, device = intrinsics.dtype, intrinsics.device
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    nfx, nfy, ncx, ncy = (c[:, None, None] for c in new_intrinsics.unbind(-1))
    xy = torch.stack(torch.broadcast_tensors((u - ncx) / nfx, (v - ncy) / nfy), dim=-1)
    xy_d = distort_radtan(xy, dist[:, None, None, :])
    fx, fy, cx, cy = (c[:, None, None] for c in intrinsics.unbind(-1))
    uv = torch.stack([fx * xy_d[..., 0] + cx, fy * xy_d[..., 1] + cy], dim=-1)
    batch = max(intrinsics.shape[0], dist.shape[0], new_intrinsics.shape[0])
    return uv.expand(batch, height, width, 2)


def undistort_image(
    image: Float[Tensor, "B C H W"],
    intrinsics: Float[Tensor, "#B 4"],
    dist: Float[Tensor, "#B 4"],
    new_intrinsics: Float[Tensor, "#B 4"] | None = None,
) -> Float[Tensor, "B C H W"]:
    """Resample a raw image into the undistorted pinhole image (bilinear ``grid_sample``, ``align_corners=True``).

    Output pixels whose source falls outside the raw image are 0. The result has the same size as the input.

    Args:
        image: raw (distorted) image or feature map, channels first.
        intrinsics: ``(fx, fy, cx, cy)`` of the raw image, in pixels.
        dist: ``(k1, k2, p1, p2)`` of the raw image.
        new_intrinsics: intrinsics of the output pinhole image; defaults to ``intrinsics``.

    Returns:
        The undistorted image, described by ``new_intrinsics`` and no distortion.

    Example:
        >>> image = torch.rand(1, 3, 4, 6)
        >>> out = undistort_image(image, torch.tensor([[50.0, 50.0, 2.5, 1.5]]), torch.zeros(1, 4))
        >>> bool(torch.allclose(out, image, atol=1e-6))
        True
    """
    height, width = image.shape[-2:]
    uv = undistortion_map(
        intrinsics.to(image.dtype),
        dist.to(image.dtype),
        height,
        width,
        None if new_intrinsics is None else new_intrinsics.to(image.dtype),
    )
    return _resample(image, uv)


def _resample(image: Float[Tensor, "B C H W"], uv: Float[Tensor, "#B H W 2"]) -> Float[Tensor, "B C H W"]:
    """``image`` sampled at the raw-image pixels ``uv`` of an undistortion map, 0 outside."""
    uv = uv.to(image.dtype).expand(image.shape[0], *uv.shape[-3:])
    warped, _ = inverse_warp(image, uv, padding_mode="zeros")
    return warped


class Undistorter:
    """:func:`undistort_image` for one camera with its map computed once (what the dataset readers use).

    Args:
        intrinsics: ``(fx, fy, cx, cy)`` of the raw images, pixels (anything ``torch.as_tensor`` takes).
        distortion: ``(k1, k2, p1, p2)`` (likewise).
        image_size: (H, W) of the raw images (the output has the same size and intrinsics).
    """

    def __init__(self, intrinsics: Any, distortion: Any, image_size: tuple[int, int]) -> None:
        k = torch.as_tensor(intrinsics, dtype=torch.float64).reshape(1, 4)
        d = torch.as_tensor(distortion, dtype=torch.float64).reshape(1, 4)
        self.uv = undistortion_map(k, d, int(image_size[0]), int(image_size[1])).to(torch.float32)

    def __call__(self, image: Float[Tensor, "C H W"]) -> Float[Tensor, "C H W"]:
        """Undistort one channels-first image."""
        return _resample(image[None], self.uv)[0]


@dataclass(frozen=True)
class PinholeCamera:
    """A pinhole camera (optionally with radial-tangential distortion) of a fixed image size.

    A thin wrapper that dispatches to the functions of this module; it is not an ``nn.Module``.

    Attributes:
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of an image of ``height`` x ``width``.
        height: image height in pixels.
        width: image width in pixels.
        dist: ``(k1, k2, p1, p2)`` or ``None`` for an undistorted camera.

    Example:
        >>> cam = PinholeCamera(torch.tensor([400.0, 400.0, 320.0, 240.0]), 480, 640)
        >>> cam.resized(240, 320).intrinsics
        tensor([200., 200., 160., 120.])
        >>> cam.project(torch.tensor([0.0, 0.0, 3.0]))
        tensor([320., 240.])
    """

    intrinsics: Float[Tensor, "*batch 4"]
    height: int
    width: int
    dist: Float[Tensor, "*batch 4"] | None = None

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"PinholeCamera: image size must be positive, got {self.height}x{self.width}")

    @property
    def K(self) -> Float[Tensor, "*batch 3 3"]:
        """The 3x3 calibration matrix in pixels."""
        return intrinsics_to_K(self.intrinsics)

    def project(self, pts_cam: Float[Tensor, "*#batch 3"]) -> Float[Tensor, "*batch 2"]:
        """Pinhole projection of camera-frame points to pixels (distortion ignored); see :func:`project`."""
        return project(pts_cam, self.intrinsics)

    def project_jacobian(self, pts_cam: Float[Tensor, "*#batch 3"]) -> Float[Tensor, "*batch 2 3"]:
        """``J_uv_pcam``; see :func:`project_jacobian`."""
        return project_jacobian(pts_cam, self.intrinsics)

    def unproject(self, uv: Float[Tensor, "*#batch 2"], depth: Float[Tensor, "*#batch"]) -> Float[Tensor, "*batch 3"]:
        """Back-project pixels with z-depth to camera-frame points; see :func:`unproject`."""
        return unproject(uv, depth, self.intrinsics)

    def resized(self, height: int, width: int) -> "PinholeCamera":
        """The camera of this image resized to ``height`` x ``width`` (reference rule of :func:`scale_intrinsics`)."""
        intrinsics = scale_intrinsics(self.intrinsics, width / self.width, height / self.height)
        return replace(self, intrinsics=intrinsics, height=height, width=width)
