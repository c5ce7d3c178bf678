"""photostyle transfer: one photo, or a batch (several contents or a folder, --out-dir)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from photostyle.cli.common import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    check_output_options,
    config_from_args,
    executor_from_args,
    output_options,
    print_lut,
    snapshot_folder,
    use_look,
    use_recorded_run,
)
from photostyle.cli.progress import BatchProgress, Progress
from photostyle.errors import PhotostyleError

log = logging.getLogger("photostyle")


def default_output(content: Path) -> Path:
    """Without ``-o``: ``<content>-styled.png`` beside the content photo (``.tif`` for a raw
    content, whose 16 bits a TIFF keeps)."""
    from photostyle.files.raw import is_raw

    return content.with_name(f"{content.stem}-styled{'.tif' if is_raw(content) else '.png'}")


def look_report(args: argparse.Namespace) -> dict[str, Any]:
    """The report's ``preset`` (and ``look``, when one was used)."""
    look = getattr(args, "look_stored", None)
    if look is None:
        return {"preset": args.preset or "default"}
    return {"preset": args.preset or look.preset, "look": {"name": look.name,
                                                            "folder": str(look.folder)}}


def cmd_transfer(args: argparse.Namespace) -> int:
    from photostyle.engine.network import weights_file
    from photostyle.engine.pipeline import transfer
    from photostyle.files.paths import Folder, check_writes
    from photostyle.files.writers import check_image_extension
    from photostyle.interrupts import deferred_interrupts
    from photostyle.runs.outputs import write_outputs

    use_recorded_run(args)
    use_look(args)
    config = config_from_args(args)
    options = output_options(args)
    if len(args.content) > 1 or args.out_dir or Path(args.content[0]).is_dir():
        return transfer_batch(args, config, options)
    if args.format:
        raise PhotostyleError("--format is for batches (--out-dir); give -o with the "
                              "extension you want")
    if args.executor != "local":
        raise PhotostyleError("--executor ray is for batches (several contents or a folder, "
                              "--out-dir) and ablations")
    content = args.content[0]
    output = check_image_extension(
        args.output if args.output else default_output(Path(content)))
    config = check_output_options(args, [output], config)
    reads = [("content image", content), ("style image", args.style),
             ("content mask", args.content_mask), ("style mask", args.style_mask)]
    reads.append(("VGG19 weights", weights_file(config.vgg_weights)))
    snapshots = snapshot_folder(output) if config.save_every else None
    folders = [Folder("snapshot folder", snapshots, "level*-*.png")] if snapshots else []
    check_writes(options.files(output), reads, folders)
    progress = Progress(enabled=not args.quiet)
    try:
        result = transfer(
            content, args.style, config, content_mask=args.content_mask,
            style_mask=args.style_mask, progress=progress, snapshot_dir=snapshots,
        )
    finally:
        progress.close()
    # A result exists: an interrupt from here on waits until the files are whole.
    with deferred_interrupts() as late:
        report = write_outputs(result, output, content, args.style, options,
                               config.max_pixels, look_report(args))
    where = f"{output}" + (f" (report {options.report_file(output)})"
                           if options.writes_report else "")
    if result.status == "interrupted" or late.received is not None:
        what = "best image so far" if result.status == "interrupted" else "finished result"
        print(f"photostyle: interrupted; {what} written to {where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "diverged":
        print(f"photostyle: error: {result.message}; last good image written to {where}",
              file=sys.stderr)
        return EXIT_DIVERGED
    if not args.quiet:
        print_lut(report)
        line = auto_masks_line(result.report.get("masks", {}))
        if line:
            print(line, file=sys.stderr)
        t = result.report["timings"]["total"]
        print(f"wrote {where} in {t:.1f} s", file=sys.stderr)
    return EXIT_OK


def auto_masks_line(masks: dict[str, Any]) -> str | None:
    """``masks: automatic (segmenter): 2 regions, blue content 41% / style 38%, ...`` for
    automatic masks; ``None`` for mask files or one label."""
    if masks.get("mode") != "auto":
        return None
    labels = masks.get("labels", {})
    regions = ", ".join(f"{name} content {a['content']:.0%} / style {a['style']:.0%}"
                        for name, a in labels.items())
    return (f"masks: automatic, by {masks.get('segmenter', masks.get('model'))}: "
            f"{len(labels)} region(s) ({regions}); to correct them: photostyle segment "
            "--content C --style S, then --content-mask/--style-mask")


def transfer_batch(args: argparse.Namespace, config: Any, options: Any) -> int:
    from photostyle.engine.network import weights_file
    from photostyle.files.paths import check_writes
    from photostyle.runs.batch import collect, format_summary, run_batch

    if args.output:
        raise PhotostyleError("-o names one output; a batch writes into --out-dir")
    if args.content_mask:
        raise PhotostyleError("--content-mask names one mask; in a batch each content's mask "
                              "is the file NAME-mask.png beside it")
    if options.lut:
        raise PhotostyleError("--lut FILE names one LUT; in a batch give --lut alone: each "
                          "output gets OUT.cube beside it")
    if config.save_every:
        raise PhotostyleError("--save-every is for one photo at a time")
    if not args.out_dir:
        raise PhotostyleError("several contents (or a folder) make a batch: give --out-dir")
    batch = collect(args.content, args.out_dir, args.format,
                    others={"style photo": args.style, "style mask": args.style_mask})
    config = check_output_options(args, [i.output for i in batch.items], config)
    writes = [f for item in batch.items for f in options.files(item.output)]
    reads: list[tuple[str, Any]] = [("content image", i.content) for i in batch.items]
    reads += [("content mask", i.mask) for i in batch.items if i.mask]
    reads += [("style image", args.style), ("style mask", args.style_mask),
              ("VGG19 weights", weights_file(config.vgg_weights))]
    check_writes(writes, reads)
    for path, why in batch.left_out:
        log.info("left out %s: %s", path, why)
    executor = executor_from_args(args)
    bar = BatchProgress(len(batch.items), enabled=not args.quiet)
    try:
        status = run_batch(batch, args.style, config, options, style_mask=args.style_mask,
                           on_item=bar.item, progress=bar.step, executor=executor)
    finally:
        bar.close()
        if executor is not None:
            executor.close()
    print(format_summary(batch))
    if status == "interrupted":
        print("photostyle: interrupted; finished photos are kept, re-run to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = sum(1 for i in batch.items if i.status == "failed")
    if failed:
        print(f"photostyle: {failed} of {len(batch.items)} photo(s) failed (see the table)",
              file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
