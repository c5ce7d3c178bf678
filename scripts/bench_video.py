"""Video speed and flicker: the keyframe method against frames styled one by one.

    python scripts/bench_video.py --vgg-weights ../shared/weights/vgg19-conv1_1-conv3_4-imagenet.pth
    python scripts/bench_video.py --size 1280x720 --frames 96 --methods propagate

Makes a test clip with ``scripts/make_test_clip.py`` (a pan and zoom with changing light
over the sample scene, or ``--photo``), styles it with each method and prints, per method:
frames, keyframes and their time, the other frames' rate (decoding, flow, applying and
encoding; not the measures), the flicker ratio (1.0 = no flicker added) and the look's
colour distance to the style (all frames, and the keyframes). Numbers go to
``docs/RESULTS.md``; the machine is shared and noisy, so take them as a guide.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photostyle.engine.config import preset_config  # noqa: E402
from photostyle.runs.video import (  # noqa: E402
    KeyframePolicy,
    VideoOptions,
    VideoSink,
    VideoSource,
    stylise_clip,
)


def _make_clip() -> Any:
    spec = importlib.util.spec_from_file_location("make_test_clip",
                                                  REPO / "scripts" / "make_test_clip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="320x180", help="clip size WxH")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--light", default="0.1", help="the clip's light change (a share)")
    parser.add_argument("--drift", type=float, default=0.35, help="keyframe drift threshold")
    parser.add_argument("--max-gap", type=int, default=0, help="a keyframe every N frames")
    parser.add_argument("--photo", type=Path, default=REPO / "data" / "content.png")
    parser.add_argument("--style", type=Path, default=REPO / "data" / "style.png")
    parser.add_argument("--vgg-weights", default="random")
    parser.add_argument("--methods", default="propagate,frames")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep", type=Path, help="keep the clips in this folder")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    from photostyle.engine.config import parse_setting

    settings = {"vgg_weights": args.vgg_weights, "segment": "none"}
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = parse_setting(key, value)
    config = preset_config("default", **settings)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-video-"))
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / f"clip-{args.size}-{args.frames}-light{args.light}.mp4"
    _make_clip().main(["-o", str(clip), "--size", args.size, "--frames", str(args.frames),
                       "--photo", str(args.photo), "--audio", "--light", args.light])
    figures = {}
    for method in args.methods.split(","):
        source = VideoSource(clip)
        sink = VideoSink(folder / f"{method}.mp4", source.info, clip)
        started = time.perf_counter()
        policy = KeyframePolicy(drift=args.drift, max_gap=args.max_gap)
        report = stylise_clip(source, args.style, sink, config,
                              VideoOptions(method, policy)).report
        sink.close()
        total = time.perf_counter() - started
        seconds = report["seconds"]
        row = {"frames": report["frames"], "keyframes": len(report["keyframes"]),
               "flicker_input_difference": report["flicker"]["input_difference"],
               "keyframe_seconds": seconds["keyframes"],
               "other_frames_per_second": seconds["other_frames_per_second"],
               "flicker": report["flicker"]["ratio"],
               "style_distance": report["look"]["style_distance_mean"],
               "style_distance_keyframes": report["look"]["style_distance_keyframes"],
               "total_seconds": round(total, 1)}
        figures[method] = row
        print(f"{method:>9}: " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"clip": str(clip), "size": args.size,
                                         "settings": settings, "methods": figures}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
