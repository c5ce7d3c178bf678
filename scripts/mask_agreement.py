"""How well automatic masks agree with the hand-made masks of the paper's pairs.

Usage (from the repository root, with ../shared present)::

    python scripts/mask_agreement.py                     # the built-in segmenter, 3 regions
    python scripts/mask_agreement.py --regions 1,2,3,4   # and other region counts
    python scripts/mask_agreement.py --regions 2 --inside-weight 0   # the segmenter before
    python scripts/mask_agreement.py --no-snap --json runs/agreement.json

Agreement is the share of pixels whose automatic label is matched to their hand label, with
one matching for both photos of a pair (an automatic label stands for one hand label in the
content and in the style alike, as the transfer uses them), chosen one to one to maximise the
agreement (the Hungarian algorithm on the confusion matrix; each photo weighs the same).
One label for everything scores the share of the largest hand region: that is the baseline.
Pixels that the hand masks leave unlabelled (anti-aliased edges) are not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photostyle.engine.autoseg import INSIDE_WEIGHT, REGIONS, FeatureSegmenter  # noqa: E402
from photostyle.engine.masks import fit_to_image, read_mask  # noqa: E402
from photostyle.files.images import load_image  # noqa: E402

SHARED = REPO.parent / "shared"


def agreement(auto: list[np.ndarray], hand: list[np.ndarray]) -> float:
    """Joint one-to-one agreement of automatic ids with hand ids (both ``-1`` = none) over
    the photos of one pair, each photo weighing the same; in [0, 1]."""
    from scipy.optimize import linear_sum_assignment

    k = max(int(a.max()) for a in auto) + 1
    n = max(int(h.max()) for h in hand) + 1
    confusion = np.zeros((k, n))
    for a, h in zip(auto, hand, strict=True):
        ok = (h >= 0) & (a >= 0)
        np.add.at(confusion, (a[ok], h[ok]), 1.0 / max(int(ok.sum()), 1))
    rows, cols = linear_sum_assignment(-confusion)
    return float(confusion[rows, cols].sum() / len(auto))


def hand_ids(dpst: Path, i: int, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """The pair's hand masks as ids into one shared list of names."""
    maps = [fit_to_image(read_mask(dpst / sub / f"{stem}{i}.png"), shape, stem)
            for (sub, stem), shape in zip((("seg_in", "in"), ("seg_tar", "tar")), shapes,
                                          strict=True)]
    names = sorted(set(maps[0].names) | set(maps[1].names))
    out = []
    for m in maps:
        table = np.array([names.index(n) for n in m.names] + [-1], np.int32)
        out.append(table[m.ids])  # -1 indexes the last entry: unlabelled stays -1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpst", type=Path, default=SHARED / "dpst")
    parser.add_argument("--regions", default=str(REGIONS), help="comma-separated region counts")
    parser.add_argument("--inside-weight", type=float, default=INSIDE_WEIGHT,
                        help="weight of the distance from the photo's edges (default "
                        "%(default)s)")
    parser.add_argument("--no-snap", action="store_true", help="borders not snapped to edges")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if not args.dpst.exists():
        print(f"no pairs at {args.dpst}", file=sys.stderr)
        return 2
    counts = [int(v) for v in args.regions.split(",")]
    ids = sorted(int(p.stem[2:]) for p in (args.dpst / "input").glob("in*.png"))
    segmenter = FeatureSegmenter.load()
    rows = []
    for i in ids:
        photos = [load_image(args.dpst / "input" / f"in{i}.png"),
                  load_image(args.dpst / "style" / f"tar{i}.png")]
        hand = hand_ids(args.dpst, i, [p.shape[:2] for p in photos])
        row = {"pair": i, "one label": agreement([np.zeros_like(h) for h in hand], hand)}
        for k in counts:
            start = time.perf_counter()
            maps = segmenter.segment_images(photos, ["content", "style"], regions=k,
                                            snap_edges=not args.no_snap,
                                            inside_weight=args.inside_weight)
            row[f"{k} regions"] = agreement([m.ids for m in maps], hand)
            row[f"{k} regions seconds"] = time.perf_counter() - start
            row[f"{k} regions found"] = len(maps[0].names)
        rows.append(row)
        print(f"pair {i:>2}  one label {row['one label']:.3f}  " + "  ".join(
            f"{k}: {row[f'{k} regions']:.3f}" for k in counts), flush=True)
    print()
    keys = ["one label", *(f"{k} regions" for k in counts)]
    for key in keys:
        values = np.array([r[key] for r in rows])
        better = sum(r[key] > r["one label"] + 1e-9 for r in rows)
        print(f"{key:>10}: mean {values.mean():.3f}, median {np.median(values):.3f}"
              + ("" if key == "one label" else f", above one label on {better}/{len(rows)}"))
    for k in counts:
        print(f"{k} regions: {np.mean([r[f'{k} regions seconds'] for r in rows]):.2f} s a pair")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
