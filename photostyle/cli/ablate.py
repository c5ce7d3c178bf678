"""photostyle ablate: parts of the method switched on and off over many pairs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from photostyle.cli.common import EXIT_INTERRUPTED, EXIT_OK, executor_from_args, settings_from_args
from photostyle.cli.progress import Progress
from photostyle.errors import PhotostyleError


def cmd_ablate(args: argparse.Namespace) -> int:
    from photostyle.engine.config import TransferConfig
    from photostyle.runs.ablate import (
        Pair,
        expand,
        find_pairs,
        format_aggregate,
        parse_exclude,
        parse_vary,
        run_ablation,
    )

    if args.pairs:
        pairs = find_pairs(args.pairs)
        if args.only:
            wanted = {f"in{i.strip()}" for i in args.only.split(",") if i.strip()}
            if not wanted:
                raise PhotostyleError(f"--only {args.only!r}: no pair id given")
            missing = sorted(wanted - {p.name for p in pairs})
            if missing:
                raise PhotostyleError(f"--only {args.only}: no pair "
                                      f"{', '.join(m[2:] for m in missing)} in {args.pairs}")
            pairs = [p for p in pairs if p.name in wanted]
    elif args.content and args.style:
        if (args.content_mask is None) != (args.style_mask is None):
            raise PhotostyleError("give both --content-mask and --style-mask, or neither")
        pairs = [Pair(Path(args.content).stem, Path(args.content), Path(args.style),
                      Path(args.content_mask) if args.content_mask else None,
                      Path(args.style_mask) if args.style_mask else None)]
    else:
        raise PhotostyleError("give --content and --style, or --pairs DIR")
    base: dict[str, Any] = {}
    base.update(settings_from_args(args, ()))
    if args.vgg_weights:
        base["vgg_weights"] = args.vgg_weights
    if "masks" in base:
        raise PhotostyleError("masks: use --vary masks=... (manual, none, auto)")
    config = TransferConfig(**base)
    vary = parse_vary(args.vary)
    exclude = parse_exclude(args.exclude, vary)
    n_variants = len(expand(vary, exclude))
    progress = Progress(enabled=not args.quiet)

    def announce(text: str) -> None:
        progress.close()
        progress.level = -1
        if not args.quiet:
            print(f"[ablate] {text}", file=sys.stderr)

    executor = executor_from_args(args)
    bar = None
    if executor is not None and not args.quiet:  # one bar over the tasks
        from tqdm import tqdm

        bar = tqdm(total=len(pairs) * n_variants, unit="task", file=sys.stderr,
                   dynamic_ncols=True)
    try:
        result = run_ablation(pairs, config, vary, args.out,
                              progress=None if bar is not None else announce,
                              transfer_progress=progress, executor=executor, exclude=exclude,
                              on_done=(lambda row: bar.update(1)) if bar is not None else None)
    finally:
        progress.close()
        if bar is not None:
            bar.close()
        if executor is not None:
            executor.close()
    print(format_aggregate(result.rows))
    done = len(result.rows) - result.skipped
    print(f"\n{done} run, {result.skipped} already done; results in {result.out_dir}",
          file=sys.stderr)
    if result.status == "interrupted":
        print("photostyle: interrupted; finished variants are kept, re-run to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
