"""The command line's parser: every command's options, their help and defaults (no torch
is imported)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from photostyle import __version__
from photostyle.cli.common import ARG_FIELDS, EXIT_USAGE

#: Help of every command's ``--max-pixels``.
MAX_PIXELS_HELP = ("largest image opened, width x height (a guard against decompression "
                   "bombs; default %(default)s)")

#: Help of the mask options outside ``transfer``.
CONTENT_MASK_HELP = ("the content's regions: a colour-coded PNG in the paper's palette, or a "
                     "label map")
STYLE_MASK_HELP = "the style's regions, with the same labels as the content mask"

#: Help of ``--device``.
DEVICE_HELP = ("where the network runs: auto (a CUDA GPU when there is one, else the CPU), "
               "cpu, cuda, cuda:N (the N-th GPU) or mps (Apple's GPU; never run by the "
               "developers)")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that a text already broken into lines (the examples, the
    exit statuses) is printed as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


#: Examples printed at the end of each command's --help.
EXAMPLES = {
    "masks": "photostyle masks --content-mask day-mask.png --style-mask dusk-mask.png \\\n"
             "    --content day.jpg --style dusk.jpg -o check.png",
    "evaluate": "photostyle evaluate -c day.jpg -s dusk.jpg -r day-dusk.jpg --json scores.json",
    "apply": "photostyle apply -c day.jpg --look-of day-dusk.jpg --strength 0.5 -o half.jpg\n"
             "photostyle apply -c day.tif -t photostyle-sidecars/day-dusk.tif.transforms.npz "
             "\\\n    --output-size 2000 -o small.png",
    "ablate": "photostyle ablate -c day.jpg -s dusk.jpg --vary matting_weight=0,1e4 "
              "--out runs/matting\n"
              "photostyle ablate --pairs deep-photo-styletransfer/ --vary masks=manual,auto \\\n"
              "    --set size=300 --out runs/masks       (the original repository's examples/)",
    "segment": "photostyle segment -c day.jpg --style dusk.jpg   (day-mask.png, dusk-mask.png)\n"
               "photostyle segment -c day.jpg                    (day-mask.png)",
    "app": "photostyle app                                (http://127.0.0.1:7860)\n"
           "photostyle app --host 0.0.0.0 --auth me:a-long-passphrase",
    "video": "photostyle video -c clip.mp4 -s dusk.jpg -o clip-dusk.mp4",
    "looks": "photostyle looks save \"golden hour\" --style dusk.jpg --strength 0.8\n"
             "photostyle transfer -c day.jpg --look \"golden hour\"",
    "edit": "photostyle edit DSC_0001-Edit.tif --look \"golden hour\"",
    "report": "photostyle report photostyle-sidecars/day-styled.png.json",
}


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (exit status 2), no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"photostyle: error: {message} (see '{self.prog} --help')\n")


MAIN_EPILOG = """\
examples:
  photostyle transfer -c day.jpg -s sunset.jpg -o day-sunset.jpg
  photostyle transfer --help                  (the options, the common ones first)
  photostyle app                              (the web app, pip install -e ".[app]")

exit status: 0 done; 1 a bug (please report it); 2 bad input or settings (one line
  naming the file or setting); 3 some photos of a batch failed; 4 the optimisation
  diverged (the last good image is written); 130 interrupted
"""

TRANSFER_EXAMPLES = """\
examples:
  photostyle transfer -c day.jpg -s sunset.jpg
      writes day-styled.png beside day.jpg (and its report and transforms in
      photostyle-sidecars/ there)
  photostyle transfer -c day.jpg -s sunset.jpg -o day-sunset.jpg --strength 0.7 --compare
  photostyle transfer -c day.jpg -s sunset.jpg --preset preview        (about a second)
  photostyle transfer -c day.jpg -s sunset.jpg --content-mask day-mask.png \\
      --style-mask sunset-mask.png            (your own regions; see 'photostyle segment')
  photostyle transfer -c shoot/ -s sunset.jpg --out-dir styled/          (a batch)
  photostyle transfer --config photostyle-sidecars/day-styled.png.json -o again.png
      (the same run again, from its report: settings and input files)

exit status: 0 done; 2 bad input or settings; 3 some photos of a batch failed;
  4 the optimisation diverged (the last good image is written); 130 interrupted
  (the best image so far is written)
