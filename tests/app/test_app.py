"""The web app's handlers as plain functions (no browser, no Gradio): uploads, painted
masks, jobs, cancel, strength, downloads, security settings."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.app import jobs
from photostyle.app.jobs import MaskChoice, Studio, painted_labels, read_upload
from photostyle.app.security import check_host, is_loopback, parse_auth
from photostyle.cli import main
from photostyle.engine.masks import PALETTE, load_mask_pair
from photostyle.errors import ConfigError, InputError
from photostyle.files.writers import save_image

from ..conftest import bomb_png, gradient_image, save_png

COLORD = Path("/usr/share/color/icc/colord")


def tiny_settings(weights: Path, iterations: tuple[int, ...] = (3, 2)) -> dict:
    return {"vgg_weights": str(weights), "content_layer": "relu2_1",
            "style_layers": ("relu1_1", "relu2_1"), "size": 48,
            "iterations": iterations, "device": "cpu"}


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path]:
    content = save_png(gradient_image(40, 60, seed=1), tmp_path / "content.png")
    style = save_png(gradient_image(36, 54, seed=2)[:, ::-1], tmp_path / "style.png")
    return content, style


@pytest.fixture
def studio(tmp_path: Path, shallow_vgg_file: Path, photos: tuple[Path, Path]):
    s = Studio(tiny_settings(shallow_vgg_file), root=tmp_path / "app")
    s.upload("tab", "content", str(photos[0]))
    s.upload("tab", "style", str(photos[1]))
    yield s
    s.close()


def layer(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w, 4), np.uint8)


# painted masks -----------------------------------------------------------------------------


def test_painted_labels_by_hand() -> None:
    first = layer(6, 8)
    first[0:2, 0:4] = (*PALETTE["blue"], 255)
    first[4:6, 5:8] = (*PALETTE["red"], 200)
    first[3, 3] = (*PALETTE["blue"], 100)  # alpha under one half: not painted
    first[2, 7] = (10, 10, 240, 255)  # an anti-aliased blue: the nearest palette colour
    second = layer(6, 8)
    second[0, 0] = (*PALETTE["green"], 255)  # a later layer paints over an earlier one
    labels = painted_labels({"layers": [first, None, second]}, "content")
    assert labels is not None
    assert labels.names == ["blue", "green", "red", "unpainted"]
    expected = np.full((6, 8), 3, np.int32)
    expected[0:2, 0:4] = 0
    expected[2, 7] = 0
    expected[4:6, 5:8] = 2
    expected[0, 0] = 1
    np.testing.assert_array_equal(labels.ids, expected)
    assert labels.kind == "color"


def test_nothing_painted_is_no_mask() -> None:
    assert painted_labels(None, "content") is None
    assert painted_labels({"layers": []}, "content") is None
    assert painted_labels({"layers": [layer(4, 4)]}, "content") is None
    full = layer(4, 4)
    full[...] = (*PALETTE["yellow"], 255)
    labels = painted_labels({"layers": [full]}, "style")
    assert labels is not None and labels.names == ["yellow"]  # no unpainted rest
    with pytest.raises(InputError, match="differ in size"):
        painted_labels({"layers": [full, layer(3, 4)]}, "style")


def test_a_painting_far_larger_than_the_photo_shown_is_refused() -> None:
    huge = layer(2000, 3000)
    huge[:10] = (*PALETTE["blue"], 255)
    with pytest.raises(InputError, match="shown at 300x200"):
        painted_labels({"layers": [huge]}, "content", (200, 300))
    assert painted_labels({"layers": [huge[:200, :300]]}, "content", (200, 300)) is not None


def test_automatic_regions_work_offline_and_start_the_brush(studio: Studio) -> None:
    """The built-in segmenter needs no download: the regions show, a run uses them, and the
    editors can start from them (every pixel painted, read back as the same regions)."""
    sheet, summary = studio.masks("tab", MaskChoice("auto"))
    assert sheet.ndim == 3 and "shared label" in summary
    c_layer, s_layer = studio.auto_layers("tab")
    session = studio.session("tab")
    for layer, upload in ((c_layer, session.content), (s_layer, session.style)):
        assert layer.shape == (*upload.display_float().shape[:2], 4)
        assert (layer[..., 3] >= 128).all()  # painted everywhere: the brush corrects it
    c, st, segment = studio.mask_sources(session, MaskChoice(
        "paint", content_paint={"layers": [c_layer]}, style_paint={"layers": [s_layer]}))
    from photostyle.engine.pipeline import read_masks

    config = studio.config.replace(segment="auto")
    auto = read_masks(None, None, c_layer.shape[:2], s_layer.shape[:2], config,
                      (session.content.display_float(), session.style.display_float()))
    assert segment == "none" and c is not None and st is not None
    assert [c.names[i] for i in c.ids.ravel()] == [auto.labels[i] for i in
                                                    auto.content_ids.ravel()]
    studio.begin("tab", MaskChoice("auto"))
    final = list(studio.run("tab", "default"))[-1]
    assert final.done and final.result is not None


def test_a_segformer_offline_says_what_to_do(tmp_path: Path, shallow_vgg_file: Path,
                                              photos: tuple[Path, Path]) -> None:
    """A named SegFormer cannot be fetched here: the message says so and what the page
    offers."""
    settings = {**tiny_settings(shallow_vgg_file),
                "seg_model": "smp-hub/segformer-b2-512x512-ade-160k"}
    s = Studio(settings, root=tmp_path / "app")
    try:
        s.upload("tab", "content", str(photos[0]))
        s.upload("tab", "style", str(photos[1]))
        for call in (lambda: s.masks("tab", MaskChoice("auto")),
                     lambda: s.preview("tab", MaskChoice("auto")),
                     lambda: s.auto_layers("tab")):
            with pytest.raises(InputError) as err:
                call()
            assert "segmentation model" in str(err.value)
            assert "choose 'Whole photos', paint the regions, or upload mask files" in str(
                err.value)
    finally:
        s.close()


def test_painting_on_the_display_lands_on_the_full_photo(tmp_path: Path) -> None:
    """A photo larger than the display: the stroke painted on the display copy covers the
    same part of the full-size photo (the top quarter here)."""
    big = save_png(gradient_image(1200, 1600, seed=3), tmp_path / "big.png")
    upload = read_upload(big, "content photo", jobs.Limits())
    h, w = upload.display.shape[:2]
    assert max(h, w) == jobs.DISPLAY_SIDE and upload.photo.pixels.shape[:2] == (1200, 1600)
    paint = layer(h, w)
    paint[: h // 4] = (*PALETTE["blue"], 255)
    s = Studio(root=tmp_path / "app")
    try:
        c, st, segment = s.mask_sources(s.session("t"), MaskChoice(
            "paint", content_paint={"layers": [paint]}))
        assert segment == "none" and st is not None and st.names == ["unpainted"]
        masks = load_mask_pair(c, st, (1200, 1600), (300, 400))
        blue = masks.labels.index("blue")
        assert (masks.content_ids[:295] == blue).all()
        assert (masks.content_ids[305:] != blue).all()
        assert "blue" in masks.whole_style  # an orphan: styled from the whole style photo
    finally:
        s.close()


def test_mask_preview_reports_shared_orphan_and_dropped(studio: Studio) -> None:
    ch, cw = 40, 60
    paint = layer(ch, cw)
    paint[:20] = (*PALETTE["blue"], 255)
    paint[20:, :30] = (*PALETTE["green"], 255)
    paint[39, 59] = (*PALETTE["red"], 255)  # one pixel: dropped
    spaint = layer(36, 54)
    spaint[:18] = (*PALETTE["blue"], 255)
    sheet, text = studio.masks("tab", MaskChoice("paint", content_paint={"layers": [paint]},
                                                 style_paint={"layers": [spaint]}))
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    assert "- blue: content 50.0%, style 50.0%" in text
    assert "green" in text and "orphan" in text.split("green")[1].splitlines()[0]
    assert "red: **dropped**" in text
    assert "unpainted" in text


def test_mask_files_both_or_neither(studio: Studio, tmp_path: Path) -> None:
    mask = np.zeros((40, 60, 3), np.uint8)
    mask[:20] = PALETTE["blue"]
    path = save_png(mask, tmp_path / "m.png")
    with pytest.raises(InputError, match="both mask files"):
        studio.masks("tab", MaskChoice("files", content_file=str(path)))
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    with pytest.raises(InputError, match="notes.png") as err:
        studio.masks("tab", MaskChoice("files", str(notes), str(path)))
    assert str(tmp_path) not in str(err.value)  # the server's folders are not shown
    _, text = studio.masks("tab", MaskChoice("files", str(path), str(path)))
    assert "blue" in text and "black" in text


# uploads -----------------------------------------------------------------------------------


def test_bad_uploads_name_the_file_not_the_server_path(tmp_path: Path) -> None:
    limits = jobs.Limits(max_upload_bytes=50_000, max_pixels=1_000_000)
    text = tmp_path / "upload-dir" / "holiday.jpg"
    text.parent.mkdir()
    text.write_text("this is not a photo")
    with pytest.raises(InputError) as err:
        read_upload(text, "content photo", limits)
    assert "content photo holiday.jpg" in str(err.value)
    assert str(text.parent) not in str(err.value)
    bomb = tmp_path / "bomb.png"
    bomb_png(bomb)
    with pytest.raises(InputError, match="bomb.png"):
        read_upload(bomb, "style photo", limits)
    big = save_png(gradient_image(300, 300), tmp_path / "big.png")
    with pytest.raises(InputError, match="upload limit of 0 MB"):
        read_upload(big, "style photo", jobs.Limits(max_upload_bytes=1000))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_upload(empty, "content photo", limits)


# runs ----------------------------------------------------------------------------------------


def test_preview_needs_no_network(tmp_path: Path, photos: tuple[Path, Path]) -> None:
    s = Studio({"vgg_weights": str(tmp_path / "absent.pth")}, root=tmp_path / "app")
    try:
        s.upload("t", "content", str(photos[0]))
        with pytest.raises(InputError, match="style"):
            s.preview("t", MaskChoice())
        s.upload("t", "style", str(photos[1]))
        update = s.preview("t", MaskChoice())
        assert update.done and update.result is not None
        before, after = update.result
        assert before.shape == after.shape == (40, 60, 3)
        assert s.session("t").result.status == "completed"
    finally:
        s.close()


def test_run_streams_progress_images_and_the_result(studio: Studio,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "UPDATE_INTERVAL", 0.0)  # every update (a run of 0.1 s)
    monkeypatch.setattr(jobs, "IMAGE_INTERVAL", 0.0)
    studio.begin("tab")
    updates = list(studio.run("tab", "default", MaskChoice()))
    texts = [u.text for u in updates]
    assert any(re.fullmatch(r"level 1/2 · step [123]/3 · loss [\d.e+-]+ · about .* left", t)
               for t in texts), texts
    assert any(u.image is not None for u in updates)
    final = updates[-1]
    assert final.done and "done" in final.text and final.result is not None
    assert final.result[0].shape == final.result[1].shape == (40, 60, 3)
    assert not np.array_equal(final.result[0], final.result[1])


def test_a_short_run_shows_its_progress_before_it_is_done(
        studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    """Updates are spaced (here by a minute, longer than the run): the first one after
    "loading" still carries a line of progress, not an image alone, so that even a run
    shorter than the spacing shows where it is."""
    monkeypatch.setattr(jobs, "UPDATE_INTERVAL", 60.0)
    studio.begin("tab")
    updates = list(studio.run("tab", "default", MaskChoice()))
    texts = [u.text for u in updates]
    assert [u.done for u in updates] == [False, False, False, True], texts
    assert texts[:2] == ["waiting for a worker",
                         "loading the network and preparing the first level"]
    assert texts[2].startswith("level 1/2 · step 1/3"), texts


def test_cancel_keeps_the_best_image(tmp_path: Path, shallow_vgg_file: Path,
                                     photos: tuple[Path, Path]) -> None:
    s = Studio(tiny_settings(shallow_vgg_file, (2000, 2000)), root=tmp_path / "app")
    try:
        s.upload("t", "content", str(photos[0]))
        s.upload("t", "style", str(photos[1]))
        s.begin("t")
        updates = []
        for update in s.run("t", "default", MaskChoice()):
            updates.append(update)
            if update.text.startswith("level 1/2 · step"):
                assert s.cancel("t").startswith("cancelling")
        assert "cancelled: the best image so far is kept" in updates[-1].text
        result = s.session("t").result
        assert result is not None and result.status == "interrupted"
        assert updates[-1].result is not None  # shown, and the strength works on it
        s.restrength("t", 0.5)
    finally:
        s.close()


def test_cancel_before_start_and_closed_tab(studio: Studio) -> None:
    studio.begin("tab")
    studio.cancel("tab")
    assert [u.text for u in studio.run("tab", "default", MaskChoice())] == [
        "cancelled before it started"]
    folder = studio.session("tab").folder
    assert folder.is_dir()
    studio.close_session("tab")
    assert not folder.exists()
    assert list(studio.run("tab", "default", MaskChoice())) == []  # queued, then closed
    with pytest.raises(InputError, match="closed"):
        studio.session("tab")


@pytest.mark.parametrize("workers", [1, 2])
def test_one_transfer_at_a_time_per_worker(workers: int, tmp_path: Path,
                                           shallow_vgg_file: Path, photos: tuple[Path, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    s = Studio(tiny_settings(shallow_vgg_file), workers=workers, root=tmp_path / "app")
    running, most = [0], [0]
    lock = threading.Lock()
    real = jobs.transfer

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.3)
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(jobs, "transfer", counted)
    finals: dict[str, str] = {}

    def client(key: str) -> None:
        s.upload(key, "content", str(photos[0]))
        s.upload(key, "style", str(photos[1]))
        s.begin(key)
        finals[key] = list(s.run(key, "default", MaskChoice()))[-1].text

    try:
        threads = [threading.Thread(target=client, args=(f"c{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert sorted(finals) == ["c0", "c1", "c2", "c3"]
        assert all("done" in text for text in finals.values()), finals
        assert most[0] == workers
    finally:
        s.close()


# strength and downloads ------------------------------------------------------------------


def test_strength_rerenders_from_the_transforms(studio: Studio,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="no result yet"):
        studio.restrength("tab", 0.5)
    final = studio.preview("tab", MaskChoice())
    assert final.result is not None
    monkeypatch.setattr(jobs, "transfer", None)  # no new optimisation from here on
    content, full = studio.restrength("tab", 1.0)
    np.testing.assert_array_equal(full, final.result[1])
    _, none = studio.restrength("tab", 0.0)
    assert np.abs(none.astype(int) - content.astype(int)).max() <= 1
    _, half = studio.restrength("tab", 0.5)
    mid = (content.astype(float) + full.astype(float)) / 2
    assert np.abs(half - mid).mean() < 1.5
    with pytest.raises(InputError, match="between 0 and 1"):
        studio.restrength("tab", 1.5)


def test_export_full_resolution_with_safe_names(studio: Studio) -> None:
    with pytest.raises(InputError, match="no result"):
        studio.export("tab", "PNG", 8, "content", 1.0)
    studio.preview("tab", MaskChoice())
    path = studio.export("tab", "JPEG", 8, "content", 0.7)
    assert path.name == "photostyle-1.jpg" and path.parent == studio.session("tab").folder
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.size == (60, 40)
    assert studio.export("tab", "TIFF", 8, "srgb", 1.0).name == "photostyle-2.tif"
    with pytest.raises(InputError, match="8 bits"):
        studio.export("tab", "JPEG", 16, "content", 1.0)
    with pytest.raises(InputError, match="format"):
        studio.export("tab", "../../etc/passwd", 8, "content", 1.0)


def test_sixteen_bits_and_the_profile_survive(tmp_path: Path, photos: tuple[Path, Path]) -> None:
    import cv2

    profile = COLORD / "AdobeRGB1998.icc"
    icc = profile.read_bytes() if profile.exists() else None
    content = save_image(gradient_image(40, 60, seed=5), tmp_path / "c16.png", bit_depth=16,
                         icc_profile=icc)
    s = Studio(root=tmp_path / "app")
    try:
        _, info = s.upload("t", "content", str(content))
        assert "16-bit" in info
        s.upload("t", "style", str(photos[1]))
        s.preview("t", MaskChoice())
        out = s.export("t", "PNG", 16, "content", 1.0)
        pixels = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert pixels.dtype == np.uint16 and pixels.shape == (40, 60, 3)
        with Image.open(out) as im:
            assert im.info.get("icc_profile") == icc
        with Image.open(s.export("t", "PNG", 8, "srgb", 1.0)) as im:
            assert im.mode == "RGB"
            if icc is not None:
                assert im.info.get("icc_profile") != icc
    finally:
        s.close()


def test_close_deletes_every_file(tmp_path: Path, photos: tuple[Path, Path]) -> None:
    s = Studio()
    root = s.root
    assert root.stat().st_mode & 0o077 == 0  # private
    s.upload("t", "content", str(photos[0]))
    assert root in s.session("t").folder.parents
    s.close()
    assert not root.exists()


# security ------------------------------------------------------------------------------


def test_loopback_and_auth() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.invalid"):
        assert not is_loopback(host), host
    assert parse_auth("ann:copper kettle:x") == ("ann", "copper kettle:x")
    assert parse_auth(None) is None
    for bad in ("ann", ":pw", "ann:"):
        with pytest.raises(ConfigError, match="USER:PASSWORD"):
            parse_auth(bad)
    check_host("127.0.0.1", None)
    check_host("0.0.0.0", ("ann", "pw"))
    with pytest.raises(ConfigError, match="needs authentication"):
        check_host("0.0.0.0", None)


def test_app_command_refuses_an_open_host(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOSTYLE_APP_AUTH", raising=False)
    assert main(["app", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "needs authentication" in err and "Traceback" not in err
    assert main(["app", "--auth", "nopassword"]) == 2
    assert main(["app", "--set", "size=-3"]) == 2
    assert "size" in capsys.readouterr().err


# hardening, round three --------------------------------------------------------------------


def _png_claiming(path: Path, w: int, h: int) -> Path:
    """A small PNG whose header claims ``w`` x ``h`` pixels (as a crafted layer would)."""
    import struct
    import zlib

    save_png(np.zeros((2, 2, 3), np.uint8), path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", w, h)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))
    return path


def test_editor_images_pass_the_limits_before_gradio_decodes_them(tmp_path: Path) -> None:
    gr = pytest.importorskip("gradio")
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    from photostyle.app.page import checked_editor

    limits = jobs.Limits(max_upload_bytes=2**20, max_pixels=100_000_000)
    huge = _png_claiming(tmp_path / "layer.png", 12000, 12000)  # 144 MP in a few bytes
    with pytest.raises(InputError, match="12000x12000 px, larger than any photo"):
        jobs.check_editor_image(huge, limits)
    with pytest.raises(InputError, match="12000x12000"):
        jobs.check_editor_image(huge.read_bytes(), limits)
    big_file = tmp_path / "big.png"
    big_file.write_bytes(b"\x89PNG" + b"\0" * (2**20 + 10))
    with pytest.raises(InputError, match="over the upload limit"):
        jobs.check_editor_image(big_file, limits)
    fine = save_png(np.zeros((300, 400, 4), np.uint8), tmp_path / "fine.png")
    jobs.check_editor_image(fine, limits)
    with gr.Blocks():
        editor = checked_editor(gr.ImageEditor(type="numpy", image_mode="RGBA"), limits)
    value = editor.preprocess(EditorData(background=FileData(path=str(fine)),
                                         layers=[FileData(path=str(fine))], composite=None))
    assert value is not None and value["layers"][0].shape == (300, 400, 4)
    with pytest.raises(gr.Error, match="larger than any photo"):
        editor.preprocess(EditorData(background=FileData(path=str(fine)),
                                     layers=[FileData(path=str(huge))], composite=None))


def test_weak_passwords_are_refused_and_failed_logins_slow_down() -> None:
    from photostyle.app.security import FREE_FAILURES, MAX_DELAY, Login

    for weak in ("ann:s3cret", "ann:annabelle-ann", "ann:abababababababab"):
        with pytest.raises(ConfigError, match="password"):
            parse_auth(weak)
    assert parse_auth("ann:copper kettle 7") == ("ann", "copper kettle 7")
    slept: list[float] = []
    now = [0.0]
    login = Login("ann", "copper kettle 7", sleep=slept.append, clock=lambda: now[0])
    assert login("ann", "copper kettle 7") and slept == []
    results = [login("ann", f"guess {i}") for i in range(50)]
    assert not any(results)
    assert len(slept) == 50 - FREE_FAILURES  # the first failures cost nothing
    assert slept[:5] == [1.0, 2.0, 4.0, 8.0, 16.0] and max(slept) == MAX_DELAY
    assert sum(slept) > 600  # fifty guesses take over ten minutes, not 0.1 s
    assert not login("bob", "copper kettle 7")  # the user name counts too
    assert login("ann", "copper kettle 7")  # the right password still opens, and clears
    slept.clear()
    assert not login("ann", "wrong") and slept == []
    now[0] += 3600  # old failures are forgotten
    assert login.delay() == 0.0


def test_app_limits_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("inf", "nan", "0", "-5", "1e9"):
        assert main(["app", "--max-upload-mb", bad]) == 2, bad
        err = capsys.readouterr().err
        assert "--max-upload-mb" in err and "internal error" not in err, err


def test_a_download_is_gone_with_its_tab(studio: Studio) -> None:
    studio.preview("tab", MaskChoice())
    path = studio.export("tab", "PNG", 8, "content", 1.0)
    uploads = studio.root / "uploads"  # Gradio's folder: it serves the file where it lies
    assert uploads in path.parents and path.exists()
    studio.close_session("tab")
    assert not path.exists()


def test_a_folder_given_to_the_app_keeps_what_was_there(tmp_path: Path,
                                                        photos: tuple[Path, Path]) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("the user's")
    s = Studio(root=root)
    s.upload("t", "content", str(photos[0]))
    s.close()
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]  # only its own files went


def test_a_saved_look_is_the_style_with_its_settings(studio: Studio, tmp_path: Path,
                                                      monkeypatch) -> None:
    """The page's picker: a look saved by 'photostyle looks save' becomes the style photo,
    and its settings those of a run with its preset; a new upload replaces it."""
    from photostyle.engine.config import preset_config
    from photostyle.runs.looks import save_look

    monkeypatch.setenv("PHOTOSTYLE_LOOKS", str(tmp_path / "looks"))
    night = save_png(gradient_image(30, 44, seed=5), tmp_path / "night.png")
    save_look("night", night, preset_config("default", strength=0.6, tv_weight=0.01))
    assert studio.look_names() == ["night"]
    display, info = studio.use_look("tab", "night")
    session = studio.session("tab")
    assert display is not None and "night" in info and session.look.name == "night"
    assert session.style.display_float().shape[:2] == (30, 44)
    config = studio.run_config("default", "none", session.look)
    assert config.strength == 0.6 and config.tv_weight == 0.01
    assert studio.run_config("quality", "none", session.look).strength == 1.0
    studio.begin("tab", MaskChoice("whole"))
    final = list(studio.run("tab", "default"))[-1]
    assert final.done and final.result is not None
    studio.upload("tab", "style", str(night))
    assert studio.session("tab").look is None
    with pytest.raises(ConfigError, match="not found"):
        studio.use_look("tab", "gone")


# what the page says ------------------------------------------------------------------------


def test_the_status_says_what_to_do_next_as_photos_arrive(tmp_path: Path, shallow_vgg_file: Path,
                                                          photos: tuple[Path, Path]) -> None:
    s = Studio(tiny_settings(shallow_vgg_file), root=tmp_path / "app")
    try:
        assert s.readiness("t") == "Upload two photos to start."
        s.upload("t", "style", str(photos[1]))
        assert "upload your photo" in s.readiness("t")
        s.upload("t", "content", str(photos[0]))
        assert s.readiness("t").startswith("Both photos are in")
        s.upload("t", "style", None)
        assert "style photo" in s.readiness("t")
    finally:
        s.close()


def test_the_settings_list_says_what_paper_needs() -> None:
    assert set(jobs.PRESET_LABELS) == set(jobs.RUN_PRESETS)
    assert "548 MB download" in jobs.PRESET_LABELS["paper"]
    assert "verified" in jobs.PRESET_LABELS["default"]
