"""Procedural, seamlessly tiling textures for the synthetic world (NumPy, built once per scene).

Every generator returns a ``(4, S, S)`` float32 array: linear-RGB albedo in [0, 1] and a fourth channel, the
*glass mask* (1 on window glass and on emissive lamp surfaces, 0 elsewhere). Row index grows with the texture's
``v`` coordinate (height above the base of a facade), column index with ``u``. Textures tile with period S
in both directions, so the atlas can wrap them and build mip levels by plain 2x2 averaging.

Patterns: multi-octave periodic value noise (fBm), bricks, slabs, planks, stripes, windows. All randomness comes
from the ``numpy.random.Generator`` passed in, so a texture is a pure function of the generator's state. NumPy
(single-threaded) rather than torch keeps scene building quick and deterministic whatever the thread setup.
"""

import functools
import math

import numpy as np

Colour = tuple[float, float, float]
Array = np.ndarray


@functools.lru_cache(maxsize=32)
def _cubic_weights(size: int, cells: int) -> Array:
    """``(S, cells)`` periodic Catmull-Rom interpolation weights from a lattice to texel centres."""
    x = (np.arange(size) + 0.5) * cells / size - 0.5
    base = np.floor(x).astype(int)
    t = x - base
    weights = np.zeros((size, cells))
    taps = [
        ((-(t**3) + 2 * t**2 - t) / 2, -1),
        ((3 * t**3 - 5 * t**2 + 2) / 2, 0),
        ((-3 * t**3 + 4 * t**2 + t) / 2, 1),
        ((t**3 - t**2) / 2, 2),
    ]
    for w, offset in taps:
        np.add.at(weights, (np.arange(size), (base + offset) % cells), w)
    return weights


def periodic_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> Array:
    """Smooth value noise with period ``size``: random values on a ``cells`` x ``cells`` lattice, bicubic.

    The interpolation is separable and periodic, ``W L W^T`` with ``W`` the ``(S, cells)`` Catmull-Rom weights.

    Args:
        rng: random generator.
        size: output side S in texels (a multiple of ``cells``).
        cells: lattice cells per period.
        channels: independent noise channels.

    Returns:
        ``(channels, S, S)`` noise in [0, 1].
    """
    cells = max(1, min(cells, size))
    if size % cells:
        raise ValueError(f"periodic_noise: cells ({cells}) must divide the texture size ({size})")
    lattice = rng.random((channels, cells, cells))
    if cells == size:
        return lattice
    w = _cubic_weights(size, cells)
    # two plain einsums (NumPy's own loops, no multi-threaded BLAS call for these small products)
    rows = np.einsum("ia,cab->cib", w, lattice)
    return np.clip(np.einsum("cib,jb->cij", rows, w), 0.0, 1.0)


def fbm(rng: np.random.Generator, size: int, base_cells: int = 4, octaves: int = 5, gain: float = 0.5) -> Array:
    """Fractal (multi-octave) periodic value noise, normalised to [0, 1]. Returns ``(S, S)``."""
    total = np.zeros((size, size))
    amplitude = 1.0
    norm = 0.0
    cells = base_cells
    for _ in range(octaves):
        if cells > size:
            break
        total += amplitude * periodic_noise(rng, size, cells)[0]
        norm += amplitude
        amplitude *= gain
        cells *= 2
    total = total / norm
    lo, hi = total.min(), total.max()
    return (total - lo) / max(hi - lo, 1e-6)


def _colour(c: Colour) -> Array:
    return np.asarray(c, dtype=np.float64)[:, None, None]


def _pack(rgb: Array, glass: Array | None = None) -> Array:
    size = rgb.shape[-1]
    rgb = np.broadcast_to(rgb, (3, size, size))
    mask = np.zeros((1, size, size)) if glass is None else np.reshape(glass, (1, size, size))
    return np.clip(np.concatenate([rgb, mask], axis=0), 0.0, 1.0).astype(np.float32)


def _coords(size: int) -> tuple[Array, Array]:
    """Texel-centre coordinates in [0, 1): ``(v, u)`` each ``(S, S)``."""
    t = (np.arange(size) + 0.5) / size
    v, u = np.meshgrid(t, t, indexing="ij")
    return v, u


