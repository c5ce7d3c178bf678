"""The fuzz test: every command that writes, driven with good and bad paths and numbers
(Hypothesis): no traceback, exit 2 for bad input, inputs and folders unchanged, nothing partial
left."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from photostyle.cli import main
from photostyle.engine.transforms import Look

from ..conftest import digests, gradient_image, save_png

# --- data loss: outputs over inputs ------------------------------------------------------


# --- interrupts: a finished level is never thrown away -----------------------------------


# --- silent wrong results ----------------------------------------------------------------


# --- tracebacks and hangs ----------------------------------------------------------------


# --- the fuzz test: every command, its paths and its numbers -----------------------------

#: Path kinds for an output argument; True when photostyle must refuse them.
OUT_PATHS = {
    "fresh": False, "deep": False, "existing": False, "content": True, "link_to_style": True,
    "hardlink_to_content": True, "folder": True, "in_a_file": True, "too_long": True,
    "bad_ext": True, "proc": True, "device": True,
}
#: Path kinds for an input argument.
IN_PATHS = {"good": False, "missing": True, "folder": True, "device": True, "text": True}
#: Numbers for each option: good ones, then bad ones.
NUMBERS = {
    "--size": (["32", "40"], ["0", "-5", "1e9", "nan", "x", "99999999999999999999"]),
    "--lr": (["0.5", "1"], ["nan", "inf", "-1", "0", "1e300", "1e7"]),
    "--precondition-boost": (["1.5", "2"], ["nan", "0", "1e30", "-inf"]),
    "--output-size": (["40", "64"], ["0", "70000", "40000", "-3"]),
    "--style-weight": (["10", "100"], ["nan", "-1", "1e39", "inf"]),
    "--max-pixels": (["1000000"], ["0", "-1", "1", "1e3"]),
    "--min-label-fraction": (["0.01"], ["nan", "0.9", "-0.1"]),
    "--mask-tolerance": (["40"], ["-1", "300", "x"]),
    "--min-fragment": (["0.01"], ["nan", "0.9", "-1", "inf"]),
    "--strength": (["0", "0.5"], ["nan", "1.5", "-0.1", "x"]),
    "--jpeg-quality": (["80"], ["0", "101", "x"]),
    "--fps": (["12"], ["-3", "0", "nan", "inf", "x"]),
    "--drift": (["0.3"], ["0", "1.5", "nan"]),
}
COMMAND_NUMBERS = {
    "transfer": ["--size", "--lr", "--precondition-boost", "--output-size", "--style-weight",
                 "--max-pixels"],
    "evaluate": ["--size", "--max-pixels"],
    "masks": ["--min-label-fraction", "--mask-tolerance", "--max-pixels"],
    "segment": ["--min-fragment", "--max-pixels"],
    "ablate": ["--size", "--lr"],
    "apply": ["--strength", "--output-size", "--max-pixels", "--jpeg-quality"],
    "video": ["--fps", "--drift", "--strength", "--max-pixels"],
    # a batch of the folder into itself, run twice: the second run resumes
    "batch": ["--size", "--jpeg-quality", "--max-pixels"],
}
#: Commands whose input argument is only ever good (a batch's bad photo is a failed row,
#: exit 3, not a refused command).
GOOD_INPUT_ONLY = {"batch"}


def _make_out(kind: str, root: Path, content: Path, style: Path, ext: str) -> Path:
    if kind == "fresh":
        return root / f"result{ext}"
    if kind == "deep":
        return root / "a" / "b" / f"result{ext}"
    if kind == "existing":
        path = root / f"old{ext}"
        path.write_bytes(b"old")
        return path
    if kind == "content":
        return content
    if kind == "link_to_style":
        link = root / f"link{ext}"
        link.symlink_to(style)
        return link
    if kind == "hardlink_to_content":
        link = root / f"hard{ext}"
        os.link(content, link)
        return link
    if kind == "folder":
        (root / f"dir{ext}").mkdir()
        return root / f"dir{ext}"
    if kind == "in_a_file":
        return root / "c.png" / f"x{ext}"
    if kind == "too_long":
        return root / ("n" * 260 + ext)
    if kind == "bad_ext":
        return root / "result.xyz"
    if kind == "proc":
        return Path("/proc") / f"photostyle-fuzz{ext}"
    return Path("/dev/null")


def _make_in(kind: str, root: Path, good: Path) -> Path:
    if kind == "good":
        return good
    if kind == "missing":
        return root / "missing.png"
    if kind == "folder":
        return root
    if kind == "device":
        return Path("/dev/null")
    path = root / "notes.png"
    path.write_text("not an image")
    return path


@pytest.fixture(scope="session")
def fuzz_clip(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A three-frame clip (copied into each example's folder); ``None`` without PyAV."""
    try:
        import av
    except ImportError:
        return None
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            rgb = (gradient_image(48, 64, i) * 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@st.composite
def command_lines(draw):
    """A command with good paths and numbers, or with exactly one bad one (half of each)."""
    command = draw(st.sampled_from(sorted(COMMAND_NUMBERS)))
    options = COMMAND_NUMBERS[command]
    spoil = draw(st.sampled_from(["none", "none", "none", "out", "in", *options]))
    good_out = sorted(k for k, v in OUT_PATHS.items() if not v)
    bad_out = sorted(k for k, v in OUT_PATHS.items() if v)
    out_kind = draw(st.sampled_from(bad_out if spoil == "out" else good_out))
    if command in GOOD_INPUT_ONLY:
        out_kind = "fresh"  # a batch writes into its own folder (an old file there is a photo)
    if command in GOOD_INPUT_ONLY and spoil in ("in", "out"):
        spoil = "none"
    in_kind = draw(st.sampled_from(
        sorted(k for k, v in IN_PATHS.items() if v) if spoil == "in" else ["good"]))
    numbers = {}
    for option in options:
        good, bad = NUMBERS[option]
        if option == spoil:
            numbers[option] = draw(st.sampled_from(bad)), True
        elif draw(st.booleans()):
            numbers[option] = draw(st.sampled_from(good)), False
    return command, out_kind, in_kind, numbers


def _args(command: str, out: Path, inp: Path, root: Path, numbers: dict[str, tuple[str, bool]],
          weights: Path) -> list[str]:
    content, style, style_mask = root / "c.png", root / "s.png", root / "ms.png"
    values = [x for option, (value, _) in numbers.items() for x in (option, value)]
    if command == "transfer":
        return ["transfer", "-c", str(inp), "-s", str(style), "-o", str(out), "--vgg-weights",
                str(weights), "--content-layer", "relu2_1", "--style-layers", "relu1_1",
                "--segment", "none", "--iterations", "1", "--size", "32", *values, "-q"]
    if command == "evaluate":
        return ["evaluate", "-c", str(content), "-s", str(style), "-o", str(inp), "--json",
                str(out), *values]
    if command == "masks":
        return ["masks", "--content-mask", str(inp), "--style-mask", str(style_mask),
                "--content", str(content), "--style", str(style), "-o", str(out), *values]
    if command == "segment":
        return ["segment", str(inp), "-o", str(out), *values]
    if command == "apply":
        return ["apply", "-c", str(inp), "-t", str(root / "look.npz"), "-o", str(out), *values,
                "-q"]
    if command == "video":
        clip = root / "clip.mp4" if inp == root / "c.png" else inp
        return ["video", "-c", str(clip), "-s", str(style), "-o", str(out), "--vgg-weights",
                str(weights), "--segment", "none", "--size", "32", "--set",
                "content_layer=relu2_1", "--set", "style_layers=relu1_1", "--set",
                "iterations=1+1", "--no-measure", *values, "-q"]
    if command == "batch":
        return ["transfer", "-c", str(root), "-s", str(style), "--out-dir", str(root),
                "--vgg-weights", str(weights), "--content-layer", "relu2_1", "--style-layers",
                "relu1_1", "--segment", "none", "--iterations", "1", "--size", "32", *values,
                "-q"]
    sets = [x for option, (value, _) in numbers.items()
            for x in ("--set", f"{option[2:]}={value}")]
    return ["ablate", "-c", str(inp), "-s", str(style), "--out", str(out.with_suffix("")),
            "--vgg-weights", str(weights), "--set", "content_layer=relu2_1", "--set",
            "style_layers=relu1_1", "--set", "segment=none", "--set", "iterations=1",
            "--set", "size=32", *sets, "-q"]


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(command_lines())
@example(("apply", "link_to_style", "good", {}))  # found by CI: replaces the link, not s.png
@example(("apply", "content", "good", {}))
@example(("video", "fresh", "folder", {}))  # frames of different sizes: fails mid-clip
@example(("video", "deep", "folder", {}))  # ... and the folders made for the output go too
@example(("video", "link_to_style", "good", {}))
@example(("video", "device", "good", {}))
@example(("video", "hardlink_to_content", "good", {}))  # a hard link to the clip itself
@example(("batch", "fresh", "good", {}))
@example(("segment", "link_to_style", "good", {}))  # segment reads no style: a name to replace
@example(("segment", "deep", "good", {}))  # the built-in segmenter works offline
def test_fuzzed_commands_never_lose_a_file(shallow_vgg_file: Path, fuzz_clip: Path | None, capsys,
                                           case) -> None:
    command, out_kind, in_kind, numbers = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        content = save_png(gradient_image(40, 56), root / "c.png")
        style = save_png(gradient_image(40, 40, 1), root / "s.png")
        mask = np.zeros((40, 56, 3), np.uint8)
        mask[20:] = (0, 0, 255)
        save_png(mask, root / "m.png")
        save_png(mask[:, :40], root / "ms.png")
        rng = np.random.default_rng(0)
        Look(np.eye(3, dtype=np.float32) + rng.normal(0, 0.1, (20, 28, 3, 3)).astype(np.float32),
             rng.normal(0, 0.05, (20, 28, 3)).astype(np.float32), {}).save(root / "look.npz")
        if command == "video":
            if fuzz_clip is None:
                return  # the video extra is not installed
            (root / "clip.mp4").write_bytes(fuzz_clip.read_bytes())
        good_in = root / "m.png" if command == "masks" else content
        inp = _make_in(in_kind, root, good_in)
        # for video the content is the clip: an output over it (or a link to it) is refused
        read = root / "clip.mp4" if command == "video" else content
        out = _make_out(out_kind, root, read, style, ".mp4" if command == "video" else ".png")
        args = _args(command, out, inp, root, numbers, shallow_vgg_file)
        if command == "ablate":  # --out is a folder named after out without its extension
            out_bad = out_kind in ("in_a_file", "too_long", "proc", "device")
        elif command == "batch":  # into its own folder, whatever out is
            out_bad = False
        elif command == "evaluate":
            out_bad = OUT_PATHS[out_kind] and out_kind != "bad_ext"  # --json: any name
        elif command in ("apply", "segment"):  # read no style: a link to it is a name
            out_bad = OUT_PATHS[out_kind] and out_kind != "link_to_style"
        else:
            out_bad = OUT_PATHS[out_kind]
        bad = out_bad or IN_PATHS[in_kind] or any(b for _, b in numbers.values())
        inputs_before = digests(root)
        files_before = set(inputs_before)
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exc:  # argparse: a value of the wrong type
            code = exc.code
        err = capsys.readouterr().err
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        for name, digest in inputs_before.items():
            if name.startswith(("old", "a/")) or (command in ("apply", "segment")
                                                      and name == "link.png"):
                continue  # an existing output is meant to be replaced
            assert digests(root).get(name) == digest, (args, name)
        if bad:
            assert code == 2, (args, err)
            assert set(digests(root)) == files_before, (args, err)
        else:
            assert code == 0, (args, err)
        if command == "batch" and code == 0:  # again: it resumes, writing and deleting nothing
            done = digests(root)
            assert main(args) == 0, (args, capsys.readouterr().err)
            assert digests(root) == done, args
        leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".partial" in
                     p.name]
        assert not leftovers, args
