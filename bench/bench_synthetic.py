"""Throughput of the embedded dataset generator: pages and natural images per second.

Usage: ``python bench/bench_synthetic.py --profile smoke`` (or ``cpu``). Generates the
profile into a temporary folder (deleted afterwards) and prints, on one core:

- comics pages per second, rendering + labels only (no files), and with every file written;
- natural RGB-D images per second (NYU + natural folder), with files;
- the share of page time spent writing files.

``--worlds street,rich`` also renders pages of each named world (same page seeds, interleaved
rounds so machine drift hits each alike) and prints their pages per second as a ratio to
the first world's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from comicdepth_tf.data import render, scene, synthetic, writers


def render_only(profile: synthetic.Profile, n_pages: int, world: str = "street") -> float:
    """Pages per second for rendering a page of ``world`` and extracting its labels, nothing written."""
    width, height = profile.page_size
    scene_world = scene.get_world(world)
    t0 = time.perf_counter()
    for i in range(n_pages):
        page = render.render_page(synthetic.item_rng(0, "train", i), width, height, world=scene_world)
        for panel in page.panels:
            writers.panel_segments(panel, profile.min_segment_area)
    return n_pages / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", choices=sorted(synthetic.PROFILES))
    parser.add_argument("--pages", type=int, default=12, help="pages for the render-only measure")
    parser.add_argument("--worlds", default=None, help="compare worlds, e.g. street,rich (first = baseline)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the world comparison")
    args = parser.parse_args(argv)
    prof = synthetic.get_profile(args.profile)
    if args.worlds:
        worlds = args.worlds.split(",")
        rates: dict[str, list[float]] = {w: [] for w in worlds}
        for _ in range(args.rounds):
            for w in worlds:
                rates[w].append(render_only(prof, args.pages, w))
        base = sorted(rates[worlds[0]])[args.rounds // 2]
        for w in worlds:
            median = sorted(rates[w])[args.rounds // 2]
            print(f"  world {w:<24} pages/s (median of {args.rounds}): {median:6.1f}   ratio to {worlds[0]}: "
                  f"{median / base:.2f}")
        return 0
    pages_render = render_only(prof, args.pages)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = synthetic.generate(Path(tmp) / prof.name, prof, seed=0, show_progress=False, workers=1)
    timing = manifest["timing"]
    print(f"profile {prof.name}: page {prof.page_size[0]}x{prof.page_size[1]}, "
          f"natural {prof.nyu_size[0]}x{prof.nyu_size[1]}")
    print(f"  pages/s, render + labels only : {pages_render:8.1f}  ({60 * pages_render:.0f} pages/min)")
    print(
        f"  pages/s, with all files       : {timing['pages_per_s']:8.1f}  ({60 * timing['pages_per_s']:.0f} pages/min)"
    )
    print(f"  natural images/s, with files  : {timing['natural_per_s']:8.1f}")
    print(f"  file writing share of page time: {1 - timing['pages_per_s'] / pages_render:6.1%}")
    print(f"  total generation              : {timing['total_s']:8.1f} s  "
          + ", ".join(f"{k} {v:.1f} s" for k, v in timing["seconds"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