"""


def add_transfer_args(p: argparse.ArgumentParser) -> None:
    """``transfer``'s options, in groups: the few most people need first, the paper's
    knobs last."""
    from photostyle.engine.config import (
        BOUNDS,
        DEFAULT_COARSE_ITERATIONS,
        DEFAULT_ITERATIONS,
        OUTPUT_PROFILES,
        PRESETS,
        VARIABLES,
        TransferConfig,
    )

    d = TransferConfig()
    common = p.add_argument_group("the options most people need")
    common.add_argument("--content", "-c", nargs="+", metavar="CONTENT",
                        help="your photo (its structure is kept); several photos or a "
                        "folder make a batch (see --out-dir)")
    common.add_argument("--style", "-s", help="the photo whose colour and light you want")
    common.add_argument("-o", "--output", help="the image to write; its format from the "
                        "extension: .jpg .png .tif .webp .avif .heic .bmp (default: "
                        "CONTENT-styled.png beside the content photo; .tif for a raw photo). "
                        "An existing file is overwritten; an input file never is")
    common.add_argument("--preset", choices=tuple(PRESETS), default=None,
                        help="a named set of settings, which the options given override: "
                        "preview (no network, no optimisation: the per-region colour "
                        "transfer made locally affine, about a second), default, quality "
                        "(512-px working size, 1.5x the time), paper and artistic (the "
                        "paper's deeper layers: they need the full VGG19, a 548 MB download; "
                        "paper: its weights and 1000 iterations; artistic: plain Gatys et "
                        "al., no masks, no photorealism term). Default: default, or a "
                        "--look's own")
    common.add_argument("--strength", type=float, default=d.strength,
                        help="how much of the look to apply, 0 (the content) to 1 (all; the "
                        "default %(default)s): the local affine transforms are scaled towards "
                        "the identity, so every strength stays a photograph")
    common.add_argument("--lut", nargs="?", const="", default=None, metavar="FILE.cube",
                        help="also write the look as a 3D LUT (33 points a side, .cube: "
                        "Photoshop, Resolve, Premiere, ffmpeg) fitted to the result, and "
                        "print its fit error; without FILE: OUT.cube beside the output")
    common.add_argument("--compare", action="store_true",
                        help="also write a labelled side-by-side image of content, style and "
                        "result beside the output: OUT.png -> OUT.png-compare.png")
    common.add_argument("--look", metavar="NAME", help="a look saved with 'photostyle looks "
                        "save' instead of --style: its style photo and settings (the options "
                        "given here win)")
    io = p.add_argument_group("files and what is written")
    io.add_argument("--out-dir", metavar="DIR",
                    help="batch: write each content's result here as NAME-styled.EXT (EXT: "
                    "the content's own format, or --format); a content's mask is the file "
                    "NAME-mask.png (or NAME_mask.png) beside it, if there is one (with "
                    "--style-mask); without one --segment decides. The style photo and "
                    "masks in a content folder are left out. A photo that fails is skipped, "
                    "the rest finish; re-running skips the photos already done with the "
                    "same settings")
    io.add_argument("--format", metavar="EXT", help="batch: output format of every "
                    "result (png, jpg, tif, webp, avif, heic, bmp)")
    io.add_argument("--config", metavar="REPORT.json",
                    help="repeat a run from its report (OUT.json in photostyle-sidecars/): "
                    "its settings, and its content, style and masks unless given here "
                    "(a warning if a file's bytes changed since); options given here win. "
                    "A JSON file of settings alone ({\"size\": 512}) works too")
    io.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                    help="write a JSON report named after the output, OUT.png -> "
                    "OUT.png.json, where --sidecars says (default: on): settings, input "
                    "files with their SHA-256, losses, timings, library versions")
    io.add_argument("--plot", action="store_true",
                    help="also draw the loss curves of every level into OUT.png-losses.png "
                    "beside the output ('photostyle report OUT.json' draws them later)")
    add_output_args(io)
    io.add_argument("--save-transforms", action=argparse.BooleanOptionalAction, default=True,
                    help="save the look (its local affine transforms, a small file) named "
                    "after the output, OUT.png -> OUT.png.transforms.npz, where --sidecars "
                    "says, for 'photostyle apply' (default: on)")
    io.add_argument("--save-every", type=int, default=d.save_every, metavar="N",
                    help="write a snapshot every N iterations into <output name>-snapshots/ "
                    "(OUT.png -> OUT.png-snapshots/); 0: none")
    io.add_argument("--output-size", type=int, default=None, metavar="PX",
                    help="long side of the output (default: the content's own resolution)")
    io.add_argument("--output-profile", choices=OUTPUT_PROFILES, default=d.output_profile,
                    help="colour profile of the output: the content's own, embedded "
                    "(default), or sRGB")
    io.add_argument("--max-pixels", type=int, default=d.max_pixels, metavar="N",
                    help=MAX_PIXELS_HELP)
    msk = p.add_argument_group("masks (regions matched between the photos)")
    msk.add_argument("--content-mask", help="the content's regions: a colour-coded PNG in "
                     "the paper's palette, or a label map (with --style-mask)")
    msk.add_argument("--style-mask", help="the style's regions, the same labels as the "
                     "content mask")
    msk.add_argument("--segment", choices=("auto", "none"), default=d.segment,
                     help="without mask files: segment both photos automatically into "
                     "matching regions (auto) or transfer the style photo as a whole (none)")
    msk.add_argument("--seg-model", default=d.seg_model,
                     help="the segmenter of --segment auto: 'builtin' (inside photostyle, no "
                     "download; clusters both photos together) or a SegFormer hub name or "
                     "local folder, e.g. smp-hub/segformer-b2-512x512-ade-160k (a 110 MB "
                     "download; its weights are licensed for non-commercial use only)")
    msk.add_argument("--seg-regions", type=int, default=d.seg_regions, metavar="N",
                     help="how many regions the built-in segmenter makes, 1 to 6 (default "
                     "%(default)s; 2, the earlier default, is a little better on faces and "
                     "some night towns)")
    msk.add_argument("--orphan-policy", choices=("whole-style", "drop"), default=d.orphan_policy,
                     help="a content region the style lacks: styled from the whole style "
                     "photo (whole-style) or left without a style loss (drop)")
    msk.add_argument("--min-label-fraction", type=float, default=d.min_label_fraction,
                     metavar="F", help="regions under this share of either photo are dropped")
    msk.add_argument("--mask-tolerance", type=int, default=d.mask_tolerance, metavar="N",
                     help="largest per-channel distance (0-255) from a palette colour for a "
                     "mask pixel to take its label (anti-aliased edges)")
    net = p.add_argument_group("the paper's knobs: network and losses")
    net.add_argument("--vgg-weights", default=None, metavar="FILE|NAME",
                     help="VGG19 weights: 'embedded' (default: the paper's Caffe-trained "
                     "VGG19 to relu3_4, inside photostyle, no download), 'original' (the "
                     "whole of it, vgg19-d01eb7cb.pth, 548 MB: needed for layers beyond "
                     "relu3_4 and chosen for them by default), 'torchvision' (torchvision's "
                     "ImageNet weights), both downloaded into the torch cache on first use; "
                     "or a state dict FILE (torchvision keys; may cover only the layers in "
                     "use); or 'random' (benchmarks)")
    net.add_argument("--network", choices=("vgg19", "vgg16"), default=d.network,
                     help="the backbone: vgg19 (the paper's, verified) or vgg16 (same "
                     "layer names up to relu5_3; --vgg-weights then names VGG16 weights: "
                     "original vgg16-00b39a1b.pth, torchvision vgg16-397923af.pth, or a file; "
                     "never run with real weights by the developers)")
    net.add_argument("--content-layer", default=d.content_layer, metavar="LAYER",
                     help="layer of the content loss (the paper's: relu4_2, which needs the "
                     "full VGG19)")
    net.add_argument("--style-layers", default=",".join(d.style_layers), metavar="LAYERS",
                     help="comma-separated layers of the style loss (the paper's: "
                     "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1; default %(default)s)")
    net.add_argument("--content-weight", type=float, default=d.content_weight, metavar="W",
                     help="weight of the content loss (the paper's; terms are normalised)")
    net.add_argument("--style-weight", type=float, default=d.style_weight, metavar="W",
                     help="weight of the masked Gram style loss (the paper's)")
    net.add_argument("--tv-weight", type=float, default=d.tv_weight, metavar="W",
                     help="weight of the total variation term (the paper's)")
    net.add_argument("--matting-weight", type=float, default=d.matting_weight, metavar="W",
                     help="photorealism regulariser (the paper's lambda, on the matting "
                     "Laplacian of the content); 0 switches it off")
    net.add_argument("--flat-weight", type=float, default=d.flat_weight, metavar="W",
                     help="keep the change of colour smooth where the content is flat "
                     "(total variation of output - content between flat neighbours); 0: off "
                     "(default %(default)s)")
    net.add_argument("--hist-weight", type=float, default=d.hist_weight, metavar="W",
                     help="per-region histogram loss (Wilmot, Risser and Barnes 2017): each "
                     "region's features matched channel by channel to the style region's "
                     "distribution; 0: off (default %(default)s)")
    net.add_argument("--hist-layers", default=",".join(d.hist_layers), metavar="LAYERS",
                     help="comma-separated layers of the histogram loss (default: "
                     "%(default)s)")
    opt = p.add_argument_group("the paper's knobs: optimisation")
    opt.add_argument("--size", type=int, default=d.size, metavar="PX",
                     help="working size: long side of the finest optimisation level (the "
                     "output keeps the content's own resolution)")
    opt.add_argument("--scales", type=int, default=d.scales, metavar="N",
                     help="pyramid levels, each half the size of the next")
    opt.add_argument("--iterations", default=None, metavar="N[,N]",
                     help="iterations per level, coarse to fine, e.g. 150,100 (one value: "
                     f"every level; default {DEFAULT_COARSE_ITERATIONS} per coarse level and "
                     f"{DEFAULT_ITERATIONS} at the finest)")
    opt.add_argument("--optimizer", choices=("lbfgs", "lbfgs-wolfe", "adam"),
                     default=d.optimizer,
                     help="lbfgs: one network pass per iteration (default); lbfgs-wolfe: "
                     "with a strong-Wolfe line search; adam")
    opt.add_argument("--patience", type=int, default=d.patience, metavar="N",
                     help="end a level once this many evaluations in a row improve the loss "
                     "by under 0.1%% (0: never; default %(default)s)")
    opt.add_argument("--lbfgs-restart", type=float, default=d.lbfgs_restart, metavar="F",
                     help="back to the best image with a fresh L-BFGS memory when the loss "
                     "rises more than this fraction above the best (0: never; default "
                     "%(default)s)")
    opt.add_argument("--bounds", choices=BOUNDS, default=d.bounds,
                     help="how L-BFGS keeps pixels in [0, 1]: project (default: L-BFGS on the "
                     "box) or clamp (between torch L-BFGS steps, as earlier versions did; "
                     "the loss oscillates)")
    opt.add_argument("--precondition", type=int, default=d.precondition_levels, metavar="K",
                     help="L-BFGS on the box: lift smooth changes of up to 2^K-px blocks "
                     "(0: off; default %(default)s, blocks up to 32 px)")
    opt.add_argument("--precondition-boost", type=float, default=d.precondition_boost,
                     metavar="B", help="weight B^k of the k-th block level (default "
                     "%(default)s)")
    opt.add_argument("--lr", type=float, default=None,
                     help="step size (default: 1.0 for L-BFGS, 0.02 for Adam)")
    opt.add_argument("--variable", choices=VARIABLES, default=d.variable,
                     help="what is optimised: pixels (the output image, as in the paper; "
                     "default) or grid (a bilateral grid of affine colour transforms of the "
                     "content: few unknowns, half the time for the same style distance, "
                     "but more glows and halos by eye: see docs/RESULTS.md)")
    opt.add_argument("--grid-cells", type=int, default=d.grid_cells, metavar="N",
                     help="--variable grid: cells along the photo's long side")
    opt.add_argument("--grid-bins", type=int, default=d.grid_bins, metavar="N",
                     help="--variable grid: bins of the content's luminance")
    opt.add_argument("--grid-regions", action="store_true", default=d.grid_regions,
                     help="--variable grid: a look of its own for each mask region (no "
                     "blending across the regions' borders)")
    opt.add_argument("--grid-weight", type=float, default=d.grid_weight, metavar="W",
                     help="--variable grid: weight of the grid's smoothness in space and "
                     "luminance")
    opt.add_argument("--init", choices=("transfer", "content", "noise"), default=d.init,
                     help="starting image: per-region colour transfer (default), the content, "
                     "or noise")
    opt.add_argument("--seed", type=int, default=d.seed,
                     help="random seed; results are reproducible on the CPU for a fixed seed")
    opt.add_argument("--device", default=d.device, metavar="DEVICE", help=DEVICE_HELP)
    out = p.add_argument_group("the paper's knobs: smoothing")
    out.add_argument("--colour-match", type=float, default=d.colour_match, metavar="S",
                     help="after the optimisation, move each region's colours this far (0 "
                     "to 1) towards the style region's mean and covariance, one affine "
                     "colour map per region, before the smoothing (0: off)")
    out.add_argument("--colour-match-gain", type=float, default=d.colour_match_gain,
                     metavar="G", help="largest gain of a region's map in --colour-match, "
                     "at least 1 (1: shift and narrow each region's colours, never amplify "
                     "their contrast)")
    out.add_argument("--smooth", choices=("local-affine", "guided", "none"), default=d.smooth,
                     help="how the result becomes local affine transforms of the content: "
                     "local-affine (edge-aware, default), guided (a guided filter) or none "
                     "(the optimised image as it is)")
    out.add_argument("--smooth-radius", type=int, default=d.smooth_radius, metavar="R",
                     help="window radius of the local affine fit (working-size pixels)")
    out.add_argument("--smooth-eps", type=float, default=d.smooth_eps, metavar="E",
                     help="ridge regulariser of the local affine fit (squared [0, 1] units)")
    out.add_argument("--smooth-sigma", type=float, default=d.smooth_sigma, metavar="S",
                     help="edge sensitivity of the smoothing ([0, 1] colour units)")
    out.add_argument("--smooth-spatial", type=float, default=d.smooth_spatial, metavar="PX",
                     help="spatial extent of the smoothing (working-size pixels)")
    add_executor_args(p)
    defaults_to_help(p)


def add_executor_args(parser: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address`` and ``--workers`` (batches and ablations)."""
    group = parser.add_argument_group("where the work runs (batches and ablations)")
    group.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local: in this process (default); ray: on the workers of a Ray "
                       "cluster, each loading the network once (pip install -e "
                       "\".[distributed]\")")
    group.add_argument("--ray-address", default=None, metavar="ADDRESS",
                       help="with --executor ray: 'auto' joins the cluster this machine "
                       "belongs to, or ray://HOST:PORT; default: start a Ray on this machine")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="with --executor ray: number of workers (default: one per CPU "
                       "of the cluster, or per GPU share with --gpus-per-worker)")
    group.add_argument("--gpus-per-worker", type=float, default=None, metavar="G",
                       help="with --executor ray: GPUs each worker reserves (e.g. 1, or 0.5 "
                       "for two workers a GPU; default 0: a worker that reserves none sees "
                       "no GPU and runs on the CPU)")


