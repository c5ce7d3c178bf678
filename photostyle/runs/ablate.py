"""Ablations: run the cartesian product of settings over pairs, score and tabulate them.

``run_ablation`` shares work between variants (the network is loaded once; the matting
Laplacians are cached per content and level), names every output after its variant, and
records each finished (pair, variant) in ``results.jsonl`` keyed by a digest of the full
settings: re-running skips what is finished, and an interruption loses at most the variant
that was running.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import os
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from photostyle.engine.config import TransferConfig, parse_setting
from photostyle.engine.masks import load_mask_pair
from photostyle.errors import ConfigError, InputError
from photostyle.files.images import load_image
from photostyle.files.writers import atomic_write, save_image, save_json
from photostyle.interrupts import deferred_interrupts
from photostyle.runs.sheets import write_contact_sheet

if TYPE_CHECKING:
    from photostyle.runs.executors import Executor

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
#: Measures tabulated per variant (see :mod:`photostyle.metrics`).
MEASURES = ("style_sw", "style_frechet", "style_closed", "structure_ssim", "affine_residual",
            "flat_paint")
#: The measures the result tables of ``scripts/`` print (``style_closed`` left out).
TABLE_MEASURES = ("style_sw", "style_frechet", "structure_ssim", "affine_residual",
                  "flat_paint")
def measures_in(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The :data:`TABLE_MEASURES` that every row has (runs older than a measure lack it)."""
    return tuple(m for m in TABLE_MEASURES if all(m in r for r in rows))


#: The measures where a higher value is better (for the others, lower is).
HIGHER_IS_BETTER = frozenset({"structure_ssim"})


@dataclass(frozen=True)
class Pair:
    """One content/style pair (masks optional)."""

    name: str
    content: Path
    style: Path
    content_mask: Path | None = None
    style_mask: Path | None = None
    reference: Path | None = None


#: Variant name of a pair's published result (``results/best{i}*``), scored like the others.
REFERENCE = "published"


def _find_reference(folder: Path, key: str) -> Path | None:
    """``best{key}.ext`` or ``best{key}_*.ext`` (e.g. DPST's ``best3_t_1000.png``)."""
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_EXTENSIONS
                   and (p.stem == f"best{key}" or p.stem.startswith(f"best{key}_")))
    return found[0] if found else None


