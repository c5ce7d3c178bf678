"""Benchmark the full-resolution step: smoothing at the working size, then local affine
coefficients upsampled and applied to a full-resolution content photo.

Usage::

    python scripts/bench_fullres.py [--size 3500x2330] [--working 512] [--method local-affine]

Prints the wall time of the step and the process's peak resident memory (the step runs in
a fresh process so that the figure is its own).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def child(width: int, height: int, working: int, method: str) -> None:
    from photostyle.engine.smooth import finish
    from photostyle.files.images import fit_long_side, resize

    rng = np.random.default_rng(0)
    # a photo-like full-resolution content: smooth gradients plus fine texture
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    content = np.stack([x / width, y / height, 0.5 + 0.2 * np.sin(x / 50) * np.cos(y / 70)], 2)
    content += rng.normal(0, 0.02, content.shape).astype(np.float32)
    np.clip(content, 0, 1, out=content)
    del x, y
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    h, w = fit_long_side(height, width, working)
    start = time.perf_counter()
    small = resize(content, (h, w))
    stylised = np.clip(small[..., ::-1] * 0.8 + 0.1, 0, 1).astype(np.float32)
    out = finish(small, stylised, content, method)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024,
                      "inputs_rss_mb": rss_before / 1024, "shape": list(out.shape)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="3500x2330", help="WIDTHxHEIGHT of the content")
    parser.add_argument("--working", type=int, default=512, help="working size (long side)")
    parser.add_argument("--method", default="local-affine",
                        choices=("local-affine", "guided", "none"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.child:
        child(width, height, args.working, args.method)
        return
    proc = subprocess.run([sys.executable, __file__, "--child", "--size", args.size,
                           "--working", str(args.working), "--method", args.method],
                          capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"full-resolution output {width}x{height} from working size {args.working} "
          f"({args.method}): {result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB "
          f"(of which {result['inputs_rss_mb']:.0f} MB interpreter, libraries and the "
          "content image)")


if __name__ == "__main__":
    main()