def grid_cells(size: int, rows: int, cols: int, stagger: float = 0.0) -> tuple[Array, Array, Array, Array]:
    """A running-bond grid (bricks, slabs, planks): per-texel cell index and position inside the cell.

    Args:
        size: texture side S.
        rows: cell rows per period (even when ``stagger`` is non-zero, so the pattern tiles).
        cols: cells per row.
        stagger: horizontal shift of every odd row, in cells.

    Returns:
        ``(row, col, fv, fu)``: integer row and column of each texel's cell and the fractional position inside
        it, each ``(S, S)``.
    """
    v, u = _coords(size)
    row_f = v * rows
    row = np.floor(row_f)
    shifted = u * cols + stagger * (row % 2)
    col = np.floor(shifted) % cols
    return row.astype(int), col.astype(int), row_f - row, shifted - np.floor(shifted)


def _edge_mask(fv: Array, fu: Array, width_v: float, width_u: float) -> Array:
    """1 in the joints (mortar, grout) of a cell grid, 0 inside cells; soft by one texel."""
    dv = np.minimum(fv, 1.0 - fv) / max(width_v, 1e-6)
    du = np.minimum(fu, 1.0 - fu) / max(width_u, 1e-6)
    return np.clip(1.0 - np.minimum(dv, du), 0.0, 1.0)


def asphalt(rng: np.random.Generator, size: int, tone: Colour) -> Array:
    """Asphalt: low-frequency patches, mid-frequency grain and bright and dark speckles."""
    grain = fbm(rng, size, 8, 5, 0.6)
    patches = fbm(rng, size, 2, 3)
    speckle = rng.random((size, size))
    value = 0.55 + 0.5 * (grain - 0.5) + 0.35 * (patches - 0.5)
    value = value + 0.45 * (speckle > 0.93).astype(float) - 0.25 * (speckle < 0.05).astype(float)
    return _pack(_colour(tone) * np.clip(value, 0.15, 1.6))


def paving(rng: np.random.Generator, size: int, tone: Colour, slabs: int = 4) -> Array:
    """Square paving slabs with grout and a per-slab tint."""
    row, col, fv, fu = grid_cells(size, slabs, slabs, 0.0)
    tint = 0.8 + 0.4 * rng.random((slabs, slabs))
    joints = _edge_mask(fv, fu, 1.5 * slabs / size, 1.5 * slabs / size)
    grain = fbm(rng, size, 16, 3)
    value = tint[row, col] * (0.8 + 0.4 * grain) * (1.0 - 0.6 * joints)
    return _pack(_colour(tone) * value)


def ground_cover(rng: np.random.Generator, size: int, tone: Colour) -> Array:
    """Grass, gravel or sand: two scales of noise with colour variation."""
    coarse = fbm(rng, size, 4, 3)
    fine = fbm(rng, size, 32, 2)
    hue = periodic_noise(rng, size, 8, 3)
    rgb = _colour(tone) * (0.6 + 0.5 * coarse + 0.4 * (fine - 0.5)) * (0.85 + 0.3 * hue)
    return _pack(rgb)


def _wall(rng: np.random.Generator, size: int, kind: str, colour: Colour) -> Array:
    """Facade wall material without openings, ``(3, S, S)``."""
    grain = fbm(rng, size, 16, 3)
    if kind == "brick":
        row, col, fv, fu = grid_cells(size, 24, 6, 0.5)
        tint = 0.75 + 0.5 * rng.random((24, 6))
        mortar = _edge_mask(fv, fu, 0.12, 0.035)
        value = tint[row, col] * (0.85 + 0.3 * grain)
        return _colour(colour) * value * (1.0 - mortar) + 0.6 * mortar
    if kind == "panel":
        row, col, fv, fu = grid_cells(size, 2, 2, 0.0)
        tint = 0.9 + 0.2 * rng.random((2, 2))
        seam = _edge_mask(fv, fu, 0.02, 0.02)
        return _colour(colour) * tint[row, col] * (0.9 + 0.2 * grain) * (1.0 - 0.5 * seam)
    stains = fbm(rng, size, 4, 4)
    return _colour(colour) * (0.75 + 0.25 * grain + 0.25 * (stains - 0.5))


