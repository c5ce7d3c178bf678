"""photostyle looks (save, list, remove) and photostyle edit (a look applied in place)."""

from __future__ import annotations

import argparse
import sys

from photostyle.cli.common import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK
from photostyle.cli.progress import Progress
from photostyle.errors import ConfigError


def cmd_looks(args: argparse.Namespace) -> int:
    from photostyle.engine.config import parse_settings, preset_config
    from photostyle.runs.looks import list_looks, looks_folder, remove_look, save_look

    if args.looks_action == "save":
        given = parse_settings(args.set)
        if args.strength is not None:
            given["strength"] = args.strength
        config = preset_config(args.preset, **given)
        look = save_look(args.name, args.style, config, preset=args.preset,
                         style_mask=args.style_mask, replace=args.replace)
        changed = ", ".join(f"{k}={v}" for k, v in look.settings.items()) or "no changes"
        print(f"saved look {look.name!r} in {look.folder} (preset {look.preset}; {changed})")
        return EXIT_OK
    if args.looks_action == "remove":
        where = remove_look(args.name)
        print(f"removed look {args.name!r} ({where})")
        return EXIT_OK
    looks = list_looks()
    if not looks:
        print(f"no looks saved yet in {looks_folder()}; save one with 'photostyle looks save "
              "NAME --style PHOTO'")
        return EXIT_OK
    width = max(len(look.name) for look in looks)
    for look in looks:
        changed = ", ".join(f"{k}={v}" for k, v in look.settings.items())
        print(f"{look.name:<{width}}  {look.preset:<8} {look.created[:10]}  "
              f"{look.description.get('style_source', look.style)}"
              + (f"  ({changed})" if changed else ""))
    return EXIT_OK


def cmd_edit(args: argparse.Namespace) -> int:
    from photostyle.engine.pipeline import transfer
    from photostyle.files.paths import check_writes
    from photostyle.interrupts import deferred_interrupts
    from photostyle.runs.edit import edit_in_place, editable
    from photostyle.runs.looks import load_look
    from photostyle.runs.outputs import report_path

    if (args.file is None) == (args.content_file is None):
        raise ConfigError("give the photo to edit once: FILE, or --content FILE")
    look = load_look(args.look)
    given = {"max_pixels": args.max_pixels}
    if args.strength is not None:
        given["strength"] = args.strength
    config = look.config(**given)
    path = editable(args.file or args.content_file)
    report = None if args.sidecars == "none" else report_path(path, args.sidecars)
    if report is not None:
        check_writes([("report", report)], [("photo to edit", path),
                                            ("style image", look.style)])
    progress = Progress(enabled=not args.quiet)
    try:
        result = transfer(path, look.style, config, progress=progress)
    finally:
        progress.close()
    if result.status == "interrupted":
        print(f"photostyle: interrupted; {path} is unchanged", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "diverged":
        print(f"photostyle: the optimisation diverged ({result.message}); {path} is unchanged",
              file=sys.stderr)
        return EXIT_DIVERGED
    with deferred_interrupts():
        edit_in_place(result, path)
        if report is not None:
            from photostyle.files.writers import save_json

            save_json({**result.report, "edited": str(path), "look": look.name}, report)
    if not args.quiet:
        print(f"edited {path} with look {look.name!r}", file=sys.stderr)
    return EXIT_OK