def add_output_args(group: Any) -> None:
    """Options of a written photo shared by ``transfer`` and ``apply``."""
    group.add_argument("--strip-metadata", action="store_true",
                       help="write no EXIF or XMP (camera, date, GPS ...); by default the "
                       "content's are carried to the output, with the orientation reset")
    group.add_argument("--jpeg-quality", type=int, default=95, metavar="Q",
                       help="JPEG, WebP, AVIF and HEIC quality, 1-100 (default 95)")
    group.add_argument("--sidecars", choices=("folder", "beside", "none"), default="folder",
                       help="where the report (OUT.png.json) and the transforms "
                       "(OUT.png.transforms.npz) go: folder: in photostyle-sidecars/ beside "
                       "the output (default: one folder, not two files per photo); beside: "
                       "next to the output; none: not written")
    group.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                       help="bits per channel of a PNG or TIFF output (default: 16 when the "
                       "content has 16, else 8)")


def _add_transfer(sub: Any) -> argparse.ArgumentParser:
    """``photostyle transfer``'s options."""
    t = sub.add_parser("transfer", help="transfer a style photo's look onto a content photo",
                       usage="photostyle transfer -c CONTENT -s STYLE [-o OUTPUT] [options]",
                       description="Transfer the colour and light of --style onto --content, "
                       "region by region, and write\nthe content at its own resolution with "
                       "that look.\nThe first group below is all most people need.",
                       epilog=TRANSFER_EXAMPLES)
    add_transfer_args(t)
    return t


