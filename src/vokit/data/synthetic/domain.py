"""Named domains of the synthetic world and the disjoint seed ranges of the train / val / test splits.

A `Domain` bundles the switches that shift appearance (lighting, exposure, colour cast, texture family, night,
fog, sensor noise) and two geometric switches (camera height, and the street's driving speed). Appearance
switches never change geometry: the scene layout, camera path and moving objects depend only on the scene name
and the seed, so the same seed in ``street`` and ``street-night`` has identical depth, poses, flow and motion
masks.
"""

from dataclasses import dataclass, replace

from vokit.errors import VokitError

SCENES = ("street", "room", "clutter")
"""The scene generators of the synthetic world."""


@dataclass(frozen=True)
class Domain:
    """Appearance (and camera-height) switches of one named domain.

    Attributes:
        name: registry name, ``"<scene>"`` or ``"<scene>-<variant>"``.
        scene: ``"street"``, ``"room"`` or ``"clutter"``.
        exposure: linear gain applied to the rendered radiance before the tone curve.
        gamma: display gamma of the tone curve (output = radiance ** (1 / gamma)).
        colour_cast: per-channel (r, g, b) gain (white balance shift).
        ambient: strength of the hemispherical ambient light.
        sun: strength of the directional light (sun or moon; the room uses point lights instead).
        sun_elevation_deg: sun elevation above the horizon, degrees.
        sun_azimuth_deg: sun azimuth, degrees clockwise from world +z (north).
        lamps: strength of the artificial lights (street lamps at night, ceiling lamps in the room).
        emission: strength of emissive surfaces (lit windows, lamp heads, ceiling panels).
        night: night sky and lit windows.
        fog_density_per_m: extinction coefficient of the exponential fog, 1/m (0 = clear).
        fog_colour: colour of the fog and of the haze at the horizon (linear RGB).
        sky_zenith: sky colour straight up (linear RGB).
        sky_horizon: sky colour at the horizon (linear RGB).
        texture_family: palette and pattern family (street: ``urban``, ``desert``, ``modern``; room: ``home``,
            ``office``; clutter: ``clutter``).
        camera_height_m: camera height above the ground or floor, metres; None = the scene's default.
        speed_scale: the street's driving speeds (cruise, turns, the lead car) times this (the street only; 1 =
            7-11 m/s cruise at 10 frames/s, 0.7-1.1 m per frame). Changes the camera path, so the same seed drives
            a longer route.
        noise_std: standard deviation of additive Gaussian sensor noise on the [0, 1] image (0 = none).
        exposure_drift: peak change of the natural log of a smooth per-frame exposure gain (auto-exposure
            changes, three sinusoids of 0.05-0.5 Hz; 0 = constant exposure).
        vignetting: darkening of the image corners: radiance times ``1 - vignetting * r^2``, r the distance from
            the principal point relative to the farthest image corner (0 = none).
        motion_blur: shutter time as a fraction of the frame interval, centred on the frame's instant; the
            image is averaged along each pixel's flow over it (0 = none).
    """

    name: str
    scene: str
    exposure: float = 1.0
    gamma: float = 2.2
    colour_cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.45
    sun: float = 0.75
    sun_elevation_deg: float = 50.0
    sun_azimuth_deg: float = 135.0
    lamps: float = 0.0
    emission: float = 0.0
    night: bool = False
    fog_density_per_m: float = 0.0
    fog_colour: tuple[float, float, float] = (0.75, 0.8, 0.85)
    sky_zenith: tuple[float, float, float] = (0.25, 0.45, 0.85)
    sky_horizon: tuple[float, float, float] = (0.75, 0.82, 0.9)
    texture_family: str = "urban"
    camera_height_m: float | None = None
    speed_scale: float = 1.0
    noise_std: float = 0.0
    exposure_drift: float = 0.0
    vignetting: float = 0.0
    motion_blur: float = 0.0

    def __post_init__(self) -> None:
        if self.scene not in SCENES:
            raise VokitError(f"domain {self.name!r}: unknown scene {self.scene!r}, expected one of {SCENES}")
        if self.exposure <= 0 or self.gamma <= 0 or self.speed_scale <= 0:
            raise VokitError(f"domain {self.name!r}: exposure, gamma and speed_scale must be positive")
        if not (0.0 <= self.vignetting < 1.0 and 0.0 <= self.motion_blur <= 1.0 and self.exposure_drift >= 0.0):
            raise VokitError(
                f"domain {self.name!r}: vignetting must be in [0, 1), motion_blur in [0, 1] and exposure_drift >= 0"
            )


