"""CPU timing of the patchvo building blocks: update operator per hidden size, correlation forms, encoders.

Example:
    OMP_NUM_THREADS=1 python benchmarks/patch_blocks.py --edges 2016 --dims 128 384 --threads 1
"""

import argparse
import time

import torch

from vokit.nets.correlation import correlation_pyramid, correlation_volume, patch_correlation, volume_correlation
from vokit.nets.patch_encoder import context_encoder, extract_patches, feature_encoder, patch_grid, random_patch_centres
from vokit.nets.update_operator import UpdateOperator
from vokit.solvers.lk import image_pyramid, lk_track_fb


def _best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _graph(num_edges, gen):
    frames = 8
    patch_idx = torch.randint(0, frames * 80, (num_edges,), generator=gen)
    dst_idx = torch.randint(0, frames, (num_edges,), generator=gen)
    return patch_idx // 80, dst_idx, patch_idx


def bench_update(num_edges, dim, repeats):
    gen = torch.Generator().manual_seed(0)
    op = UpdateOperator(hidden_dim=dim)
    src_idx, dst_idx, patch_idx = _graph(num_edges, gen)
    hidden, context = torch.randn(num_edges, dim), torch.randn(num_edges, dim)
    corr = torch.randn(num_edges, 882)

    def forward():
        with torch.no_grad():
            op(hidden, context, corr, src_idx, dst_idx, patch_idx)

    def forward_backward():
        out = op(hidden, context, corr, src_idx, dst_idx, patch_idx)
        (out.delta.sum() + out.weight.sum() + out.hidden.sum()).backward()

    params = sum(p.numel() for p in op.parameters())
    return params, _best_of(forward, repeats), _best_of(forward_backward, repeats)


def bench_correlation(num_edges, channels, height, width, repeats):
    gen = torch.Generator().manual_seed(0)
    fmap = torch.randn(8, channels, height, width, generator=gen, requires_grad=True)
    frame_idx, centres = random_patch_centres(8, 80, height, width, gen)
    patch_idx = torch.randint(0, len(frame_idx), (num_edges,), generator=gen)
    dst_idx = torch.randint(0, 8, (num_edges,), generator=gen)
    uv = patch_grid(centres[patch_idx] + torch.randn(num_edges, 2, generator=gen) * 3)
    rows = {}
    for form in ("gather", "sample"):

        def forward_backward(form=form):
            gmap = extract_patches(fmap, frame_idx, centres)
            corr = patch_correlation(gmap, correlation_pyramid(fmap), patch_idx, dst_idx, uv, form=form)
            corr.sum().backward()

        def forward(form=form):
            with torch.no_grad():
                gmap = extract_patches(fmap, frame_idx, centres)
                patch_correlation(gmap, correlation_pyramid(fmap), patch_idx, dst_idx, uv, form=form)

        rows[form] = (_best_of(forward, repeats), _best_of(forward_backward, repeats))

    def volume_build():
        with torch.no_grad():
            correlation_volume(extract_patches(fmap, frame_idx, centres), correlation_pyramid(fmap))

    def volume_step(calls=8):
        volume = correlation_volume(extract_patches(fmap, frame_idx, centres), correlation_pyramid(fmap))
        total = sum(volume_correlation(volume, patch_idx, dst_idx, uv).sum() for _ in range(calls))
        total.backward()

    volume = correlation_volume(extract_patches(fmap, frame_idx, centres).detach(), correlation_pyramid(fmap.detach()))

    def volume_lookup():
        volume_correlation(volume, patch_idx, dst_idx, uv)

    rows["volume build"] = (_best_of(volume_build, repeats), float("nan"))
    rows["volume lookup"] = (_best_of(volume_lookup, repeats), float("nan"))
    rows["volume build + 8 lookups"] = (float("nan"), _best_of(volume_step, repeats))
    return rows


def bench_lk(num_edges, height, width, repeats):
    gen = torch.Generator().manual_seed(0)
    frames = torch.nn.functional.avg_pool2d(torch.rand(8, 1, 4 * height, 4 * width, generator=gen), 4)[:, 0]
    pyramid = image_pyramid(frames, 3)
    frame_idx, centres = random_patch_centres(8, 80, height, width, gen)
    patch_idx = torch.randint(0, len(frame_idx), (num_edges,), generator=gen)
    dst_idx = torch.randint(0, 8, (num_edges,), generator=gen)
    src_uv = centres[patch_idx]
    init = src_uv + torch.randn(num_edges, 2, generator=gen)
    return _best_of(lambda: lk_track_fb(pyramid, pyramid, frame_idx[patch_idx], dst_idx, src_uv, init), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edges", type=int, default=2016)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 128, 192, 384])
    parser.add_argument("--channels", type=int, default=128, help="fnet width for the correlation timing")
    parser.add_argument("--size", type=int, nargs=2, default=[48, 64], help="1/4-resolution map size h w")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"update operator, {args.edges} edges, {args.threads} thread(s)")
    for dim in args.dims:
        params, fwd, fwd_bwd = bench_update(args.edges, dim, args.repeats)
        print(
            f"  hidden {dim:4d}: {params / 1e6:.2f} M params, "
            f"forward {fwd * 1e3:.0f} ms, fwd+bwd {fwd_bwd * 1e3:.0f} ms"
        )
    print(f"correlation, {args.edges} edges, C={args.channels}, {args.size[0]}x{args.size[1]}, 2 levels")
    for form, (fwd, fwd_bwd) in bench_correlation(args.edges, args.channels, *args.size, args.repeats).items():
        print(f"  {form:24s}: forward {fwd * 1e3:.0f} ms, fwd+bwd {fwd_bwd * 1e3:.0f} ms")
    lk_time = bench_lk(args.edges, *args.size, args.repeats)
    print(f"LK forward-backward, {args.edges} edges, 3 levels at {args.size[0]}x{args.size[1]}: {lk_time * 1e3:.0f} ms")
    image = torch.rand(8, 3, 4 * args.size[0], 4 * args.size[1])
    for name, enc in (("fnet", feature_encoder()), ("inet-128", context_encoder(128))):
        with torch.no_grad():
            print(
                f"  {name} 8 frames at {tuple(image.shape[-2:])}: "
                f"{_best_of(lambda enc=enc: enc(image), 1) * 1e3:.0f} ms"
            )


if __name__ == "__main__":
    main()
