"""The app's page (Gradio) and its server; each handler is one call to
:class:`photostyle.app.jobs.Studio`.

Gradio reads where to keep uploads (``GRADIO_TEMP_DIR``) when it is imported: the command
sets it (:func:`photostyle.app.security.prepare_environment`) before importing this
module.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from photostyle.app.jobs import (
    FORMATS,
    MASK_MODES,
    PRESET_LABELS,
    RUN_PRESETS,
    UNPAINTED,
    Limits,
    MaskChoice,
    Studio,
    check_editor_image,
)
from photostyle.app.security import Login, check_host
from photostyle.engine.masks import PALETTE
from photostyle.errors import ConfigError, PhotostyleError

log = logging.getLogger(__name__)

#: Mask sources as the page names them.
MASK_LABELS = {"whole": "Whole photos", "auto": "Automatic segmentation",
               "paint": "Paint on the photos", "files": "Mask files"}
assert set(MASK_LABELS) == set(MASK_MODES)
#: Transfers that may be queued at once (beyond that the page says the queue is full).
QUEUE_SIZE = 64

CSS = """
.legend {display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 0.9em}
.legend span.swatch {display: inline-block; width: 14px; height: 14px; border: 1px solid #444;
  vertical-align: -2px; margin-right: 4px}
"""


def legend_html() -> str:
    """The painting legend: each palette colour and its name."""
    items = "".join(
        f'<span><span class="swatch" style="background: rgb{rgb}"></span>{name}</span>'
        for name, rgb in PALETTE.items())
    return (f'<div class="legend" id="legend">{items}<span><i>eraser / unpainted: '
            f'"{UNPAINTED}"</i></span></div><p style="font-size:0.85em">Paint the same '
            "colour on the regions that correspond (sky on sky, water on water); what is "
            "left unpainted in both photos corresponds too.</p>")


def checked_editor(editor: Any, limits: Limits) -> Any:
    """``editor`` (a ``gr.ImageEditor``) with its images (layers, background, composite)
    checked against ``limits`` (:func:`~photostyle.app.jobs.check_editor_image`) before
    Gradio decodes them. The check wraps this editor's own conversion step (a subclass
    would have Gradio write a ``.pyi`` file into the package)."""
    convert = editor.convert_and_format_image

    @functools.wraps(convert)
    def checked(file: Any, *args: Any, **kwargs: Any) -> Any:
        if file is not None:
            source = file if isinstance(file, bytes | bytearray | memoryview) else file.path
            try:
                check_editor_image(source, limits, str(editor.label or "painting"))
            except PhotostyleError as exc:
                raise gr.Error(str(exc), print_exception=False) from exc
        return convert(file, *args, **kwargs)

    editor.convert_and_format_image = checked
    return editor


def _key(request: Any) -> str:
    """The page session's id (every queued or unqueued event of Gradio's has one)."""
    key = getattr(request, "session_hash", None)
    if not key:
        raise PhotostyleError("this request belongs to no page session; reload the page")
    return str(key)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def build(studio: Studio) -> Any:
    """The page, its events wired to ``studio``."""

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        """Bad input as a message on the page, never a broken server."""

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except PhotostyleError as exc:
                raise gr.Error(str(exc), print_exception=False) from exc
            except MemoryError as exc:
                raise gr.Error("out of memory; try a smaller photo") from exc

        return call

    def choice(mode: str, cfile: Any, sfile: Any, cpaint: Any, spaint: Any) -> MaskChoice:
        return MaskChoice(mode, cfile, sfile, cpaint, spaint)

    @guarded
    def auto_paint(content: Any, style: Any, request: gr.Request) -> tuple[Any, Any]:
        """The editors with the automatic regions painted in, to correct with the brush."""
        c_layer, s_layer = studio.auto_layers(_key(request))
        return ({"background": content, "layers": [c_layer], "composite": None},
                {"background": style, "layers": [s_layer], "composite": None})

    def editor_value(display: Any) -> Any:
        return None if display is None else {"background": display, "layers": [],
                                             "composite": None}

    def on_upload(which: str) -> Callable[..., Any]:
        @guarded
        def handler(path: str | None, request: gr.Request) -> Any:
            display, info = studio.upload(_key(request), which, path)
            return display, info, editor_value(display), studio.readiness(_key(request))

        handler.__name__ = f"upload_{which}"
        return handler

    @guarded
    def pick_look(name: str | None, request: gr.Request) -> Any:
        display, info = studio.use_look(_key(request), name)
        return display, info, editor_value(display), studio.readiness(_key(request))

    @guarded
    def show_masks(mode: str, cfile: Any, sfile: Any, cpaint: Any, spaint: Any,
                   request: gr.Request) -> Any:
        return studio.masks(_key(request), choice(mode, cfile, sfile, cpaint, spaint))

    def mode_changed(mode: str) -> Any:
        return gr.update(visible=mode == "paint"), gr.update(visible=mode == "files")

    @guarded
    def preview(mode: str, cfile: Any, sfile: Any, cpaint: Any, spaint: Any,
                request: gr.Request) -> Any:
        update = studio.preview(_key(request),
                                choice(mode, cfile, sfile, cpaint, spaint))
        return update.text, update.result, gr.update(value=1.0, interactive=True)

    @guarded
    def begin(mode: str, cfile: Any, sfile: Any, cpaint: Any, spaint: Any,
              request: gr.Request) -> str:
        return studio.begin(_key(request), choice(mode, cfile, sfile, cpaint, spaint))

    def run(preset: str, request: gr.Request) -> Iterator[Any]:
        # the masks were taken by begin: a long event with the image editors among its
        # inputs has Gradio's page upload their layers again and again while it runs
        try:
            for update in studio.run(_key(request), preset):
                if update.done and update.result is not None:
                    yield (update.text, gr.update(value=update.result[1]), update.result,
                           gr.update(value=1.0, interactive=True))
                else:
                    yield (update.text or gr.skip(), update.image if update.image is not None
                           else gr.skip(), gr.skip(), gr.skip())
        except PhotostyleError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc

    def cancel(request: gr.Request) -> str:
        return studio.cancel(_key(request))

    @guarded
    def restrength(strength: float, request: gr.Request) -> Any:
        before, after = studio.restrength(_key(request), strength)
        return (before, after), after  # the before/after and the result image alike

    @guarded
    def export(fmt: str, bits: str, profile: str, strength: float,
               request: gr.Request) -> Any:
        return str(studio.export(_key(request), fmt, int(bits), profile, strength))

    def closed(request: gr.Request) -> None:
        studio.close_session(_key(request))

    with gr.Blocks(title="photostyle", analytics_enabled=False,
                   delete_cache=(900, 3600)) as demo:
        gr.Markdown("## photostyle\nYour photo with another photo's light and colour, region "
                    "by region. Upload both photos, choose how regions correspond, preview, "
                    "run, then download at full resolution.")
        photos: dict[str, tuple[Any, Any, Any]] = {}
        with gr.Row():
            for which, label in (("content", "Content photo (yours)"),
                                 ("style", "Style photo (the look)")):
                with gr.Column():
                    file = gr.File(label=label, elem_id=f"{which}-file", type="filepath",
                                   file_count="single")
                    if which == "style":
                        looks = gr.Dropdown(["", *studio.look_names()], value="",
                                            label="…or a saved look (photostyle looks save)",
                                            elem_id="look")
                    photos[which] = (
                        file,
                        gr.Markdown(elem_id=f"{which}-info"),
                        gr.Image(label=which, interactive=False, height=260,
                                 elem_id=f"{which}-view", format="png"))
        with gr.Accordion("Regions (masks)", open=True):
            mode = gr.Radio([(MASK_LABELS[m], m) for m in MASK_MODES], value="whole",
                            label="How regions correspond", elem_id="mask-mode")
            brush = gr.Brush(colors=[_hex(c) for c in PALETTE.values()],
                             default_color=_hex(PALETTE["blue"]), color_mode="fixed",
                             default_size=24)
            with gr.Column(visible=False, elem_id="paint-group") as paint_group:
                gr.HTML(legend_html())
                start_auto = gr.Button("Start from the automatic regions", size="sm",
                                       elem_id="start-auto")
                with gr.Row():
                    content_paint, style_paint = (checked_editor(gr.ImageEditor(
                        label=f"paint on the {which}", elem_id=f"{which}-paint",
                        type="numpy", image_mode="RGBA", sources=(), transforms=(),
                        brush=brush, eraser=gr.Eraser(default_size=24), layers=False,
                        format="png", interactive=True, height=420), studio.limits)
                        for which in ("content", "style"))
            with gr.Row(visible=False) as files_group:
                content_mask = gr.File(label="content mask", elem_id="content-mask",
                                       type="filepath")
                style_mask = gr.File(label="style mask", elem_id="style-mask",
                                     type="filepath")
            masks_button = gr.Button("Show the regions", elem_id="show-masks")
            with gr.Row(elem_id="regions"):
                mask_view = gr.Image(label="regions", interactive=False, elem_id="mask-view",
                                     format="png", height=300)
                mask_text = gr.Markdown(elem_id="mask-summary")
        with gr.Row():
            preset = gr.Dropdown([(PRESET_LABELS[p], p) for p in RUN_PRESETS],
                                 value="default",
                                 label="Settings", elem_id="preset", scale=1)
            preview_button = gr.Button("Preview (seconds)", elem_id="preview")
            run_button = gr.Button("Run", variant="primary", elem_id="run")
            cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel")
        status = gr.Markdown("Upload two photos to start.", elem_id="status")
        with gr.Row(elem_id="results"):
            live = gr.Image(label="as it improves", interactive=False, elem_id="live",
                            format="png", height=360)
            slider = gr.ImageSlider(label="before / after", elem_id="compare",
                                    interactive=False, format="png")
        strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Strength",
                             interactive=False, elem_id="strength")
        with gr.Row():
            fmt = gr.Dropdown(list(FORMATS), value="JPEG", label="Format", elem_id="format")
            bits = gr.Radio(["8", "16"], value="8", label="Bits (16: PNG, TIFF)",
                            elem_id="bits")
            profile = gr.Radio([("the content's own", "content"), ("sRGB", "srgb")],
                               value="content", label="Colour profile", elem_id="profile")
            export_button = gr.Button("Make the full-resolution file", elem_id="export")
        download = gr.File(label="Download", interactive=False, elem_id="download")

        content_view, style_view = photos["content"][2], photos["style"][2]
        for which, editor in (("content", content_paint), ("style", style_paint)):
            source, info, view = photos[which]
            source.change(on_upload(which), [source], [view, info, editor, status],
                          concurrency_limit=4, concurrency_id="light")
        looks.input(pick_look, [looks],
                    [photos["style"][2], photos["style"][1], style_paint, status],
                    concurrency_limit=4, concurrency_id="light")
        mode.change(mode_changed, [mode], [paint_group, files_group], queue=False)
        start_auto.click(auto_paint, [content_view, style_view], [content_paint, style_paint],
                         concurrency_limit=2, concurrency_id="preview")
        masks_inputs = [mode, content_mask, style_mask, content_paint, style_paint]
        masks_button.click(show_masks, masks_inputs, [mask_view, mask_text],
                           concurrency_limit=2, concurrency_id="preview")
        preview_button.click(preview, masks_inputs, [status, slider, strength],
                             concurrency_limit=2, concurrency_id="preview")
        run_button.click(begin, masks_inputs, [status], queue=False).success(
            run, [preset], [status, live, slider, strength],
            concurrency_limit=studio.workers.qsize(), concurrency_id="transfer")
        cancel_button.click(cancel, None, [status], queue=False)
        strength.change(restrength, [strength], [slider, live], trigger_mode="always_last",
                        concurrency_limit=4, concurrency_id="light")
        export_button.click(export, [fmt, bits, profile, strength], [download],
                            concurrency_limit=2, concurrency_id="export")
        demo.unload(closed)
    demo.queue(max_size=QUEUE_SIZE)
    return demo


def serve(studio: Studio, *, host: str = "127.0.0.1", port: int = 7860,
          auth: tuple[str, str] | None = None, quiet: bool = False,
          ready: Callable[[str], None] | None = None) -> None:
    """Serve the page until Ctrl-C, then delete the app's files.

    Args:
        studio: the engine and sessions.
        host, port: where to listen (a non-loopback host needs ``auth``).
        auth: ``(user, password)`` for the login page.
        ready: called with the page's address once it is served.
    """
    check_host(host, auth)
    demo = build(studio)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    try:
        try:
            _, url, _ = demo.launch(
                server_name=host, server_port=port, auth=Login(*auth) if auth else None,
                max_file_size=(
                    studio.limits.max_upload_bytes), ssr_mode=False, quiet=True,
                show_error=True, prevent_thread_lock=True, theme=theme, css=CSS,
                footer_links=[], inbrowser=False, share=False, enable_monitoring=False,
                mcp_server=False, pwa=False)
        except OSError as exc:  # the port is taken, or the address is not this machine's
            raise ConfigError(f"cannot serve on {host}:{port}: {str(exc).split('. ')[0]}; "
                              "choose another --port") from None
        if ready is not None:
            ready(url)
        elif not quiet:
            log.info("serving on %s", url)
        demo.block_thread()
    finally:
        demo.close()
        studio.close()