def _add_masks(sub: Any) -> argparse.ArgumentParser:
    """``photostyle masks``'s options."""
    m = sub.add_parser("masks", help="check a content/style mask pair and write a preview",
                       description="Validate a mask pair (optionally against its images) and "
                       "write a preview PNG with the masks over the images and a legend.")
    m.add_argument("--content-mask", required=True, help=CONTENT_MASK_HELP)
    m.add_argument("--style-mask", required=True, help=STYLE_MASK_HELP)
    m.add_argument("--content", help="content image (to check sizes and draw the preview)")
    m.add_argument("--style", help="style image")
    m.add_argument("-o", "--output", default="mask-preview.png", help="preview PNG")
    m.add_argument("--orphan-policy", choices=("whole-style", "drop"), default="whole-style",
                   help="a content region the style lacks: styled from the whole style photo "
                   "(whole-style, the default) or left without a style loss (drop)")
    m.add_argument("--min-label-fraction", type=float, default=0.002, metavar="F",
                   help="regions under this share of either photo are dropped (default "
                   "%(default)s)")
    m.add_argument("--mask-tolerance", type=int, default=48, metavar="N",
                   help="largest per-channel distance (0-255) from a palette colour for a "
                   "mask pixel to take its label (default %(default)s)")
    m.add_argument("--max-pixels", type=int, default=150_000_000, metavar="N",
                    help=MAX_PIXELS_HELP)
    return m


