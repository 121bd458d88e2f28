"""Dense warping: pixel grids, depth back-projection, rigid flow and inverse (backward) warping.

Conventions (METHODS.md section 1): ``uv`` has integers at pixel centres; ``flow`` from frame i to frame j is
destination minus source in pixels, and backward warping synthesises frame i as ``I_j(u + F_ij(u))``. Sampling
goes through `vokit.geometry.sampling` (the one place that calls ``grid_sample``; :func:`inverse_warp` and
:func:`pixels_to_grid` are re-exported here).
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from vokit.geometry.camera import MIN_Z_PROJECT, project, unproject
from vokit.geometry.lie import se3_act
from vokit.geometry.sampling import PaddingMode, inverse_warp, pixels_to_grid

__all__ = [
    "PaddingMode", "backproject_depth", "flow_warp", "inverse_warp", "pixel_grid", "pixels_to_grid", "rigid_flow",
    "warp_with_depth",
]


def pixel_grid(
    height: int, width: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> Float[Tensor, "H W 2"]:
    """Pixel-centre coordinates of an image: ``uv[v, u] = (u, v)``.

    Args:
        height: image height H in pixels.
        width: image width W in pixels.
        dtype: floating dtype (default: torch's default dtype).
        device: device of the result.

    Returns:
        ``uv`` in pixels; the last axis is ``(u, v)`` = (column, row).

    Example:
        >>> pixel_grid(2, 3)[1, 2]
        tensor([2., 1.])
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"pixel_grid: image size must be positive, got {height}x{width}")
    dtype = torch.get_default_dtype() if dtype is None else dtype
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([u, v], dim=-1)


def backproject_depth(depth: Float[Tensor, "B H W"], intrinsics: Float[Tensor, "#B 4"]) -> Float[Tensor, "B H W 3"]:
    """Back-project a z-depth map to camera-frame points, one per pixel centre.

    Args:
        depth: z-depth along the optical axis, e.g. metres (0 for missing values gives the origin).
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the depth map.

    Returns:
        ``pts_cam`` in the camera frame, units of ``depth``.

    Example:
        >>> pts = backproject_depth(torch.full((1, 3, 5), 2.0), torch.tensor([[10.0, 10.0, 2.0, 1.0]]))
        >>> pts[0, 1, 2], pts[0, 0, 0]
        (tensor([0., 0., 2.]), tensor([-0.4000, -0.2000,  2.0000]))
    """
    uv = pixel_grid(depth.shape[-2], depth.shape[-1], dtype=depth.dtype, device=depth.device)
    pts = unproject(uv, depth, intrinsics[:, None, None, :])
    return pts.expand(depth.shape[0], -1, -1, -1)


def reproject_depth(
    depth: Float[Tensor, "B H W"], dst_from_src: Float[Tensor, "#B 7"], intrinsics: Float[Tensor, "#B 4"]
) -> tuple[Float[Tensor, "B H W 2"], Bool[Tensor, "B H W"]]:
    """Where each source pixel lands in the destination camera: ``pi(dst_from_src * depth(u) K^-1 [u, 1])``.

    Both views share ``intrinsics``. A pixel is valid when its depth is positive and the transformed point lies in
    front of the destination camera (``z > MIN_Z_PROJECT``); landing outside the image is not checked here.

    Args:
        depth: z-depth of the source view (0 = missing).
        dst_from_src: SE(3) ``[t, q_xyzw]`` mapping source-camera coordinates to destination-camera coordinates,
            translation in the units of ``depth``.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the depth map.

    Returns:
        ``(uv_dst, valid)``: destination pixel coordinates of every source pixel, and the validity mask.

    Example:
        >>> identity = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
        >>> uv, valid = reproject_depth(torch.ones(1, 2, 3), identity, torch.tensor([[5.0, 5.0, 1.0, 0.5]]))
        >>> uv[0, 1, 2], bool(valid.all())
        (tensor([2., 1.]), True)
    """
    pts_src = backproject_depth(depth, intrinsics)
    pts_dst = se3_act(dst_from_src[:, None, None, :], pts_src)
    uv_dst = project(pts_dst, intrinsics[:, None, None, :], min_z=MIN_Z_PROJECT)
    valid = (depth > 0) & (pts_dst[..., 2] > MIN_Z_PROJECT)
    return uv_dst.expand(depth.shape[0], -1, -1, -1), valid


