"""Run photostyle over the Deep Photo Style Transfer pairs and compare with the paper.

Usage (from the repository root, with ../shared present)::

    python scripts/evaluate_dpst.py --out runs/dpst --pairs 1,3,5 --set size=350
    python scripts/evaluate_dpst.py --out runs/dpst40-preview --preset preview

Each pair is transferred with the given settings and the ``../shared`` VGG19 weights
(layers up to relu3_4 only: a preset whose layers go deeper, such as ``paper``, runs with the
default layers instead: content relu3_1, style relu1_1, relu2_1, relu3_1), then our
output and the paper's own result (``results/best{i}_t_1000.png``) are scored with the same
measures (:mod:`photostyle.metrics`) against the content and style at the output size.
Prints a table (per pair and the mean) and writes ``metrics.csv``, ``metrics.json`` and a
contact sheet per pair (``sheet{i}.png``: content, style, the paper's result, ours).

``--reuse`` scores outputs already in ``--out`` (``out{i}.png``) instead of computing them
again, provided the settings recorded in its ``metrics.json`` are the ones asked for.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from photostyle import TransferConfig, transfer
from photostyle.engine.config import (
    BEFORE_ADDED,
    PRESETS,
    VERIFIED_CONTENT_LAYER,
    VERIFIED_STYLE_LAYERS,
    preset_config,
)
from photostyle.engine.layers import layer_index
from photostyle.engine.masks import align_labels, fit_to_image, read_mask
from photostyle.engine.metrics import evaluate_images
from photostyle.engine.network import embedded_covers, load_extractor
from photostyle.files.images import load_image, resize
from photostyle.files.writers import save_image
from photostyle.runs.ablate import TABLE_MEASURES as MEASURES
from photostyle.runs.sheets import write_contact_sheet

REPO = Path(__file__).resolve().parents[1]

SHARED = REPO.parent / "shared"
#: The layers a preset runs with when its own go deeper than ``../shared``'s weights.
SHALLOW = {"content_layer": VERIFIED_CONTENT_LAYER, "style_layers": VERIFIED_STYLE_LAYERS}


def needs_shallow(preset: str) -> bool:
    """True when preset ``preset`` names layers deeper than ``../shared``'s weights, which
    end where the embedded ones do (relu3_4)."""
    config = preset_config(preset)
    table = layer_index(config.network)
    deepest = max(table[n] for n in config.layers_in_use())
    return not embedded_covers(deepest, config.network)


def parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if "," in text:
        return tuple(parse_value(t) for t in text.split(","))
    return {"none": None, "true": True, "false": False}.get(text.lower(), text)


def pair_ids(dpst: Path) -> list[int]:
    return sorted(int(p.stem[2:]) for p in (dpst / "input").glob("in*.png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpst", type=Path, default=SHARED / "dpst")
    parser.add_argument("--weights", type=Path,
                        default=SHARED / "weights" / "vgg19-conv1_1-conv3_4-imagenet.pth")
    parser.add_argument("--pairs", default="all", help="comma-separated ids, or 'all'")
    parser.add_argument("--preset", default="default",
                        help="the settings' preset (photostyle transfer --preset)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a TransferConfig setting (repeatable)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "dpst")
    parser.add_argument("--masks", choices=("hand", "auto", "none"), default="hand",
                        help="the pairs' hand-made masks (default), the automatic masks of "
                             "the headline command (no mask files, --segment auto), or one "
                             "label (--segment none); scoring always uses the hand masks")
    parser.add_argument("--resume", action="store_true",
                        help="keep the pairs already scored in --out's metrics.partial.jsonl "
                             "(an interrupted run) and do only the others")
    parser.add_argument("--reuse", action="store_true",
                        help="score the outputs already in --out (same settings) again")
    parser.add_argument("--eval-size", type=int, default=700,
                        help="long side at which outputs are scored (the paper's results: 700)")
    args = parser.parse_args(argv)
    if not args.dpst.exists():
        print(f"no pairs at {args.dpst}", file=sys.stderr)
        return 2
    if args.preset not in PRESETS:
        print(f"unknown preset {args.preset!r}; presets: {', '.join(PRESETS)}", file=sys.stderr)
        return 2
    overrides: dict[str, Any] = dict(SHALLOW) if needs_shallow(args.preset) else {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.strip()] = parse_value(value.strip())
    if args.masks != "hand":
        overrides.setdefault("segment", args.masks)
    config = preset_config(args.preset, vgg_weights=str(args.weights), **overrides)
    ids = pair_ids(args.dpst) if args.pairs == "all" else [int(i) for i in args.pairs.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if args.reuse:
        recorded = json.loads((args.out / "metrics.json").read_text())
        # settings added since the run count as recorded at the value that behaves as
        # photostyle did before they existed (BEFORE_ADDED), else at their default
        recorded_config = {**TransferConfig().to_dict(), **BEFORE_ADDED, **recorded["config"]}
        differ = sorted(k for k, v in config.to_dict().items()
                        if json.dumps(recorded_config[k]) != json.dumps(v))
        if differ:
            print(f"--reuse: {args.out} was made with other settings ({', '.join(differ)})",
                  file=sys.stderr)
            return 2
        previous = {str(r["pair"]): r for r in recorded["rows"] if r["method"] == "ours"}
    layers = config.layers_in_use()
    extractor = load_extractor(layers, config.vgg_weights, network=config.network)
    rows: list[dict[str, Any]] = []
    cache: dict[Any, Any] = {}
    masks_used: dict[int, Any] = {}
    partial = args.out / "metrics.partial.jsonl"  # one line per scored image, as it comes
    done: set[int] = set()
    if args.resume and partial.exists():
        kept = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
        methods: dict[int, set[str]] = {}
        for row in kept:
            methods.setdefault(int(row["pair"]), set()).add(row["method"])
        done = {i for i, m in methods.items() if m == {"ours", "paper"} and i in ids}
        rows.extend(r for r in kept if int(r["pair"]) in done)
        partial.write_text("".join(json.dumps(r) + "\n" for r in rows))
        print(f"--resume: {len(done)} pair(s) kept from {partial}", flush=True)
    else:
        partial.unlink(missing_ok=True)
    for i in ids:
        if i in done:
            continue
        d = args.dpst
        c_path, s_path = d / "input" / f"in{i}.png", d / "style" / f"tar{i}.png"
        out_path = args.out / f"out{i}.png"
        if args.reuse and out_path.exists() and str(i) in previous:
            seconds = float(previous[str(i)]["seconds"])
        else:
            start = time.perf_counter()
            hand = args.masks == "hand"
            result = transfer(c_path, s_path, config,
                              content_mask=d / "seg_in" / f"in{i}.png" if hand else None,
                              style_mask=d / "seg_tar" / f"tar{i}.png" if hand else None,
                              extractor=extractor, cache=cache)
            if not hand:  # the masks the transfer made, beside its output
                masks_used[i] = result.report.get("masks", {})
            seconds = time.perf_counter() - start
            save_image(result.image, out_path)
        output = load_image(out_path)  # scored as written (8-bit), like the paper's PNGs
        content, style = load_image(c_path), load_image(s_path)
        masks = align_labels(
            fit_to_image(read_mask(d / "seg_in" / f"in{i}.png"), content.shape[:2], "c"),
            fit_to_image(read_mask(d / "seg_tar" / f"tar{i}.png"), style.shape[:2], "s"))
        paper = load_image(d / "results" / f"best{i}_t_1000.png")
        ours = output if output.shape == content.shape else resize(output, content.shape[:2])
        write_contact_sheet([("content", content), ("style", style), ("paper", paper),
                             ("ours", ours)], args.out / f"sheet{i}.png", height=240)
        for method, image in (("ours", ours), ("paper", paper)):
            m = evaluate_images(content, style, image, masks)
            row = {"pair": i, "method": method, **{k: round(float(m[k]), 4) for k in MEASURES},
                   "seconds": round(seconds, 2) if method == "ours" else None}
            rows.append(row)
            with partial.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"pair {i:>2} {method:>5}  " + "  ".join(f"{k}={row[k]:.3f}" for k in MEASURES)
                  + (f"  {seconds:.1f}s" if method == "ours" else ""), flush=True)
    print()
    summary: dict[str, dict[str, float]] = {}
    for method in ("ours", "paper"):
        sel = [r for r in rows if r["method"] == method]
        summary[method] = {k: float(np.mean([r[k] for r in sel])) for k in MEASURES}
        if method == "ours":
            summary[method]["seconds"] = float(np.mean([r["seconds"] for r in sel]))
        print(f"mean {method:>5}  " + "  ".join(f"{k}={v:.3f}" for k, v in
                                                summary[method].items()))
    with (args.out / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "metrics.json").write_text(json.dumps(
        {"config": config.to_dict(), "masks": args.masks, "pairs": ids, "rows": rows,
         "mean": summary, "masks_used": masks_used}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