def _add_evaluate(sub: Any) -> argparse.ArgumentParser:
    """``photostyle evaluate``'s options."""
    e = sub.add_parser("evaluate", help="score an output against its content and style",
                       description="Quality measures of an output (no network needed): "
                       "per-region colour distance to the style (CIELAB sliced Wasserstein and "
                       "Frechet), structure (SSIM of gradient maps against the content), "
                       "photorealism (local affine residual) and colour painted into the "
                       "content's flat regions. No single one ranks methods; read them "
                       "together.")
    e.add_argument("--content", "-c", required=True, help="the content photo of the run")
    e.add_argument("--style", "-s", required=True, help="the style photo of the run")
    e.add_argument("--result", "-r", "--output", "-o", dest="output", required=True,
                   metavar="IMAGE", help="the result to score (--output/-o, the older "
                   "spelling, still works)")
    e.add_argument("--content-mask", help=CONTENT_MASK_HELP + " (the measures per region)")
    e.add_argument("--style-mask", help=STYLE_MASK_HELP)
    e.add_argument("--json", metavar="FILE", help="also write the measures as JSON")
    e.add_argument("--vgg-weights", metavar="FILE",
                   help="the VGG19 weights of the content and style losses it also reports "
                   "(default: the embedded ones; see transfer)")
    e.add_argument("--content-layer", default=None, metavar="LAYER",
                   help="layer of the content loss it reports (default: transfer's)")
    e.add_argument("--style-layers", default=None, metavar="LAYERS",
                   help="comma-separated layers of the style loss it reports (default: "
                   "transfer's)")
    e.add_argument("--size", type=int, default=512, help="size at which losses are computed")
    e.add_argument("--max-pixels", type=int, default=150_000_000, metavar="N",
                    help=MAX_PIXELS_HELP)

    return e