def rigid_flow(
    depth: Float[Tensor, "B H W"], dst_from_src: Float[Tensor, "#B 7"], intrinsics: Float[Tensor, "#B 4"]
) -> tuple[Float[Tensor, "B H W 2"], Bool[Tensor, "B H W"]]:
    """Rigid flow ``R(u) = pi(dst_from_src * depth(u) K^-1 [u, 1]) - u`` (METHODS.md section 1).

    For frames i -> j, pass ``depth = depth_i`` and ``dst_from_src = cam_j_from_cam_i``; the result is the flow
    ``F_ij`` that a static scene would induce.

    Args:
        depth: z-depth of the source view (0 = missing).
        dst_from_src: SE(3) ``[t, q_xyzw]`` from source to destination camera, translation in depth units.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels of the depth map (shared by both views).

    Returns:
        ``(flow, valid)``: flow in pixels (destination minus source) and the mask of :func:`reproject_depth`
        (positive depth, point in front of the destination camera).

    Example:
        >>> shift = torch.tensor([[0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
        >>> flow, valid = rigid_flow(torch.full((1, 2, 2), 2.0), shift, torch.tensor([[40.0, 40.0, 0.5, 0.5]]))
        >>> flow[0, 0, 0]
        tensor([2., 0.])
    """
    uv_dst, valid = reproject_depth(depth, dst_from_src, intrinsics)
    uv = pixel_grid(depth.shape[-2], depth.shape[-1], dtype=depth.dtype, device=depth.device)
    return uv_dst - uv, valid


def flow_warp(
    image_src: Float[Tensor, "B C Hs Ws"], flow: Float[Tensor, "B H W 2"], padding_mode: PaddingMode = "border"
) -> tuple[Float[Tensor, "B C H W"], Bool[Tensor, "B H W"]]:
    """Backward warping by flow: ``warped(u) = I_src(u + flow(u))``.

    To synthesise frame i from frame j, pass ``image_src = I_j`` and ``flow = F_ij`` (METHODS.md section 1).

    Args:
        image_src: the image to sample from, channels first.
        flow: flow from the output frame to the source frame, in pixels, destination minus source.
        padding_mode: as in :func:`inverse_warp`.

    Returns:
        ``(warped, valid)`` as in :func:`inverse_warp`.

    Example:
        >>> image = torch.arange(6.0).reshape(1, 1, 2, 3)
        >>> flow = torch.zeros(1, 2, 3, 2)
        >>> flow[..., 0] = 1.0
        >>> warped, valid = flow_warp(image, flow)
        >>> warped[0, 0], valid[0]
        (tensor([[1., 2., 2.],
                [4., 5., 5.]]), tensor([[ True,  True, False],
                [ True,  True, False]]))
    """
    uv = pixel_grid(flow.shape[1], flow.shape[2], dtype=flow.dtype, device=flow.device)
    return inverse_warp(image_src, uv + flow, padding_mode=padding_mode)


def warp_with_depth(
    image_src: Float[Tensor, "B C H W"],
    depth_tgt: Float[Tensor, "B H W"],
    src_from_tgt: Float[Tensor, "#B 7"],
    intrinsics: Float[Tensor, "#B 4"],
    padding_mode: PaddingMode = "border",
) -> tuple[Float[Tensor, "B C H W"], Bool[Tensor, "B H W"]]:
    """View synthesis: the target view rebuilt from the source image, the target depth and the relative pose.

    ``warped(u) = I_src(pi(src_from_tgt * depth_tgt(u) K^-1 [u, 1]))`` (Monodepth2, METHODS.md section 2.2).

    Args:
        image_src: source image, channels first.
        depth_tgt: z-depth of the target view (0 = missing).
        src_from_tgt: SE(3) ``[t, q_xyzw]`` from target-camera to source-camera coordinates (Monodepth2's
            ``cam_s_from_cam_t``), translation in depth units.
        intrinsics: ``(fx, fy, cx, cy)`` in pixels, shared by both views.
        padding_mode: as in :func:`inverse_warp`.

    Returns:
        ``(warped, valid)``: the synthesised target image and the mask of pixels with positive depth, a point
        in front of the source camera and a sample inside the source image.

    Example:
        >>> image = torch.rand(1, 3, 4, 5)
        >>> identity = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
        >>> intr = torch.tensor([[5.0, 5.0, 2.0, 1.5]])
        >>> warped, valid = warp_with_depth(image, torch.ones(1, 4, 5), identity, intr)
        >>> bool(torch.allclose(warped, image, atol=1e-6)), bool(valid.all())
        (True, True)
    """
    uv_src, in_front = reproject_depth(depth_tgt, src_from_tgt, intrinsics)
    warped, inside = inverse_warp(image_src, uv_src, padding_mode=padding_mode)
    return warped, in_front & inside
