"""Command-line interface: argument parsing, logging, progress bars and exit codes.

Exit status: 0 success; 2 bad input or settings (one-line message, no traceback unless
``--verbose``) or a diverged optimisation; 130 interrupted (the best image so far is still
written when there is one).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from photostyle import __version__
from photostyle.errors import ConfigError, PhotostyleError
from photostyle.interrupts import import_whole
from photostyle.runs.outputs import compare_path, report_path, transforms_path

__all__ = ["compare_path", "main", "report_path", "transforms_path"]

log = logging.getLogger("photostyle")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (exit status 2), no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"photostyle: error: {message} (see '{self.prog} --help')\n")


def _add_transfer_args(p: argparse.ArgumentParser) -> None:
    from photostyle.engine.config import (
        BOUNDS,
        DEFAULT_COARSE_ITERATIONS,
        DEFAULT_ITERATIONS,
        OUTPUT_PROFILES,
        PRESETS,
        TransferConfig,
    )

    d = TransferConfig()
    io = p.add_argument_group("files")
    io.add_argument("--content", "-c", required=True, nargs="+", metavar="CONTENT",
                    help="content photo (its structure is kept); several photos or a folder "
                    "make a batch (see --out-dir)")
    io.add_argument("--style", "-s", required=True, help="style photo (its colour and light)")
    io.add_argument("-o", "--output", help="output image; format from the extension "
                    "(default: <content>-styled.png in the current folder). An existing "
                    "file is overwritten; an input file never is")
    io.add_argument("--out-dir", metavar="DIR",
                    help="batch: write each content's result here as NAME-styled.EXT (EXT: "
                    "the content's own format, or --format); a content's mask is the file "
                    "NAME-mask.png beside it, if there is one (with --style-mask); without "
                    "one --segment decides. A photo that fails is skipped, the rest finish; "
                    "re-running skips the photos already done with the same settings")
    io.add_argument("--format", metavar="EXT", help="batch: output format of every "
                    "result (png, jpg, tif, webp, bmp)")
    io.add_argument("--content-mask", help="content mask: colour-coded PNG or label map")
    io.add_argument("--style-mask", help="style mask, same labels as the content mask")
    io.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                    help="write a JSON report beside the output, named after it: OUT.png -> "
                    "OUT.png.json (default: on)")
    _add_output_args(io)
    io.add_argument("--save-transforms", action=argparse.BooleanOptionalAction, default=True,
                    help="save the look (its local affine transforms, a small file) beside the "
                    "output, OUT.png -> OUT.png.transforms.npz, for 'photostyle apply' "
                    "(default: on)")
    io.add_argument("--lut", nargs="?", const="", default=None, metavar="FILE.cube",
                    help="also write the look as a 3D LUT (33 points a side, .cube: "
                    "Photoshop, Resolve, Premiere, ffmpeg) fitted to the result, and print "
                    "its fit error; without FILE: OUT.png.cube beside the output")
    io.add_argument("--compare", action="store_true",
                    help="also write a labelled side-by-side image of content, style and result "
                    "beside the output: OUT.png -> OUT.png-compare.png")
    io.add_argument("--save-every", type=int, default=d.save_every, metavar="N",
                    help="write a snapshot every N iterations into <output name>-snapshots/ "
                    "(OUT.png -> OUT.png-snapshots/)")
    net = p.add_argument_group("network and losses")
    net.add_argument("--vgg-weights", default=None, metavar="FILE|NAME",
                     help="VGG19 weights: 'original' (default: the Caffe-trained weights of "
                     "the paper, vgg19-d01eb7cb.pth), 'torchvision' (torchvision's ImageNet "
                     "weights), both downloaded into the torch cache on first use; or a "
                     "state dict FILE (torchvision keys; may cover only the layers in use); "
                     "or 'random'")
    net.add_argument("--network", choices=("vgg19", "vgg16"), default=d.network,
                     help="the backbone: vgg19 (the paper's, verified here) or vgg16 (same "
                     "layer names up to relu5_3; --vgg-weights then names VGG16 weights: "
                     "original vgg16-00b39a1b.pth, torchvision vgg16-397923af.pth, or a file; "
                     "never run here with real weights)")
    net.add_argument("--content-layer", default=d.content_layer)
    net.add_argument("--style-layers", default=",".join(d.style_layers),
                     help="comma-separated VGG19 layers (default: %(default)s)")
    net.add_argument("--content-weight", type=float, default=d.content_weight)
    net.add_argument("--style-weight", type=float, default=d.style_weight)
    net.add_argument("--tv-weight", type=float, default=d.tv_weight)
    net.add_argument("--flat-weight", type=float, default=d.flat_weight,
                     help="keep the change of colour smooth where the content is flat "
                     "(total variation of output - content between flat neighbours); 0: off "
                     "(default %(default)s)")
    net.add_argument("--hist-weight", type=float, default=d.hist_weight,
                     help="per-region histogram loss (Wilmot, Risser and Barnes 2017): each "
                     "region's features matched channel by channel to the style region's "
                     "distribution; 0: off (default %(default)s)")
    net.add_argument("--hist-layers", default=",".join(d.hist_layers),
                     help="comma-separated VGG19 layers of the histogram loss (default: "
                     "%(default)s)")
    net.add_argument("--matting-weight", type=float, default=d.matting_weight,
                     help="photorealism regulariser weight; 0 switches it off")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--size", type=int, default=d.size, help="working size (long side, px)")
    opt.add_argument("--scales", type=int, default=d.scales, help="pyramid levels")
    opt.add_argument("--iterations", default=None,
                     help="iterations per level, coarse to fine, e.g. 150,100 (one value: "
                     f"every level; default {DEFAULT_COARSE_ITERATIONS} per coarse level and "
                     f"{DEFAULT_ITERATIONS} at the finest)")
    opt.add_argument("--optimizer", choices=("lbfgs", "lbfgs-wolfe", "adam"),
                     default=d.optimizer,
                     help="lbfgs: one network pass per iteration (default); lbfgs-wolfe: "
                     "with a strong-Wolfe line search; adam")
    opt.add_argument("--patience", type=int, default=d.patience,
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
    out.add_argument("--strength", type=float, default=d.strength,
                     help="how much of the look to apply, 0 (the content) to 1 (all; the "
                     "default): the local affine transforms are scaled towards the identity")
    out.add_argument("--output-size", type=int, default=None,
                     help="long side of the output (default: the content's own resolution)")
    out.add_argument("--output-profile", choices=OUTPUT_PROFILES, default=d.output_profile,
                     help="colour profile of the output: the content's own, embedded "
                     "(default), or sRGB")
    msk = p.add_argument_group("masks")
    msk.add_argument("--segment", choices=("auto", "none"), default=d.segment,
                     help="without mask files: segment both photos automatically (auto, the "
                     "default; downloads a segmentation model on first use) or transfer the "
                     "style photo as a whole (none)")
    msk.add_argument("--seg-model", default=d.seg_model,
                     help="segmentation model: hub name or local folder (default: %(default)s)")
    msk.add_argument("--orphan-policy", choices=("whole-style", "drop"), default=d.orphan_policy)
    msk.add_argument("--min-label-fraction", type=float, default=d.min_label_fraction)
    msk.add_argument("--mask-tolerance", type=int, default=d.mask_tolerance)
    p.add_argument("--max-pixels", type=int, default=d.max_pixels,
                   help="largest image opened (width x height)")
    _add_executor_args(p)
    p.add_argument("--preset", choices=tuple(PRESETS), default="default",
                   help="a named set of settings, which the options given override: preview "
                   "(no VGG19, no optimisation: the per-region colour transfer made locally "
                   "affine, a 700-px photo in about a second), default, quality (512-px "
                   "working size), paper (the paper's layers, weights and 1000 iterations), "
                   "artistic (plain Gatys et al.: no masks, no photorealism term, no "
                   "smoothing). The defaults shown are the default preset's")
    _defaults_to_help(p)


def _add_executor_args(parser: argparse.ArgumentParser) -> None:
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
                       "of the cluster)")


def _executor(args: argparse.Namespace) -> Any:
    """The executor the options ask for (``None``: the default, in this process)."""
    if args.executor == "local":
        if args.ray_address or args.workers:
            raise ConfigError("--ray-address and --workers need --executor ray")
        return None
    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise ConfigError(f"--workers: must be between 1 and 4096, got {args.workers}")
    from photostyle.runs.executors import RayExecutor

    return RayExecutor(args.ray_address, args.workers)


def _add_output_args(group: Any) -> None:
    """Options of a written photo shared by ``transfer`` and ``apply``."""
    group.add_argument("--strip-metadata", action="store_true",
                       help="write no EXIF or XMP (camera, date, GPS ...); by default the "
                       "content's are carried to the output, with the orientation reset")
    group.add_argument("--jpeg-quality", type=int, default=95, metavar="Q",
                       help="JPEG and WebP quality, 1-100 (default 95)")
    group.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                       help="bits per channel of a PNG or TIFF output (default: 16 when the "
                       "content has 16, else 8)")


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
    e = sub.add_parser("evaluate", help="score an output against its content and style",
                       description="Quality measures of an output (no network needed): "
                       "per-region colour distance to the style (CIELAB sliced Wasserstein and "
                       "Frechet), structure (SSIM of gradient maps against the content), "
                       "photorealism (local affine residual) and colour painted into the "
                       "content's flat regions. No single one ranks methods; read them "
                       "together.")
    e.add_argument("--content", "-c", required=True)
    e.add_argument("--style", "-s", required=True)
    e.add_argument("--output", "-o", required=True, help="the image to score")
    e.add_argument("--content-mask")
    e.add_argument("--style-mask")
    e.add_argument("--json", metavar="FILE", help="also write the measures as JSON")
    e.add_argument("--vgg-weights", metavar="FILE",
                   help="also report the content and style losses with these VGG19 weights "
                   "(default: the default 'original' weights, if they are in the cache)")
    e.add_argument("--content-layer", default=None)
    e.add_argument("--style-layers", default=None)
    e.add_argument("--size", type=int, default=512, help="size at which losses are computed")
    e.add_argument("--max-pixels", type=int, default=150_000_000)

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
    ap.add_argument("--output-profile", choices=("content", "srgb"), default="content")
    ap.add_argument("--lut", nargs="?", const="", default=None, metavar="FILE.cube",
                    help="also write this rendering as a 3D LUT (see transfer --lut)")
    _add_output_args(ap)
    ap.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                    help="write OUT.json beside the output (default: on)")
    ap.add_argument("--max-pixels", type=int, default=150_000_000)
    a = sub.add_parser("ablate", help="run variants of the settings over pairs and tabulate",
                       description="Run the cartesian product of --vary settings on one pair "
                       "or a folder of pairs; write each output named after its variant, a "
                       "contact sheet per pair, metrics.csv/json and aggregate.csv. Re-running "
                       "skips finished variants.")
    a.add_argument("--content", "-c")
    a.add_argument("--style", "-s")
    a.add_argument("--content-mask")
    a.add_argument("--style-mask")
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
    a.add_argument("--vgg-weights", metavar="FILE")
    a.add_argument("--out", default="ablation", help="output folder (default: %(default)s)")
    _add_executor_args(a)
    g = sub.add_parser("segment", help="segment photos into a colour-coded mask (or a pair)",
                       description="Segment a photo (or a content/style pair, with aligned "
                       "labels) into the paper's colour code: a mask you can correct in any "
                       "paint program and pass back with --content-mask/--style-mask.")
    g.add_argument("image", nargs="?", help="a photo to segment")
    g.add_argument("-o", "--output", help="mask to write (default: <image>-mask.png)")
    g.add_argument("--content", help="content photo (pair mode)")
    g.add_argument("--style", help="style photo (pair mode)")
    g.add_argument("--content-out", help="content mask (default: <content>-mask.png)")
    g.add_argument("--style-out", help="style mask (default: <style>-mask.png)")
    g.add_argument("--seg-model", default="smp-hub/segformer-b2-512x512-ade-160k")
    g.add_argument("--min-fragment", type=float, default=0.002,
                   help="fragments below this share of the image are absorbed")
    g.add_argument("--no-snap", action="store_true", help="do not snap borders to edges")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    g.add_argument("--max-pixels", type=int, default=150_000_000)
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
    _add_engine_args(w)
    v = sub.add_parser("video", help="carry a style photo's look through a video clip",
                       description="Style a clip: keyframes are optimised, their local affine "
                       "transforms carried along the optical flow to the other frames (or, "
                       "with --method frames, every frame optimised on its own). Writes the "
                       "clip, and OUT.json with the flicker and look measures.")
    v.add_argument("--content", "-c", required=True,
                   help="the clip: a video file (pip install -e \".[video]\") or a folder "
                   "of frames")
    v.add_argument("--style", "-s", required=True, help="style photo")
    v.add_argument("-o", "--output", required=True,
                   help="output video (.mp4, .mov, .mkv, .webm) or a folder for PNG frames")
    v.add_argument("--method", choices=("propagate", "frames"), default="propagate",
                   help="propagate (default): optimise keyframes, carry their transforms; "
                   "frames: optimise every frame (the slow, flickering baseline)")
    v.add_argument("--codec", default="libx264", help="FFmpeg encoder (default %(default)s)")
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
    v.add_argument("--preset", default="default", help="preview, default, quality, paper")
    v.add_argument("--strength", type=float, default=None, help="0 to 1 (default 1)")
    v.add_argument("--lut", nargs="?", const="", default=None, metavar="FILE.cube",
                   help="also write the first keyframe's look as a 3D LUT (default "
                   "OUT.cube)")
    _add_engine_args(v)
    v.add_argument("--segment", choices=("auto", "none"), default=None,
                   help="segment each keyframe automatically (auto, the default) or not")
    v.add_argument("--size", type=int, default=None, help="working size of the keyframes")
    v.add_argument("--no-measure", action="store_true",
                   help="skip the flicker and look measures (a little faster)")
    v.add_argument("--max-pixels", type=int, default=7680 * 4320,
                   help="largest frame accepted (default: 8K)")
    for p in (t, ap, m, e, a, g, w, v):
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    return parser


#: ``transfer`` options that are settings (argparse destination -> TransferConfig field).
#: Their parser defaults are ``None`` ("not given"): a preset fills what is not given.
ARG_FIELDS = {
    "size": "size", "scales": "scales", "iterations": "iterations", "optimizer": "optimizer",
    "lr": "lr", "patience": "patience", "lbfgs_restart": "lbfgs_restart", "bounds": "bounds",
    "precondition": "precondition_levels", "precondition_boost": "precondition_boost",
    "init": "init", "seed": "seed", "content_layer": "content_layer",
    "style_layers": "style_layers", "content_weight": "content_weight",
    "style_weight": "style_weight", "tv_weight": "tv_weight", "flat_weight": "flat_weight",
    "matting_weight": "matting_weight", "hist_weight": "hist_weight",
    "hist_layers": "hist_layers", "smooth": "smooth", "smooth_radius": "smooth_radius",
    "smooth_eps": "smooth_eps", "smooth_sigma": "smooth_sigma",
    "smooth_spatial": "smooth_spatial", "strength": "strength", "output_size": "output_size",
    "output_profile": "output_profile", "vgg_weights": "vgg_weights", "device": "device",
    "network": "network",
    "max_pixels": "max_pixels", "orphan_policy": "orphan_policy",
    "min_label_fraction": "min_label_fraction", "mask_tolerance": "mask_tolerance",
    "save_every": "save_every", "segment": "segment", "seg_model": "seg_model",
}


def _defaults_to_help(parser: argparse.ArgumentParser) -> None:
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


def config_from_args(args: argparse.Namespace) -> Any:
    """A validated TransferConfig: ``--preset``'s settings, then every option given."""
    from photostyle.engine.config import preset_config

    given = {field: getattr(args, dest) for dest, field in ARG_FIELDS.items()
             if getattr(args, dest, None) is not None}
    config = preset_config(getattr(args, "preset", None) or "default", **given)
    if "lr" not in given and config.optimizer == "adam":
        config = config.replace(lr=0.02)
    return config


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
            # redirected to a log: one line every 30 s and the last, not one per step
            interval = 0.1 if sys.stderr.isatty() else 30.0
            self.bar = tqdm(total=total, desc=f"level {level + 1}/{n_levels}", unit="it",
                            leave=True, dynamic_ncols=True, file=sys.stderr,
                            mininterval=interval)
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def snapshot_folder(output: str | Path) -> Path:
    """Where ``--save-every`` writes snapshots: ``<output name>-snapshots/``."""
    p = Path(output)
    return p.with_name(p.name + "-snapshots")


