import cv2
import numpy as np
import pytest
import torch
from tests.support.data import shared_data

from vokit.data.flow_io import (
    read_flo,
    read_flow,
    read_kitti_flow_png,
    write_flo,
    write_flow,
    write_kitti_flow_png,
)
from vokit.data.image_io import read_image_rgb
from vokit.errors import VokitError
from vokit.geometry.warp import flow_warp


def _flow(h=13, w=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    flow = 20.0 * torch.randn(h, w, 2, generator=g)
    valid = torch.rand(h, w, generator=g) > 0.2
    return flow, valid


def test_flo_round_trip_with_invalid(tmp_path):
    flow, valid = _flow()
    write_flo(tmp_path / "a.flo", flow, valid)
    got, got_valid = read_flo(tmp_path / "a.flo")
    assert torch.equal(got_valid, valid)
    assert torch.equal(got[valid], flow[valid]) and bool((got[~valid] == 0).all())
    # The file layout: float32 magic, int32 w, h, then (u, v) pairs row-major.
    raw = (tmp_path / "a.flo").read_bytes()
    assert np.frombuffer(raw[:4], "<f4")[0] == np.float32(202021.25)
    assert tuple(np.frombuffer(raw[4:12], "<i4")) == (17, 13)
    assert np.frombuffer(raw[12:20], "<f4")[0] == (flow[0, 0, 0].item() if valid[0, 0] else np.float32(1e10))


def test_kitti_png_round_trip_and_encoding(tmp_path):
    flow, valid = _flow()
    flow = torch.round(flow * 64) / 64  # representable values come back exactly
    write_kitti_flow_png(tmp_path / "f.png", flow, valid)
    got, got_valid = read_kitti_flow_png(tmp_path / "f.png")
    assert torch.equal(got_valid, valid) and torch.equal(got[valid], flow[valid])
    # Independent decode: OpenCV gives BGR uint16; u = (R - 2^15) / 64, valid = B > 0.
    bgr = cv2.imread(str(tmp_path / "f.png"), cv2.IMREAD_UNCHANGED)
    assert bgr.dtype == np.uint16
    np.testing.assert_array_equal(bgr[..., 0] > 0, valid.numpy())
    u = (bgr[..., 2].astype(np.float64) - 2**15) / 64
    np.testing.assert_array_equal(u[valid.numpy()], flow[..., 0][valid].numpy())


def test_kitti_png_quantisation(tmp_path):
    flow = torch.tensor([[[0.3, -100.01], [511.0, -7.123]]])
    write_flow(tmp_path / "q.png", flow)
    got, valid = read_flow(tmp_path / "q.png")
    assert bool(valid.all())
    assert float((got - flow).abs().max()) <= 0.5 / 64 + 1e-6


def test_bad_flo_files(tmp_path):
    (tmp_path / "bad.flo").write_bytes(np.array([1.0], "<f4").tobytes() + np.array([2, 2], "<i4").tobytes())
    with pytest.raises(VokitError, match="magic"):
        read_flo(tmp_path / "bad.flo")
    (tmp_path / "short.flo").write_bytes(np.array([202021.25], "<f4").tobytes() + np.array([4, 4], "<i4").tobytes())
    with pytest.raises(VokitError, match="does not match the file size"):
        read_flo(tmp_path / "short.flo")
    with pytest.raises(VokitError, match="not found"):
        read_flo(tmp_path / "missing.flo")


def _photometric(img1, img2, flow, valid):
    warped, inside = flow_warp(img2[None], flow[None])
    ok = valid & inside[0]
    return float((warped[0] - img1).abs().mean(0)[ok].mean())


def test_sintel_flo_reads_and_explains_the_image_pair(tmp_path):
    root = shared_data("flow_sintel_alley1")
    flow, valid = read_flo(root / "frame_0001.flo")
    assert flow.shape == (436, 1024, 2) and bool(torch.isfinite(flow).all()) and bool(valid.all())
    assert 2.0 < float(flow.norm(dim=-1).mean()) < 4.0  # SOURCE.txt: mean |flow| 2.8 px
    img1, img2 = read_image_rgb(root / "frame_0001.png"), read_image_rgb(root / "frame_0002.png")
    warped_err = _photometric(img1, img2, flow, valid)
    zero_err = _photometric(img1, img2, torch.zeros_like(flow), valid)
    assert warped_err < 0.5 * zero_err
    write_flo(tmp_path / "copy.flo", flow, valid)
    assert (tmp_path / "copy.flo").read_bytes() == (root / "frame_0001.flo").read_bytes()


def test_flyingchairs_flo_files(tmp_path):
    root = shared_data("flow_flyingchairs")
    for k in range(4):
        flow, valid = read_flo(root / f"000000{k}-gt.flo")
        assert flow.shape == (384, 512, 2) and bool(torch.isfinite(flow).all())
        write_flo(tmp_path / "c.flo", flow, valid)
        again, again_valid = read_flo(tmp_path / "c.flo")
        assert torch.equal(again, flow) and torch.equal(again_valid, valid)
    img1, img2 = read_image_rgb(root / "0000000-img0.ppm"), read_image_rgb(root / "0000000-img1.ppm")
    flow, valid = read_flo(root / "0000000-gt.flo")
    assert _photometric(img1, img2, flow, valid) < 0.7 * _photometric(img1, img2, torch.zeros_like(flow), valid)
