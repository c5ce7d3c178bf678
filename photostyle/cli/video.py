"""photostyle video: a style photo's look carried through a clip."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from photostyle.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    VIDEO_SUFFIXES,
    settings_from_args,
    use_look,
)
from photostyle.errors import ConfigError


def cmd_video(args: argparse.Namespace) -> int:
    from photostyle.engine.config import preset_config
    from photostyle.files.writers import save_json
    from photostyle.interrupts import deferred_interrupts
    from photostyle.runs.video.clip import (
        VideoSink,
        VideoSource,
        default_codec,
        pixel_format,
    )
    from photostyle.runs.video.method import KeyframePolicy, VideoOptions, stylise_clip

    output = Path(args.output)
    if output.suffix and output.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"output {output}: give a video ({', '.join(VIDEO_SUFFIXES)}) or a "
                          "folder (no extension) for frames")
    content = Path(args.content)
    given = settings_from_args(args, ("vgg_weights", "device", "network", "segment", "seg_model",
                             "size", "strength"))
    if args.keyframe_masks:
        given.setdefault("segment", "none")
    use_look(args)
    if args.look:
        from photostyle.runs.looks import resolve_config

        config = resolve_config(given, args.preset, args.look_stored)
    else:
        config = preset_config(args.preset or "default", **given)
    options = VideoOptions(args.method, KeyframePolicy(args.drift, args.cut, args.max_gap,
                                                       args.blend),
                           Path(args.keyframe_masks) if args.keyframe_masks else None,
                           Path(args.style_mask) if args.style_mask else None,
                           measure=not args.no_measure)
    source = VideoSource(content, fps=args.fps, max_pixels=args.max_pixels)
    report_file, lut_file = _check_paths(args, output, source, options, config)
    info = source.info
    codec = args.codec or default_codec(info.bit_depth)
    sink = VideoSink(output, info, None if source.files else content, codec, args.crf)
    bar: Any = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=source.expected or None, unit="frame", file=sys.stderr,
                   dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30.0)

    def progress(index: int, total: int, key: bool) -> None:
        if bar is not None:
            bar.update(1)
            if key:
                bar.set_postfix_str(f"keyframe {index}", refresh=False)

    try:
        outcome = stylise_clip(source, args.style, sink, config, options, progress=progress)
    except BaseException:
        sink.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    report = outcome.report
    if sink.count == 0:  # interrupted before the first frame was done
        sink.abort()
        print("photostyle: interrupted before the first frame was done; nothing written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    with deferred_interrupts():
        sink.close()
        report.update({"content": str(content), "style": str(args.style),
                       "output": str(output), "codec": codec, "crf": args.crf,
                       "bit_depth": (16 if info.bit_depth > 8 else 8) if not output.suffix
                       else 10 if "10le" in pixel_format(codec, info.bit_depth) else 8,
                       "audio": info.audio})
        if lut_file is not None and outcome.keyframe is not None:
            from photostyle.runs.lut import export_lut

            first = report["keyframes"][0]["frame"] if report["keyframes"] else 0
            report["lut"] = export_lut(outcome.keyframe, outcome.keyframe_frame, lut_file,
                                       name=f"{content.name}, frame {first}")
        if report_file is not None:
            save_json(report, report_file)
    if report["status"] == "truncated":
        print(f"photostyle: warning: {report['message']}", file=sys.stderr)
    if not args.quiet:
        _print_summary(report, output)
    return EXIT_INTERRUPTED if report["status"] == "interrupted" else EXIT_OK


def _check_paths(args: argparse.Namespace, output: Path, source: Any, options: Any,
                 config: Any) -> tuple[Path | None, Path | None]:
    """Every file the command writes (the clip or frames folder, the report, the LUT),
    checked against every file it reads, before any work; returns the report's and the
    LUT's paths."""
    from photostyle.engine.network import weights_file
    from photostyle.files.paths import Folder, check_writes
    from photostyle.runs.video.method import keyframe_mask_files

    content = Path(args.content)
    from photostyle.runs.outputs import report_path

    report_file = None if args.sidecars == "none" else report_path(output, args.sidecars)
    lut_file = None if args.lut is None else (
        Path(args.lut) if args.lut else output.with_suffix(".cube"))
    writes = ([("report", report_file)] if report_file else []) + (
        [("LUT", lut_file)] if lut_file else [])
    folders = []
    if output.suffix:
        writes.insert(0, ("output", output))
    else:
        folders.append(Folder("frames folder", output, "*", fresh=True))
    reads: list[tuple[str, Any]] = [("content frame", p) for p in source.files] or [
        ("content video", content)]
    reads += [("style image", args.style), ("style mask", args.style_mask)]
    if options.keyframe_masks:
        reads += [("keyframe mask", p) for p in keyframe_mask_files(options.keyframe_masks)
                  .values()]
    if any(config.iterations_per_level()):
        reads.append(("VGG19 weights", weights_file(config.vgg_weights)))
    check_writes(writes, reads, folders)
    return report_file, lut_file


def _print_summary(report: dict[str, Any], output: Path) -> None:
    """The closing lines: frames, keyframes, speed, the measures, why it stopped."""
    seconds = report["seconds"]
    fps = seconds["other_frames_per_second"]
    print(f"{report['status']}: {report['frames']} frames to {output}, "
          f"{len(report['keyframes'])} optimised ({seconds['keyframes']:.0f} s)"
          + (f", the others at {fps:.1f} frames/s" if fps else ""), file=sys.stderr)
    if "flicker" in report:
        look = report["look"]
        print(f"flicker {report['flicker']['ratio']} (1.0 = none added); style distance "
              f"{look['style_distance_mean']} (keyframes {look['style_distance_keyframes']})",
              file=sys.stderr)
    if report["message"] and report["status"] != "truncated":
        print(f"photostyle: {report['message']}", file=sys.stderr)