def _find(folder: Path, stem: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        candidate = folder / f"{stem}{ext}"
        if candidate.exists():
            return candidate
    return None


def find_pairs(folder: str | os.PathLike) -> list[Pair]:
    """Pairs in this layout: ``input/in{i}``, ``style/tar{i}``, ``seg_in/in{i}``,
    ``seg_tar/tar{i}`` (masks optional), sorted by ``i``, with a published result
    ``results/best{i}*`` (optional) as the pair's ``reference``; or in the original
    Deep Photo Style Transfer repository's, as it is: ``examples/input/in{i}``,
    ``examples/style/tar{i}``, ``examples/segmentation/in{i}`` and ``tar{i}``,
    ``examples/final_results/best{i}*`` (the repository's folder or its ``examples/``).

    Raises:
        InputError: the folder is missing or holds no pair.
    """
    root = Path(folder)
    if (root / "examples" / "input").is_dir():
        root = root / "examples"
    if not (root / "input").is_dir() or not (root / "style").is_dir():
        raise InputError(f"pairs folder {root}: expected subfolders input/ and style/ (or "
                         "examples/input and examples/style, the original repository's)")
    seg_in, seg_tar, results = root / "seg_in", root / "seg_tar", root / "results"
    if not seg_in.is_dir() and (root / "segmentation").is_dir():  # the original layout
        seg_in = seg_tar = root / "segmentation"
    if not results.is_dir() and (root / "final_results").is_dir():
        results = root / "final_results"
    pairs = []
    for content in (root / "input").iterdir():
        m = re.fullmatch(r"in(\w+)", content.stem)
        if not m or content.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        key = m.group(1)
        style = _find(root / "style", f"tar{key}")
        if style is None:
            log.warning("pair %s: no style/tar%s image; skipped", key, key)
            continue
        pairs.append(Pair(f"in{key}", content, style, _find(seg_in, f"in{key}"),
                          _find(seg_tar, f"tar{key}"), _find_reference(results, key)))
    if not pairs:
        raise InputError(f"pairs folder {root}: no input/in*/style/tar* pair found")

    def order(p: Pair) -> tuple[int, str]:
        digits = p.name[2:]
        return (int(digits), "") if digits.isdigit() else (10**9, digits)

    return sorted(pairs, key=order)


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["matting_weight=0,1e4", "smooth=local-affine,none"]`` to ``{key: [values]}``.

    Alternatives are separated by commas; inside one value ``+`` joins list items
    (``style_layers=relu1_1+relu2_1,relu1_1``; ``hist_layers`` likewise).
    """
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise ConfigError(f"vary: expected KEY=V1,V2,...; got {item!r}")
        key = key.strip().replace("-", "_")
        if key in out:
            raise ConfigError(f"vary: {key} is given twice; list all its values in one --vary")
        parsed: list[Any] = []
        for text in values.split(","):
            value = parse_setting(key, text)
            if any(_same_value(value, seen) for seen in parsed):
                log.warning("vary: %s=%s repeats a value already listed; run once", key,
                            text.strip())
                continue
            parsed.append(value)
        out[key] = parsed
    return out


def _same_value(a: Any, b: Any) -> bool:
    """Equal settings, whatever their spelling (``0.001`` and ``1e-3``, ``1`` and ``1.0``)."""
    return type(a) is type(b) and a == b


def parse_exclude(items: Sequence[str], vary: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """``["style_weight=0,hist_weight=0"]`` to ``[{key: value}]``: each item names the
    combination (every ``KEY=VALUE`` in it at once) of varied settings not to run.

    Raises:
        ConfigError: a malformed item, a key that is not varied, or a value that is not one
            of its ``--vary`` values (a typo would otherwise exclude nothing, silently).
    """
    out: list[dict[str, Any]] = []
    for item in items:
        combo: dict[str, Any] = {}
        for part in item.split(","):
            key, sep, text = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not key or not text.strip():
                raise ConfigError(f"exclude: expected KEY=VALUE,KEY=VALUE,...; got {item!r}")
            if key not in vary:
                raise ConfigError(f"exclude: {key} is not varied; --exclude names values of "
                                  "--vary settings")
            value = parse_setting(key, text)
            if not any(_same_value(value, v) for v in vary[key]):
                raise ConfigError(f"exclude: {key}={text.strip()} is not one of its --vary "
                                  f"values ({', '.join(_format(v) for v in vary[key])})")
            combo[key] = value
        out.append(combo)
    return out


def expand(vary: dict[str, list[Any]],
           exclude: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The cartesian product of the varied settings (stable order), less the combinations
    that match every setting of one of ``exclude`` (see :func:`parse_exclude`).

    Raises:
        ConfigError: the exclusions leave no variant.
    """
    if not vary:
        return [{}]
    keys = list(vary)
    combos = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vary.values())]
    kept = [c for c in combos
            if not any(all(_same_value(c[k], v) for k, v in ex.items()) for ex in exclude)]
    if not kept:
        raise ConfigError("exclude: every variant is excluded; nothing to run")
    return kept