def _check_output_options(args: argparse.Namespace, outputs: list[Path], config: Any) -> Any:
    """Check ``--jpeg-quality`` and ``--bit-depth`` against the outputs' formats; a format
    with no place for a colour profile (BMP) gets an sRGB output. Returns the config."""
    from photostyle.files.writers import PROFILE_FORMATS, SIXTEEN_BIT_FORMATS, WRITE_FORMATS

    if not 1 <= args.jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality: must be between 1 and 100, got {args.jpeg_quality}")
    for output in outputs:
        fmt = WRITE_FORMATS[output.suffix.lower()]
        if args.bit_depth == 16 and fmt not in SIXTEEN_BIT_FORMATS:
            raise ConfigError(f"--bit-depth 16: {output} is {fmt}, which holds 8 bits per "
                              "channel; write a .png or .tif")
        if fmt not in PROFILE_FORMATS and config.output_profile != "srgb":
            log.info("%s has no place for a colour profile: the output is sRGB", output)
            config = config.replace(output_profile="srgb")
    return config


def _output_options(args: argparse.Namespace) -> Any:
    from photostyle.runs.outputs import OutputOptions

    return OutputOptions(quality=args.jpeg_quality, bit_depth=args.bit_depth,
                         strip_metadata=args.strip_metadata, report=args.report,
                         save_transforms=getattr(args, "save_transforms", False),
                         compare=getattr(args, "compare", False), lut=getattr(args, "lut", None))


