"""Video: the transforms carried along the flow, the flicker measure, the files (PyAV, and
FFmpeg as an outside reader), keyframes, bad clips and interruptions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from photostyle.cli import main
from photostyle.engine.config import TransferConfig
from photostyle.engine.smooth import render
from photostyle.errors import ConfigError, InputError
from photostyle.runs.outputs import report_path
from photostyle.runs.video.clip import VideoSink, VideoSource
from photostyle.runs.video.flicker import FlickerMeter
from photostyle.runs.video.flow import consistent
from photostyle.runs.video.method import (
    KeyframePolicy,
    Propagator,
    VideoOptions,
    apply_to_frame,
    fill_by_colour,
    look_coefficients,
    stylise_clip,
)

from ..conftest import (
    DPST,
    REPO,
    SHARED_WEIGHTS,
    gradient_image,
    load_script,
    requires_shared,
    save_png,
)

av = pytest.importorskip("av")

STYLE = REPO / "data" / "style.png"


def _script() -> ModuleType:
    return load_script("make_test_clip")


make_test_clip = _script()


def make_clip(path: Path, frames: int = 12, size: str = "160x96", *extra: str) -> Path:
    assert make_test_clip.main(["-o", str(path), "--frames", str(frames), "--size", size,
                                *extra]) == 0
    return path


def tiny(weights: Path) -> TransferConfig:
    return TransferConfig(vgg_weights=str(weights), content_layer="relu2_1",
                          style_layers=("relu1_1", "relu2_1"), size=48, iterations=(4, 3),
                          segment="none", device="cpu")


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def smooth_texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((h, w)).astype(np.float32)
    return (cv2.GaussianBlur(noise, (0, 0), 2.0) * 255).clip(0, 255).astype(np.uint8)


# the method ---------------------------------------------------------------------------------


def test_apply_to_frame_matches_the_image_path() -> None:
    rng = np.random.default_rng(1)
    h, w = 12, 20
    a = np.eye(3, dtype=np.float32) + 0.1 * rng.standard_normal((h, w, 3, 3)).astype(
        np.float32)
    b = 0.05 * rng.standard_normal((h, w, 3)).astype(np.float32)
    frame = (gradient_image(60, 100) * 255).astype(np.uint8)
    ours = apply_to_frame(look_coefficients(a, b), frame).astype(int)
    image = np.clip(render(a, b, frame.astype(np.float64) / 255), 0, 1)
    assert np.abs(ours - np.round(image * 255)).max() <= 1
    half = apply_to_frame(look_coefficients(a, b, 0.5), frame).astype(int)
    reference = np.round(np.clip(render(a, b, frame / 255.0, 0.5), 0, 1) * 255)
    assert np.abs(half - reference).max() <= 1
    # below 0 and above 1 clip, in every channel
    dark = np.zeros((h, w, 12), np.float32)
    dark[..., 9:] = -2.0
    assert apply_to_frame(dark, frame).max() == 0
    dark[..., 9:] = 2.0
    assert apply_to_frame(dark, frame).min() == 255
    # strength 0 is the identity: the frame comes back untouched
    np.testing.assert_array_equal(apply_to_frame(look_coefficients(a, b, 0.0), frame), frame)


def test_flow_consistency_by_hand() -> None:
    h, w = 20, 30
    shift = np.zeros((h, w, 2), np.float32)
    shift[..., 0] = 2.0  # every pixel moved 2 px right
    ok = consistent(shift, -shift)
    assert ok[:, 2:].all() and not ok[:, :2].any()  # the first columns came from outside
    wrong = -shift.copy()
    wrong[5:10, 10:20, 1] = 4.0  # there the backward flow disagrees with the forward one
    ok = consistent(shift, wrong)
    assert not ok[5:10, 10:20].any() and ok[12:, 5:].all()


def test_transforms_move_with_the_scene() -> None:
    """A frame panned 3 px left: the transforms follow the texture, 3 px left."""
    texture = smooth_texture(64, 140)
    first, second = texture[:, 10:110], texture[:, 13:113]
    coefficients = np.zeros((64, 100, 12), np.float32)
    coefficients[..., 9] = np.linspace(0, 1, 100)[None, :]  # b's red ramps along x
    tracker = Propagator(coefficients, first)
    ok = tracker.advance(second)
    moved = tracker.coefficients[..., 9]
    expected = np.clip(np.linspace(0, 1, 100)[None, :] + 3 / 99, 0, 1)
    inner = (slice(8, 56), slice(8, 90))
    assert np.abs(moved[inner] - expected[:, 8:90].repeat(48, 0)).max() < 0.01
    assert ok[inner].mean() > 0.95
    assert tracker.drift() < 0.1


def test_entering_content_takes_the_transforms_of_its_colour() -> None:
    colour = np.zeros((4, 6, 3), np.uint8)
    colour[:, :3] = (20, 160, 30)  # green on the left, grey on the right
    colour[:, 3:] = (120, 120, 120)
    coefficients = np.zeros((4, 6, 2), np.float32)
    coefficients[:, :3] = (1.0, 2.0)
    coefficients[:, 3:] = (5.0, 6.0)
    known = np.ones((4, 6), bool)
    known[:, 5] = False  # the last column entered the frame: border values would be grey's
    colour[:2, 5] = (22, 165, 31)  # ... but its top is green (the same cell), its bottom grey
    filled = fill_by_colour(coefficients, colour, known)
    np.testing.assert_array_equal(filled[:2, 5], [[1.0, 2.0]] * 2)
    np.testing.assert_array_equal(filled[2:, 5], [[5.0, 6.0]] * 2)
    np.testing.assert_array_equal(filled[:, :5], coefficients[:, :5])
    colour[3, 5] = (250, 0, 250)  # a colour no known pixel has: keeps what it had
    coefficients[3, 5] = (9.0, 9.0)
    assert list(fill_by_colour(coefficients, colour, known)[3, 5]) == [9.0, 9.0]


def test_flicker_measure_by_hand() -> None:
    """Identical output: 1.0; the output at half contrast: 0.5; a brightness jitter from
    frame to frame: far above 1."""
    frames = [np.clip(smooth_texture(48, 64, 0).astype(int)[:, :, None].repeat(3, 2)
                      * 0.6 + 40 + i, 0, 255).astype(np.uint8) for i in range(6)]
    same, half, jitter = FlickerMeter(), FlickerMeter(), FlickerMeter()
    for i, f in enumerate(frames):
        same.add(f, f)
        half.add(f, (f.astype(np.float32) * 0.5).round().astype(np.uint8))
        jitter.add(f, np.clip(f.astype(int) + (12 if i % 2 else -12), 0, 255).astype(np.uint8))
    assert same.ratio() == pytest.approx(1.0)
    assert half.ratio() == pytest.approx(0.5, abs=0.05)
    # half the contrast, and half the differences: no flicker relative to the detail
    assert half.gain() == pytest.approx(0.5, abs=0.05)
    assert half.relative() == pytest.approx(1.0, abs=0.05)
    assert same.relative() == pytest.approx(1.0)
    assert jitter.ratio() > 5 and jitter.relative() > 5
    assert FlickerMeter().summary()["ratio"] is None


def test_keyframe_policy_is_checked() -> None:
    with pytest.raises(ConfigError, match="drift"):
        KeyframePolicy(drift=0)
    with pytest.raises(ConfigError, match="method"):
        VideoOptions(method="fast")
    with pytest.raises(ConfigError, match="together"):
        VideoOptions(keyframe_masks=Path("masks"))


# clips end to end ---------------------------------------------------------------------------


def test_a_clip_keeps_rate_count_size_audio_and_colour(tmp_path: Path,
                                                       shallow_vgg_file: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 12, "160x96", "--audio")
    source = VideoSource(clip)
    assert source.info.frames == 12 and source.info.audio and source.info.size == (96, 160)
    sink = VideoSink(tmp_path / "out.mp4", source.info, clip)
    outcome = stylise_clip(source, STYLE, sink, tiny(shallow_vgg_file))
    sink.close()
    report = outcome.report
    assert report["status"] == "completed" and report["frames"] == 12
    assert [k["frame"] for k in report["keyframes"]] == [0]
    assert report["flicker"]["ratio"] is not None and len(report["look"]["per_frame"]) == 12
    assert not (tmp_path / ".out.mp4.partial.mp4").exists()
    with av.open(str(tmp_path / "out.mp4")) as out, av.open(str(clip)) as inp:
        v, vi = out.streams.video[0], inp.streams.video[0]
        assert v.codec_context.name == "h264"
        assert (v.width, v.height) == (160, 96) and v.average_rate == vi.average_rate
        for tag in ("colorspace", "color_primaries", "color_trc", "color_range"):
            assert getattr(v.codec_context, tag) == getattr(vi.codec_context, tag), tag
        assert len(out.streams.audio) == 1
        assert abs(float(out.duration - inp.duration)) / 1e6 < 0.1
    frames = decode(tmp_path / "out.mp4")
    assert len(frames) == 12
    assert np.abs(frames[5].astype(int) - decode(clip)[5]).mean() > 3  # it was styled


def test_ffmpeg_reads_the_output(tmp_path: Path, shallow_vgg_file: Path) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    clip = make_clip(tmp_path / "clip.mp4", 8, "96x64", "--audio")
    for name in ("styled.mp4", "styled.mkv", "styled.mov"):
        out = tmp_path / name
        lut = ["--lut"] if name == "styled.mp4" else []
        assert main(["video", "-c", str(clip), "-s", str(STYLE), "-o", str(out),
                     "--vgg-weights", str(shallow_vgg_file), "--segment", "none", "--size",
                     "48", "--set", "content_layer=relu2_1", "--set",
                     "style_layers=relu1_1+relu2_1", "--set", "iterations=3+2", "-q",
                     *lut]) == 0
        # every packet decoded, at its own timestamp (passthrough: no frame-rate conversion)
        check = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i",
                                str(out), "-fps_mode", "passthrough", "-f", "null", "-"],
                               capture_output=True, text=True)
        assert check.returncode == 0, (name, check.stderr)
        if not name.endswith(".mkv"):  # Matroska's millisecond clock shifts the video by
            # the AAC priming (half a frame): ffmpeg's own null output then rounds two
            # frames to one tick and says so; every frame is still there (below)
            assert check.stderr == "", (name, check.stderr)
        assert len(decode(out)) == 8
        report = json.loads(report_path(out).read_text())
        assert report["frames"] == 8 and report["audio"] is True
    report = json.loads(report_path(tmp_path / "styled.mp4").read_text())
    assert report["lut"]["size"] == 33 and (tmp_path / "styled.cube").exists()
    with pytest.raises(ConfigError, match="libvpx-vp9"):
        VideoSink(tmp_path / "x.webm", VideoSource(clip).info)


def test_a_scene_cut_and_drift_make_keyframes(tmp_path: Path, shallow_vgg_file: Path) -> None:
    cut = make_clip(tmp_path / "cut.mp4", 12, "160x96", "--cut-to", str(STYLE))
    source = VideoSource(cut)
    sink = VideoSink(tmp_path / "out.mp4", source.info)
    report = stylise_clip(source, STYLE, sink, tiny(shallow_vgg_file),
                          VideoOptions(measure=False)).report
    sink.close()
    assert [(k["frame"], k["reason"]) for k in report["keyframes"]] == [(0, "first"),
                                                                         (6, "cut")]
    pan = make_clip(tmp_path / "pan.mp4", 12, "160x96")
    source = VideoSource(pan)
    sink = VideoSink(tmp_path / "pan-out.mp4", source.info)
    policy = KeyframePolicy(drift=0.08, blend=3)
    report = stylise_clip(source, STYLE, sink, tiny(shallow_vgg_file),
                          VideoOptions(policy=policy)).report
    sink.close()
    reasons = [k["reason"] for k in report["keyframes"]]
    assert reasons[0] == "first" and "drift" in reasons[1:], reasons


def test_frames_folder_in_and_out(tmp_path: Path, shallow_vgg_file: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        save_png(gradient_image(40, 64, seed=i // 2), folder / f"f{i:03d}.png")
    (folder / "notes.txt").write_text("not a frame")
    out = tmp_path / "styled"
    assert main(["video", "-c", str(folder), "-s", str(STYLE), "-o", str(out), "--fps", "12",
                 "--vgg-weights", str(shallow_vgg_file), "--segment", "none", "--size", "40",
                 "--set", "content_layer=relu2_1", "--set", "style_layers=relu1_1+relu2_1",
                 "--set", "iterations=3+2", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(4)]
    report = json.loads(report_path(tmp_path / "styled").read_text())
    assert report["fps"] == "12" and report["frames"] == 4


def test_keyframe_masks_choose_the_keyframes(tmp_path: Path, shallow_vgg_file: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 8, "160x96")
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((96, 160, 3), np.uint8)
    mask[:40] = (0, 0, 255)
    mask[40:] = (0, 255, 0)
    save_png(mask, masks / "0.png")
    save_png(mask, masks / "5.png")
    style_mask = np.zeros((264, 400, 3), np.uint8)
    style_mask[:130] = (0, 0, 255)
    style_mask[130:] = (0, 255, 0)
    save_png(style_mask, tmp_path / "style_mask.png")
    source = VideoSource(clip)
    sink = VideoSink(tmp_path / "out.mp4", source.info)
    report = stylise_clip(source, STYLE, sink, tiny(shallow_vgg_file), VideoOptions(
        keyframe_masks=masks, style_mask=tmp_path / "style_mask.png", measure=False)).report
    sink.close()
    assert [(k["frame"], k["reason"]) for k in report["keyframes"]] == [(0, "first"),
                                                                         (5, "mask")]


# bad clips and interruptions -------------------------------------------------------------


def test_bad_clips_are_named_with_the_problem(tmp_path: Path) -> None:
    text = tmp_path / "holiday.mp4"
    text.write_text("not a video")
    with pytest.raises(InputError, match="holiday.mp4: not a video FFmpeg can read"):
        VideoSource(text)
    with pytest.raises(InputError, match="file not found"):
        VideoSource(tmp_path / "absent.mp4")
    sound = tmp_path / "sound.m4a"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        VideoSource(sound)
    clip = make_clip(tmp_path / "clip.mp4", 4, "160x96")
    with pytest.raises(InputError, match="over the limit"):
        VideoSource(clip, max_pixels=160 * 96 - 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no image"):
        VideoSource(empty)


def test_no_frames_and_a_truncated_stream(tmp_path: Path, shallow_vgg_file: Path) -> None:
    none = tmp_path / "none.mkv"
    with av.open(str(none), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    with pytest.raises(InputError):
        source = VideoSource(none)
        stylise_clip(source, STYLE, VideoSink(tmp_path / "x.mp4", source.info),
                     tiny(shallow_vgg_file))
    clip = make_clip(tmp_path / "clip.mkv", 24, "160x96")
    data = clip.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    source = VideoSource(cut)
    sink = VideoSink(tmp_path / "out.mp4", source.info)
    report = stylise_clip(source, STYLE, sink, tiny(shallow_vgg_file),
                          VideoOptions(measure=False)).report
    sink.close()
    assert 1 <= report["frames"] < 24
    assert len(decode(tmp_path / "out.mp4")) == report["frames"]


def test_ctrl_c_keeps_a_playable_clip_of_the_frames_done(tmp_path: Path,
                                                         shallow_vgg_file: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 12, "160x96", "--audio")
    source = VideoSource(clip)
    sink = VideoSink(tmp_path / "out.mp4", source.info, clip)

    def progress(index: int, total: int, key: bool) -> None:
        if index == 6:
            raise KeyboardInterrupt

    report = stylise_clip(source, STYLE, sink, tiny(shallow_vgg_file),
                          progress=progress).report
    sink.close()
    assert report["status"] == "interrupted" and report["frames"] == 7
    assert len(decode(tmp_path / "out.mp4")) == 7
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert len(out.streams.audio) == 1
        assert float(out.duration) / 1e6 < 0.5  # the sound stops with the pictures


def test_a_failed_run_leaves_no_file(tmp_path: Path, shallow_vgg_file: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 4, "160x96")
    masks = tmp_path / "masks"
    masks.mkdir()  # no 0.png: refused
    out = tmp_path / "out.mp4"
    assert main(["video", "-c", str(clip), "-s", str(STYLE), "-o", str(out),
                 "--keyframe-masks", str(masks), "--style-mask", str(STYLE),
                 "--vgg-weights", str(shallow_vgg_file), "-q"]) == 2
    assert "0.png" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "masks"]
    assert main(["video", "-c", str(clip), "-s", str(STYLE), "-o", str(clip), "-q"]) == 2
    assert main(["video", "-c", str(clip), "-s", str(STYLE), "-o", str(tmp_path / "a.gif"),
                 "-q"]) == 2


@requires_shared
@pytest.mark.shared
def test_a_clip_over_one_of_the_papers_photos(tmp_path: Path) -> None:
    """A pan over a high-resolution photo of ../shared, styled with the real weights by
    its pair's style photo: keyframes only where the content drifted, no flicker added."""
    clip = make_clip(tmp_path / "pan.mp4", 16, "640x360", "--photo",
                     str(DPST / "high_res" / "in2.jpg"))
    source = VideoSource(clip)
    sink = VideoSink(tmp_path / "out.mp4", source.info)
    config = TransferConfig(vgg_weights=str(SHARED_WEIGHTS), segment="none", size=256)
    report = stylise_clip(source, DPST / "high_res" / "tar2.png", sink, config).report
    sink.close()
    assert report["frames"] == 16
    assert report["keyframes"][0]["reason"] == "first"
    assert {k["reason"] for k in report["keyframes"][1:]} <= {"drift"}
    # this look raises the contrast by 40 %, and every difference with it; per unit of
    # contrast nothing is added (frame by frame: 2.0 and 1.4, see docs/RESULTS.md)
    assert report["flicker"]["contrast_gain"] > 1.2
    assert report["flicker"]["relative"] < 1.1