def _format(value: Any) -> str:
    """A value as text: short (``1e-05``) where that reads back as the same number, else
    every digit needed (``0.0010001``), so two values never print the same."""
    if isinstance(value, tuple | list):
        return "+".join(_format(v) for v in value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def variant_name(variant: dict[str, Any]) -> str:
    """File-safe name of a variant, e.g. ``matting_weight=0__smooth=none``."""
    if not variant:
        return "default"
    parts = [f"{k}={_format(v)}" for k, v in variant.items()]
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", "__".join(parts))[:200]


def variant_names(variants: Sequence[dict[str, Any]]) -> list[str]:
    """:func:`variant_name` of each variant, checked to be distinct (their files and rows
    would otherwise overwrite and double-count each other).

    Raises:
        ConfigError: two variants would get the same name.
    """
    names = [variant_name(v) for v in variants]
    seen: dict[str, dict[str, Any]] = {}
    for name, variant in zip(names, variants, strict=True):
        if name in seen:
            raise ConfigError(f"vary: the variants {seen[name]} and {variant} would share the "
                              f"file name {name!r}; give values that differ in letters or "
                              "digits")
        seen[name] = variant
    return names


def planned_files(pairs: Sequence[Pair], names: Sequence[str],
                  out: Path) -> list[tuple[str, Path]]:
    """Every file an ablation writes under ``out`` (``(what, path)``)."""
    files = [("results file", out / "results.jsonl"), ("table", out / "metrics.csv"),
             ("table", out / "aggregate.csv"), ("table", out / "metrics.json"),
             ("chart", out / CHART)]
    for pair in pairs:
        files.append(("contact sheet", out / f"sheet_{pair.name}.png"))
        for name in names:
            files.append(("variant image", out / pair.name / f"{name}.png"))
            files.append(("variant report", out / pair.name / f"{name}.json"))
    return files


def pair_files(pair: Pair) -> list[tuple[str, Path | None]]:
    """Every file of a pair that an ablation reads (``(what, path)``; absent ones ``None``)."""
    return [(f"pair {pair.name} content", pair.content), (f"pair {pair.name} style", pair.style),
            (f"pair {pair.name} content mask", pair.content_mask),
            (f"pair {pair.name} style mask", pair.style_mask),
            (f"pair {pair.name} published result", pair.reference)]


def settings_key(pair: Pair, config: TransferConfig, masks_mode: str) -> str:
    """Digest of everything that determines a result."""
    payload = {
        "content": str(pair.content), "style": str(pair.style),
        "content_mask": str(pair.content_mask), "style_mask": str(pair.style_mask),
        "masks": masks_mode, "config": config.to_dict(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class AblationResult:
    """Rows of finished (pair, variant) results and where the files are."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    status: str = "completed"
    out_dir: Path = Path(".")
    skipped: int = 0


def read_results(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of an ablation folder's ``results.jsonl`` (pair, variant, measures, time),
    in the order they finished; a line cut short by a crash is skipped."""
    path = Path(out_dir) / "results.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # that variant is simply redone on the next run
    return rows


def _read_done(path: Path) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in read_results(path.parent)}


def _append(path: Path, row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(row, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def mask_files(pair: Pair, mode: str) -> tuple[Path | None, Path | None]:
    """The ``content_mask``/``style_mask`` arguments of a transfer for a mask mode.

    ``none`` and ``auto`` give no files: the variant's ``segment`` setting decides whether
    :func:`photostyle.transfer` segments (its model is kept in the shared cache).
    """
    if mode != "manual":
        return None, None
    if pair.content_mask is None or pair.style_mask is None:
        raise InputError(f"pair {pair.name}: masks=manual but its mask files are missing")
    return pair.content_mask, pair.style_mask


def run_ablation(
    pairs: Sequence[Pair],
    base: TransferConfig,
    vary: dict[str, list[Any]],
    out_dir: str | os.PathLike,
    *,
    progress: Callable[[str], None] | None = None,
    transfer_progress: Callable[..., None] | None = None,
    executor: Executor | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    exclude: Sequence[dict[str, Any]] = (),
) -> AblationResult:
    """Run every variant on every pair; write images, sheets and tables under ``out_dir``.

    Args:
        pairs: the pairs.
        base: settings shared by all variants.
        vary: settings to vary (``masks`` takes ``manual``, ``none``, ``auto``).
        out_dir: output folder (``{pair}/{variant}.png``, ``results.jsonl``, sheets, CSV).
        progress: called with a line of text as each variant is handed out.
        transfer_progress: passed to :func:`photostyle.transfer` as ``progress`` (local
            executor only).
        executor: where the transfers run (:mod:`photostyle.executors`); default: this
            process. Whichever runs them, this function writes every file.
        on_done: called with each finished variant's row.
        exclude: combinations of the varied settings not to run (:func:`parse_exclude`).
    """
    from photostyle.engine.masks import read_mask
    from photostyle.engine.network import weights_file
    from photostyle.files.paths import Folder, check_writes
    from photostyle.runs.executors import LocalExecutor, Task

    out = Path(out_dir)
    variants = expand(vary, exclude)
    names = variant_names(variants)
    if len({p.name for p in pairs}) != len(pairs):
        raise ConfigError("pairs: two pairs have the same name; their outputs would collide")
    reads: list[tuple[str, str | os.PathLike | None]] = [
        item for pair in pairs for item in pair_files(pair)]
    reads.append(("VGG19 weights", weights_file(base.vgg_weights)))
    check_writes(planned_files(pairs, names, out), reads,
                 [Folder("ablation folder", out, None)])
    configs = []
    for variant in variants:
        settings = {k: v for k, v in variant.items() if k != "masks"}
        if "masks" in variant:  # masks=auto segments; manual and none do not
            settings["segment"] = "auto" if variant["masks"] == "auto" else "none"
        try:
            configs.append(base.replace(**settings))
        except TypeError as exc:
            raise ConfigError(str(exc)) from None
    layers: list[str] = []
    for cfg in configs:
        layers += cfg.layers_in_use()
    layers = list(dict.fromkeys(layers))
    results_path = out / "results.jsonl"
    done = _read_done(results_path)
    result = AblationResult(out_dir=out)
    default_mode = "manual" if all(p.content_mask and p.style_mask for p in pairs) else (
        "auto" if base.segment == "auto" else "none")
    # What is left to run, pair by pair (cheap: no image is read for this).
    plan: list[tuple[Pair, list[tuple[Any, ...]]]] = []
    for pair in pairs:
        pending = []
        for variant, cfg, name in zip(variants, configs, names, strict=True):
            mode = variant.get("masks", default_mode)
            key = settings_key(pair, cfg, mode)
            image_path = out / pair.name / f"{name}.png"
            if key in done and image_path.exists():
                result.rows.append(done[key])
                result.skipped += 1
            else:
                pending.append((variant, cfg, name, mode, key, image_path))
        plan.append((pair, pending))
    # A pair's pixels and masks are read when its first variant is handed out and let go
    # once its last is written (with its contact sheet), so memory holds the pairs in work.
    inputs: dict[str, tuple[np.ndarray, np.ndarray, Any]] = {}
    remaining: dict[str, int] = {}

    def handed_out() -> Any:
        for pair, pending in plan:
            content = load_image(pair.content, max_pixels=base.max_pixels,
                                 what="content image")
            style = load_image(pair.style, max_pixels=base.max_pixels, what="style image")
            # Every variant is scored against the same regions: the pair's own masks when
            # it has them (whatever masks the variant used), else the whole image.
            score_masks = load_mask_pair(
                pair.content_mask, pair.style_mask, content.shape[:2], style.shape[:2],
                tolerance=base.mask_tolerance, max_pixels=base.max_pixels,
                orphan_policy=base.orphan_policy, min_fraction=base.min_label_fraction)
            if pair.reference is not None:
                _score_reference(pair, pair.reference, content, style, score_masks, done,
                                 results_path, result)
            if not pending:
                _contact_sheet(pair, content, style, names, out)
                continue
            inputs[pair.name], remaining[pair.name] = (content, style, score_masks), len(pending)
            for variant, cfg, name, mode, key, image_path in pending:
                c_mask, s_mask = mask_files(pair, mode)
                masks = [read_mask(m, tolerance=cfg.mask_tolerance, max_pixels=cfg.max_pixels)
                         if m is not None else None for m in (c_mask, s_mask)]
                if progress is not None:
                    progress(f"{pair.name} {name}")
                yield Task(key, content, style, cfg, masks[0], masks[1],
                           (pair, variant, name, image_path))

    own = executor is None
    executor = executor or LocalExecutor(progress=transfer_progress)
    try:
        if any(pending for _, pending in plan):
            executor.preload(base, layers)
        try:
            for outcome in executor.run(handed_out()):
                pair, variant, name, image_path = outcome.task.data
                if outcome.error:
                    raise (InputError if outcome.kind == "input" else RuntimeError)(
                        f"pair {pair.name}, variant {name}: {outcome.error}")
                run = outcome.result
                if run.status == "interrupted":
                    result.status = "interrupted"
                    break
                content, style, score_masks = inputs[pair.name]
                # Finished: an interrupt now waits until it is written and counted.
                with deferred_interrupts() as late:
                    row = _write_variant(run, outcome.task.key, pair, variant, name,
                                         image_path, out, content, style, score_masks)
                    _append(results_path, row)
                    result.rows.append(row)
                    remaining[pair.name] -= 1
                    if remaining[pair.name] == 0:
                        _contact_sheet(pair, content, style, names, out)
                        del inputs[pair.name]
                if on_done is not None:
                    on_done(row)
                if late.received is not None:
                    result.status = "interrupted"
                    break
        except KeyboardInterrupt:
            result.status = "interrupted"
    finally:
        if own:
            executor.close()
    with deferred_interrupts():
        write_tables(result.rows, out)
    return result


def _write_variant(run: Any, key: str, pair: Pair, variant: dict[str, Any], name: str,
                   image_path: Path, out: Path, content: np.ndarray, style: np.ndarray,
                   score_masks: Any) -> dict[str, Any]:
    """Write a finished variant's image and report; its row of measures."""
    from photostyle.engine.metrics import evaluate_images

    image_path.parent.mkdir(parents=True, exist_ok=True)
    save_image(run.image, image_path)
    save_json(run.report, image_path.with_suffix(".json"))
    metrics = evaluate_images(content, style, run.image, score_masks)
    return {
        "key": key, "pair": pair.name, "variant": name,
        **{k: _format(v) for k, v in variant.items()},
        **{k: round(float(metrics[k]), 5) for k in MEASURES},
        "seconds": round(run.report["timings"]["total"], 3),
        "evaluations": run.report["evaluations"], "status": run.status,
        "image": str(image_path.relative_to(out)),
    }


def _score_reference(pair: Pair, reference: Path, content: np.ndarray, style: np.ndarray,
                     masks: Any, done: dict[str, dict[str, Any]], results_path: Path,
                     result: AblationResult) -> None:
    """Score the pair's published result with the same measures (row ``published``)."""
    from photostyle.engine.metrics import evaluate_images

    key = hashlib.sha256(
        f"{REFERENCE}|{reference}|{reference.stat().st_size}|{pair.content_mask}".encode()
    ).hexdigest()
    if key in done:
        result.rows.append(done[key])
        return
    image = load_image(reference, what="published result")
    metrics = evaluate_images(content, style, image, masks)
    row = {
        "key": key, "pair": pair.name, "variant": REFERENCE,
        **{k: round(float(metrics[k]), 5) for k in MEASURES},
        "seconds": None, "evaluations": None, "status": "published",
        "image": str(reference),
    }
    _append(results_path, row)
    result.rows.append(row)


def _contact_sheet(pair: Pair, content: np.ndarray, style: np.ndarray,
                   names: Sequence[str], out: Path) -> Path:
    from PIL import Image

    tiles: list[tuple[str, Any]] = [("content", content), ("style", style)]
    if pair.reference is not None:
        with Image.open(pair.reference) as opened:
            tiles.append((REFERENCE, opened.convert("RGB")))
    for name in names:
        path = out / pair.name / f"{name}.png"
        if path.exists():
            with Image.open(path) as opened:
                tiles.append((name, opened.convert("RGB")))
    return write_contact_sheet(tiles, out / f"sheet_{pair.name}.png")


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and median of every measure (and time) per variant, over pairs."""
    # a (pair, variant) counts once, with its latest row
    latest = {(row.get("pair", i), row["variant"]): row for i, row in enumerate(rows)}
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for row in latest.values():
        by_variant.setdefault(row["variant"], []).append(row)
    table = []
    for name, sel in by_variant.items():
        entry: dict[str, Any] = {"variant": name, "pairs": len(sel)}
        for key in (*MEASURES, "seconds"):
            values = [float(r[key]) for r in sel if r.get(key) is not None]
            entry[f"{key}_mean"] = round(statistics.fmean(values), 5) if values else None
            entry[f"{key}_median"] = round(statistics.median(values), 5) if values else None
        table.append(entry)
    return table


def write_tables(rows: list[dict[str, Any]], out: Path) -> None:
    """``metrics.csv``/``metrics.json`` (per pair and variant) and ``aggregate.csv``."""
    if not rows:
        return
    fieldnames = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_write(out / "metrics.csv", "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    table = aggregate(rows)
    with atomic_write(out / "aggregate.csv", "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    with atomic_write(out / "metrics.json", "w") as handle:
        json.dump({"rows": rows, "aggregate": table}, handle, indent=2)
    image = chart(rows)
    if image is not None:
        with atomic_write(out / CHART, "wb") as handle:
            image.save(handle, format="PNG")


#: The chart an ablation writes beside its tables.
CHART = "chart.png"

#: How the chart names each measure.
MEASURE_NAMES = {"style_sw": "style distance (SW)", "style_frechet": "style Fréchet",
                 "style_closed": "style (closed form)", "structure_ssim": "gradient SSIM",
                 "affine_residual": "local affine residual", "flat_paint": "flat-region paint"}


def chart(rows: list[dict[str, Any]],
          label: Callable[[str], str] = lambda v: v.replace("__", ", ")) -> Any:
    """A PIL image: one panel per measure of :data:`TABLE_MEASURES`, a bar per variant
    (mean ± standard error over the pairs that every variant finished; ``label`` names it
    in the legend), the published results as a dashed line; ``None`` when no pair was
    finished by every variant."""
    from photostyle.runs.plots import bar_chart, mean_se

    latest = {(r.get("pair"), r["variant"]): r for r in rows
              if r.get("status", "completed") in ("completed", "published")}
    shown = list(dict.fromkeys(v for _, v in latest if v != REFERENCE))
    pairs = [p for p in dict.fromkeys(p for p, _ in latest)
             if all((p, v) in latest for v in shown)]
    measures = [m for m in TABLE_MEASURES
                if all(latest[(p, v)].get(m) is not None for p in pairs for v in shown)]
    if not shown or not pairs or not measures:
        return None
    # the published results are drawn when every pair charted has one
    variants = shown + ([REFERENCE] if all((p, REFERENCE) in latest for p in pairs) else [])
    stats = {v: {m: mean_se([float(latest[(p, v)][m]) for p in pairs]) for m in measures}
             for v in variants}
    reference = ({m: stats[REFERENCE][m][0] for m in measures} if REFERENCE in stats
                 else None)
    return bar_chart(shown, {v: label(v) for v in shown},
                     [(m, MEASURE_NAMES.get(m, m), m not in HIGHER_IS_BETTER)
                      for m in measures], stats, reference,
                     f"Mean over {len(pairs)} pair(s) (whiskers: ± standard error)"
                     + ("; dashed: the published results" if reference else ""))


def format_aggregate(rows: list[dict[str, Any]]) -> str:
    """The aggregate table as text (means, with medians in brackets)."""
    table = aggregate(rows)
    if not table:
        return "no results"
    width = max(len(t["variant"]) for t in table)
    head = f"{'variant':<{width}}  " + "  ".join(f"{m:>22}" for m in (*MEASURES, "seconds"))
    lines = [head]
    for t in table:
        lines.append(f"{t['variant']:<{width}}  " + "  ".join(
            f"{t[m + '_mean']:>10.4g} ({t[m + '_median']:>8.4g})" if t[m + "_mean"] is not None
            else f"{'-':>21}" for m in (*MEASURES, "seconds")))
    return "\n".join(lines)