def _print_lut(report: dict[str, Any]) -> None:
    lut = report.get("lut")
    if lut:
        print(f"LUT {lut['path']}: fit error {lut['mean_de']:.2f} Delta E mean, "
              f"{lut['p95_de']:.2f} at the 95th percentile"
              + (" (too regional for one LUT)" if lut["regional"] else ""), file=sys.stderr)


def cmd_transfer(args: argparse.Namespace) -> int:
    from photostyle.engine.network import weights_file
    from photostyle.engine.pipeline import transfer
    from photostyle.files.paths import Folder, check_writes
    from photostyle.files.writers import check_image_extension
    from photostyle.interrupts import deferred_interrupts
    from photostyle.runs.outputs import write_outputs

    config = config_from_args(args)
    options = _output_options(args)
    if len(args.content) > 1 or args.out_dir or Path(args.content[0]).is_dir():
        return _transfer_batch(args, config, options)
    if args.format:
        raise PhotostyleError("--format is for batches (--out-dir); give -o with the "
                              "extension you want")
    if args.executor != "local":
        raise PhotostyleError("--executor ray is for batches (several contents or a folder, "
                              "--out-dir) and ablations")
    content = args.content[0]
    output = check_image_extension(
        args.output if args.output else f"{Path(content).stem}-styled.png")
    config = _check_output_options(args, [output], config)
    reads = [("content image", content), ("style image", args.style),
             ("content mask", args.content_mask), ("style mask", args.style_mask)]
    reads.append(("VGG19 weights", weights_file(config.vgg_weights)))
    snapshots = snapshot_folder(output) if config.save_every else None
    folders = [Folder("snapshot folder", snapshots, "level*-*.png")] if snapshots else []
    check_writes(options.files(output), reads, folders)
    progress = _Progress(enabled=not args.quiet)
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
                               config.max_pixels, {"preset": args.preset})
    where = f"{output}" + (f" (report {report_path(output)})" if args.report else "")
    if result.status == "interrupted" or late.received is not None:
        what = "best image so far" if result.status == "interrupted" else "finished result"
        print(f"photostyle: interrupted; {what} written to {where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "diverged":
        print(f"photostyle: error: {result.message}; last good image written to {where}",
              file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        _print_lut(report)
        t = result.report["timings"]["total"]
        print(f"wrote {where} in {t:.1f} s", file=sys.stderr)
    return EXIT_OK


#: Exit status of a batch in which some photos failed (the others were written).
EXIT_SOME_FAILED = 3


def _transfer_batch(args: argparse.Namespace, config: Any, options: Any) -> int:
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
    batch = collect(args.content, args.out_dir, args.format)
    config = _check_output_options(args, [i.output for i in batch.items], config)
    writes = [f for item in batch.items for f in options.files(item.output)]
    reads: list[tuple[str, Any]] = [("content image", i.content) for i in batch.items]
    reads += [("content mask", i.mask) for i in batch.items if i.mask]
    reads += [("style image", args.style), ("style mask", args.style_mask),
              ("VGG19 weights", weights_file(config.vgg_weights))]
    check_writes(writes, reads)
    for path, why in batch.left_out:
        log.info("left out %s: %s", path, why)
    executor = _executor(args)
    bar = _BatchProgress(len(batch.items), enabled=not args.quiet)
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


class _BatchProgress:
    """One bar over a batch's photos; the current photo's level and step as its postfix."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            interval = 0.1 if sys.stderr.isatty() else 30.0
            self.bar = tqdm(total=total, unit="photo", file=sys.stderr, dynamic_ncols=True,
                            mininterval=interval)

    def item(self, index: int, item: Any) -> None:
        if self.bar is None:
            return
        if item.status == "pending":
            self.bar.set_description(item.content.name[:30])
        else:
            self.bar.update(1)

    def step(self, level: int, n_levels: int, count: int, total: int,
             terms: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"level {level + 1}/{n_levels} step {count}/{total}",
                                     refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
        transforms = str(transforms_path(args.look_of))
    if transforms is None:
        raise PhotostyleError("give --transforms FILE (saved by 'photostyle transfer' beside "
                              "its output as OUT.png.transforms.npz) or --look-of OUT.png")
    output = check_image_extension(args.output)
    config = _check_output_options(args, [output], config)
    options = _output_options(args)
    check_writes(options.files(output),
                 [("content image", args.content), ("transforms file", transforms)])
    look = Look.load(transforms)
    result = apply_look(look, args.content, config)
    with deferred_interrupts():
        report = write_outputs(result, output, args.content, None, options, config.max_pixels)
    if not args.quiet:
        _print_lut(report)
        print(f"wrote {output} in {result.report['timings']['total']:.1f} s "
              f"(strength {args.strength:g})", file=sys.stderr)
    return EXIT_OK


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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from photostyle.engine.config import TransferConfig
    from photostyle.engine.masks import load_mask_pair
    from photostyle.engine.metrics import check_output_shape, evaluate_images
    from photostyle.engine.network import weights_file
    from photostyle.files.images import load_image
    from photostyle.files.paths import check_writes
    from photostyle.files.writers import save_json

    TransferConfig(size=args.size, max_pixels=args.max_pixels)  # validates both
    if args.json:
        check_writes([("JSON file", args.json)],
                     [("content image", args.content), ("style image", args.style),
                      ("output image", args.output), ("content mask", args.content_mask),
                      ("style mask", args.style_mask),
                      ("VGG19 weights", weights_file(args.vgg_weights))])
    content = load_image(args.content, max_pixels=args.max_pixels, what="content image")
    style = load_image(args.style, max_pixels=args.max_pixels, what="style image")
    output = load_image(args.output, max_pixels=args.max_pixels, what="output image")
    note = check_output_shape(content.shape, output.shape, f"output image {args.output}")
    if note:
        print(f"note: {note}")
    masks = load_mask_pair(args.content_mask, args.style_mask, content.shape[:2],
                           style.shape[:2], max_pixels=args.max_pixels)
    measures = evaluate_images(content, style, output, masks)
    if note:
        measures["note"] = note
    network = _network_losses(args, content, style, output, masks)
    print(f"style distance (CIELAB, area-weighted over {len(masks.labels)} label(s)):")
    print(f"  sliced Wasserstein  {measures['style_sw']:.3f}   (content: "
          f"{measures['content_sw']:.3f}; closed {measures['style_closed']:.1%})")
    print(f"  Frechet             {measures['style_frechet']:.3f}")
    print(f"structure (gradient SSIM vs content)   {measures['structure_ssim']:.4f}")
    print(f"photorealism (local affine residual)   {measures['affine_residual']:.4f}")
    print(f"colour painted into flat regions       {measures['flat_paint']:.4f}   (a*b* units; "
          "0 for the content)")
    print("per label: sliced Wasserstein, Frechet, area share; mean L*a*b* of the region in "
          "content -> output (style)")
    for name, v in measures["labels"].items():
        means = " -> ".join("(" + ", ".join(f"{x:.1f}" for x in v[k]) + ")"
                            for k in ("content_mean", "output_mean"))
        style_mean = "(" + ", ".join(f"{x:.1f}" for x in v["style_mean"]) + ")"
        print(f"  {name:<10} sw {v['sw']:6.2f}  frechet {v['frechet']:6.2f}  "
              f"share {v['weight']:.2f}   {means}  ({style_mean})")
    if network:
        print("network losses: " + ", ".join(f"{k} {v:.4g}" for k, v in network.items()))
    print("(no single measure ranks methods: the unchanged content has perfect structure and "
          "photorealism; painting the style's texture in lowers the colour distance)")
    if args.json:
        save_json({**measures, "network_losses": network,
                   "inputs": {"content": args.content, "style": args.style,
                              "output": args.output}}, args.json)
    return EXIT_OK


def _network_losses(args: argparse.Namespace, content: Any, style: Any, output: Any,
                    masks: Any) -> dict[str, float]:
    from photostyle.engine.config import TransferConfig
    from photostyle.engine.network import cached_weights_path, load_extractor
    from photostyle.engine.objective import loss_terms
    from photostyle.errors import WeightsError

    weights = args.vgg_weights
    if weights is None and not cached_weights_path().exists():
        log.info("no VGG19 weights: network losses skipped")
        return {}
    settings: dict[str, Any] = {"size": args.size}
    if args.content_layer:
        settings["content_layer"] = args.content_layer
    if args.style_layers:
        settings["style_layers"] = args.style_layers
    config = TransferConfig(**settings)
    layers = config.layers_in_use()
    try:
        extractor = load_extractor(layers, weights)
    except WeightsError as exc:
        if weights is not None:
            raise
        log.warning("network losses skipped: %s", exc)
        return {}
    return loss_terms(content, style, output, masks, config, extractor)


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
    base.update(_settings(args, ()))
    if args.vgg_weights:
        base["vgg_weights"] = args.vgg_weights
    if "masks" in base:
        raise PhotostyleError("masks: use --vary masks=... (manual, none, auto)")
    config = TransferConfig(**base)
    vary = parse_vary(args.vary)
    exclude = parse_exclude(args.exclude, vary)
    n_variants = len(expand(vary, exclude))
    progress = _Progress(enabled=not args.quiet)

    def announce(text: str) -> None:
        progress.close()
        progress.level = -1
        if not args.quiet:
            print(f"[ablate] {text}", file=sys.stderr)

    executor = _executor(args)
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


def _add_engine_args(parser: argparse.ArgumentParser) -> None:
    """The settings a long-running front-end (``app``, ``video``) takes for its transfers."""
    parser.add_argument("--vgg-weights", metavar="FILE", default=None,
                        help="VGG weights: a file, 'original' or 'torchvision' (see transfer)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    parser.add_argument("--network", choices=("vgg19", "vgg16"), default=None)
    parser.add_argument("--seg-model", default=None, help="segmentation model (see transfer)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other setting (repeatable), e.g. size=256")


def _settings(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items, then the options ``names`` that were given."""
    from photostyle.engine.config import parse_setting

    given: dict[str, Any] = {}
    for item in getattr(args, "set", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set: expected KEY=VALUE, got {item!r}")
        given[key.strip().replace("-", "_")] = parse_setting(key, value)
    for name in names:
        if getattr(args, name, None) is not None:
            given[name] = getattr(args, name)
    return given


#: Largest upload limit the app takes (a photo of the largest accepted size, 16 bits).
MAX_UPLOAD_MB = 4096


def cmd_app(args: argparse.Namespace) -> int:
    import importlib.util

    from photostyle.app import security
    from photostyle.app.jobs import Limits, Studio
    from photostyle.engine.config import preset_config

    auth = security.parse_auth(args.auth or os.environ.get("PHOTOSTYLE_APP_AUTH") or None)
    security.check_host(args.host, auth)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port: must be between 0 and 65535, got {args.port}")
    if not 1 <= args.workers <= 64:
        raise ConfigError(f"--workers: must be between 1 and 64, got {args.workers}")
    if not 0 < args.max_upload_mb <= MAX_UPLOAD_MB:
        raise ConfigError(f"--max-upload-mb: must be a number of megabytes between 0 and "
                          f"{MAX_UPLOAD_MB}, got {args.max_upload_mb:g}")
    overrides = _settings(args, ("vgg_weights", "device", "network", "seg_model"))
    limits = Limits(int(args.max_upload_mb * 2**20), args.max_pixels)
    overrides["max_pixels"] = args.max_pixels
    preset_config("default", **overrides)  # every setting checked before anything starts
    if importlib.util.find_spec("gradio") is None:  # an extra
        raise PhotostyleError("the app needs Gradio, which is not installed: pip install -e "
                              "\".[app]\"")
    studio = Studio(overrides, limits, args.workers)
    try:
        security.prepare_environment(studio.root)
        from photostyle.app import page  # after prepare_environment: Gradio reads it on import

        def ready(url: str) -> None:
            print(f"photostyle app: serving on {url} (Ctrl-C stops)", flush=True)

        page.serve(studio, host=args.host, port=args.port, auth=auth, ready=ready)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the app is stopped
    finally:
        studio.close()
    print("photostyle app: stopped; its temporary files are deleted", file=sys.stderr)
    return EXIT_OK


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi")


def cmd_video(args: argparse.Namespace) -> int:
    from photostyle.engine.config import preset_config
    from photostyle.engine.network import weights_file
    from photostyle.files.paths import Folder, check_writes
    from photostyle.files.writers import save_json
    from photostyle.interrupts import deferred_interrupts
    from photostyle.runs.video.clip import VideoSink, VideoSource
    from photostyle.runs.video.method import (
        KeyframePolicy,
        VideoOptions,
        keyframe_mask_files,
        stylise_clip,
    )

    output = Path(args.output)
    if output.suffix and output.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"output {output}: give a video ({', '.join(VIDEO_SUFFIXES)}) or a "
                          "folder (no extension) for frames")
    content = Path(args.content)
    given = _settings(args, ("vgg_weights", "device", "network", "segment", "seg_model",
                             "size", "strength"))
    if args.keyframe_masks:
        given.setdefault("segment", "none")
    config = preset_config(args.preset, **given)
    options = VideoOptions(args.method, KeyframePolicy(args.drift, args.cut, args.max_gap,
                                                       args.blend),
                           Path(args.keyframe_masks) if args.keyframe_masks else None,
                           Path(args.style_mask) if args.style_mask else None,
                           measure=not args.no_measure)
    source = VideoSource(content, fps=args.fps, max_pixels=args.max_pixels)
    # every file written, checked against every file read, before any work
    report_file = output.with_name(output.name + ".json")
    lut_file = None if args.lut is None else (
        Path(args.lut) if args.lut else output.with_suffix(".cube"))
    writes = [("report", report_file)] + ([("LUT", lut_file)] if lut_file else [])
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
    info = source.info
    sink = VideoSink(output, info, None if source.files else content, args.codec, args.crf)
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
                       "output": str(output), "codec": args.codec, "crf": args.crf,
                       "audio": info.audio})
        if lut_file is not None and outcome.keyframe is not None:
            from photostyle.runs.lut import export_lut

            first = report["keyframes"][0]["frame"] if report["keyframes"] else 0
            report["lut"] = export_lut(outcome.keyframe, outcome.keyframe_frame, lut_file,
                                       name=f"{content.name}, frame {first}")
        save_json(report, report_file)
    if report["status"] == "truncated":
        print(f"photostyle: warning: {report['message']}", file=sys.stderr)
    if not args.quiet:
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
    return EXIT_INTERRUPTED if report["status"] == "interrupted" else EXIT_OK


