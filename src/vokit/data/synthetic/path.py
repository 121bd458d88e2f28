"""Smooth 6-DoF camera paths: driving along a planar route, and rotation-rich hand-held motion.

Poses are ``scene_from_cam`` 4x4 matrices (float64) in the scene frame (x east, y down, z north); the camera
looks along its +z axis. Orientation is ``R = R_y(yaw) R_x(pitch) R_z(roll)``: yaw turns from +z towards +x,
positive pitch looks up, roll rotates about the optical axis. Every component is a smooth function of time
(sums of sinusoids, integrated speed profiles), so consecutive frames move by small, realistic amounts.
"""

import numpy as np


def rotation_ypr(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``R_y(yaw) R_x(pitch) R_z(roll)`` for arrays of angles (radians); returns ``(..., 3, 3)``."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    zero, one = np.zeros_like(cy), np.ones_like(cy)
    r_yaw = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*cy.shape, 3, 3)
    r_pitch = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(*cy.shape, 3, 3)
    r_roll = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(*cy.shape, 3, 3)
    return r_yaw @ r_pitch @ r_roll


def pose_matrices(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Stack ``(F, 3)`` positions and ``(F, 3, 3)`` rotations into ``(F, 4, 4)`` ``scene_from_cam`` matrices."""
    out = np.zeros((position.shape[0], 4, 4))
    out[:, :3, :3] = rotation
    out[:, :3, 3] = position
    out[:, 3, 3] = 1.0
    return out


def wobble(rng: np.random.Generator, times: np.ndarray, amplitude: float, freq_hz: tuple[float, float]) -> np.ndarray:
    """A smooth random signal: three sinusoids with random frequencies in ``freq_hz`` and random phases.

    Args:
        rng: random generator.
        times: sample times, seconds.
        amplitude: peak amplitude of the sum (the sinusoids' amplitudes add up to it).
        freq_hz: range of the frequencies, Hz.

    Returns:
        The signal at ``times``.
    """
    weights = rng.uniform(0.5, 1.0, 3)
    weights = amplitude * weights / weights.sum()
    freqs = rng.uniform(freq_hz[0], freq_hz[1], 3)
    phases = rng.uniform(0.0, 2.0 * np.pi, 3)
    return (weights * np.sin(2.0 * np.pi * freqs * times[:, None] + phases)).sum(-1)


def follow_route(
    rng: np.random.Generator,
    route_xz: np.ndarray,
    route_speed: np.ndarray,
    times: np.ndarray,
    height_m: float,
    start_s: float = 0.0,
) -> np.ndarray:
    """Drive along a densely sampled planar route: forward motion with turns, small pitch, roll and bounce.

    Args:
        rng: random generator (jitter amplitudes and phases).
        route_xz: ``(K, 2)`` route points (x, z) in metres, spaced densely (a few cm).
        route_speed: ``(K,)`` target speed at each route point, m/s (already smooth).
        times: ``(F,)`` frame times, seconds.
        height_m: camera height above the ground, metres.
        start_s: arc length of the starting point along the route, metres.

    Returns:
        ``(F, 4, 4)`` ``scene_from_cam`` poses.
    """
    seg = np.linalg.norm(np.diff(route_xz, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    substeps = 20
    fine_t = np.linspace(times[0], times[-1], (len(times) - 1) * substeps + 1)
    s = np.empty_like(fine_t)
    s[0] = start_s
    for k in range(1, len(fine_t)):
        s[k] = s[k - 1] + np.interp(s[k - 1], arc, route_speed) * (fine_t[k] - fine_t[k - 1])
    s = np.interp(times, fine_t, s)
    if s[-1] > arc[-1]:
        raise ValueError(f"follow_route: the route ({arc[-1]:.0f} m) is shorter than the drive ({s[-1]:.0f} m)")
    x = np.interp(s, arc, route_xz[:, 0])
    z = np.interp(s, arc, route_xz[:, 1])
    ds = 0.5
    dx = np.interp(s + ds, arc, route_xz[:, 0]) - np.interp(s - ds, arc, route_xz[:, 0])
    dz = np.interp(s + ds, arc, route_xz[:, 1]) - np.interp(s - ds, arc, route_xz[:, 1])
    heading = np.unwrap(np.arctan2(dx, dz))
    right = np.stack([np.cos(heading), -np.sin(heading)], -1)
    lateral = wobble(rng, times, 0.12, (0.03, 0.15))
    position = np.stack(
        [x + lateral * right[:, 0], -height_m + wobble(rng, times, 0.015, (0.5, 2.0)), z + lateral * right[:, 1]],
        -1,
    )
    yaw = heading + wobble(rng, times, np.deg2rad(1.0), (0.05, 0.3))
    pitch = np.deg2rad(rng.uniform(-1.5, 0.5)) + wobble(rng, times, np.deg2rad(0.6), (0.1, 0.8))
    roll = wobble(rng, times, np.deg2rad(0.6), (0.1, 0.6))
    return pose_matrices(position, rotation_ypr(yaw, pitch, roll))


def handheld_positions(
    rng: np.random.Generator,
    times: np.ndarray,
    centre_xz: tuple[float, float],
    extent_xz: tuple[float, float],
    height_m: float,
) -> np.ndarray:
    """Camera centres of a hand-held path: a smooth wander inside ``centre_xz +- extent_xz``, ``(F, 3)``.

    Args:
        rng: random generator.
        times: ``(F,)`` frame times, seconds.
        centre_xz: centre of the free region (x, z), metres.
        extent_xz: half size of the free region (x, z), metres.
        height_m: mean camera height above the floor, metres (the camera bobs by up to 10 cm).
    """
    x = centre_xz[0] + wobble(rng, times, extent_xz[0], (0.02, 0.12))
    z = centre_xz[1] + wobble(rng, times, extent_xz[1], (0.02, 0.12))
    y = -height_m + wobble(rng, times, 0.1, (0.1, 0.4))
    return np.stack([x, y, z], -1)


def handheld(
    rng: np.random.Generator,
    times: np.ndarray,
    position: np.ndarray,
    target: np.ndarray | None = None,
    strength: float = 1.0,
) -> np.ndarray:
    """Rotation-rich hand-held orientation for given camera centres.

    Without a target the camera sweeps its yaw back and forth (about +-35 degrees) while slowly turning
    around and looks 15 degrees down; with a target (e.g. a moving object) it follows the target loosely
    (turning at most 50 degrees/s towards it, smoothed), with the same sweeping. Pitch swings by about
    +-12 degrees, roll by about +-8 degrees.

    Args:
        rng: random generator.
        times: ``(F,)`` frame times, seconds.
        position: ``(F, 3)`` camera centres in the scene frame, metres.
        target: ``(F, 3)`` points to follow, or None.
        strength: scale of the sweeping, pitch and roll swings (1 = the amplitudes above).

    Returns:
        ``(F, 4, 4)`` ``scene_from_cam`` poses.
    """
    if target is None:
        turn_rate = rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.35)
        yaw0 = rng.uniform(-np.pi, np.pi) + turn_rate * times
        pitch0 = np.full_like(times, np.deg2rad(-15.0))
    else:
        # follow the target's direction, but never faster than 50 degrees/s (it may pass right by the camera)
        rel = target - position
        dt = float(times[1] - times[0]) if len(times) > 1 else 1.0
        yaw0 = _smooth(_rate_limited(np.arctan2(rel[:, 0], rel[:, 2]), np.deg2rad(50.0) * dt), 0.25 / dt)
        pitch = np.clip(np.arctan2(-rel[:, 1], np.hypot(rel[:, 0], rel[:, 2])), np.deg2rad(-45), np.deg2rad(20))
        pitch0 = _smooth(_rate_limited(pitch, np.deg2rad(30.0) * dt), 0.25 / dt)
    yaw = yaw0 + wobble(rng, times, 0.6 * strength, (0.08, 0.35))
    pitch = pitch0 + wobble(rng, times, np.deg2rad(12.0) * strength, (0.1, 0.5))
    roll = wobble(rng, times, np.deg2rad(8.0) * strength, (0.1, 0.6))
    return pose_matrices(position, rotation_ypr(yaw, pitch, roll))


def _rate_limited(angle: np.ndarray, max_step: float) -> np.ndarray:
    """Follow an angle signal (radians) with at most ``max_step`` change per sample (unwrapped output)."""
    out = np.empty_like(angle)
    out[0] = angle[0]
    for k in range(1, len(angle)):
        step = (angle[k] - out[k - 1] + np.pi) % (2.0 * np.pi) - np.pi
        out[k] = out[k - 1] + np.clip(step, -max_step, max_step)
    return out


def _smooth(signal: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing (edge values repeated), ``sigma_samples`` in samples."""
    radius = int(3 * sigma_samples) + 1
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / max(sigma_samples, 1e-6)) ** 2)
    padded = np.pad(signal, radius, mode="edge")
    return np.convolve(padded, kernel / kernel.sum(), mode="valid")