_STREET = Domain(name="street", scene="street")
_ROOM = Domain(
    name="room",
    scene="room",
    ambient=0.35,
    sun=0.0,
    lamps=1.0,
    emission=1.0,
    texture_family="home",
    fog_colour=(0.5, 0.5, 0.5),
)

DOMAINS: dict[str, Domain] = {
    "street": _STREET,
    "street-night": replace(
        _STREET,
        name="street-night",
        ambient=0.03,
        sun=0.04,
        sun_elevation_deg=35.0,
        lamps=0.8,
        emission=1.0,
        night=True,
        exposure=1.0,
        colour_cast=(0.9, 0.95, 1.1),
        sky_zenith=(0.005, 0.008, 0.03),
        sky_horizon=(0.03, 0.035, 0.06),
        fog_colour=(0.03, 0.035, 0.06),
    ),
    "street-fog": replace(
        _STREET,
        name="street-fog",
        ambient=0.6,
        sun=0.15,
        fog_density_per_m=0.03,
        fog_colour=(0.72, 0.74, 0.76),
        sky_zenith=(0.7, 0.72, 0.75),
        sky_horizon=(0.72, 0.74, 0.76),
    ),
    "street-desert": replace(
        _STREET,
        name="street-desert",
        exposure=1.15,
        colour_cast=(1.12, 1.0, 0.8),
        sun=0.95,
        sun_elevation_deg=70.0,
        texture_family="desert",
        sky_zenith=(0.35, 0.55, 0.9),
        sky_horizon=(0.9, 0.85, 0.75),
        fog_colour=(0.9, 0.85, 0.75),
    ),
    "street-dusk": replace(
        _STREET,
        name="street-dusk",
        exposure=0.8,
        colour_cast=(1.15, 0.9, 0.75),
        ambient=0.3,
        sun=0.6,
        sun_elevation_deg=8.0,
        sun_azimuth_deg=260.0,
        emission=0.3,
        sky_zenith=(0.2, 0.25, 0.5),
        sky_horizon=(0.95, 0.6, 0.4),
        fog_colour=(0.9, 0.65, 0.5),
    ),
    "street-modern": replace(_STREET, name="street-modern", texture_family="modern"),
    "street-high": replace(_STREET, name="street-high", camera_height_m=2.6),
    # 17.5-27.5 m/s (63-99 km/h), 1.75-2.75 m per frame: the fast forward motion of KITTI's highway drives
    "street-highway": replace(_STREET, name="street-highway", speed_scale=2.5),
    "room": _ROOM,
    "room-dim": replace(_ROOM, name="room-dim", exposure=0.45, colour_cast=(1.15, 0.95, 0.7), ambient=0.15),
    "room-office": replace(_ROOM, name="room-office", texture_family="office", colour_cast=(0.95, 1.0, 1.08)),
    "room-low": replace(_ROOM, name="room-low", camera_height_m=0.8),
    "room-noisy": replace(_ROOM, name="room-noisy", exposure=0.6, noise_std=0.03),
    "street-camera": replace(
        _STREET, name="street-camera", exposure_drift=0.15, vignetting=0.35, motion_blur=0.5, noise_std=0.01
    ),
    "room-camera": replace(
        _ROOM, name="room-camera", exposure_drift=0.15, vignetting=0.35, motion_blur=0.5, noise_std=0.015
    ),
    "clutter": Domain(name="clutter", scene="clutter", ambient=0.55, sun=0.6, sun_elevation_deg=60.0,
                      texture_family="clutter"),
    "clutter-dark": Domain(name="clutter-dark", scene="clutter", ambient=0.25, sun=0.35, sun_elevation_deg=30.0,
                           texture_family="clutter", exposure=0.8),
    "clutter-camera": Domain(name="clutter-camera", scene="clutter", ambient=0.55, sun=0.6, sun_elevation_deg=60.0,
                             texture_family="clutter", exposure_drift=0.15, vignetting=0.35, motion_blur=0.5,
                             noise_std=0.01),
}
"""Registry of named domains; add your own with `register_domain`."""


