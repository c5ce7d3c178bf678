"""photostyle evaluate: the quality measures of an output against its content and style."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from photostyle.cli.common import EXIT_OK

log = logging.getLogger("photostyle")


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
    network = network_losses(args, content, style, output, masks)
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


def network_losses(args: argparse.Namespace, content: Any, style: Any, output: Any,
                    masks: Any) -> dict[str, float]:
    from photostyle.engine.config import TransferConfig
    from photostyle.engine.network import network_for
    from photostyle.engine.objective import loss_terms
    from photostyle.errors import WeightsError

    weights = args.vgg_weights
    settings: dict[str, Any] = {"size": args.size}
    if args.content_layer:
        settings["content_layer"] = args.content_layer
    if args.style_layers:
        settings["style_layers"] = args.style_layers
    config = TransferConfig(**settings, vgg_weights=weights, device="cpu")
    try:
        extractor = network_for(config)
    except WeightsError as exc:
        if weights is not None:
            raise
        log.warning("network losses skipped: %s", exc)
        return {}
    return loss_terms(content, style, output, masks, config, extractor)
