"""Shading helpers of the synthetic renderer: analytic lane markings, lights, sky, tone curve.

All functions are vectorised over pixels. Lane markings are box-filtered analytically over the pixel footprint
(the exact coverage of a stripe by a pixel-wide box filter), so they stay anti-aliased at any distance.
"""

import torch
from torch import Tensor

from vokit.data.synthetic.domain import Domain
from vokit.data.synthetic.scene import StreetGround

LAMP_INTENSITY = 40.0
"""Radiant intensity of a street lamp: irradiance 40 / d**2 at distance d metres (about 1.1 under the lamp)."""

PAINT = (0.85, 0.85, 0.82)
"""Albedo of road paint."""


def box_coverage(x: Tensor, lo: float, hi: float, width: Tensor) -> Tensor:
    """Fraction of the interval ``[x - width/2, x + width/2]`` inside ``[lo, hi]`` (a box-filtered stripe)."""
    inside = (x + width / 2).clamp(max=hi) - (x - width / 2).clamp(min=lo)
    return (inside / width).clamp(0.0, 1.0)


def periodic_coverage(x: Tensor, period: float, lo: float, hi: float, width: Tensor) -> Tensor:
    """Box-filtered coverage of stripes ``[lo, hi] + n * period``; the duty cycle once the filter spans a period."""
    xm = torch.remainder(x, period)
    cov = sum(box_coverage(xm, lo + s * period, hi + s * period, width) for s in (-1.0, 0.0, 1.0))
    assert isinstance(cov, Tensor)
    return torch.where(width >= period, torch.full_like(x, (hi - lo) / period), cov.clamp(max=1.0))


def lane_markings(point: Tensor, footprint_m: Tensor, ground: StreetGround) -> Tensor:
    """Paint coverage in [0, 1] of ground points: dashed centre line, lane edge lines, zebra crossings.

    Args:
        point: ``(3, P)`` ground points, scene frame, metres.
        footprint_m: ``(P,)`` pixel footprint on the ground, metres (the box filter width).
        ground: the street grid.

    Returns:
        ``(P,)`` coverage (0 off the roads and in the crossings).
    """
    b, rh = ground.block_m, ground.road_half_m
    dx = point[0] - torch.round(point[0] / b) * b
    dz = point[2] - torch.round(point[2] / b) * b
    on_x_line = (rh - dx.abs()).sign().clamp_min(0.0)  # on a road running along z
    on_z_line = (rh - dz.abs()).sign().clamp_min(0.0)
    across = dz + on_x_line * (dx - dz)
    along = point[0] + on_x_line * (point[2] - point[0])
    from_node = (dx + on_x_line * (dz - dx)).abs()
    w = footprint_m.clamp_min(1e-4)
    centre = box_coverage(across, -0.075, 0.075, w) * periodic_coverage(along, 6.0, 0.0, 3.0, w)
    edges = box_coverage(across.abs(), ground.lane_m - 0.06, ground.lane_m + 0.06, w)
    zebra = periodic_coverage(across, 1.0, 0.0, 0.5, w) * box_coverage(from_node, rh + 0.8, rh + 3.8, w)
    zebra = zebra * box_coverage(across.abs(), -1.0, ground.lane_m, w)
    cover = torch.maximum(torch.maximum(centre, edges), zebra)
    return cover * (on_x_line + on_z_line - 2.0 * on_x_line * on_z_line)


def street_lamps(point: Tensor, normal: Tensor, ground: StreetGround) -> Tensor:
    """Irradiance from the eight nearest street lamps (two per side of the nearest road in each direction).

    Lamps hang ``lamp_height_m`` above both sides of every road at ``lamp_offset_m`` from its centre line,
    ``lamp_spacing_m`` apart starting half a spacing from each crossing (where `street.build_street` places
    the lamp posts). Lambertian, inverse-square, no shadows.

    Args:
        point: ``(3, P)`` surface points, scene frame, metres.
        normal: ``(3, P)`` unit surface normals.
        ground: the street grid.

    Returns:
        ``(P,)`` irradiance.
    """
    b, sp = ground.block_m, ground.lamp_spacing_m
    total = torch.zeros_like(point[0])
    for axis in (0, 2):  # lines x = i b (roads along z), then lines z = j b (roads along x)
        other = 2 - axis
        line = torch.round(point[axis] / b) * b
        j0 = torch.floor(point[other] / sp - 0.5)
        for side in (-1.0, 1.0):
            to_a = line + side * ground.lamp_offset_m - point[axis]
            for dj in (0.5, 1.5):
                to_o = (j0 + dj) * sp - point[other]
                to_y = -ground.lamp_height_m - point[1]
                dist2 = to_a**2 + to_o**2 + to_y**2 + 0.25
                cos_term = (to_a * normal[axis] + to_o * normal[other] + to_y * normal[1]).clamp_min(0.0)
                total = total + cos_term / (dist2 * dist2.sqrt())
    return LAMP_INTENSITY * total


def point_lights(point: Tensor, normal: Tensor, lights: Tensor) -> Tensor:
    """Irradiance ``(P,)`` at ``(3, P)`` points from point lights ``(L, 4)`` = (position, intensity).

    Lambertian, inverse-square, no shadows.
    """
    total = torch.zeros_like(point[0])
    for light in lights:
        to_light = light[:3, None] - point
        dist2 = (to_light**2).sum(0) + 0.05
        total = total + light[3] * (to_light * normal).sum(0).clamp_min(0.0) / (dist2 * dist2.sqrt())
    return total


def sky_radiance(unit_dirs: Tensor, domain: Domain) -> Tensor:
    """Sky gradient from the horizon to the zenith colour, ``(3, P)`` for ``(3, P)`` unit scene directions."""
    elevation = (-unit_dirs[1]).clamp(0.0, 1.0).sqrt()
    zenith = torch.tensor(domain.sky_zenith)[:, None]
    horizon = torch.tensor(domain.sky_horizon)[:, None]
    return horizon + elevation * (zenith - horizon)


def tone_map(radiance: Tensor, domain: Domain) -> Tensor:
    """Exposure, colour cast, clipping and display gamma: linear radiance ``(3, P)`` to [0, 1] RGB."""
    cast = torch.tensor(domain.colour_cast)[:, None]
    return (radiance * (domain.exposure * cast)).clamp(1e-12, 1.0).log().mul(1.0 / domain.gamma).exp()
