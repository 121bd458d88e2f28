"""Parts of the ``lk`` operator that the loop tests do not isolate: point tracking and the predicted scale change."""

import torch

from vokit.geometry.lie import se3_act, se3_exp, se3_identity, se3_inverse
from vokit.methods.patchvo.graph import PatchGraph
from vokit.methods.patchvo.operators import LKOperator, PreparedFrame

K4 = torch.tensor([40.0, 40.0, 31.5, 23.5])  # a 64 x 48 patch grid (256 x 192 working pixels)


def _frames(shift_px: float) -> tuple[PatchGraph, LKOperator]:
    """Two keyframes of a smooth random texture, the second shifted right by ``shift_px`` 1/4-res pixels."""
    gen = torch.Generator().manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(1, 1, 24, 40, generator=gen), size=(192, 320),
                                           mode="bicubic", align_corners=False)[0, 0]
    op = LKOperator(radius=2, fb_sigma_px=0.5)
    graph = PatchGraph(4)
    shift = int(round(4 * shift_px))
    for k, image in enumerate((base[:, 32:288], base[:, 32 - shift:288 - shift])):
        frame = PreparedFrame(image=image.clamp(0, 1).expand(3, -1, -1), gray4=image[::4, ::4], intrinsics4=K4)
        graph.append_frame(k, 0.1 * k, se3_identity(), torch.full((4, 2), 20.0), torch.ones(4), torch.zeros(4, 3),
                           op.frame_payload(frame, graph.patch_uv.new_full((4, 2), 20.0)))
    return graph, op


def test_track_points_finds_a_known_shift() -> None:
    graph, op = _frames(2.0)
    uv = torch.tensor([[20.0, 20.0], [30.5, 25.25], [40.0, 15.0]])
    out, confident = op.track_points(graph, 0, 1, uv, uv.clone())
    assert bool(confident.all())
    torch.testing.assert_close(out, uv + torch.tensor([2.0, 0.0]), rtol=0, atol=0.1)  # LK on a resampled texture


def test_predicted_scale_change_is_the_depth_ratio() -> None:
    graph, op = _frames(0.0)
    op.intrinsics4 = K4
    graph.cam_from_world[1] = se3_exp(torch.tensor([0.05, 0.0, -0.4, 0.0, 0.03, 0.0]))  # forward, a little yaw
    graph.inv_depth[0] = torch.tensor([0.5, 0.25, 0.1, 0.01])
    graph.patch_uv[0] = torch.tensor([[10.0, 12.0], [50.0, 30.0], [31.5, 23.5], [5.0, 40.0]])
    src, dst, patch = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long), torch.arange(4)
    scale = op._scale_change(graph, src, dst, patch)
    assert scale is not None
    # reference: the point's z in both cameras
    u, v = graph.patch_uv[0].unbind(-1)
    z = 1 / graph.inv_depth[0]
    pts = torch.stack([(u - K4[2]) / K4[0] * z, (v - K4[3]) / K4[1] * z, z], dim=-1)
    world = se3_act(se3_inverse(graph.cam_from_world[0]).expand(4, 7), pts)
    z_dst = se3_act(graph.cam_from_world[1].expand(4, 7), world)[:, 2]
    expected = (z / z_dst).clamp(0.5, 2.0)
    expected = torch.where((expected - 1).abs() > 0.03, expected, torch.ones_like(expected))
    torch.testing.assert_close(scale, expected, rtol=1e-5, atol=0)
    assert float(scale[0]) > 1.2 and float(scale[3]) == 1.0  # a near point grows, a far one is left alone
    graph.cam_from_world[1] = se3_identity()
    assert op._scale_change(graph, src, dst, patch) is None  # no motion: no warp, the cached templates serve
