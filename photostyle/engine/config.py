"""Every setting of a transfer, in one frozen dataclass.

The paper's weights (content 5, style 100, total variation 1e-3) are kept; because our loss
terms are normalised (see :mod:`photostyle.losses`), they mean the same at every working
size and with any VGG19 weights. Invalid values raise :class:`~photostyle.errors.ConfigError`
naming the setting.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from photostyle.errors import ConfigError

OPTIMIZERS = ("lbfgs", "lbfgs-wolfe", "adam")
BOUNDS = ("project", "clamp")
INITS = ("transfer", "content", "noise")
SMOOTHERS = ("local-affine", "guided", "none")
#: What the optimiser varies: the output's pixels (the paper's way) or a bilateral grid of
#: affine colour transforms of the content (:mod:`photostyle.engine.grid`).
VARIABLES = ("pixels", "grid")
ORPHAN_POLICIES = ("whole-style", "drop")
#: Device names: ``cuda:N`` picks one of several NVIDIA GPUs, ``mps`` Apple's GPU.
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
SEGMENT_MODES = ("none", "auto")
OUTPUT_PROFILES = ("content", "srgb")

#: Largest step size: L-BFGS starts at 1, Adam at 0.02 (on pixel values in [0, 1]); far
#: beyond this every step leaves the box at once.
MAX_LR = 1e6
#: Largest preconditioner boost: its top level weighs boost**levels (levels <= 12), which
#: must stay a float32 number; beyond 3 it already does worse (docs/RESULTS.md).
MAX_PRECONDITION_BOOST = 16.0

#: The built-in segmenter's defaults (``seg_regions``, ``seg_inside_weight``; chosen on the
#: 40 pairs, docs/RESULTS.md) and the most regions it can make (one palette colour each).
SEG_REGIONS = 3
SEG_INSIDE_WEIGHT = 2.0
MAX_SEG_REGIONS = 6

#: The ADE20K SegFormer that ``seg_model`` can name (a download; non-commercial licence).
SEGFORMER_MODEL = "smp-hub/segformer-b2-512x512-ade-160k"
#: Issue 33: 40 + 20 steps with the content loss at relu3_1, instead of 80 + 40 at relu3_2:
#: about 17 s instead of 44 s a pair on 2 CPU cores, a higher style distance than 80 + 40
#: but preferred by blind judges, and to the paper's results (docs/RESULTS.md: the 40 pairs;
#: 30 + 30 steps scored closer to 80 + 40 and lost to 40 + 20 by eye). ``--preset strong``
#: keeps the previous default (80 + 40, relu3_2).
DEFAULT_ITERATIONS = 20
DEFAULT_COARSE_ITERATIONS = 40
#: The schedule of ``--preset strong`` and ``quality``: the default until issue 33, verified
#: on the 40 pairs as such (a schedule of its own, not derived from the default's).
STRONG_ITERATIONS = (80, 40)
#: Their content layer (the default's until issue 33).
STRONG_CONTENT_LAYER = "relu3_2"
#: The paper's layers (content relu4_2; style relu1_1 ... relu5_1): they need full VGG19
#: weights, which have never been run here; one pair of flags away.
PAPER_CONTENT_LAYER = "relu4_2"
PAPER_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: The default layers, verified with the real (original) VGG19 weights on the paper's 40
#: pairs (``../shared`` holds those weights up to relu3_4). The content layer is relu3_1
#: since issue 33 (relu3_2 before: the same measures on ten pairs, a quarter of the network's
#: time more, since conv3_2 costs as much per pixel as conv1_2 or conv2_2).
VERIFIED_CONTENT_LAYER = "relu3_1"
VERIFIED_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@dataclass(frozen=True)
class TransferConfig:
    """Settings of one photorealistic style transfer.

    Attributes:
        size: long side, in pixels, of the finest optimisation level (the working size).
        scales: number of pyramid levels; level ``k`` (coarse to fine) works at
            ``size / 2**(scales-1-k)``.
        iterations: optimiser iterations per level, coarse to fine (one value is used for
            every level); ``None`` uses :data:`DEFAULT_ITERATIONS` (finest level) and
            :data:`DEFAULT_COARSE_ITERATIONS` (every coarser level).
        optimizer: ``"lbfgs"`` (default: one network pass per iteration, no line search),
            ``"lbfgs-wolfe"`` (strong-Wolfe line search) or ``"adam"``.
        lr: step size; L-BFGS uses it as its initial step (1.0 is standard), Adam as its
            learning rate on pixel values in [0, 1].
        lbfgs_history: number of correction pairs L-BFGS keeps.
        patience: end a level early once this many evaluations in a row improve the best
            loss by less than 0.1 %; 0 runs every iteration.
        lbfgs_restart: when an L-BFGS evaluation's loss exceeds the best so far by more than
            this fraction (e.g. 0.1), return to the best image with a fresh L-BFGS memory;
            0 (default) never restarts. Restarts lower the loss where plain L-BFGS stalls,
            which moves results towards the content (see docs/RESULTS.md).
        bounds: how ``"lbfgs"`` keeps pixel values in [0, 1]: ``"project"`` (default:
            L-BFGS on the box, :class:`photostyle.engine.optimize.BoxLBFGS`) or ``"clamp"``
            (clamp between steps of torch's L-BFGS, as earlier versions did; that spoils
            its curvature estimates and the loss oscillates, see :mod:`photostyle.optimize`).
        precondition_levels: ``bounds="project"`` only: L-BFGS's initial inverse Hessian
            becomes ``I + sum_k boost^k B_k`` (``B_k``: mean over ``2^k x 2^k`` blocks, ``k``
            up to this many levels), so smooth changes such as a region's colour move faster
            than pixel detail (:func:`photostyle.engine.optimize.pyramid_preconditioner`); default
            5 (blocks up to 32 px); 0: the plain scaled identity, as before.
        precondition_boost: ``boost`` of the preconditioner's levels.
        init: starting image of the coarsest level: ``"transfer"`` (the content recoloured
            region by region with the style's colour statistics, see
            :mod:`photostyle.colour`), ``"content"`` or ``"noise"``.
        variable: what is optimised: ``"pixels"`` (the output image, as in the paper) or
            ``"grid"`` (a bilateral grid of affine colour transforms of the content,
            :mod:`photostyle.engine.grid`: photorealistic by construction, few unknowns,
            independent of the image size). With ``"grid"``, ``init="transfer"`` starts from
            the grid closest to the per-region colour transfer and ``"noise"`` is refused.
            With ``smooth="none"`` the grid itself is the look, sliced at the output size
            with the content's own luminance (sharper, but less locally affine at full
            resolution); with a smoother, its image at the working size is smoothed like an
            optimised image.
        grid_cells: ``variable="grid"``: cells along the photo's long side.
        grid_bins: ``variable="grid"``: bins of the content's luminance.
        grid_regions: ``variable="grid"``: one block of luminance bins per mask region,
            so that each region's look is its own and does not bleed across the region's
            border (:func:`photostyle.engine.grid.slice_coefficients`); needs a smoother.
        grid_weight: ``variable="grid"``: weight of the grid's smoothness
            (:func:`photostyle.engine.grid.grid_smoothness`, along x, y and luminance).
        seed: random seed (noise initialisation, random-weight networks).
        content_layer: VGG19 layer of the content loss (default ``relu3_1``; the paper's is
            :data:`PAPER_CONTENT_LAYER`).
        style_layers: VGG19 layers of the style loss (default ``relu1_1, relu2_1,
            relu3_1``; the paper's are :data:`PAPER_STYLE_LAYERS`).
        content_weight, style_weight, tv_weight, matting_weight: weights of the normalised
            loss terms; 0 switches a term off and skips its cost.
        hist_weight: weight of the per-region histogram loss (Wilmot, Risser and Barnes
            2017; :func:`photostyle.engine.losses.histogram_loss`); 0 (default): off.
        hist_layers: VGG19 layers of the histogram loss (default ``relu1_1, relu3_1``:
            the shallowest and deepest of the verified style layers; Risser et al. use
            relu1_1 and relu4_1).
        flat_weight: weight of the flat-region term (:func:`photostyle.engine.losses.
            flat_change_loss`: the change of colour kept smooth where the content is flat);
            0 switches it off. The default, 3e5, was chosen on the 40 pairs (docs/RESULTS.md).
        matting_radius, matting_eps: window radius and regulariser of the matting Laplacian.
        smooth: final smoothing, ``"local-affine"``, ``"guided"`` or ``"none"``.
        smooth_radius: window radius (pixels at the working size) of the smoothing fit.
        smooth_eps: ridge regulariser of the local affine fit (in squared [0, 1] units).
        smooth_sigma: edge sensitivity of the coefficient smoothing (in [0, 1] colour units;
            smaller keeps edges sharper).
        smooth_spatial: spatial extent (pixels at the working size) of the coefficient
            smoothing of ``"local-affine"``.
        colour_match: after the optimisation, each region's colours are moved this far
            (0 to 1) towards the style region's mean and covariance by one affine colour
            map per region (:func:`photostyle.engine.colour.region_colour_transfer` applied
            to the optimised image at the working size, before the smoothing fits the look
            to the content); 0: off. The default, 0.5 with ``colour_match_gain=1``, was
            chosen on the 40 pairs (docs/RESULTS.md, issue 33): closer to the style by
            every colour measure, and preferred by eye.
        colour_match_gain: the largest gain (eigenvalue) of a region's colour map in
            ``colour_match``, at least 1. The default, 1, only shifts and narrows each
            region's colours, never amplifies their contrast (nor what the optimisation
            painted: with 3, judges saw glows and blotches grow).
        strength: how much of the look to apply, 0 to 1 (default 1). The local affine
            transforms are scaled towards the identity (``A = I + s (A - I)``, ``b = s b``),
            so every strength is photorealistic and 0 returns the content itself; with
            ``smooth="none"`` the optimised image is blended with the content instead.
        output_size: long side of the written image; ``None`` keeps the content file's own
            resolution.
        output_limit: the output's long side is at most this many pixels (a smaller photo
            is not enlarged); ``None``: no limit. Applied after ``output_size``.
        output_profile: ``"content"`` (default): the result is encoded in the content's
            own colour profile, which the written file embeds; ``"srgb"``: in sRGB. The
            work itself is always done in sRGB (see :mod:`photostyle.icc`).
        vgg_weights: path of a VGG19 state dict, ``"random"`` for untrained weights
            (benchmarks, tests), ``"embedded"`` for the original VGG19's conv1_1 ...
            conv3_4 that come with photostyle, ``"original"`` or ``"torchvision"`` for
            those full ImageNet weights (downloaded into the torch cache), or ``None``
            for the default: ``"embedded"`` when it covers the layers in use, else
            ``"original"`` (:mod:`photostyle.engine.network`).
        network: the backbone, ``"vgg19"`` (default) or ``"vgg16"`` (same layer names, up
            to ``relu5_3``; its weights are VGG16's: ``vgg_weights`` names or files of VGG16).
        device: ``"auto"`` (a CUDA GPU when torch sees one, else the CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"`` (the N-th GPU) or ``"mps"`` (Apple's GPU; never run by
            the developers, so ``auto`` does not pick it).
        max_pixels: largest image (width x height) that is opened.
        segment: without mask files, ``"auto"`` segments both photos automatically into
            matching regions (with ``seg_model``) and ``"none"`` transfers the style image
            as a whole. Mask files, when given, always take precedence.
        seg_model: the segmenter of ``segment="auto"``: ``"builtin"`` (default: no
            download, :mod:`photostyle.engine.autoseg`), or a segmentation-models-pytorch
            hub name or local folder of an ADE20K SegFormer (:mod:`photostyle.engine.segment`,
            downloaded on first use; SegFormer's weights are licensed for non-commercial
            use only), e.g. :data:`SEGFORMER_MODEL`.
        seg_regions: how many regions the built-in segmenter makes (1 to 6; fewer where a
            region one photo hardly has is merged away). 3 (default) or 2 (the default
            before it; a little better on faces and some night towns, docs/RESULTS.md). The
            SegFormer's regions are its classes: this setting does not apply to it.
        seg_inside_weight: the weight of a pixel's distance from the photo's edges among the
            built-in segmenter's descriptors (:mod:`photostyle.engine.autoseg`): 2 (default)
            or 0 (before it; with ``seg_regions=2`` the built-in segmenter of earlier
            versions).
        orphan_policy: what styles a content label that the style image lacks:
            ``"whole-style"`` (the whole style image) or ``"drop"`` (no style loss there).
        min_label_fraction: labels covering less than this share of either image are dropped.
        mask_tolerance: largest per-channel distance (0-255) between a mask pixel and a
            palette colour for the pixel to take that label.
        save_every: write a snapshot every N iterations (0: never).
    """

    size: int = 400
    scales: int = 2
    iterations: tuple[int, ...] | None = None
    optimizer: str = "lbfgs"
    lr: float = 1.0
    lbfgs_history: int = 20
    patience: int = 0
    lbfgs_restart: float = 0.0
    bounds: str = "project"
    precondition_levels: int = 5
    precondition_boost: float = 2.0
    init: str = "transfer"
    variable: str = "pixels"
    grid_cells: int = 16
    grid_bins: int = 8
    grid_weight: float = 10.0
    grid_regions: bool = False
    seed: int = 0
    content_layer: str = VERIFIED_CONTENT_LAYER
    style_layers: tuple[str, ...] = VERIFIED_STYLE_LAYERS
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e-3
    flat_weight: float = 3e5
    hist_weight: float = 0.0
    hist_layers: tuple[str, ...] = ("relu1_1", "relu3_1")
    matting_weight: float = 1e4
    matting_radius: int = 1
    matting_eps: float = 1e-7
    smooth: str = "local-affine"
    smooth_radius: int = 2
    smooth_eps: float = 1e-4
    smooth_sigma: float = 0.1
    smooth_spatial: float = 8.0
    colour_match: float = 0.5
    colour_match_gain: float = 1.0
    strength: float = 1.0
    output_size: int | None = None
    output_limit: int | None = None
    output_profile: str = "content"
    vgg_weights: str | None = None
    network: str = "vgg19"
    device: str = "auto"
    max_pixels: int = 150_000_000
    segment: str = "auto"
    seg_model: str = "builtin"
    seg_regions: int = SEG_REGIONS
    seg_inside_weight: float = SEG_INSIDE_WEIGHT
    orphan_policy: str = "whole-style"
    min_label_fraction: float = 0.002
    mask_tolerance: int = 48
    save_every: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Normalise sequences given as lists or strings.
        if self.iterations is None:
            pass
        elif isinstance(self.iterations, int):
            object.__setattr__(self, "iterations", (self.iterations,))
        elif isinstance(self.iterations, str):
            object.__setattr__(self, "iterations", parse_int_list(self.iterations, "iterations"))
        else:
            object.__setattr__(self, "iterations", tuple(int(i) for i in self.iterations))
        for name in ("style_layers", "hist_layers"):
            value = getattr(self, name)
            object.__setattr__(self, name, parse_name_list(value) if isinstance(value, str)
                               else tuple(value))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting."""
        _check_int(self.size, "size", 16, 8192)
        _check_int(self.scales, "scales", 1, 8)
        if self.size / 2 ** (self.scales - 1) < 16:
            raise ConfigError(
                f"scales: {self.scales} levels below size {self.size} give a coarsest level "
                "under 16 px; use fewer scales or a larger size"
            )
        if self.iterations is not None:
            if not self.iterations or len(self.iterations) not in (1, self.scales):
                raise ConfigError(
                    f"iterations: give one value or one per level ({self.scales}), "
                    f"got {len(self.iterations)}"
                )
            for it in self.iterations:
                _check_int(it, "iterations", 0, 100_000)
        _check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        _check_float(self.lr, "lr", positive=True, most=MAX_LR)
        _check_int(self.lbfgs_history, "lbfgs_history", 1, 1000)
        _check_int(self.patience, "patience", 0, 100_000)
        _check_float(self.lbfgs_restart, "lbfgs_restart", positive=False)
        _check_choice(self.bounds, "bounds", BOUNDS)
        _check_int(self.precondition_levels, "precondition_levels", 0, 12)
        _check_float(self.precondition_boost, "precondition_boost", positive=True,
                     most=MAX_PRECONDITION_BOOST)
        _check_choice(self.init, "init", INITS)
        _check_choice(self.variable, "variable", VARIABLES)
        _check_int(self.grid_cells, "grid_cells", 1, 256)
        _check_int(self.grid_bins, "grid_bins", 2, 64)
        _check_float(self.grid_weight, "grid_weight", positive=False)
        if self.variable == "grid":
            if self.grid_regions and self.smooth == "none":
                raise ConfigError("grid_regions: the grid of regions is smoothed into the "
                                  "look; give a smoother (local-affine or guided)")
            if self.init == "noise":
                raise ConfigError("init: noise has no grid of colour transforms; use "
                                  "transfer or content with variable grid")
            if self.optimizer == "lbfgs-wolfe" or (self.optimizer == "lbfgs"
                                                   and self.bounds == "clamp"):
                raise ConfigError("optimizer: variable grid takes lbfgs (bounds project) "
                                  "or adam")
        _check_int(self.seed, "seed", 0, 2**63 - 1)
        from photostyle.engine.layers import NETWORKS, check_layer_names

        _check_choice(self.network, "network", NETWORKS)
        check_layer_names([self.content_layer], "content_layer", self.network)
        if not self.style_layers:
            raise ConfigError("style_layers: give at least one layer")
        check_layer_names(self.style_layers, "style_layers", self.network)
        if self.hist_weight > 0 and not self.hist_layers:
            raise ConfigError("hist_layers: give at least one layer (or hist_weight 0)")
        check_layer_names(self.hist_layers, "hist_layers", self.network)
        for name in ("content_weight", "style_weight", "tv_weight", "flat_weight",
                     "hist_weight", "matting_weight"):
            _check_float(getattr(self, name), name, positive=False)
        _check_int(self.matting_radius, "matting_radius", 1, 10)
        _check_float(self.matting_eps, "matting_eps", positive=True)
        _check_choice(self.smooth, "smooth", SMOOTHERS)
        _check_int(self.smooth_radius, "smooth_radius", 1, 64)
        _check_float(self.smooth_eps, "smooth_eps", positive=True)
        _check_float(self.smooth_sigma, "smooth_sigma", positive=True)
        _check_float(self.smooth_spatial, "smooth_spatial", positive=True)
        _check_float(self.strength, "strength", positive=False, most=1.0)
        _check_float(self.colour_match, "colour_match", positive=False, most=1.0)
        _check_float(self.colour_match_gain, "colour_match_gain", positive=True, most=10.0)
        if self.colour_match_gain < 1.0:
            raise ConfigError(f"colour_match_gain: must be at least 1, got "
                              f"{self.colour_match_gain:g}")
        if self.output_size is not None:
            _check_int(self.output_size, "output_size", 16, 65536)
        if self.output_limit is not None:
            _check_int(self.output_limit, "output_limit", 16, 65536)
        _check_choice(self.output_profile, "output_profile", OUTPUT_PROFILES)
        check_device(self.device)
        _check_int(self.max_pixels, "max_pixels", 1, 2**40)
        _check_choice(self.segment, "segment", SEGMENT_MODES)
        _check_int(self.seg_regions, "seg_regions", 1, MAX_SEG_REGIONS)
        _check_float(self.seg_inside_weight, "seg_inside_weight", positive=False, most=100.0)
        _check_choice(self.orphan_policy, "orphan_policy", ORPHAN_POLICIES)
        _check_float(self.min_label_fraction, "min_label_fraction", positive=False)
        if self.min_label_fraction >= 0.5:
            raise ConfigError("min_label_fraction: must be below 0.5")
        _check_int(self.mask_tolerance, "mask_tolerance", 0, 255)
        _check_int(self.save_every, "save_every", 0, 10**9)

    def layers_in_use(self) -> list[str]:
        """Every network layer the losses read: content, style and (when on) histogram."""
        hist = list(self.hist_layers) if self.hist_weight > 0 else []
        return list(dict.fromkeys([self.content_layer, *self.style_layers, *hist]))

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """The output's ``(h, w)`` for a content of ``height x width`` pixels."""
        from photostyle.files.images import fit_long_side

        if self.output_size is not None:
            height, width = fit_long_side(height, width, self.output_size)
        if self.output_limit is not None and max(height, width) > self.output_limit:
            height, width = fit_long_side(height, width, self.output_limit)
        return height, width

    def iterations_per_level(self) -> tuple[int, ...]:
        """Iterations of each level, coarse to fine (length ``scales``)."""
        if self.iterations is None:
            return (DEFAULT_COARSE_ITERATIONS,) * (self.scales - 1) + (DEFAULT_ITERATIONS,)
        if len(self.iterations) == 1:
            return self.iterations * self.scales
        return self.iterations

    def level_sizes(self, image_long_side: int | None = None) -> tuple[int, ...]:
        """Long side of each level, coarse to fine.

        Args:
            image_long_side: the content's own long side; the finest level never exceeds it
                (a small photo is not enlarged to be optimised).
        """
        finest = self.size if image_long_side is None else min(self.size, image_long_side)
        return tuple(
            max(1, round(finest / 2 ** (self.scales - 1 - k))) for k in range(self.scales)
        )

    def replace(self, **changes: Any) -> TransferConfig:
        """A copy with some settings changed (validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], recorded: bool = False) -> TransferConfig:
        """The settings of :meth:`to_dict`'s dictionary (a report's ``"config"``): the
        same run again. Settings left out take their defaults; with ``recorded`` (``data``
        is a report's complete record) a setting it lacks did not exist when the report was
        written, and takes the value that behaves as that version did
        (:data:`BEFORE_ADDED`).

        Raises:
            ConfigError: not a dictionary, an unknown setting (named), or an invalid value.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"settings: expected a dictionary, got {type(data).__name__}")
        if recorded:
            data = {**{k: v for k, v in BEFORE_ADDED.items() if k not in data}, **data}
        fields = _config_fields()
        unknown = sorted(str(k) for k in data if k not in fields)
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown setting (from another version of "
                              "photostyle?); settings are " + ", ".join(sorted(fields)))
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        config = cls(**values)
        if config.iterations is not None:  # to_dict writes the schedule out level by level
            default = config.replace(iterations=None)
            if default.iterations_per_level() == config.iterations:
                return default
        return config

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every setting (:meth:`from_dict` reads it back)."""
        out = dataclasses.asdict(self)
        out.pop("extra")
        out["iterations"] = list(self.iterations_per_level())
        out["style_layers"] = list(self.style_layers)
        out["hist_layers"] = list(self.hist_layers)
        return out


#: Settings added to photostyle after reports were first written, with the value that
#: behaves as photostyle did before each existed: a report that lacks one is repeated so.
BEFORE_ADDED: dict[str, Any] = {"colour_match": 0.0, "seg_regions": 2,
                                 "seg_inside_weight": 0.0}


#: Named sets of settings (``--preset``); explicit settings override them. ``default``,
#: ``strong`` and ``preview`` have been verified here with real weights on the paper's 40
#: pairs (docs/RESULTS.md); ``quality`` is an earlier default (512 px, 80 + 40 steps, measured
#: there too before the flat-region term); ``paper`` and ``artistic`` need VGG19 weights
#: beyond relu3_4, which are downloaded by default but could not be run here.
PRESETS: dict[str, dict[str, Any]] = {
    # the default's own starting image (per-region colour transfer) made locally affine by
    # the smoothing: no VGG19, no optimisation; a 700-px photo in about a second
    "preview": {"scales": 1, "iterations": (0,), "init": "transfer", "output_limit": 700},
    "default": {},
    # the previous default's schedule (issue 33): further into the style, about twice the time;
    # preferred where the look is far from the content (night lighting, infrared foliage),
    # more blotches and fringes elsewhere
    "strong": {"iterations": STRONG_ITERATIONS, "content_layer": STRONG_CONTENT_LAYER,
               "colour_match": 0.0},
    # an earlier default's working size and schedule: 512 px, 80 + 40 steps, about 3x the time
    "quality": {"size": 512, "iterations": STRONG_ITERATIONS,
                "content_layer": STRONG_CONTENT_LAYER, "colour_match": 0.0},
    # the paper's layers, weights and iteration count (one stage: every term at once)
    "paper": {"content_layer": PAPER_CONTENT_LAYER, "style_layers": PAPER_STYLE_LAYERS,
              "content_weight": 5.0, "style_weight": 100.0, "tv_weight": 1e-3,
              "matting_weight": 1e4, "flat_weight": 0.0, "size": 512, "scales": 1,
              "iterations": (1000,), "init": "content", "precondition_levels": 0,
              "patience": 0, "colour_match": 0.0},
    # plain Gatys et al.: the whole style photo, no photorealism term, no smoothing
    "artistic": {"content_layer": PAPER_CONTENT_LAYER, "style_layers": PAPER_STYLE_LAYERS,
                 "matting_weight": 0.0, "flat_weight": 0.0, "smooth": "none",
                 "segment": "none", "size": 512, "iterations": (200, 100),
                 "init": "content", "colour_match": 0.0},
}


def preset_config(name: str, **settings: Any) -> TransferConfig:
    """The settings of preset ``name`` (:data:`PRESETS`) with ``settings`` on top.

    Raises:
        ConfigError: unknown preset or invalid settings.
    """
    if name not in PRESETS:
        raise ConfigError(f"preset: must be one of {', '.join(PRESETS)}; got {name!r}")
    return TransferConfig(**{**PRESETS[name], **settings})


def parse_int_list(text: str, name: str) -> tuple[int, ...]:
    """Parse ``"200,100"`` into ``(200, 100)``; raise ConfigError naming ``name``."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{name}: expected at least one integer, got {text!r}")
    return values