def _add_apply(sub: Any) -> argparse.ArgumentParser:
    """``photostyle apply``'s options."""
    ap = sub.add_parser("apply", help="re-render a saved look on its content at any strength "
                        "and size, without optimising again",
                        description="Apply the local affine transforms that 'photostyle "
                        "transfer' saved beside its output (OUT.png.transforms.npz) to the "
                        "content photo: another strength, size, profile or format in about a "
                        "second.")
    ap.add_argument("--content", "-c", required=True, help="the content photo of the transfer")
    ap.add_argument("--transforms", "-t", metavar="FILE", help="the saved transforms")
    ap.add_argument("--look-of", metavar="OUT", help="the transfer's output: its transforms "
                    "are OUT.transforms.npz")
    ap.add_argument("-o", "--output", required=True, help="image to write")
    ap.add_argument("--strength", type=float, default=1.0,
                    help="how much of the look, 0 (the content) to 1 (all; default)")
    ap.add_argument("--output-size", type=int, default=None,
                    help="long side of the output (default: the content's own resolution)")
    ap.add_argument("--output-profile", choices=("content", "srgb"), default="content",
                    help="colour profile of the output: the content's own, embedded "
                    "(default), or sRGB")
    ap.add_argument("--lut", nargs="?", const="", default=None, metavar="FILE.cube",
                    help="also write this rendering as a 3D LUT (see transfer --lut)")
    add_output_args(ap)
    ap.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                    help="write a report OUT.png.json where --sidecars says (default: on)")
    ap.add_argument("--max-pixels", type=int, default=150_000_000, metavar="N",
                    help=MAX_PIXELS_HELP)
    return ap


def _add_ablate(sub: Any) -> argparse.ArgumentParser:
    """``photostyle ablate``'s options."""
    a = sub.add_parser("ablate", help="run variants of the settings over pairs and tabulate",
                       description="Run the cartesian product of --vary settings on one pair "
                       "or a folder of pairs; write each output named after its variant, a "
                       "contact sheet per pair, metrics.csv/json and aggregate.csv. Re-running "
                       "skips finished variants.")
    a.add_argument("--content", "-c", help="one pair's content photo (or --pairs)")
    a.add_argument("--style", "-s", help="one pair's style photo")
    a.add_argument("--content-mask", help=CONTENT_MASK_HELP + " (for masks=manual)")
    a.add_argument("--style-mask", help=STYLE_MASK_HELP)
    a.add_argument("--pairs", metavar="DIR", help="folder with input/in{i}, style/tar{i}, "
                   "seg_in/in{i}, seg_tar/tar{i}; results/best{i}* (published results) are "
                   "scored too, as variant 'published'")
    a.add_argument("--only", metavar="IDS", help="comma-separated pair ids from --pairs")
    a.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting and its values (repeatable); masks=manual,none,auto too; "
                   "'+' joins list items, e.g. style_layers=relu1_1+relu2_1,relu1_1")
    a.add_argument("--exclude", action="append", default=[], metavar="KEY=V,KEY=V",
                   help="a combination of --vary values not to run (repeatable), e.g. "
                   "style_weight=0,hist_weight=0 leaves out the variant with both losses off")
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting shared by every variant (repeatable)")
    a.add_argument("--vgg-weights", metavar="FILE", help="VGG19 weights (default: the "
                   "embedded ones; see transfer --vgg-weights)")
    a.add_argument("--out", default="ablation", help="output folder (default: %(default)s)")
    add_executor_args(a)
    return a


def _add_segment(sub: Any) -> argparse.ArgumentParser:
    """``photostyle segment``'s options."""
    from photostyle.engine.config import SEG_REGIONS

    g = sub.add_parser("segment", help="segment photos into a colour-coded mask (or a pair)",
                       description="Segment a photo (or a content/style pair, with aligned "
                       "labels) into the paper's colour code: a mask you can correct in any "
                       "paint program and pass back with --content-mask/--style-mask.")
    g.add_argument("image", nargs="?", help="a photo to segment (or -c PHOTO)")
    g.add_argument("-o", "--output", help="mask to write (default: IMAGE-mask.png beside "
                   "the photo, the name a batch looks for)")
    g.add_argument("--content", "-c", help="content photo (with --style: a pair, labels "
                   "matched; alone: one photo)")
    g.add_argument("--style", "-s", help="style photo (pair mode)")
    g.add_argument("--content-out", help="content mask (default: CONTENT-mask.png beside it)")
    g.add_argument("--style-out", help="style mask (default: STYLE-mask.png beside it)")
    g.add_argument("--seg-model", default="builtin",
                   help="'builtin' (default, no download; a pair is clustered together) or a "
                   "SegFormer hub name or folder (see transfer --seg-model)")
    g.add_argument("--regions", type=int, default=SEG_REGIONS, metavar="N",
                   help="how many regions the built-in segmenter makes, 1 to 6 (default "
                   "%(default)s, as transfer --seg-regions)")
    g.add_argument("--min-fragment", type=float, default=0.002,
                   help="fragments below this share of the image are absorbed")
    g.add_argument("--no-snap", action="store_true", help="do not snap borders to edges")
    g.add_argument("--device", default="auto", metavar="DEVICE", help=DEVICE_HELP)
    g.add_argument("--max-pixels", type=int, default=150_000_000, metavar="N",
                    help=MAX_PIXELS_HELP)
    return g