def cmd_segment(args: argparse.Namespace) -> int:
    from photostyle.engine.config import TransferConfig
    from photostyle.engine.masks import align_labels
    from photostyle.engine.network import resolve_device
    from photostyle.engine.segment import Segmenter, legend_text, write_mask
    from photostyle.files.images import load_image
    from photostyle.files.paths import check_writes
    from photostyle.files.writers import check_image_extension

    pair = args.content is not None or args.style is not None
    if pair and (args.content is None or args.style is None or args.image is not None):
        raise PhotostyleError("give one IMAGE, or both --content and --style")
    if not pair and args.image is None:
        raise PhotostyleError("give an IMAGE to segment, or --content and --style")
    jobs = [(args.content, args.content_out), (args.style, args.style_out)] if pair else [
        (args.image, args.output)]
    if not (math.isfinite(args.min_fragment) and 0.0 <= args.min_fragment < 0.5):
        raise ConfigError(f"--min-fragment: must be a share of the image from 0 to below 0.5, "
                          f"got {args.min_fragment}")
    TransferConfig(max_pixels=args.max_pixels)  # validates it, naming the setting
    names = ["content mask", "style mask"] if pair else ["mask"]
    targets = [check_image_extension(out or f"{Path(src).stem}-mask.png", what)
               for (src, out), what in zip(jobs, names, strict=True)]
    legend = targets[0].with_name(targets[0].stem + "-legend.txt")
    check_writes([*zip(names, targets, strict=True), ("legend", legend)],
                 [("image", src) for src, _ in jobs])
    images = [load_image(src, max_pixels=args.max_pixels, what="image") for src, _ in jobs]
    segmenter = Segmenter.load(args.seg_model, resolve_device(args.device))
    options = {"min_fragment": args.min_fragment, "snap_edges": not args.no_snap}
    maps = [segmenter.label_map(img, str(src), **options) for img, (src, _) in
            zip(images, jobs, strict=True)]
    if pair:
        masks = align_labels(maps[0], maps[1], min_fraction=args.min_fragment)
        for name in masks.report["orphans"]:
            print(f"note: {name} is in the content only (styled from the whole style image)")
    for labels, target, seconds in zip(maps, targets, segmenter.seconds, strict=True):
        write_mask(labels, target)
        areas = ", ".join(f"{n} {a:.0%}" for n, a in labels.areas().items())
        print(f"wrote {target} ({seconds:.1f} s): {areas}")
    from photostyle.files.writers import atomic_write

    with atomic_write(legend, "w") as handle:
        handle.write(legend_text() + "\n")
    print(f"legend (colour = group: ADE20K classes) in {legend}")
    return EXIT_OK