def facade(
    rng: np.random.Generator, size: int, wall_kind: str, wall: Colour, frame: Colour, glass: Colour, window_w: float
) -> Array:
    """One window bay of one storey: wall, a cornice band at the storey's base, a framed window with glass.

    Args:
        rng: random generator.
        size: texture side S.
        wall_kind: ``"brick"``, ``"plaster"`` or ``"panel"``.
        wall: wall colour (linear RGB).
        frame: window frame colour.
        glass: glass colour.
        window_w: window width as a fraction of the bay width (0.3-0.95; wide values give curtain walls).

    Returns:
        ``(4, S, S)`` with the glass mask in channel 3.
    """
    v, u = _coords(size)
    rgb = _wall(rng, size, wall_kind, wall)
    band = (v < 0.06).astype(float)
    rgb = rgb * (1.0 - 0.35 * band)
    u0, u1 = 0.5 - window_w / 2, 0.5 + window_w / 2
    v0, v1 = 0.25, 0.85
    inside = (u > u0) & (u < u1) & (v > v0) & (v < v1)
    border = 2.5 / size
    inner = (u > u0 + border) & (u < u1 - border) & (v > v0 + border) & (v < v1 - border)
    mullion = np.abs(u - 0.5) < 1.2 / size
    transom = np.abs(v - 0.7) < 1.2 / size
    pane = inner & ~mullion & ~transom
    sky_refl = fbm(rng, size, 4, 3)
    glass_rgb = _colour(glass) * (0.6 + 0.5 * v[None] + 0.6 * (sky_refl - 0.5))
    sill = (v > v0 - 4.0 / size) & (v <= v0) & (u > u0 - 3.0 / size) & (u < u1 + 3.0 / size)
    rgb = np.where(inside | sill, _colour(frame), rgb)
    rgb = np.where(pane, glass_rgb, rgb)
    return _pack(rgb, pane.astype(float))


def roof(rng: np.random.Generator, size: int, tone: Colour) -> Array:
    """Gravel roof."""
    return asphalt(rng, size, tone)


def car_paint(rng: np.random.Generator, size: int) -> Array:
    """Near-white paint (tinted per car) with panel seams, a dark rocker band and light blotches."""
    v, u = _coords(size)
    seams = ((u * 3.0) % 1.0 < 1.2 / size * 3).astype(float)
    rocker = (v < 0.18).astype(float)
    blotch = fbm(rng, size, 8, 3)
    value = (0.85 + 0.2 * (blotch - 0.5)) * (1.0 - 0.5 * seams) * (1.0 - 0.6 * rocker)
    return _pack(np.ones((3, 1, 1)) * value)


def car_glass(rng: np.random.Generator, size: int) -> Array:
    """Cabin: dark glass panes separated by pillars."""
    v, u = _coords(size)
    pillar = ((u * 2.0) % 1.0 < 0.12).astype(float)
    refl = fbm(rng, size, 4, 3)
    glass_rgb = np.array([0.08, 0.1, 0.13])[:, None, None] * (0.7 + 0.6 * refl + 0.5 * np.sin(math.pi * v))
    rgb = pillar * np.array([0.6, 0.6, 0.6])[:, None, None] + (1.0 - pillar) * glass_rgb
    return _pack(rgb, 1.0 - pillar)


def streaked(rng: np.random.Generator, size: int, tone: Colour, streaks: int = 16, strength: float = 0.3) -> Array:
    """Metal, bark or rubber: vertical streaks over noise."""
    v, u = _coords(size)
    phase = 2.0 * math.pi * rng.random()
    lines = np.sin(2.0 * math.pi * streaks * u + 3.0 * periodic_noise(rng, size, 4)[0] + phase)
    noise = fbm(rng, size, 8, 4)
    return _pack(_colour(tone) * (0.8 + strength * lines + 0.4 * (noise - 0.5)))


def foliage(rng: np.random.Generator, size: int, tone: Colour) -> Array:
    """Leaves: clumps of noise at three scales with hue variation and dark gaps."""
    clumps = fbm(rng, size, 4, 2)
    leaves = periodic_noise(rng, size, 32)[0]
    hue = periodic_noise(rng, size, 8, 3)
    value = 0.35 + 0.9 * clumps * (0.5 + leaves)
    return _pack(_colour(tone) * value * (0.8 + 0.4 * hue))


def clouds(rng: np.random.Generator, size: int) -> Array:
    """Cloud cover in [0, 1] (channel 0; the shader mixes it into the sky colour)."""
    cover = fbm(rng, size, 4, 5, 0.55)
    density = np.clip((cover - 0.45) / 0.35, 0.0, 1.0)
    return _pack(np.stack([density] * 3))


def emissive(size: int, colour: Colour) -> Array:
    """A uniformly glowing surface (lamp heads, ceiling panels)."""
    return _pack(_colour(colour) * np.ones((3, size, size)), np.ones((size, size)))


def planks(rng: np.random.Generator, size: int, tone: Colour, rows: int = 8, grain_lines: int = 20) -> Array:
    """Wooden planks (floors, furniture): staggered boards, per-board tint and wavy grain."""
    v, u = _coords(size)
    row, col, fv, fu = grid_cells(size, rows, 2, 0.5)
    tint = 0.75 + 0.5 * rng.random((rows, 2))
    seam = _edge_mask(fv, fu, 0.06, 0.008)
    warp = periodic_noise(rng, size, 8)[0]
    grain = 0.5 + 0.5 * np.sin(2.0 * math.pi * (grain_lines * v + 2.0 * warp))
    value = tint[row, col] * (0.75 + 0.35 * grain) * (1.0 - 0.6 * seam)
    return _pack(_colour(tone) * value)


