"""What the command line's commands share: exit statuses, settings from the options,
output options."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photostyle.errors import ConfigError

log = logging.getLogger("photostyle")


#: Exit statuses (README and ``photostyle --help`` list them).
EXIT_OK = 0

#: A bug: ``photostyle: internal error: ...`` (the traceback with ``-v``).
EXIT_INTERNAL = 1

#: Bad input or settings: one line naming the file or setting; nothing written.
EXIT_USAGE = 2

#: The optimisation diverged (a loss became NaN or infinite): the last good image is written
#: (by ``edit``: the file is left unchanged) and the message names the setting to lower.
EXIT_DIVERGED = 4

#: Ctrl-C or SIGTERM: the best image so far is written when there is one.
EXIT_INTERRUPTED = 130


if TYPE_CHECKING:
    from photostyle.runs.executors import RayExecutor


def executor_from_args(args: argparse.Namespace) -> RayExecutor | None:
    """The executor the options ask for (``None``: the default, in this process)."""
    if args.executor == "local":
        if args.ray_address or args.workers or args.gpus_per_worker:
            raise ConfigError("--ray-address, --workers and --gpus-per-worker need "
                              "--executor ray")
        return None
    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise ConfigError(f"--workers: must be between 1 and 4096, got {args.workers}")
    gpus = args.gpus_per_worker or 0.0
    if not 0.0 <= gpus <= 64:  # also refuses nan
        raise ConfigError(f"--gpus-per-worker: must be from 0 to 64, got {gpus}")
    from photostyle.runs.executors import RayExecutor

    return RayExecutor(args.ray_address, args.workers, gpus_per_worker=gpus)


#: ``transfer`` options that are settings (argparse destination -> TransferConfig field).
#: Their parser defaults are ``None`` ("not given"): a preset fills what is not given.
ARG_FIELDS = {
    "size": "size", "scales": "scales", "iterations": "iterations", "optimizer": "optimizer",
    "lr": "lr", "patience": "patience", "lbfgs_restart": "lbfgs_restart", "bounds": "bounds",
    "precondition": "precondition_levels", "precondition_boost": "precondition_boost",
    "init": "init", "variable": "variable", "grid_cells": "grid_cells",
    "grid_bins": "grid_bins", "grid_weight": "grid_weight", "grid_regions": "grid_regions",
    "seed": "seed",
    "content_layer": "content_layer",
    "style_layers": "style_layers", "content_weight": "content_weight",
    "style_weight": "style_weight", "tv_weight": "tv_weight", "flat_weight": "flat_weight",
    "matting_weight": "matting_weight", "hist_weight": "hist_weight",
    "hist_layers": "hist_layers", "smooth": "smooth", "smooth_radius": "smooth_radius",
    "smooth_eps": "smooth_eps", "smooth_sigma": "smooth_sigma",
    "smooth_spatial": "smooth_spatial", "strength": "strength",
    "colour_match": "colour_match", "colour_match_gain": "colour_match_gain",
    "output_size": "output_size",
    "output_profile": "output_profile", "vgg_weights": "vgg_weights", "device": "device",
    "network": "network",
    "max_pixels": "max_pixels", "orphan_policy": "orphan_policy",
    "min_label_fraction": "min_label_fraction", "mask_tolerance": "mask_tolerance",
    "save_every": "save_every", "segment": "segment", "seg_model": "seg_model",
    "seg_regions": "seg_regions",
}


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (the options left at ``None`` were not)."""
    return {field: getattr(args, dest) for dest, field in ARG_FIELDS.items()
            if getattr(args, dest, None) is not None}


