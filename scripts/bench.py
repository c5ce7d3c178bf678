"""Benchmark the default transfer: wall time, stages, seconds per step, peak memory.

Usage::

    python scripts/bench.py [--sizes 512,700] [--set key=value ...] [--masks]

For each working size it runs ``photostyle.transfer`` with the default settings (plus any
``--set``) on a fixed pair (the sample pair in ``data/``, resized to a 700-px long side by
default: the issue's "700-px result"; ``--input-size`` changes it) with a **random-weight
VGG19 trimmed after the layers in use** (the default layers unless ``--set`` changes them):
the same cost as the real ImageNet weights, which cannot be downloaded everywhere. Each
size runs in a fresh process so that its peak resident memory is its own. It prints the
wall time, the per-stage breakdown from the run's report, the number of optimisation steps
and seconds per step, the peak memory, and the time the paper's schedule (1000 + 1000
L-BFGS iterations at the working size) would take at the measured seconds per step of the
finest level.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAPER_ITERATIONS = 2000


#: Issue 17's targets for the default transfer of a 700-px photo on 2 CPU cores.
TARGET_SECONDS = 60.0
TARGET_MB = 2048.0


def make_pair(folder: Path, long_side: int = 700) -> tuple[Path, Path, Path, Path]:
    from PIL import Image

    paths = []
    for name in ("content", "style", "content_mask", "style_mask"):
        with Image.open(REPO / "data" / f"{name}.png") as im:
            resample = Image.Resampling.NEAREST if "mask" in name else Image.Resampling.LANCZOS
            big = im.convert("RGB").resize(
                (long_side, round(long_side * im.height / im.width)), resample)
        path = folder / f"{name}.png"
        big.save(path)
        paths.append(path)
    return paths[0], paths[1], paths[2], paths[3]


def child(size: int, sets: dict[str, Any], masks: bool, long_side: int) -> None:
    import torch

    import photostyle
    from photostyle.config import TransferConfig

    with tempfile.TemporaryDirectory() as tmp:
        content, style, c_mask, s_mask = make_pair(Path(tmp), long_side)
        config = TransferConfig(size=size, vgg_weights="random", segment="none", **sets)
        start = time.perf_counter()
        result = photostyle.transfer(content, style, config,
                                     content_mask=c_mask if masks else None,
                                     style_mask=s_mask if masks else None)
        wall = time.perf_counter() - start
    levels = result.report["levels"]
    print(json.dumps({
        "size": size, "wall": wall, "timings": result.report["timings"],
        "levels": [{"size": lv["size"], "steps": lv["evaluations"],
                    "seconds_per_step": lv["seconds_per_evaluation"]} for lv in levels],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": (torch.cuda.max_memory_allocated() / 2**20
                        if torch.cuda.is_available() else None),
        "device": result.report["device"],
        "output": list(result.image.shape[:2]),
    }))


def parse_sets(items: list[str]) -> dict[str, Any]:
    from photostyle.ablate import parse_setting

    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key.strip().replace("-", "_")] = parse_setting(key, value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512,700")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--masks", action="store_true", help="use the sample pair's masks")
    parser.add_argument("--input-size", type=int, default=700,
                        help="long side of the content and of the result (default 700)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, parse_sets(args.set), args.masks, args.input_size)
        return
    import torch

    from photostyle.config import TransferConfig

    default_size = TransferConfig().size
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, random-weight VGG19")
    for size in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--child", str(size), "--input-size",
               str(args.input_size)]
        for item in args.set:
            cmd += ["--set", item]
        if args.masks:
            cmd.append("--masks")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            raise SystemExit(proc.returncode)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        t = r["timings"]
        finest = r["levels"][-1]
        paper = PAPER_ITERATIONS * finest["seconds_per_step"]
        steps = sum(lv["steps"] for lv in r["levels"])
        print(f"\nworking size {size}: output {r['output'][1]}x{r['output'][0]}, "
              f"wall {r['wall']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
              + (f", peak GPU memory {r['peak_gpu_mb']:.0f} MB" if r["peak_gpu_mb"] else "")
              + f" ({r['device']})")
        stages = ("load", "masks", "network", "prepare", "init", "targets", "laplacian",
                  "optimise", "smooth")
        print("  stages: " + ", ".join(f"{k} {t[k]:.2f} s" for k in stages if k in t))
        for lv in r["levels"]:
            print(f"  level {lv['size'][1]}x{lv['size'][0]}: {lv['steps']} steps, "
                  f"{lv['seconds_per_step']:.3f} s/step")
        print(f"  {steps} steps in all; the paper's schedule ({PAPER_ITERATIONS} L-BFGS "
              f"iterations at {finest['size'][1]}x{finest['size'][0]}) would take about "
              f"{paper / 60:.0f} min here: {paper / r['wall']:.0f}x longer")
        ok = r["wall"] <= TARGET_SECONDS and r["peak_rss_mb"] <= TARGET_MB
        verdict = "met" if ok else "MISSED"
        if size != default_size or args.set:
            verdict += " (the target is for the default settings; these are not)"
        print(f"  target ({TARGET_SECONDS:.0f} s, {TARGET_MB / 1024:.0f} GiB): {verdict}")


if __name__ == "__main__":
    main()