def _add_app(sub: Any) -> argparse.ArgumentParser:
    """``photostyle app``'s options."""
    w = sub.add_parser("app", help="serve the web app (pip install -e \".[app]\")",
                       description="A local web app: drop two photos, see and paint the "
                       "regions, preview, run with live progress, set the strength, download "
                       "at full resolution. Serves on 127.0.0.1 unless --host says otherwise "
                       "(which needs --auth).")
    w.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default %(default)s: this machine only)")
    w.add_argument("--port", type=int, default=7860, help="port (default %(default)s)")
    w.add_argument("--auth", metavar="USER:PASSWORD", default=None,
                   help="require this login (needed for a non-loopback --host); "
                   "PHOTOSTYLE_APP_AUTH in the environment keeps it off the command line")
    w.add_argument("--workers", type=int, default=1,
                   help="transfers that run at once, each with its own network "
                   "(default %(default)s; the rest wait in the queue)")
    w.add_argument("--max-upload-mb", type=float, default=100.0,
                   help="largest file accepted, in MB (default %(default)s)")
    w.add_argument("--max-pixels", type=int, default=100_000_000,
                   help="largest photo accepted, width x height (default %(default)s)")
    add_engine_args(w)
    return w


def _add_video(sub: Any) -> argparse.ArgumentParser:
    """``photostyle video``'s options."""
    v = sub.add_parser("video", help="carry a style photo's look through a video clip",
                       description="Style a clip: keyframes are optimised, their local affine "
                       "transforms carried along the optical flow to the other frames (or, "
                       "with --method frames, every frame optimised on its own). Writes the "
                       "clip, and OUT.json with the flicker and look measures.")
    v.add_argument("--content", "-c", required=True,
                   help="the clip: a video file (pip install -e \".[video]\") or a folder "
                   "of frames")
    v.add_argument("--style", "-s", help="style photo")
    v.add_argument("--look", metavar="NAME", help="a saved look instead of --style (see "
                   "'photostyle looks')")
    v.add_argument("-o", "--output", required=True,
                   help="output video (.mp4, .mov, .mkv, .webm) or a folder for PNG frames")
    v.add_argument("--method", choices=("propagate", "frames"), default="propagate",
                   help="propagate (default): optimise keyframes, carry their transforms; "
                   "frames: optimise every frame (the slow, flickering baseline)")
    v.add_argument("--codec", default=None,
                   help="FFmpeg encoder (default: libx264, H.264, for 8-bit clips; libx265, "
                   "HEVC Main10, for 10- and 12-bit ones; prores_ks: ProRes 4:2:2 10-bit "
                   "in .mov)")
    v.add_argument("--crf", type=int, default=18,
                   help="quality of x264/x265/VP9/AV1, lower is better (default %(default)s)")
    v.add_argument("--fps", type=float, default=None, help="frame rate of a folder of frames "
                   "(default 25)")
    v.add_argument("--keyframe-masks", metavar="DIR", default=None,
                   help="content masks named by frame number (0.png, 120.png ...): those "
                   "frames are the keyframes; with --style-mask")
    v.add_argument("--style-mask", default=None, help="the style's mask (with --keyframe-masks)")
    v.add_argument("--drift", type=float, default=0.35,
                   help="a new keyframe once this share of the frame is new since the last "
                   "(default %(default)s)")
    v.add_argument("--cut", type=float, default=0.12,
                   help="frame difference taken as a scene cut (default %(default)s)")
    v.add_argument("--max-gap", type=int, default=0,
                   help="a keyframe at least every N frames (default 0: only as needed)")
    v.add_argument("--blend", type=int, default=8,
                   help="frames over which a new keyframe's look fades in (default "
                   "%(default)s)")
    v.add_argument("--preset", default=None, help="preview, default, quality, paper (default: "
                   "default, or a --look's own)")
    v.add_argument("--strength", type=float, default=None, help="0 to 1 (default 1)")
    v.add_argument("--sidecars", choices=("folder", "beside", "none"), default="folder",
                   help="where the report (OUT.mp4.json) goes: in photostyle-sidecars/ beside "
                   "the output (default), beside it, or nowhere")
    v.add_argument("--lut", nargs="?", const="", default=None, metavar="FILE.cube",
                   help="also write the first keyframe's look as a 3D LUT (default "
                   "OUT.cube)")
    add_engine_args(v)
    v.add_argument("--segment", choices=("auto", "none"), default=None,
                   help="segment each keyframe automatically (auto, the default) or not")
    v.add_argument("--size", type=int, default=None, help="working size of the keyframes")
    v.add_argument("--no-measure", action="store_true",
                   help="skip the flicker and look measures (a little faster)")
    v.add_argument("--max-pixels", type=int, default=7680 * 4320,
                   help="largest frame accepted (default: 8K)")
    return v


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="photostyle", description="Photorealistic style transfer: your "
                    "photo, at its own resolution, with another photo's\nlight and colour, "
                    "region by region.", epilog=MAIN_EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"photostyle {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log details and show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or info")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_transfer, _add_masks, _add_evaluate, _add_apply, _add_ablate, _add_segment,
                _add_app, _add_video, _add_looks, _add_edit, _add_report):
        command = add(sub)
        command.formatter_class = HelpFormatter
        name = command.prog.split()[-1]
        if name in EXAMPLES:
            command.epilog = "examples:\n" + "".join(
                f"  {line}\n" for line in EXAMPLES[name].splitlines())
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="log details and show tracebacks")
        command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                             help="no progress bar or info")
    return parser