def parse_name_list(text: str | Sequence[str]) -> tuple[str, ...]:
    """Parse ``"relu1_1, relu2_1"`` into a tuple of stripped names."""
    if isinstance(text, str):
        return tuple(v.strip() for v in text.split(",") if v.strip())
    return tuple(text)


def _check_int(value: Any, name: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: must be between {lo} and {hi}, got {value}")


#: Largest float32: settings become float32 tensor arithmetic, so a larger value overflows.
FLOAT32_MAX = 3.4028234663852886e38


def _check_float(value: Any, name: str, *, positive: bool, most: float = FLOAT32_MAX) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name}: must be finite, got {value}")
    if value > most:
        raise ConfigError(f"{name}: must be at most {most:g}, got {value:g}")
    if positive and value <= 0:
        raise ConfigError(f"{name}: must be positive, got {value}")
    if not positive and value < 0:
        raise ConfigError(f"{name}: must not be negative, got {value}")


def check_device(value: Any, name: str = "device") -> str:
    """``value`` if it names a device photostyle takes (:data:`DEVICES`); else ConfigError."""
    if isinstance(value, str):
        if value in ("auto", "cpu", "cuda", "mps"):
            return value
        index = value.removeprefix("cuda:")
        if value.startswith("cuda:") and index.isdigit() and int(index) < 1024:
            return value
    raise ConfigError(f"{name}: must be auto, cpu, cuda, cuda:N (one of several GPUs) or mps "
                      f"(Apple's GPU); got {value!r}")


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}: must be one of {', '.join(choices)}; got {value!r}")


