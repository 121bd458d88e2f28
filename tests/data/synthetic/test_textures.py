import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vokit.data.synthetic import textures as tx
from vokit.data.synthetic.atlas import TextureAtlas
from vokit.data.synthetic.room import room_materials
from vokit.data.synthetic.street import street_materials


def _seam_ratio(tex: torch.Tensor) -> float:
    """Wrap-around step (last to first column / row) relative to the largest interior step between neighbouring
    rows / columns (averaged along them). A texture that tiles has a wrap step like its interior ones (the ratio
    stays near or below 1; structured patterns whose wrap coincides with a pattern edge reach about 1.5), while
    a seam such as a gradient restarting at the wrap gives ratios of 10 and more."""
    ratios = []
    for dim in (-1, -2):
        rolled = tex - tex.roll(1, dims=dim)
        steps = rolled.abs().mean(dim=[d for d in range(tex.dim()) if d != tex.dim() + dim])
        ratios.append(float(steps[0] / steps[1:].max().clamp_min(1e-6)))
    return max(ratios)


@pytest.mark.parametrize(
    ("family", "maker"),
    [
        ("urban", street_materials),
        ("desert", street_materials),
        ("modern", street_materials),
        ("home", room_materials),
        ("office", room_materials),
    ],
)
def test_material_textures_tile(family, maker) -> None:
    texs, tiles, emission = maker(np.random.default_rng(3), family)
    assert texs.shape[1:] == (4, 128, 128) and len(tiles) == len(emission) == texs.shape[0]
    assert float(texs.min()) >= 0.0 and float(texs.max()) <= 1.0
    for k, tex in enumerate(texs):
        assert _seam_ratio(tex[:3]) < 1.6, f"material {k} of {family} has a seam"


def test_material_textures_are_deterministic_by_seed() -> None:
    texs, _, _ = street_materials(np.random.default_rng(3), "urban")
    again, _, _ = street_materials(np.random.default_rng(3), "urban")
    other, _, _ = street_materials(np.random.default_rng(4), "urban")
    assert torch.equal(texs, again)
    assert not torch.equal(texs, other)


def test_value_noise_is_periodic_and_multi_octave() -> None:
    g = np.random.default_rng(0)
    noise = torch.from_numpy(tx.fbm(g, 64, base_cells=4, octaves=4))
    assert _seam_ratio(noise[None]) < 1.2
    spectrum = torch.fft.rfft2(noise - noise.mean()).abs()
    assert float(spectrum[:, 8:].sum()) > 0.05 * float(spectrum.sum())  # fine detail, not just a blob
    with pytest.raises(ValueError, match="divide"):
        tx.periodic_noise(g, 64, 3)


def _atlas_inputs(n: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 4, size, size, generator=g)


def test_atlas_level0_returns_texels_and_wraps() -> None:
    texs = _atlas_inputs(3, 16)
    atlas = TextureAtlas(texs)
    m = torch.tensor([0, 1, 2, 2, 1])
    iu = torch.tensor([0, 5, 15, 7, 3])
    iv = torch.tensor([0, 9, 15, 2, 12])
    u = (iu.float() + 0.5) / 16
    v = (iv.float() + 0.5) / 16
    tiny = torch.full((5,), 1e-6)
    expected = texs[m, :, iv, iu]
    torch.testing.assert_close(atlas.sample(m, u, v, tiny).T, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(atlas.sample(m, u + 3.0, v - 2.0, tiny).T, expected, atol=1e-4, rtol=0)
    # across the wrap, bilinear filtering blends the last and first texel
    mid = atlas.sample(m[:1], torch.zeros(1), (iv[:1].float() + 0.5) / 16, tiny[:1])
    torch.testing.assert_close(mid[:, 0], (texs[0, :, 0, 0] + texs[0, :, 0, 15]) / 2, atol=1e-5, rtol=0)


def test_atlas_mip_levels_are_box_filtered() -> None:
    texs = _atlas_inputs(2, 32)
    atlas = TextureAtlas(texs)
    for level in range(1, atlas.n_levels):
        side = 32 >> level
        pooled = F.avg_pool2d(texs, 2**level)
        iu, iv = torch.tensor([0, side - 1]), torch.tensor([side - 1, 0])
        u = (iu.float() + 0.5) / side
        v = (iv.float() + 0.5) / side
        footprint = torch.full((2,), (2.0**level) / 32)  # one level-l texel per pixel
        got = atlas.sample(torch.tensor([0, 1]), u, v, footprint)
        torch.testing.assert_close(got.T, pooled[torch.tensor([0, 1]), :, iv, iu], atol=1e-5, rtol=0)
    coarsest = atlas.sample(torch.tensor([1]), torch.tensor([0.3]), torch.tensor([0.7]), torch.tensor([100.0]))
    torch.testing.assert_close(coarsest[:, 0], texs[1].mean((1, 2)), atol=1e-5, rtol=0)


def test_periodic_noise_interpolates_its_lattice_periodically() -> None:
    """The Catmull-Rom weights form a partition of unity, shifting the lattice by one cell shifts the noise by
    S / cells texels (periodicity), and where a texel centre falls on a lattice point the noise equals it."""
    cells, size = 8, 24  # 3 texels per cell: every third texel centre lies on a lattice point
    rng = np.random.default_rng(5)
    lattice = rng.random((1, cells, cells))
    w = tx._cubic_weights(size, cells)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    noise = np.einsum("ia,cab,jb->cij", w, lattice, w)
    shifted = np.einsum("ia,cab,jb->cij", w, np.roll(lattice, 1, axis=2), w)
    np.testing.assert_allclose(shifted, np.roll(noise, size // cells, axis=2), atol=1e-12)
    t = (np.arange(size) + 0.5) * cells / size - 0.5
    exact = np.nonzero(np.isclose(t, np.round(t)))[0]
    assert len(exact) == cells
    np.testing.assert_allclose(noise[0][np.ix_(exact, exact)], lattice[0], atol=1e-12)
