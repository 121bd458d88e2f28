import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from vokit.data.image_io import read_image_rgb, read_png16, write_image_rgb, write_png16
from vokit.errors import VokitError


@pytest.mark.parametrize("shape", [(7, 11), (7, 11, 3)])
def test_png16_written_by_hand_decodes_everywhere(tmp_path, shape):
    values = np.random.default_rng(0).integers(0, 65536, shape, dtype=np.uint16)
    write_png16(tmp_path / "x.png", values, text={"note": "hello"})
    decoded = cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED)
    if len(shape) == 3:
        decoded = decoded[..., ::-1]
    np.testing.assert_array_equal(decoded, values)
    np.testing.assert_array_equal(read_png16(tmp_path / "x.png"), values)
    with Image.open(tmp_path / "x.png") as im:
        assert im.info["note"] == "hello"
        if len(shape) == 2:
            np.testing.assert_array_equal(np.asarray(im), values)


def test_png16_reader_rejects_8bit(tmp_path):
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "e.png")
    with pytest.raises(VokitError, match="16-bit"):
        read_png16(tmp_path / "e.png")


def test_rgb_images_round_trip_and_grey_expands(tmp_path):
    image = torch.randint(0, 256, (3, 5, 6), generator=torch.Generator().manual_seed(0)).float() / 255
    write_image_rgb(tmp_path / "c.png", image)
    assert torch.equal(read_image_rgb(tmp_path / "c.png"), image)
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6)
    Image.fromarray(grey).save(tmp_path / "g.png")
    got = read_image_rgb(tmp_path / "g.png")
    assert got.shape == (3, 5, 6) and torch.equal(got[0], got[2])
    torch.testing.assert_close(got[1], torch.as_tensor(grey).float() / 255)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(VokitError, match="cannot read image"):
        read_image_rgb(tmp_path / "broken.png")
