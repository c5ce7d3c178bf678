"""Make a test clip: a camera pan and zoom with changing light over a still photo.

    python scripts/make_test_clip.py -o clip.mp4                      # over data/content.png
    python scripts/make_test_clip.py -o big.mp4 --size 1280x720 --frames 96
    python scripts/make_test_clip.py -o pair3.mp4 --photo ../shared/dpst/input/in3.png
    python scripts/make_test_clip.py -o cut.mp4 --cut-to data/style.png   # with a scene cut

The window glides across the photo while zooming in by a fifth; the light rises and
falls by a tenth and warms a little, as clouds and sun would. With ``--audio`` a quiet tone
is added as an AAC stream (to check that it is carried to the output). Nothing
copyrighted is needed: the default photo is the synthetic sample scene.
"""

from __future__ import annotations

import argparse
import math
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photostyle.files.images import load_image, to_uint8  # noqa: E402


def frame_at(photo: np.ndarray, t: float, size: tuple[int, int], light: float = 0.1
             ) -> np.ndarray:
    """The frame at time ``t`` in [0, 1]: a window of ``photo`` ``(h, w)`` at ``size``,
    its light varied by ``light`` (a share) and warmed by ``0.4 light`` over the clip."""
    h, w = photo.shape[:2]
    out_h, out_w = size
    aspect = out_w / out_h
    zoom = 1.0 + 0.2 * t
    win_w = min(w, h * aspect) / zoom * 0.85
    win_h = win_w / aspect
    cx = win_w / 2 + (w - win_w) * (0.15 + 0.7 * t)
    cy = h / 2 + (h - win_h) * 0.1 * math.sin(2 * math.pi * t)
    x0, y0 = cx - win_w / 2, cy - win_h / 2
    matrix = np.array([[win_w / out_w, 0, x0], [0, win_h / out_h, y0]], np.float32)
    view = cv2.warpAffine(photo, matrix, (out_w, out_h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)
    gain = 1.0 + light * math.sin(2 * math.pi * t)
    warm = np.array([1.0 + 0.4 * light * t, 1.0, 1.0 - 0.4 * light * t], np.float32)
    return to_uint8(np.clip(view * gain * warm, 0, 1))


def main(argv: list[str] | None = None) -> int:
    import av

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--photo", type=Path, default=REPO / "data" / "content.png")
    parser.add_argument("--size", default="320x180", help="WxH (default %(default)s)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--audio", action="store_true", help="add an AAC tone")
    parser.add_argument("--cut-to", type=Path, help="a second photo: a scene cut half way")
    parser.add_argument("--light", type=float, default=0.1,
                        help="how much the light rises and falls (default %(default)s; 0: "
                        "steady light)")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    photo = load_image(args.photo)
    second = load_image(args.cut_to) if args.cut_to else None
    rate = Fraction(args.fps).limit_denominator(1001)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(args.output), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": "16"}
        ctx = video.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = 1, 1, 1, 1
        audio = out.add_stream("aac", rate=48000) if args.audio else None
        if audio is not None:
            audio.layout = "mono"
        samples_done = 0
        for i in range(args.frames):
            t = i / max(args.frames - 1, 1)
            source = second if second is not None and i >= args.frames // 2 else photo
            rgb = frame_at(source, t, (h, w), args.light)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
            if audio is not None:
                upto = round((i + 1) / args.fps * 48000)
                n = upto - samples_done
                tone = 0.1 * np.sin(2 * np.pi * 440 * (samples_done + np.arange(n)) / 48000)
                chunk = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None], format="fltp",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = 48000, samples_done
                samples_done = upto
                for packet in audio.encode(chunk):
                    out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            for packet in audio.encode(None):
                out.mux(packet)
    print(f"{args.output}: {args.frames} frames, {w}x{h}, {args.fps:g} fps"
          + (", with audio" if args.audio else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