def _add_looks(sub: Any) -> argparse.ArgumentParser:
    """``photostyle looks save|list|remove``."""
    from photostyle.engine.config import PRESETS

    lk = sub.add_parser("looks", help="keep looks by name: a style photo and its settings",
                        description="Save a style photo with the settings to use it with, "
                        "under a name that --look takes wherever --style is (transfer, "
                        "batches, video, edit, the app). Looks live in the user's data folder "
                        "(Linux: ~/.local/share/photostyle/looks; $PHOTOSTYLE_LOOKS overrides "
                        "it), one readable folder each.")
    actions = lk.add_subparsers(dest="looks_action", metavar="ACTION", required=True)
    save = actions.add_parser("save", help="save a look")
    save.add_argument("name", help="its name (letters, digits, spaces, - _ .)")
    save.add_argument("--style", "-s", required=True, help="the style photo (copied)")
    save.add_argument("--style-mask", help="its mask, for transfers with masks")
    save.add_argument("--preset", choices=tuple(PRESETS), default="default",
                      help="the preset it is used with (default: default)")
    save.add_argument("--strength", type=float, default=None,
                      help="how much of the look, 0 to 1 (default 1)")
    save.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="any other setting, as transfer --set (repeatable)")
    save.add_argument("--replace", action="store_true", help="replace a look of that name")
    actions.add_parser("list", help="list the saved looks")
    remove = actions.add_parser("remove", help="delete a saved look")
    remove.add_argument("name", help="the look's name")
    return lk


def _add_edit(sub: Any) -> argparse.ArgumentParser:
    """``photostyle edit``'s options."""
    ed = sub.add_parser(
        "edit", help="apply a saved look to a file in place (Lightroom's Edit In)",
        description="Apply --look to FILE and write the result into FILE itself, as an "
        "external editor does (Lightroom Classic's 'Edit In', Capture One's 'Open With'). The "
        "original stays until the new file is complete and read back; its format, colour "
        "profile, bit depth and metadata are kept. Any failure leaves FILE as it was.")
    ed.add_argument("file", nargs="?", help="the photo to edit (usually a 16-bit TIFF an "
                    "editor made; editors pass it this way)")
    ed.add_argument("--content", "-c", dest="content_file", metavar="FILE",
                    help="the photo to edit, as transfer names its photo (instead of FILE)")
    ed.add_argument("--look", required=True, metavar="NAME", help="a saved look")
    ed.add_argument("--strength", type=float, default=None, help="0 to 1 (default: the look's)")
    ed.add_argument("--sidecars", choices=("folder", "beside", "none"), default="none",
                    help="where a report goes (default: none: an editor's folder gets "
                    "nothing but the edited file)")
    ed.add_argument("--max-pixels", type=int, default=150_000_000, metavar="N",
                    help=MAX_PIXELS_HELP)
    return ed


def _add_report(sub: Any) -> argparse.ArgumentParser:
    """``photostyle report``'s options."""
    r = sub.add_parser("report", help="summarise a run's report and draw its loss curves",
                       description="Print what a transfer's report (OUT.json, in "
                       "photostyle-sidecars/ beside the output) records, and draw the loss "
                       "terms of every level, per evaluation, into a PNG.")
    r.add_argument("report", help="the report (e.g. photostyle-sidecars/out.png.json)")
    r.add_argument("-o", "--output", help="the PNG to draw (default: beside the report, "
                   "out.png.json -> out.png-losses.png)")
    r.add_argument("--no-plot", action="store_true", help="print the summary only")
    return r


def defaults_to_help(parser: argparse.ArgumentParser) -> None:
    """Move the defaults of the setting options into their help text and make the parser's
    default ``None``, so that what the user gave can be told from what they did not."""
    for action in parser._actions:
        if action.dest not in ARG_FIELDS:
            continue
        default, action.default = action.default, None
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
        shown = shown.replace("%", "%%")
        if action.help and "%(default)s" in action.help:
            action.help = action.help.replace("%(default)s", shown)
        elif default is not None and action.help != argparse.SUPPRESS:
            action.help = f"{action.help} (default {shown})" if action.help else (
                f"default {shown}")


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    """The settings a long-running front-end (``app``, ``video``) takes for its transfers."""
    parser.add_argument("--vgg-weights", metavar="FILE", default=None,
                        help="VGG weights: 'embedded' (default), a file, 'original' or "
                        "'torchvision' (see transfer)")
    parser.add_argument("--device", default=None, metavar="DEVICE", help=DEVICE_HELP)
    parser.add_argument("--network", choices=("vgg19", "vgg16"), default=None,
                        help="the backbone, vgg19 (default) or vgg16 (see transfer)")
    parser.add_argument("--seg-model", default=None, help="segmentation model (see transfer)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other setting (repeatable), e.g. size=256")