# what the command writes, checked against what it reads (hardening, round three) ----------

VIDEO_FAST = ["--segment", "none", "--size", "40", "--set", "content_layer=relu2_1", "--set",
              "style_layers=relu1_1+relu2_1", "--set", "iterations=3+2", "-q"]


def tree(root: Path) -> dict[str, bytes]:
    """Every file and folder under ``root`` with its bytes (``b""`` for a folder)."""
    return {str(p.relative_to(root)): b"" if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


def video(clip: Path, style: Path, out: Path | str, weights: Path, *extra: str) -> int:
    return main(["video", "-c", str(clip), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(weights), *VIDEO_FAST, *extra])


def test_video_never_deletes_or_overwrites_what_it_reads(
        tmp_path: Path, shallow_vgg_file: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    clip = make_clip(work / "clip.mp4", 4, "96x64")
    style = work / "look.png"
    style.write_bytes(STYLE.read_bytes())
    (work / "notes.txt").write_text("unrelated")
    (work / "styled.cube").write_bytes(STYLE.read_bytes())  # a style photo, oddly named
    (work / "plain").write_text("a file without an extension")
    (work / "dir.mp4").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.png").write_bytes(b"someone's frame")
    frames = work / "frames"
    frames.mkdir()
    for i in range(3):
        save_png(gradient_image(40, 64, seed=i), frames / f"{i:03d}.png")
    before = tree(tmp_path)
    monkeypatch.chdir(work / "sub")
    cases = [
        (clip, style, work, ()),                    # the folder holding the clip and style
        (clip, style, "..", ()),                    # the parent folder, from inside it
        (clip, style, tmp_path / "full", ()),       # a folder of someone else's files
        (clip, style, work / "out.mp4", ("--lut", str(clip))),
        (clip, style, work / "out.mp4", ("--lut", str(style))),
        (clip, work / "styled.cube", work / "styled.mp4", ("--lut",)),  # LUT: styled.cube
        (clip, style, work / "look.png.json", ()),  # not a video name
        (frames, style, frames, ()),                # frames out into the frames read
        (frames, style, work / "x.mp4", ("--lut", str(frames / "001.png"))),
        (clip, style, work / "plain", ()),          # an existing file as a folder of frames
        (clip, style, work / "dir.mp4", ()),        # a folder named like a video
        (clip, style, "/proc/photostyle-test.mp4", ()),
        (clip, style, work / "out.mp4", ("--fps", "-3")),
        (work / "notes.txt", style, work / "out.mp4", ()),
    ]
    for content, look, out, extra in cases:
        capsys.readouterr()
        code = video(content, look, out, shallow_vgg_file, *extra)
        err = capsys.readouterr().err
        assert code == 2, (out, extra, err)
        assert "Traceback" not in err and "internal error" not in err, err
        assert tree(tmp_path) == before, (out, extra)


def test_video_frames_into_an_empty_folder_and_a_clip_over_a_file(
        tmp_path: Path, shallow_vgg_file: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 3, "96x64")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert video(clip, STYLE, empty, shallow_vgg_file) == 0
    assert sorted(p.name for p in empty.iterdir()) == [f"{i:06d}.png" for i in range(3)]
    old = tmp_path / "old.mp4"
    old.write_bytes(b"an earlier result")  # an output file is replaced, whole
    assert video(clip, STYLE, old, shallow_vgg_file) == 0
    assert len(decode(old)) == 3
    assert not [p for p in tmp_path.rglob("*") if "partial" in p.name]


def test_a_fifo_as_the_clip_is_refused_at_once(tmp_path: Path) -> None:
    import os
    import sys

    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "photostyle", "video", "-c", str(fifo),
                           "-s", str(STYLE), "-o", str(tmp_path / "out.mp4"), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "named pipe" in proc.stderr and "Traceback" not in proc.stderr


def test_a_full_disk_is_an_error_naming_the_output(tmp_path: Path, shallow_vgg_file: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        (disk / "filler").write_bytes(b"x" * (256 - 12) * 1024)  # 12 KB are left
        clip = make_clip(tmp_path / "clip.mp4", 24, "320x192", "--light", "0.3")
        for out in (disk / "out.mp4", disk / "frames"):
            capsys.readouterr()
            assert video(clip, STYLE, out, shallow_vgg_file) == 2
            err = capsys.readouterr().err
            assert f"output {out}: cannot write" in err, err
            assert "internal error" not in err and "Traceback" not in err
            # nothing left behind, partial or whole
            assert [p.name for p in disk.iterdir()] == ["filler"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_cut_short_clip_is_reported_truncated(tmp_path: Path, shallow_vgg_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(smooth_texture(64, 96, i), format="gray")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.45)])
    out = tmp_path / "out.mp4"
    assert video(cut, STYLE, out, shallow_vgg_file) == 0
    err = capsys.readouterr().err
    report = json.loads(report_path(tmp_path / "out.mp4").read_text())
    assert report["status"] == "truncated" and 1 <= report["frames"] < 30, report
    assert report["frames_stated"] == 30
    assert "warning" in err and "of the 30 frames" in err
    assert len(decode(out)) == report["frames"]


def test_a_variable_frame_rate_keeps_every_timestamp(tmp_path: Path,
                                                     shallow_vgg_file: Path) -> None:
    from fractions import Fraction

    clip = tmp_path / "vfr.mkv"
    times = [0, 40, 80, 200, 240, 400, 420, 440, 600, 700]  # milliseconds
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(smooth_texture(64, 96, i), format="gray")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    for name in ("out.mkv", "out.mp4"):
        assert video(clip, STYLE, tmp_path / name, shallow_vgg_file) == 0
        with av.open(str(tmp_path / name)) as result:
            got = [float(f.pts * f.time_base) for f in result.decode(video=0)]
        assert np.allclose(got, np.array(times) / 1000, atol=0.002), (name, got)


def test_ctrl_c_in_the_first_keyframe_exits_130_and_writes_nothing(
        tmp_path: Path, shallow_vgg_file: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import photostyle.engine.pipeline

    clip = make_clip(tmp_path / "clip.mp4", 3, "96x64")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(photostyle.engine.pipeline, "transfer", interrupted)
    assert video(clip, STYLE, tmp_path / "out.mp4", shallow_vgg_file) == 130
    assert "interrupted before the first frame" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_the_video_lut_is_titled_after_the_clip(tmp_path: Path, shallow_vgg_file: Path) -> None:
    clip = make_clip(tmp_path / "holiday.mp4", 3, "96x64")
    assert video(clip, STYLE, tmp_path / "out.mp4", shallow_vgg_file, "--lut") == 0
    title = (tmp_path / "out.cube").read_text().splitlines()[0]
    assert title == 'TITLE "photostyle look of holiday.mp4, frame 0"', title


def ten_bit_clip(path: Path, frames: int = 6, h: int = 64, w: int = 96) -> Path:
    """An HEVC Main10 clip of a slow horizontal ramp over 600 ten-bit levels (more than 8
    bits can hold), moving a little each frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx265", rate=12)
        stream.height, stream.width, stream.pix_fmt = h, w, "yuv420p10le"
        stream.options = {"crf": "4", "x265-params": "log-level=error"}
        for i in range(frames):
            x = np.linspace(0.2, 0.2 + 600 / 1023, w)[None, :] + 0.002 * i
            y = np.linspace(0.0, 0.05, h)[:, None]
            rgb = np.stack([x + 0 * y, 0.5 + y + 0 * x, 0.9 - x + 0 * y], -1)
            data = (np.clip(rgb, 0, 1) * 65535).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(data, format="rgb48le").reformat(
                format="yuv420p10le")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def levels(values: np.ndarray) -> int:
    return len(np.unique(values))


@pytest.mark.parametrize("name,codec,pix_fmt", [("graded.mp4", None, "yuv420p10le"),
                                                ("graded.mov", "prores_ks", "yuv422p10le")])
def test_ten_bit_clips_stay_ten_bit(tmp_path: Path, shallow_vgg_file: Path, name: str,
                                    codec: str | None, pix_fmt: str) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    clip = ten_bit_clip(tmp_path / "main10.mp4")
    source = VideoSource(clip)
    assert source.info.bit_depth == 10
    first = next(iter(source.frames()))
    assert first.dtype == np.uint16 and levels(first[0, :, 0] >> 6) > 80
    out = tmp_path / name
    args = ["video", "-c", str(clip), "-s", str(STYLE), "-o", str(out), "--vgg-weights",
            str(shallow_vgg_file), "--segment", "none", "--size", "48", "--set",
            "content_layer=relu2_1", "--set", "style_layers=relu1_1+relu2_1", "--set",
            "iterations=3+2", "--strength", "0.5", "-q"]
    assert main([*args, *(["--codec", codec] if codec else [])]) == 0
    # an outside reader: FFmpeg names the stream's pixel format (and HEVC's Main 10 profile)
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)],
                           capture_output=True, text=True)
    assert pix_fmt in probe.stderr, probe.stderr
    if codec is None:
        assert "hevc (Main 10)" in probe.stderr, probe.stderr
    else:
        assert "prores" in probe.stderr
    check = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(out),
                            "-f", "null", "-"], capture_output=True, text=True)
    assert check.returncode == 0 and check.stderr == "", check.stderr
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb48le") for f in container.decode(video=0)]
    assert len(frames) == 6 and frames[0].dtype == np.uint16
    # the look was applied in floating point: the ramp keeps more levels than 8 bits hold
    row = frames[2][32, :, 0] >> 6
    assert levels(row) > 64 and np.all(np.diff(row.astype(int)) >= -3)
    report = json.loads(report_path(out).read_text())
    assert report["bit_depth"] == 10 and report["codec"] == (codec or "libx265")


def test_apply_to_a_sixteen_bit_frame_keeps_its_precision() -> None:
    rng = np.random.default_rng(3)
    coefficients = rng.normal(0, 0.05, (4, 6, 12)).astype(np.float32)
    frame16 = (rng.random((32, 48, 3)) * 65535).astype(np.uint16)
    frame8 = ((frame16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    out16, out8 = apply_to_frame(coefficients, frame16), apply_to_frame(coefficients, frame8)
    assert out16.dtype == np.uint16 and out8.dtype == np.uint8
    assert np.abs(out16 / 65535 - out8 / 255).max() < 1.5 / 255  # the same look
    identity = np.zeros((4, 6, 12), np.float32)
    assert np.abs(apply_to_frame(identity, frame16).astype(int) - frame16).max() <= 1
