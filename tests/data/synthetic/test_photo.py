import numpy as np
import pytest
import torch
from PIL import Image

from vokit.cli import main as cli_main
from vokit.data.synthetic import SyntheticWorld
from vokit.data.synthetic.photo import DISPLAY_GAMMA, load_photo_textures, make_tileable, photo_materials
from vokit.data.synthetic.scene import EMIT_ALWAYS
from vokit.errors import VokitError

from .test_textures import _seam_ratio


def _photo_folder(folder, n: int = 3):
    """A folder with ``n`` non-tiling photos (gradients plus noise), a corrupt PNG and a text file."""
    folder.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(0)
    for k in range(n):
        h, w = 60 + 10 * k, 90
        ramp = np.linspace(0.0, 1.0, w)[None, :, None] * np.array([1.0, 0.5, 0.2 * k])
        img = np.clip(0.6 * ramp + 0.4 * g.random((h, w, 3)), 0, 1)
        suffix = ".jpg" if k == 2 else ".png"
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"photo{k}{suffix}")
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_make_tileable_removes_the_seam_and_keeps_the_contrast() -> None:
    g = np.random.default_rng(1)
    ramp = np.linspace(0.0, 1.0, 64)[None, None, :] + np.linspace(0.0, 1.0, 64)[None, :, None]
    image = ramp + 0.2 * g.random((3, 64, 64))
    assert _seam_ratio(torch.from_numpy(image)) > 5.0  # a ramp restarts at the wrap
    assert _seam_ratio(torch.from_numpy(make_tileable(image))) < 1.6
    noise = g.random((1, 128, 128))
    # white noise: the variance-preserving blend keeps its standard deviation (sampling error ~2%)
    assert make_tileable(noise).std() == pytest.approx(noise.std(), rel=0.08)
    assert make_tileable(noise).mean() == pytest.approx(noise.mean(), abs=0.01)


def test_load_photo_textures_reads_every_image_of_a_folder(tmp_path) -> None:
    folder = _photo_folder(tmp_path / "photos")
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(folder / "grey.png")
    bank = load_photo_textures(folder, size=32)
    assert len(bank) == 8 and bank.textures.shape == (8, 3, 32, 32)  # two crops of four readable images
    assert sorted(set(bank.names)) == ["grey.png", "photo0.png", "photo1.png", "photo2.jpg"]
    assert float(bank.textures.min()) >= 0.0 and float(bank.textures.max()) <= 1.0
    grey = bank.textures[bank.names.index("grey.png")]
    # sRGB 128 in linear RGB (the renderer's tone curve maps it back), to float32 round-off
    torch.testing.assert_close(grey, torch.full_like(grey, (128 / 255) ** DISPLAY_GAMMA), atol=1e-5, rtol=0)
    for tex in bank.textures:
        assert _seam_ratio(tex) < 1.6
    again = load_photo_textures(folder, size=32)
    assert again.digest == bank.digest
    (folder / "more.png").write_bytes((folder / "photo0.png").read_bytes())
    assert load_photo_textures(folder, size=32).digest != bank.digest


def test_bad_texture_folders_raise_vokit_errors_naming_them(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VokitError, match="no readable image") as err:
        load_photo_textures(empty)
    assert err.value.path == empty.resolve()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(VokitError, match="no readable image"):
        load_photo_textures(junk)
    with pytest.raises(VokitError, match="does not exist") as err:
        load_photo_textures(tmp_path / "missing")
    assert "missing" in str(err.value)
    with pytest.raises(VokitError, match="not a folder"):
        load_photo_textures(junk / "a.jpg")


def test_photo_materials_keep_glass_and_the_kept_materials(tmp_path) -> None:
    bank = load_photo_textures(_photo_folder(tmp_path / "p"), size=16)
    g = torch.Generator().manual_seed(0)
    textures = torch.rand(6, 4, 16, 16, generator=g)
    textures[:, 3] = (textures[:, 3] > 0.7).float()  # glass mask
    keep = torch.tensor([True, False, False, False, False, False])
    out = photo_materials(textures, keep, bank, np.random.default_rng(0), fraction=1.0)
    assert torch.equal(out[0], textures[0])
    assert torch.equal(out[:, 3], textures[:, 3])
    glass = textures[:, 3:4].expand(-1, 3, -1, -1) > 0
    assert torch.equal(out[:, :3][glass], textures[:, :3][glass])
    assert not torch.allclose(out[1:, :3], textures[1:, :3])
    assert torch.equal(out, photo_materials(textures, keep, bank, np.random.default_rng(0), fraction=1.0))


@pytest.mark.parametrize("scene", ["street", "room"])
def test_photo_textures_change_appearance_only(tmp_path, scene: str) -> None:
    folder = _photo_folder(tmp_path / "p")
    plain = SyntheticWorld(scene, 3, 5, 64, 128)
    photo = SyntheticWorld(scene, 3, 5, 64, 128, textures=folder)
    a, b = plain.frame(1), photo.frame(1)
    assert torch.equal(a.depth, b.depth) and torch.equal(a.flow, b.flow)
    assert torch.equal(a.motion_mask, b.motion_mask)
    assert float(((a.image - b.image).abs().amax(0) > 0.02).float().mean()) > 0.2  # street: 15% sky
    assert plain.cache_key() != photo.cache_key()
    lamps = photo.scene.material_emission == EMIT_ALWAYS
    assert torch.equal(photo.scene.textures[lamps], plain.scene.textures[lamps])
    if plain.scene.sky_material >= 0:
        sky = plain.scene.sky_material
        assert torch.equal(photo.scene.textures[sky], plain.scene.textures[sky])
    again = SyntheticWorld(scene, 3, 5, 64, 128, textures=folder)
    assert torch.equal(again.frame(1).image, b.image)


def test_synth_cli_textures(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    argv = ["synth", "--out", str(out), "--frames", "1", "--height", "16", "--width", "32", "--quiet"]
    assert cli_main.main([*argv, "--textures", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no readable image" in err and str(empty) in err
    assert cli_main.main([*argv, "--textures", str(_photo_folder(tmp_path / "p"))]) == 0
    assert (out / "image_2").is_dir() or any(out.iterdir())
