"""photostyle apply: a saved look re-rendered on its photo at any strength and size."""

from __future__ import annotations

import argparse
import sys

from photostyle.cli.common import EXIT_OK, check_output_options, output_options, print_lut
from photostyle.errors import PhotostyleError
from photostyle.runs.outputs import find_transforms


def cmd_apply(args: argparse.Namespace) -> int:
    from photostyle.engine.config import TransferConfig
    from photostyle.engine.pipeline import apply_look
    from photostyle.engine.transforms import Look
    from photostyle.files.paths import check_writes
    from photostyle.files.writers import check_image_extension
    from photostyle.interrupts import deferred_interrupts
    from photostyle.runs.outputs import write_outputs

    config = TransferConfig(max_pixels=args.max_pixels, output_size=args.output_size,
                            output_profile=args.output_profile, strength=args.strength)
    transforms = args.transforms
    if transforms is None and args.look_of:
        transforms = str(find_transforms(args.look_of))
    if transforms is None:
        raise PhotostyleError("give --transforms FILE (saved by 'photostyle transfer' with "
                              "its output as OUT.png.transforms.npz, in photostyle-sidecars/ "
                              "beside it by default) or --look-of OUT.png")
    output = check_image_extension(args.output)
    config = check_output_options(args, [output], config)
    options = output_options(args)
    check_writes(options.files(output),
                 [("content image", args.content), ("transforms file", transforms)])
    look = Look.load(transforms)
    result = apply_look(look, args.content, config)
    with deferred_interrupts():
        report = write_outputs(result, output, args.content, None, options, config.max_pixels)
    if not args.quiet:
        print_lut(report)
        print(f"wrote {output} in {result.report['timings']['total']:.1f} s "
              f"(strength {args.strength:g})", file=sys.stderr)
    return EXIT_OK
