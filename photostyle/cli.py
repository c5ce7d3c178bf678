"""Command-line interface: argument parsing, logging, progress bars and exit codes.

Exit status: 0 success; 2 bad input or settings (one-line message, no traceback unless
``--verbose``) or a diverged optimisation; 130 interrupted (the best image so far is still
written when there is one).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import PhotostyleError

log = logging.getLogger("photostyle")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and a one-line message (its default too)."""


def _add_transfer_args(p: argparse.ArgumentParser) -> None:
    from .config import DEFAULT_COARSE_ITERATIONS, DEFAULT_ITERATIONS, TransferConfig

    d = TransferConfig()
    io = p.add_argument_group("files")
    io.add_argument("--content", "-c", required=True, help="content photo (its structure is kept)")
    io.add_argument("--style", "-s", required=True, help="style photo (its colour and light)")
    io.add_argument("-o", "--output", help="output image; format from the extension "
                    "(default: <content>-styled.png in the current folder). An existing "
                    "file is overwritten; an input file never is")
    io.add_argument("--content-mask", help="content mask: colour-coded PNG or label map")
    io.add_argument("--style-mask", help="style mask, same labels as the content mask")
    io.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                    help="write a JSON report beside the output (default: on)")
    io.add_argument("--save-every", type=int, default=d.save_every, metavar="N",
                    help="write a snapshot every N iterations into <output>-snapshots/")
    net = p.add_argument_group("network and losses")
    net.add_argument("--vgg-weights", default=None, metavar="FILE",
                     help="VGG19 state dict (torchvision keys; may cover only the layers in "
                     "use) or 'random'; default: torchvision's ImageNet weights, downloaded "
                     "into the torch cache on first use")
    net.add_argument("--content-layer", default=d.content_layer)
    net.add_argument("--style-layers", default=",".join(d.style_layers),
                     help="comma-separated VGG19 layers (default: %(default)s)")
    net.add_argument("--content-weight", type=float, default=d.content_weight)
    net.add_argument("--style-weight", type=float, default=d.style_weight)
    net.add_argument("--tv-weight", type=float, default=d.tv_weight)
    net.add_argument("--matting-weight", type=float, default=d.matting_weight,
                     help="photorealism regulariser weight; 0 switches it off")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--size", type=int, default=d.size, help="working size (long side, px)")
    opt.add_argument("--scales", type=int, default=d.scales, help="pyramid levels")
    opt.add_argument("--iterations", default=None,
                     help="iterations per level, coarse to fine, e.g. 150,100 (one value: "
                     f"every level; default {DEFAULT_COARSE_ITERATIONS} per coarse level and "
                     f"{DEFAULT_ITERATIONS} at the finest)")
    opt.add_argument("--optimizer", choices=("lbfgs", "adam"), default=d.optimizer)
    opt.add_argument("--lr", type=float, default=None,
                     help="step size (default: 1.0 for L-BFGS, 0.02 for Adam)")
    opt.add_argument("--init", choices=("transfer", "content", "noise"), default=d.init,
                     help="starting image: per-region colour transfer (default), the content, "
                     "or noise")
    opt.add_argument("--seed", type=int, default=d.seed)
    opt.add_argument("--device", choices=("auto", "cpu", "cuda"), default=d.device)
    out = p.add_argument_group("smoothing and output")
    out.add_argument("--smooth", choices=("local-affine", "guided", "none"), default=d.smooth)
    out.add_argument("--smooth-radius", type=int, default=d.smooth_radius)
    out.add_argument("--smooth-eps", type=float, default=d.smooth_eps)
    out.add_argument("--smooth-sigma", type=float, default=d.smooth_sigma,
                     help="edge sensitivity of the smoothing ([0, 1] colour units)")
    out.add_argument("--smooth-spatial", type=float, default=d.smooth_spatial,
                     help="spatial extent of the smoothing (working-size pixels)")
    out.add_argument("--output-size", type=int, default=None,
                     help="long side of the output (default: the content's own resolution)")
    msk = p.add_argument_group("masks")
    msk.add_argument("--orphan-policy", choices=("whole-style", "drop"), default=d.orphan_policy)
    msk.add_argument("--min-label-fraction", type=float, default=d.min_label_fraction)
    msk.add_argument("--mask-tolerance", type=int, default=d.mask_tolerance)
    p.add_argument("--max-pixels", type=int, default=d.max_pixels,
                   help="largest image opened (width x height)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="photostyle", description="Photorealistic style transfer.")
    parser.add_argument("--version", action="version", version=f"photostyle {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log details and show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or info")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    t = sub.add_parser("transfer", help="transfer a style photo's look onto a content photo",
                       description="Transfer the colour and light of --style onto --content.")
    _add_transfer_args(t)
    m = sub.add_parser("masks", help="check a content/style mask pair and write a preview",
                       description="Validate a mask pair (optionally against its images) and "
                       "write a preview PNG with the masks over the images and a legend.")
    m.add_argument("--content-mask", required=True)
    m.add_argument("--style-mask", required=True)
    m.add_argument("--content", help="content image (to check sizes and draw the preview)")
    m.add_argument("--style", help="style image")
    m.add_argument("-o", "--output", default="mask-preview.png", help="preview PNG")
    m.add_argument("--orphan-policy", choices=("whole-style", "drop"), default="whole-style")
    m.add_argument("--min-label-fraction", type=float, default=0.002)
    m.add_argument("--mask-tolerance", type=int, default=48)
    m.add_argument("--max-pixels", type=int, default=150_000_000)
    for p in (t, m):
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    return parser


def config_from_args(args: argparse.Namespace) -> Any:
    """Build a validated TransferConfig from parsed arguments."""
    from .config import TransferConfig

    lr = args.lr if args.lr is not None else (1.0 if args.optimizer == "lbfgs" else 0.02)
    return TransferConfig(
        size=args.size, scales=args.scales, iterations=args.iterations,
        optimizer=args.optimizer, lr=lr, init=args.init, seed=args.seed,
        content_layer=args.content_layer, style_layers=args.style_layers,
        content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, matting_weight=args.matting_weight,
        smooth=args.smooth, smooth_radius=args.smooth_radius, smooth_eps=args.smooth_eps,
        smooth_sigma=args.smooth_sigma, smooth_spatial=args.smooth_spatial,
        output_size=args.output_size,
        vgg_weights=args.vgg_weights, device=args.device, max_pixels=args.max_pixels,
        orphan_policy=args.orphan_policy, min_label_fraction=args.min_label_fraction,
        mask_tolerance=args.mask_tolerance, save_every=args.save_every,
    )


class _Progress:
    """tqdm bar per pyramid level showing the current loss terms."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.level = -1

    def __call__(self, level: int, n_levels: int, count: int, total: int,
                 terms: dict[str, float]) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if level != self.level:
            self.close()
            self.level = level
            self.bar = tqdm(total=total, desc=f"level {level + 1}/{n_levels}", unit="it",
                            leave=True, dynamic_ncols=True, file=sys.stderr)
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_transfer(args: argparse.Namespace) -> int:
    from .io import check_output_path, save_json
    from .pipeline import transfer

    config = config_from_args(args)
    output = Path(args.output) if args.output else Path(f"{Path(args.content).stem}-styled.png")
    inputs = [args.content, args.style, args.content_mask, args.style_mask]
    if args.vgg_weights not in (None, "random"):
        inputs.append(args.vgg_weights)
    output = check_output_path(output, inputs)
    report_path = output.with_suffix(".json")
    if args.report:
        check_output_path(report_path.with_suffix(".png"), inputs)  # same folder checks
        for inp in inputs:
            if inp is not None and Path(inp).resolve() == report_path.resolve():
                raise PhotostyleError(f"report {report_path}: is an input file")
    progress = _Progress(enabled=not args.quiet)
    snapshots = output.with_name(output.stem + "-snapshots") if args.save_every else None
    try:
        result = transfer(
            args.content, args.style, config, content_mask=args.content_mask,
            style_mask=args.style_mask, progress=progress, snapshot_dir=snapshots,
        )
    finally:
        progress.close()
    result.save(output)
    result.report["output"] = str(output)
    if args.report:
        save_json(result.report, report_path)
    where = f"{output}" + (f" (report {report_path})" if args.report else "")
    if result.status == "interrupted":
        print(f"photostyle: interrupted; best image so far written to {where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "diverged":
        print(f"photostyle: error: {result.message}; last good image written to {where}",
              file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        t = result.report["timings"]["total"]
        print(f"wrote {where} in {t:.1f} s", file=sys.stderr)
    return EXIT_OK


def cmd_masks(args: argparse.Namespace) -> int:
    from .config import TransferConfig
    from .io import check_output_path, load_image
    from .masks import align_labels, fit_to_image, read_mask
    from .preview import render_preview

    config = TransferConfig(orphan_policy=args.orphan_policy,
                            min_label_fraction=args.min_label_fraction,
                            mask_tolerance=args.mask_tolerance, max_pixels=args.max_pixels)
    inputs = [args.content_mask, args.style_mask, args.content, args.style]
    output = check_output_path(args.output, inputs)
    content = load_image(args.content, max_pixels=config.max_pixels,
                         what="content image") if args.content else None
    style = load_image(args.style, max_pixels=config.max_pixels,
                       what="style image") if args.style else None
    c = read_mask(args.content_mask, tolerance=config.mask_tolerance,
                  max_pixels=config.max_pixels)
    s = read_mask(args.style_mask, tolerance=config.mask_tolerance, max_pixels=config.max_pixels)
    if content is not None:
        c = fit_to_image(c, content.shape[:2], "content mask")
    if style is not None:
        s = fit_to_image(s, style.shape[:2], "style mask")
    masks = align_labels(c, s, orphan_policy=config.orphan_policy,
                         min_fraction=config.min_label_fraction)
    sheet = render_preview(masks, content, style)
    from .io import atomic_write

    with atomic_write(output) as handle:
        sheet.save(handle, format="PNG")
    report = masks.report
    print(f"{c.kind} masks: {len(masks.labels)} shared label(s)")
    for name in masks.labels:
        a = report["labels"][name]
        orphan = "  (orphan: whole style image)" if name in masks.whole_style else ""
        print(f"  {name:<12} content {a['content']:6.1%}  style {a['style']:6.1%}{orphan}")
    for name, why in report["dropped"].items():
        print(f"  {name:<12} dropped: {why}")
    print(f"  unlabelled   content {report['content_unlabelled']:6.1%}  style "
          f"{report['style_unlabelled']:6.1%}")
    print(f"preview written to {output}")
    return EXIT_OK


COMMANDS = {"transfer": cmd_transfer, "masks": cmd_masks}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``photostyle`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    level = logging.DEBUG if args.verbose else (logging.ERROR if args.quiet else logging.WARNING)
    logging.basicConfig(level=level, format="photostyle: %(levelname)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("photostyle").setLevel(logging.INFO if args.verbose else level)
    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        return COMMANDS[args.command](args)
    except PhotostyleError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"photostyle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("photostyle: interrupted before a result existed; nothing written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("photostyle: error: out of memory; use a smaller --size", file=sys.stderr)
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGTERM, previous)