def _config_fields() -> dict[str, Any]:
    return {f.name: f for f in dataclasses.fields(TransferConfig) if f.name != "extra"}


def parse_setting(key: str, text: str) -> Any:
    """Parse one value of a TransferConfig field (or ``masks``) from text.

    Raises:
        ConfigError: unknown setting or a value of the wrong type.
    """
    key = key.strip().replace("-", "_")
    if key == "masks":
        if text not in MASK_MODES:
            raise ConfigError(f"masks: must be one of {', '.join(MASK_MODES)}; got {text!r}")
        return text
    fields = _config_fields()
    if key not in fields:
        raise ConfigError(f"{key}: unknown setting; settings are masks, "
                          + ", ".join(sorted(fields)))
    default = getattr(TransferConfig(), key)
    text = text.strip()
    try:
        if key in ("style_layers", "hist_layers"):
            return tuple(t for t in re.split(r"[+ ]", text) if t)
        if key == "iterations":  # "80+40" (as in --vary, where "," separates values)
            if text.lower() == "none":
                return None
            return tuple(int(t) for t in re.split(r"[+,]", text))
        if text.lower() == "none" and default is None:
            return None  # e.g. output_size=none; "none" stays a word for smooth, segment
        if isinstance(default, bool):
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int) or key == "output_size":
            return int(float(text)) if float(text).is_integer() else int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        expected = ("levels' counts joined by '+', e.g. 80+40" if key == "iterations"
                    else f"a {type(default).__name__}")
        raise ConfigError(f"{key}: cannot read {text!r} as {expected}") from None
    return text


MASK_MODES = ("manual", "none", "auto")


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items (``--set``) as settings, each value parsed as its field's type.

    Raises:
        ConfigError: an item without ``=``, an unknown key or a bad value.
    """
    given: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set: expected KEY=VALUE, got {item!r}")
        given[key.strip().replace("-", "_")] = parse_setting(key, value)
    return given