def use_recorded_run(args: argparse.Namespace) -> None:
    """``--config REPORT.json``: the recorded run's settings (kept as ``args.recorded_run``
    for :func:`config_from_args`) and its input files where the command line names none; a
    warning for each input whose bytes are not the recorded ones.

    Raises:
        ConfigError: ``--config`` with ``--preset`` or ``--look``, or a report that names no
            content or style where none is given.
    """
    if getattr(args, "config", None) is None:
        if not getattr(args, "content", None):
            raise ConfigError("give --content PHOTO (or --config REPORT.json to repeat a run)")
        return
    if args.preset or args.look:
        raise ConfigError("--config repeats a run with its own settings: give it without "
                          "--preset and --look (options given beside it win)")
    from photostyle.runs.repeat import changed_inputs, read_run

    run = read_run(args.config)
    args.recorded_run = run
    if not args.content:
        if "content" not in run.inputs:
            raise ConfigError(f"--config {args.config}: the report names no content file; "
                              "give --content")
        args.content = [run.inputs["content"]]
        if not (args.content_mask or args.style_mask):
            args.content_mask = run.inputs.get("content_mask")
            args.style_mask = run.inputs.get("style_mask")
    if not args.style:
        if "style" not in run.inputs:
            raise ConfigError(f"--config {args.config}: the report names no style file; "
                              "give --style")
        args.style = run.inputs["style"]
    used = {"content": args.content[0] if len(args.content) == 1 else None,
            "style": args.style, "content_mask": args.content_mask,
            "style_mask": args.style_mask}
    for line in changed_inputs(run, used):
        log.warning("%s", line)


def use_look(args: argparse.Namespace) -> None:
    """``--look NAME``: its style photo (and mask) in place of ``--style``; its settings are
    taken by :func:`config_from_args` (kept as ``args.look_stored``).

    Raises:
        ConfigError: both or neither of ``--style`` and ``--look``, or an unknown look.
    """
    name = getattr(args, "look", None)
    if name is None:
        if not getattr(args, "style", None):
            raise ConfigError("give --style PHOTO, or --look NAME (a look saved with "
                              "'photostyle looks save')")
        return
    if getattr(args, "style", None):
        raise ConfigError("--look and --style: give one (a look brings its style photo)")
    from photostyle.runs.looks import load_look

    look = load_look(name)
    args.look_stored = look
    args.style = str(look.style)
    # the look's style mask pairs with a content mask (or a batch's NAME-mask.png files)
    wants_mask = getattr(args, "content_mask", None) or getattr(args, "out_dir", None)
    if look.style_mask is not None and getattr(args, "style_mask", None) is None and wants_mask:
        args.style_mask = str(look.style_mask)


def config_from_args(args: argparse.Namespace) -> Any:
    """A validated TransferConfig: ``--preset``'s settings, then every option given."""
    from photostyle.engine.config import preset_config

    given = given_settings(args)
    look = getattr(args, "look_stored", None)
    recorded = getattr(args, "recorded_run", None)
    if recorded is not None:  # --config: the recorded run's settings, then the options given
        return recorded.config.replace(**given)
    if look is not None:
        from photostyle.runs.looks import resolve_config

        config = resolve_config(given, getattr(args, "preset", None), look)
    else:
        config = preset_config(getattr(args, "preset", None) or "default", **given)
    if "lr" not in given and config.optimizer == "adam":
        config = config.replace(lr=0.02)
    return config


def snapshot_folder(output: str | Path) -> Path:
    """Where ``--save-every`` writes snapshots: ``<output name>-snapshots/``."""
    p = Path(output)
    return p.with_name(p.name + "-snapshots")


def check_output_options(args: argparse.Namespace, outputs: list[Path], config: Any) -> Any:
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


def output_options(args: argparse.Namespace) -> Any:
    from photostyle.runs.outputs import OutputOptions

    return OutputOptions(quality=args.jpeg_quality, bit_depth=args.bit_depth,
                         strip_metadata=args.strip_metadata, report=args.report,
                         save_transforms=getattr(args, "save_transforms", False),
                         compare=getattr(args, "compare", False),
                         plot=getattr(args, "plot", False), lut=getattr(args, "lut", None),
                         sidecars=getattr(args, "sidecars", "folder"))


def print_lut(report: dict[str, Any]) -> None:
    lut = report.get("lut")
    if lut:
        print(f"LUT {lut['path']}: fit error {lut['mean_de']:.2f} Delta E mean, "
              f"{lut['p95_de']:.2f} at the 95th percentile"
              + (" (too regional for one LUT)" if lut["regional"] else ""), file=sys.stderr)


#: Exit status of a batch in which some photos failed (the others were written).
EXIT_SOME_FAILED = 3


def settings_from_args(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items, then the options ``names`` that were given."""
    from photostyle.engine.config import parse_settings

    given = parse_settings(getattr(args, "set", []))
    for name in names:
        if getattr(args, name, None) is not None:
            given[name] = getattr(args, name)
    return given


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi")


#: Commands whose working size (--size) sets their memory.
SIZED_COMMANDS = frozenset({"transfer", "evaluate", "video"})