def register_domain(domain: Domain, overwrite: bool = False) -> None:
    """Add a domain to the registry (`DOMAINS`) under ``domain.name``.

    Args:
        domain: the domain to register.
        overwrite: replace an existing entry of the same name instead of raising.

    Raises:
        VokitError: if the name is taken and ``overwrite`` is False.
    """
    if domain.name in DOMAINS and not overwrite:
        raise VokitError(f"domain {domain.name!r} is already registered")
    DOMAINS[domain.name] = domain


def get_domain(scene: str, domain: "str | Domain | None" = None) -> Domain:
    """Resolve a domain for ``scene``: None (the scene's default), a full name, a variant, or a `Domain`.

    ``get_domain("street", "night")`` and ``get_domain("street", "street-night")`` give the same domain.

    Raises:
        VokitError: for an unknown scene or domain, or a domain of another scene.
    """
    if scene not in SCENES:
        raise VokitError(f"unknown synthetic scene {scene!r}; expected one of {', '.join(SCENES)}")
    if isinstance(domain, Domain):
        resolved = domain
    else:
        name = scene if domain is None else domain
        if name not in DOMAINS and f"{scene}-{name}" in DOMAINS:
            name = f"{scene}-{name}"
        if name not in DOMAINS:
            known = ", ".join(sorted(DOMAINS))
            raise VokitError(f"unknown synthetic domain {domain!r}; known domains: {known}")
        resolved = DOMAINS[name]
    if resolved.scene != scene:
        raise VokitError(f"domain {resolved.name!r} belongs to scene {resolved.scene!r}, not {scene!r}")
    return resolved


SPLIT_SEED_OFFSET: dict[str, int] = {"train": 0, "val": 10_000_000, "test": 20_000_000}
"""First seed of each split; every split owns the next `SEEDS_PER_SPLIT` seeds, so the splits are disjoint."""

SEEDS_PER_SPLIT = 10_000_000


def split_seed(split: str, index: int) -> int:
    """The seed of the ``index``-th sequence of a split: ``SPLIT_SEED_OFFSET[split] + index``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        index: 0 <= index < `SEEDS_PER_SPLIT`.

    Returns:
        A seed that no other split uses.

    Raises:
        VokitError: for an unknown split or an index out of range.
    """
    if split not in SPLIT_SEED_OFFSET:
        raise VokitError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_SEED_OFFSET)}")
    if not 0 <= index < SEEDS_PER_SPLIT:
        raise VokitError(f"split index must be in [0, {SEEDS_PER_SPLIT}), got {index}")
    return SPLIT_SEED_OFFSET[split] + index


def seed_split(seed: int) -> str:
    """The split a seed belongs to (inverse of `split_seed`)."""
    for split, offset in SPLIT_SEED_OFFSET.items():
        if offset <= seed < offset + SEEDS_PER_SPLIT:
            return split
    raise VokitError(f"seed {seed} lies in no split (valid seeds: 0 <= seed < {3 * SEEDS_PER_SPLIT})")
