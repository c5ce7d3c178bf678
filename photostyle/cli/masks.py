"""photostyle masks (a preview of masks and their report) and photostyle segment (masks
made automatically)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from photostyle.cli.common import EXIT_OK
from photostyle.errors import ConfigError, PhotostyleError


def cmd_masks(args: argparse.Namespace) -> int:
    from photostyle.engine.config import TransferConfig
    from photostyle.engine.masks import load_mask_pair, read_mask
    from photostyle.engine.preview import render_preview
    from photostyle.files.images import load_image
    from photostyle.files.paths import check_writes
    from photostyle.files.writers import check_image_extension

    config = TransferConfig(orphan_policy=args.orphan_policy,
                            min_label_fraction=args.min_label_fraction,
                            mask_tolerance=args.mask_tolerance, max_pixels=args.max_pixels)
    output = check_image_extension(args.output, "preview")
    check_writes([("preview", output)],
                 [("content mask", args.content_mask), ("style mask", args.style_mask),
                  ("content image", args.content), ("style image", args.style)])
    content = load_image(args.content, max_pixels=config.max_pixels,
                         what="content image") if args.content else None
    style = load_image(args.style, max_pixels=config.max_pixels,
                       what="style image") if args.style else None
    c = read_mask(args.content_mask, tolerance=config.mask_tolerance,
                  max_pixels=config.max_pixels)
    s = read_mask(args.style_mask, tolerance=config.mask_tolerance, max_pixels=config.max_pixels)
    masks = load_mask_pair(c, s, content.shape[:2] if content is not None else c.shape,
                           style.shape[:2] if style is not None else s.shape,
                           orphan_policy=config.orphan_policy,
                           min_fraction=config.min_label_fraction)
    sheet = render_preview(masks, content, style)
    from photostyle.files.writers import atomic_write

    with atomic_write(output) as handle:
        sheet.save(handle, format="PNG")
    print(f"{c.kind} masks: {len(masks.labels)} shared label(s)")
    for kind, name, content_share, style_share, why in masks.summary():
        if kind == "dropped":
            print(f"  {name:<12} dropped: {why}")
            continue
        orphan = "  (orphan: whole style image)" if kind == "orphan" else ""
        print(f"  {name:<12} content {content_share:6.1%}  style {style_share:6.1%}{orphan}")
    print(f"preview written to {output}")
    return EXIT_OK


def cmd_segment(args: argparse.Namespace) -> int:
    from photostyle.engine.config import TransferConfig
    from photostyle.engine.masks import align_labels
    from photostyle.engine.network import resolve_device
    from photostyle.engine.pipeline import load_segmenter, segmenter_description
    from photostyle.engine.segment import legend_text, write_mask
    from photostyle.files.images import load_image
    from photostyle.files.paths import check_writes
    from photostyle.files.writers import check_image_extension

    if args.content is not None and args.style is None and args.image is None:
        args.image, args.content = args.content, None  # -c PHOTO alone: one photo
        if args.content_out is not None:
            args.output, args.content_out = args.output or args.content_out, None
    pair = args.content is not None or args.style is not None
    if pair and (args.content is None or args.style is None or args.image is not None):
        raise PhotostyleError("give one IMAGE (or -c IMAGE), or both --content and --style")
    if not pair and args.image is None:
        raise PhotostyleError("give an IMAGE to segment, or --content and --style")
    jobs = [(args.content, args.content_out), (args.style, args.style_out)] if pair else [
        (args.image, args.output)]
    if not (math.isfinite(args.min_fragment) and 0.0 <= args.min_fragment < 0.5):
        raise ConfigError(f"--min-fragment: must be a share of the image from 0 to below 0.5, "
                          f"got {args.min_fragment}")
    TransferConfig(max_pixels=args.max_pixels)  # validates it, naming the setting
    names = ["content mask", "style mask"] if pair else ["mask"]
    targets = [check_image_extension(out or Path(src).with_name(f"{Path(src).stem}-mask.png"),
                                     what)
               for (src, out), what in zip(jobs, names, strict=True)]
    legend = targets[0].with_name(targets[0].stem + "-legend.txt")
    check_writes([*zip(names, targets, strict=True), ("legend", legend)],
                 [("image", src) for src, _ in jobs])
    images = [load_image(src, max_pixels=args.max_pixels, what="image") for src, _ in jobs]
    segmenter = load_segmenter(args.seg_model, resolve_device(args.device))
    from photostyle.engine.autoseg import NAME

    builtin = args.seg_model == NAME
    options: dict[str, Any] = {"min_fragment": args.min_fragment,
                               "snap_edges": not args.no_snap}
    if builtin:
        TransferConfig(seg_regions=args.regions)  # validates it, naming the setting
        options["regions"] = args.regions
    if pair:  # together: the built-in segmenter's labels match only when made so
        maps = list(segmenter.segment_pair(images[0], images[1], **options))
    else:
        maps = [segmenter.label_map(images[0], str(jobs[0][0]), **options)]
    print(f"segmenter: {segmenter_description(args.seg_model)}")
    if pair:
        masks = align_labels(maps[0], maps[1], min_fraction=args.min_fragment)
        for name in masks.report["orphans"]:
            print(f"note: {name} is in the content only (styled from the whole style image)")
    for labels, target, seconds in zip(maps, targets, segmenter.seconds, strict=True):
        write_mask(labels, target)
        areas = ", ".join(f"{n} {a:.0%}" for n, a in labels.areas().items())
        print(f"wrote {target} ({seconds:.1f} s): {areas}")
    from photostyle.engine.autoseg import legend as builtin_legend
    from photostyle.files.writers import atomic_write

    with atomic_write(legend, "w") as handle:
        handle.write((builtin_legend(args.regions) if builtin else legend_text()) + "\n")
    print(f"legend in {legend}" if builtin else
          f"legend (colour = group: ADE20K classes) in {legend}")
    return EXIT_OK
