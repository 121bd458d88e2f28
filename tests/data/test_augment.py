import colorsys
import dataclasses

import torch
from tests.support.sequences import make_sequence

from vokit.data.augment import color_jitter, hflip_clip, hflip_pose, hsv_to_rgb, rgb_to_hsv
from vokit.geometry.lie import se3_compose, se3_inverse, se3_to_matrix
from vokit.geometry.warp import rigid_flow


def test_hflip_pose_is_mirror_conjugation():
    seq = make_sequence(n=5)
    poses = seq.world_from_cam
    F = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(se3_to_matrix(hflip_pose(poses)), F @ se3_to_matrix(poses) @ F)
    torch.testing.assert_close(hflip_pose(hflip_pose(poses)), poses)


def test_hflip_clip_keeps_rigid_flow_consistent():
    """Rigid flow of the mirrored clip (mirrored depth, poses, intrinsics) equals the mirrored rigid flow."""
    seq = make_sequence(n=2, height=20, width=27)
    clip = seq.clip([0, 1])
    depth = 2.0 + clip.depth.double()  # strictly positive
    k = clip.intrinsics.double()
    k[:, 2] = 11.3  # a non-central principal point
    poses = clip.world_from_cam
    flow, valid = rigid_flow(depth[:1], se3_compose(se3_inverse(poses[1:]), poses[:1]), k[:1])
    clip = dataclasses.replace(clip, depth=depth, intrinsics=k, flow=torch.cat([flow, flow]))
    flipped = hflip_clip(clip)
    fp = flipped.world_from_cam
    flow_f, valid_f = rigid_flow(flipped.depth[:1], se3_compose(se3_inverse(fp[1:]), fp[:1]), flipped.intrinsics[:1])
    torch.testing.assert_close(flow_f, flipped.flow[:1], rtol=0, atol=1e-9)
    torch.testing.assert_close(flipped.intrinsics[:, 2], 26 - k[:, 2])
    assert torch.equal(flipped.images, clip.images.flip(-1))
    assert torch.equal(flipped.motion_mask, clip.motion_mask.flip(-1))
    again = hflip_clip(flipped)
    torch.testing.assert_close(again.flow, clip.flow)
    torch.testing.assert_close(again.world_from_cam, clip.world_from_cam)
    torch.testing.assert_close(again.intrinsics, clip.intrinsics)


def test_hsv_matches_colorsys():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(3, 5, 7, generator=g, dtype=torch.float64)
    rgb[:, 0, 0] = 0.5  # grey: hue undefined, colorsys gives 0
    hsv = rgb_to_hsv(rgb)
    for r in range(5):
        for c in range(7):
            expected = colorsys.rgb_to_hsv(*rgb[:, r, c].tolist())
            torch.testing.assert_close(hsv[:, r, c], torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(hsv_to_rgb(hsv), rgb)


def test_color_jitter_hue_only_matches_colorsys():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 4, 4, generator=g, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    out = color_jitter(images, gen, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.3, p=1.0)
    # Recover the drawn shift from one pixel, then check every pixel of both frames with colorsys.
    h0 = colorsys.rgb_to_hsv(*images[0, :, 0, 0].tolist())[0]
    h1 = colorsys.rgb_to_hsv(*out[0, :, 0, 0].tolist())[0]
    shift = (h1 - h0) % 1.0
    assert min(shift, 1 - shift) <= 0.3 + 1e-9
    for b in range(2):
        for r in range(4):
            for c in range(4):
                h, s, v = colorsys.rgb_to_hsv(*images[b, :, r, c].tolist())
                expected = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
                torch.testing.assert_close(out[b, :, r, c], torch.tensor(expected, dtype=torch.float64))


def test_color_jitter_brightness_same_for_all_frames_and_input_untouched():
    images = 0.2 + 0.5 * torch.rand(3, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    before = images.clone()
    out = color_jitter(
        images, torch.Generator().manual_seed(0), brightness=0.2, contrast=0.0, saturation=0.0, hue=0.0, p=1.0
    )
    assert torch.equal(images, before)
    ratio = out / images
    torch.testing.assert_close(ratio, ratio.flatten()[0].expand_as(ratio))
    assert 0.8 <= float(ratio.flatten()[0]) <= 1.2 and float(ratio.flatten()[0]) != 1.0


def test_color_jitter_probability_and_determinism():
    images = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(color_jitter(images, torch.Generator().manual_seed(0), p=0.0), images)
    a = color_jitter(images, torch.Generator().manual_seed(9), p=1.0)
    b = color_jitter(images, torch.Generator().manual_seed(9), p=1.0)
    assert torch.equal(a, b) and not torch.equal(a, images)
    assert a.min() >= 0 and a.max() <= 1
    applied = sum(not torch.equal(color_jitter(images, torch.Generator().manual_seed(s)), images) for s in range(200))
    assert 70 < applied < 130  # p = 0.5


def test_color_jitter_leaves_grey_images_grey():
    grey = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(5)).expand(2, 3, 6, 6)
    out = color_jitter(
        grey, torch.Generator().manual_seed(1), brightness=0.0, contrast=0.0, saturation=0.4, hue=0.4, p=1.0
    )
    torch.testing.assert_close(out, grey, atol=1e-6, rtol=0)