MOTION_KINDS = ("forward", "sideways", "rotation", "handheld", "drive")
"""Camera motions of `motion_path`: straight forward, sideways (translation along the image x axis), pure
rotation (no translation), hand-held 6-DoF with strong rotation, and driving with turns."""


def motion_path(
    rng: np.random.Generator, kind: str, times: np.ndarray, speed_mps: float, height_m: float
) -> np.ndarray:
    """A camera path of one motion kind, starting at (0, -height, 0) and heading along a random yaw.

    Args:
        rng: random generator.
        kind: one of `MOTION_KINDS`.
        times: ``(F,)`` frame times, seconds.
        speed_mps: mean speed, m/s (ignored for ``"rotation"``).
        height_m: camera height above the floor, metres.

    Returns:
        ``(F, 4, 4)`` ``scene_from_cam`` poses. ``forward`` moves along the optical axis (yaw, pitch and roll
        wobble by about 2 degrees); ``sideways`` moves along the camera's x axis looking at right angles to the
        motion; ``rotation`` keeps the centre fixed and swings yaw by up to +-60 degrees, pitch by +-20 and roll
        by +-12 (20-40 degrees/s on average); ``handheld`` walks at ``speed_mps`` with strong rotation (as
        `handheld`, twice the sweep); ``drive`` follows a road-like curve whose heading turns by up to about 25
        degrees/s, the camera looking along it.
    """
    if kind not in MOTION_KINDS:
        raise ValueError(f"motion_path: unknown motion {kind!r}; expected one of {MOTION_KINDS}")
    heading0 = rng.uniform(-np.pi, np.pi)
    n = len(times)
    small = np.deg2rad(2.0)
    if kind == "rotation":
        position = np.tile(np.array([0.0, -height_m, 0.0]), (n, 1))
        yaw = heading0 + wobble(rng, times, np.deg2rad(60.0), (0.15, 0.4))
        pitch = wobble(rng, times, np.deg2rad(20.0), (0.1, 0.4))
        roll = wobble(rng, times, np.deg2rad(12.0), (0.1, 0.4))
        return pose_matrices(position, rotation_ypr(yaw, pitch, roll))
    if kind == "handheld":
        position = handheld_positions(rng, times, (0.0, 0.0), (1.0, 1.0), height_m)
        position[:, [0, 2]] += speed_mps * (times - times[0])[:, None] * np.array([np.sin(heading0), np.cos(heading0)])
        return handheld(rng, times, position, None, strength=2.0)
    if kind == "drive":
        turn_rate = wobble(rng, times, np.deg2rad(25.0), (0.03, 0.12))
        dt = np.diff(times, prepend=times[0])
        heading = heading0 + np.cumsum(turn_rate * dt)
    else:
        heading = np.full(n, heading0)
    speed = speed_mps * (1.0 + wobble(rng, times, 0.2, (0.05, 0.2)))
    dt = np.diff(times, prepend=times[0])
    step = (speed * dt)[:, None] * np.stack([np.sin(heading), np.cos(heading)], -1)
    xz = np.cumsum(step, 0)
    position = np.stack([xz[:, 0], -height_m + wobble(rng, times, 0.03, (0.3, 1.5)), xz[:, 1]], -1)
    look = heading + (np.pi / 2 * rng.choice([-1.0, 1.0]) if kind == "sideways" else 0.0)
    yaw = look + wobble(rng, times, small, (0.05, 0.5))
    pitch = wobble(rng, times, small, (0.1, 0.8))
    roll = wobble(rng, times, small, (0.1, 0.6))
    return pose_matrices(position, rotation_ypr(yaw, pitch, roll))
