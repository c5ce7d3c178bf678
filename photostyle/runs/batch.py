"""Batches: one look onto a whole shoot.

``photostyle transfer -c shoot/ -s look.jpg --out-dir styled/`` (or several ``-c`` files)
runs :func:`photostyle.engine.pipeline.transfer` on each content photo with the network loaded
once and the caches (segmentation model, matting Laplacians) shared. For each content:

* the output is ``<out-dir>/<name>-styled.<ext>``, in the content's own format when
  photostyle writes it (``--format`` chooses another), with the usual files beside it;
* masks: a file ``<name>-mask.png`` (the name ``photostyle segment`` writes) or
  ``<name>_mask.png`` beside the content is its mask, paired with ``--style-mask``; without
  one, ``--segment`` decides (automatic segmentation, or the style photo as a whole);
* a content that fails (unreadable, too large, a bad mask ...) is reported and skipped; the
  others finish;
* re-running skips a content whose output is already complete with the same settings (its
  report records a key of the settings and of the input files' sizes and dates).

Files in a folder that are not images (by extension), hidden files, ``*-mask.*`` and
``*_mask.*`` files, the batch's style photo and style mask, and the batch's own outputs (a
batch written into its own folder resumes like any other) are left out and listed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photostyle.engine.config import TransferConfig
from photostyle.errors import InputError, PhotostyleError
from photostyle.files.images import IMAGE_EXTENSIONS
from photostyle.files.paths import file_identity
from photostyle.files.writers import WRITE_FORMATS
from photostyle.runs.outputs import OutputOptions, compare_path, write_outputs

if TYPE_CHECKING:
    from photostyle.runs.executors import Executor

log = logging.getLogger(__name__)

#: Endings of a mask's file name (before the extension): ``photo-mask.png`` is the name
#: ``photostyle segment`` writes; ``photo_mask.png`` is common too. The first is preferred.
MASK_SUFFIXES = ("-mask", "_mask")


@dataclass
class BatchItem:
    """One content photo of a batch and what became of it.

    ``status``: ``"pending"``, ``"done"``, ``"skipped"`` (already complete), ``"failed"``,
    ``"running"``, ``"interrupted"`` or ``"not started"``.
    """

    content: Path
    output: Path
    mask: Path | None = None
    status: str = "pending"
    message: str = ""
    seconds: float = 0.0
    key: str = ""
    lut_de: float | None = None

    def row(self) -> dict[str, Any]:
        return {"content": str(self.content), "output": str(self.output),
                "mask": str(self.mask) if self.mask else None, "status": self.status,
                "message": self.message, "seconds": round(self.seconds, 2),
                "lut_mean_de": self.lut_de}


@dataclass
class Batch:
    """The content photos of a batch, with what was left out of the folders given."""

    items: list[BatchItem]
    left_out: list[tuple[Path, str]] = field(default_factory=list)


def collect(contents: list[str | os.PathLike], out_dir: str | os.PathLike,
            fmt: str | None = None,
            others: dict[str, str | os.PathLike | None] | None = None) -> Batch:
    """The batch's content photos and their outputs.

    Args:
        contents: files and folders (a folder's own files, not its subfolders).
        out_dir: where the outputs go.
        fmt: output extension (``"jpg"``, ``".tif"`` ...); ``None``: each content's own when
            photostyle writes it, else PNG.
        others: the batch's other inputs by role (``{"the style photo": "dusk.jpg"}``): a
            folder entry that is one of them (also through a link) is left out, not styled.

    Raises:
        InputError: a path that does not exist, no photo at all, or two contents that
            would write the same output.
    """
    found: list[Path] = []
    left_out: list[tuple[Path, str]] = []
    roles = {file_identity(Path(path)): f"the batch's {role}"
             for role, path in (others or {}).items() if path is not None}
    for entry in contents:
        p = Path(entry)
        if p.is_dir():
            for child in sorted(p.iterdir()):
                why = _not_a_content(child) or roles.get(file_identity(child), "")
                if why:
                    left_out.append((child, why))
                else:
                    found.append(child)
        elif p.exists():
            found.append(p)
        else:
            raise InputError(f"content {p}: no such file or folder")
    if not found:
        raise InputError("no content photo found in " + ", ".join(map(str, contents))
                         + (f" ({len(left_out)} file(s) left out: not photos)"
                            if left_out else ""))
    ext = None if fmt is None else "." + fmt.lower().lstrip(".")
    if ext is not None and ext not in WRITE_FORMATS:
        raise InputError(f"--format {fmt}: photostyle writes "
                         + ", ".join(sorted(e.lstrip(".") for e in WRITE_FORMATS)))
    # what the batch writes (its outputs, from this run or an earlier one) is not a content
    outputs: dict[tuple[object, ...], Path] = {}
    for c in found:
        output = Path(out_dir) / _output_name(c, ext)
        outputs[file_identity(output)] = outputs[file_identity(compare_path(output))] = c
    kept = []
    for content in found:
        source = outputs.get(file_identity(content))
        if source is not None and source != content:
            left_out.append((content, f"an output of this batch (of {source.name})"))
        else:
            kept.append(content)
    items: list[BatchItem] = []
    by_output: dict[Path, Path] = {}
    for content in kept:
        output = Path(out_dir) / _output_name(content, ext)
        if output in by_output:
            raise InputError(f"contents {by_output[output]} and {content} would both be "
                             f"written to {output}; rename one or use --format")
        by_output[output] = content
        items.append(BatchItem(content, output, mask_of(content)))
    return Batch(items, left_out)


def _output_name(content: Path, ext: str | None) -> str:
    """The name of a content's output: ``<name>-styled.<ext>``, in the content's own format
    (a 16-bit TIFF for a raw file; PNG for a format photostyle does not write)."""
    from photostyle.files.raw import is_raw

    suffix = ext or (content.suffix.lower() if content.suffix.lower() in WRITE_FORMATS
                     else ".tif" if is_raw(content) else ".png")
    return f"{content.stem}-styled{suffix}"


def mask_of(content: Path) -> Path | None:
    """The mask beside a content photo: ``NAME-mask.png`` or ``NAME_mask.png`` (``None``:
    neither exists)."""
    for suffix in MASK_SUFFIXES:
        mask = content.with_name(f"{content.stem}{suffix}.png")
        if mask.is_file():
            return mask
    return None


def _not_a_content(path: Path) -> str:
    """Why a folder entry is not a content photo (empty string: it is one)."""
    if path.name.startswith("."):
        return "hidden"
    if not path.is_file():
        return "not a file"
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return "not an image (by its extension)"
    if path.stem.endswith(MASK_SUFFIXES):
        return "a mask"
    return ""


def _stamp(path: str | os.PathLike | None) -> list[Any] | None:
    if path is None:
        return None
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def item_key(item: BatchItem, style: str | os.PathLike, style_mask: str | os.PathLike | None,
             config: TransferConfig, options: OutputOptions) -> str:
    """A digest of what makes an output: settings, output options and the input files'
    names, sizes and modification times."""
    data = {"config": config.to_dict(), "options": options.__dict__,
            "content": _stamp(item.content), "mask": _stamp(item.mask),
            "style": _stamp(style), "style_mask": _stamp(style_mask) if item.mask else None}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def already_done(item: BatchItem, options: OutputOptions) -> bool:
    """Whether ``item``'s output and report exist and record a completed run of its key
    (with ``--sidecars none`` there is no report: every photo is made again)."""
    if not options.writes_report:
        return False
    report = options.report_file(item.output)
    if not (item.output.is_file() and report.is_file()):
        return False
    try:
        recorded = json.loads(report.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(recorded, dict) and recorded.get("status") == "completed"
            and recorded.get("batch_key") == item.key)


#: ``on_item(index, item)`` is called when an item starts and again when it ends.
ItemCallback = Callable[[int, BatchItem], None]


def run_batch(
    batch: Batch,
    style: str | os.PathLike,
    config: TransferConfig,
    options: OutputOptions,
    *,
    style_mask: str | os.PathLike | None = None,
    on_item: ItemCallback | None = None,
    progress: Any = None,
    executor: Executor | None = None,
) -> str:
    """Transfer ``style`` onto every item of ``batch``, writing each one's outputs.

    Args:
        batch: from :func:`collect`; each item's ``status``, ``message`` and ``seconds``
            are filled in.
        style: the style photo; style_mask: its mask (needed by contents with masks).
        config: settings; options: what to write for each output.
        on_item: called as each item starts and ends.
        progress: the transfer's progress callback (local executor only).
        executor: where the transfers run (:mod:`photostyle.executors`); default: this
            process, with the network loaded once. Whichever runs them, the files are
            written here.

    Returns:
        ``"completed"`` or ``"interrupted"`` (Ctrl-C: a photo whose optimisation had begun
        keeps its best image, marked interrupted; the rest are ``"not started"``).
    """
    from photostyle.engine.masks import read_mask
    from photostyle.files.images import load_image, read_content
    from photostyle.interrupts import deferred_interrupts
    from photostyle.runs.executors import LocalExecutor, Task

    for item in batch.items:
        item.key = item_key(item, style, style_mask, config, options)
    todo = []
    for index, item in enumerate(batch.items):
        if already_done(item, options):
            item.status, item.message = "skipped", "already done with these settings"
            if on_item is not None:
                on_item(index, item)
        else:
            todo.append(index)
    if not todo:
        return "completed"
    style_pixels = load_image(style, max_pixels=config.max_pixels, what="style image")
    style_labels = read_mask(style_mask, tolerance=config.mask_tolerance,
                             max_pixels=config.max_pixels) if style_mask else None

    def record(index: int, status: str, message: str, seconds: float = 0.0) -> None:
        item = batch.items[index]
        item.status, item.message, item.seconds = status, message, seconds
        if on_item is not None:
            on_item(index, item)

    def tasks() -> Any:
        for index in todo:
            item = batch.items[index]
            if on_item is not None:
                on_item(index, item)
            try:  # read here: the pixels travel to the worker, whichever it is
                photo = read_content(item.content, config.max_pixels)
                if item.mask is not None and style_labels is None:
                    raise InputError(f"content {item.content} has a mask ({item.mask.name}) "
                                     "but no --style-mask was given")
                mask = read_mask(item.mask, tolerance=config.mask_tolerance,
                                 max_pixels=config.max_pixels) if item.mask else None
            except PhotostyleError as exc:
                record(index, "failed", str(exc))
                continue
            item.status = "running"
            yield Task(item.key, photo, style_pixels, config, mask,
                       style_labels if mask is not None else None, index)

    own = executor is None
    executor = executor or LocalExecutor(progress=progress)
    status = "completed"
    try:
        if any(config.iterations_per_level()):
            executor.preload(config, config.layers_in_use())
        for outcome in executor.run(tasks()):
            index = outcome.task.data
            item = batch.items[index]
            if outcome.error:
                record(index, "failed", outcome.error + (
                    " (please report it)" if outcome.kind == "internal" else ""))
                continue
            result = outcome.result
            with deferred_interrupts() as late:
                report = write_outputs(result, item.output, item.content, style, options,
                                       config.max_pixels, {"batch_key": item.key})
            if report.get("lut"):
                item.lut_de = report["lut"]["mean_de"]
            interrupted = result.status == "interrupted" or late.received is not None
            record(index, "interrupted" if interrupted else (
                "done" if result.status == "completed" else result.status), result.message,
                float(result.report["timings"]["total"]))
            if interrupted:
                status = "interrupted"
                break
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        if own:
            executor.close()
    for item in batch.items:
        if item.status == "running":
            item.status, item.message = "interrupted", "nothing written"
        elif item.status == "pending":
            item.status = "not started"
    return status


def format_summary(batch: Batch) -> str:
    """The table that ends a batch: one row per content, then the counts."""
    rows = [("content", "status", "seconds", "output / why")]
    for item in batch.items:
        detail = str(item.output) if item.status in ("done", "skipped") else item.message
        if item.lut_de is not None:
            detail += f" (LUT fit error {item.lut_de:.1f} Delta E)"
        if item.status == "interrupted" and item.output.exists():
            detail = f"{item.output} (best image so far)"
        rows.append((item.content.name, item.status,
                     f"{item.seconds:.1f}" if item.seconds else "-", detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    counts: dict[str, int] = {}
    for item in batch.items:
        counts[item.status] = counts.get(item.status, 0) + 1
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    if batch.left_out:
        lines.append(f"left out of the folder(s): {len(batch.left_out)} file(s) ("
                     + ", ".join(f"{p.name}: {why}" for p, why in batch.left_out[:5])
                     + (", ..." if len(batch.left_out) > 5 else "") + ")")
    return "\n".join(lines)