#: The photostyle modules each command imports beyond ``pipeline`` (imported for all).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "transfer": (),
    "apply": (),
    "masks": ("engine.preview",),
    "evaluate": ("engine.metrics",),
    "ablate": ("runs.ablate", "engine.metrics"),
    "segment": ("engine.segment",),
    "app": (),
    "video": ("runs.video", "engine.metrics"),
}

COMMANDS = {"transfer": cmd_transfer, "apply": cmd_apply, "masks": cmd_masks,
            "evaluate": cmd_evaluate, "ablate": cmd_ablate, "segment": cmd_segment,
            "app": cmd_app, "video": cmd_video}


class _PipeSafeStdout:
    """``sys.stdout`` that stops writing, without an error, once its reader has gone.

    ``photostyle evaluate | head -1`` closes the pipe after one line; the command still
    finishes its work (the ``--json`` file, the ablation's tables), printing nothing more.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _gone(self) -> None:
        self.closed_by_reader = True
        # Point file descriptor 1 at /dev/null so that the interpreter's own flush at exit
        # does not raise (the recipe of Python's signal documentation).
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: Commands whose working size (--size) sets their memory.
SIZED_COMMANDS = frozenset({"transfer", "evaluate", "video"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``photostyle`` command; returns the exit status."""
    previous_int = signal.getsignal(signal.SIGINT)
    previous_term = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    stdout = sys.stdout
    safe = _PipeSafeStdout(stdout)
    sys.stdout = safe
    try:
        return _main(argv)
    except KeyboardInterrupt:  # while parsing or importing, before any command ran
        print("photostyle: interrupted before a result existed; nothing written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        safe.flush()
        sys.stdout = stdout
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def _main(argv: Sequence[str] | None) -> int:
    # The parser's defaults come from TransferConfig, which imports torch: import the large
    # libraries whole first (an interrupt that cuts numpy's or torch's import in half leaves
    # them broken in odd ways, and some of their import code swallows it).
    import_whole("photostyle.engine.pipeline")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    level = logging.DEBUG if args.verbose else (logging.ERROR if args.quiet else logging.WARNING)
    logging.basicConfig(level=level, format="photostyle: %(levelname)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("photostyle").setLevel(logging.INFO if args.verbose else level)
    try:
        # and the rest of what the command needs
        import_whole(*(f"photostyle.{m}" for m in COMMAND_MODULES[args.command]))
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
        advice = ("use a smaller --size" if args.command in SIZED_COMMANDS
                  else "the files given are too large for this machine's memory")
        print(f"photostyle: error: out of memory; {advice}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: still one line, and the details with -v
        if args.verbose:
            traceback.print_exc()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"photostyle: internal error: {type(exc).__name__}: {text} (run again with -v "
              "for the details, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL
