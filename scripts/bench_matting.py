"""Benchmark the matting Laplacian: build time, per-step product time, nnz, memory.

Usage::

    python scripts/bench_matting.py [--sizes 256,512,700,1024] [--repeats 3]

For each square size it builds the Laplacian of a random photo-like image (best of
``--repeats``), times the per-step product ``M V`` for the three colour channels through
the torch sparse CSR tensor the optimiser uses (and through SciPy for reference), and
reports nnz, the matrix's memory and the build's peak of traced allocations.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from photostyle.engine.matting import MattingTerm, matting_laplacian


def photo_like(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = gaussian_filter(rng.random((size, size, 3)), (3, 3, 0))
    img = (img - img.min()) / (img.max() - img.min())
    return np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512,700,1024")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'size':>6} {'build s':>8} {'product ms':>11} {'scipy ms':>9} {'nnz':>10} "
          f"{'matrix MB':>10} {'build peak MB':>14}")
    for size in (int(s) for s in args.sizes.split(",")):
        img = photo_like(size)
        build = best_of(args.repeats, lambda img=img: matting_laplacian(img))
        tracemalloc.start()
        lap = matting_laplacian(img)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        term = MattingTerm(img.astype(np.float32))
        v = torch.rand(1, 3, size, size, requires_grad=True)

        def step(term=term, v=v) -> None:
            v.grad = None
            term(v).backward()

        step()
        product = best_of(max(args.repeats, 5), step)
        flat = v.detach()[0].reshape(3, -1).T.double().numpy()
        scipy_t = best_of(max(args.repeats, 5), lambda lap=lap, flat=flat: lap @ flat)
        matrix_mb = (lap.data.nbytes + lap.indices.nbytes + lap.indptr.nbytes) / 2**20
        print(f"{size:>6} {build:>8.2f} {product * 1e3:>11.1f} {scipy_t * 1e3:>9.1f} "
              f"{lap.nnz:>10} {matrix_mb:>10.0f} {peak / 2**20:>14.0f}", flush=True)


if __name__ == "__main__":
    main()