def wallpaper(rng: np.random.Generator, size: int, base: Colour, accent: Colour, pattern: str) -> Array:
    """Wallpaper or paint: ``"stripes"``, ``"dots"``, ``"diamonds"`` or ``"plain"``, with a little noise."""
    v, u = _coords(size)
    if pattern == "stripes":
        amount = (np.sin(2.0 * math.pi * 6.0 * u) > 0.3).astype(float)
    elif pattern == "dots":
        du = (u * 6.0) % 1.0 - 0.5
        dv = (v * 6.0) % 1.0 - 0.5
        amount = ((du**2 + dv**2) < 0.06).astype(float)
    elif pattern == "diamonds":
        amount = ((np.abs((u * 4.0) % 1.0 - 0.5) + np.abs((v * 4.0) % 1.0 - 0.5)) < 0.3).astype(float)
    else:
        amount = 0.3 * fbm(rng, size, 4, 4)
    noise = fbm(rng, size, 16, 3)
    rgb = _colour(base) * (1.0 - amount) + _colour(accent) * amount
    return _pack(rgb * (0.88 + 0.24 * noise))


def weave(rng: np.random.Generator, size: int, tone: Colour) -> Array:
    """Fabric or carpet: a fine two-direction weave over mottled noise."""
    v, u = _coords(size)
    threads = 0.5 + 0.25 * (np.sin(2.0 * math.pi * 32 * u) + np.sin(2.0 * math.pi * 32 * v))
    mottle = fbm(rng, size, 4, 4)
    return _pack(_colour(tone) * (0.65 + 0.3 * threads + 0.4 * (mottle - 0.5)))


def books(rng: np.random.Generator, size: int, shelves: int = 4) -> Array:
    """Shelves of books: rows of spines with random widths, colours and heights."""
    v, u = _coords(size)
    rgb = np.full((3, size, size), 0.25)
    for shelf in range(shelves):
        lo, hi = shelf / shelves, (shelf + 1) / shelves
        in_row = (v >= lo) & (v < hi)
        widths = 0.02 + 0.05 * rng.random(40)
        edges = np.cumsum(widths)
        n = int((edges < 1.0).sum()) + 1
        edges = np.concatenate([edges[: n - 1], np.ones(1)])
        idx = np.minimum(np.searchsorted(edges, u), n - 1)
        colours = 0.1 + 0.8 * rng.random((n, 3))
        tops = lo + (hi - lo) * (0.6 + 0.35 * rng.random(n))
        spine = in_row & (v < tops[idx]) & (v > lo + 0.02)
        rgb = np.where(spine[None], np.transpose(colours[idx], (2, 0, 1)), rgb)
    return _pack(rgb * (0.85 + 0.3 * fbm(rng, size, 16, 2)))


def painting(rng: np.random.Generator, size: int) -> Array:
    """A colourful picture: three noise channels at different scales, or coloured rectangles, with a frame."""
    v, u = _coords(size)
    if float(rng.random()) < 0.5:
        rgb = np.stack([fbm(rng, size, 2, 5), fbm(rng, size, 4, 5), fbm(rng, size, 2, 4)])
    else:
        rgb = np.full((3, size, size), 0.85)
        for _ in range(7):
            corner = rng.random(2)
            extent = 0.1 + 0.4 * rng.random(2)
            inside = (u > corner[0]) & (u < corner[0] + extent[0]) & (v > corner[1]) & (v < corner[1] + extent[1])
            rgb = np.where(inside[None], rng.random(3)[:, None, None], rgb)
    border = (np.minimum(u, 1 - u) < 0.05) | (np.minimum(v, 1 - v) < 0.05)
    rgb = np.where(border[None], 0.15, rgb)
    return _pack(rgb)


def checker(rng: np.random.Generator, size: int, a: Colour, b: Colour, squares: int = 4) -> Array:
    """Checkerboard with noise (moving boxes, cardboard with labels)."""
    v, u = _coords(size)
    parity = (np.floor(u * squares) + np.floor(v * squares)) % 2
    rgb = _colour(a) * parity + _colour(b) * (1 - parity)
    return _pack(rgb * (0.85 + 0.3 * fbm(rng, size, 8, 3)))
