"""vokit's conventions, stated once in code (METHODS.md section 1 is the specification).

Frames:
    Camera frame x right, y down, z forward (OpenCV / KITTI / TUM); a point is in front when z > 0.
    ``b_from_a`` maps coordinates in frame a to frame b: ``p_b = R p_a + t``; compose right to left,
    ``c_from_a = c_from_b @ b_from_a``. BA variables are ``cam_from_world``; files, metrics and plots use
    ``world_from_cam`` (its translation is the camera centre).
Storage:
    SE(3) ``(..., 7) = [tx, ty, tz, qx, qy, qz, qw]``; Sim(3) ``(..., 8) = [t, q_xyzw, s]``. Quaternions are
    unit length and stored xyzw; q and -q are the same rotation.
Tangents:
    ``xi = [rho, phi]`` (translation first, rotation second); Sim(3) appends ``sigma`` (scale ``exp(sigma)``).
    Retraction is left multiplication, ``T <- Exp(delta) @ T``.
Pixels:
    ``uv = (u, v)``, u along columns; integers at pixel centres, (0, 0) the centre of the top-left pixel.
    Every ``grid_sample`` uses ``align_corners=True`` with ``u_n = 2 u / (W - 1) - 1``.
Quantities:
    ``depth`` is z-depth in metres (or training-scale units), ``inv_depth = 1 / depth``; ``flow`` from frame i
    to frame j is destination minus source in pixels of the tensor's resolution; intrinsics are
    ``(fx, fy, cx, cy)`` or a 3x3 ``K``. Resizing by a factor s multiplies all four intrinsics by s (the
    reference rule, kept so published numbers carry over).
"""

QUATERNION_ORDER = "xyzw"
TANGENT_ORDER = ("translation", "rotation")
SE3_DIM = 7
SIM3_DIM = 8
ALIGN_CORNERS = True
CAMERA_AXES = ("right", "down", "forward")
