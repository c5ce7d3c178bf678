"""Writing a result: the image and the files beside it, named after it.

For an output ``OUT.png`` a transfer may write ``OUT.png.json`` (the report),
``OUT.png.transforms.npz`` (the look, for ``photostyle apply``), ``OUT.png-compare.png``
(content, style and result side by side) and a LUT (``--lut``). Every front-end (a single
transfer, a batch, the app) writes them through :func:`write_outputs`, inside
:func:`~photostyle.interrupts.deferred_interrupts` so that an interrupt waits until each
file is whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Height of each tile of the ``--compare`` image.
COMPARE_HEIGHT = 480


def report_path(output: str | Path) -> Path:
    """The JSON report beside an output: its full name plus ``.json`` (``out.png.json``), so
    that ``out.png`` and ``out.jpg`` keep a report each."""
    p = Path(output)
    return p.with_name(p.name + ".json")


def compare_path(output: str | Path) -> Path:
    """Where ``--compare`` writes the side-by-side image: ``<output name>-compare.png``."""
    p = Path(output)
    return p.with_name(p.name + "-compare.png")


def transforms_path(output: str | Path) -> Path:
    """Where the look's transforms are saved: ``<output name>.transforms.npz``."""
    p = Path(output)
    return p.with_name(p.name + ".transforms.npz")


def lut_path(output: str | Path) -> Path:
    """The default name of ``--lut``'s file: ``<output name>.cube``."""
    p = Path(output)
    return p.with_name(p.name + ".cube")


@dataclass(frozen=True)
class OutputOptions:
    """What to write for each result, and how.

    Attributes:
        quality: JPEG and WebP quality (1-100).
        bit_depth: 8 or 16; ``None``: the content's (16 only for PNG and TIFF).
        strip_metadata: write no EXIF or XMP.
        report: write the JSON report.
        save_transforms: save the look's transforms.
        compare: write the side-by-side image.
        lut: write a 3D LUT: ``None`` no; ``""`` beside the output (:func:`lut_path`);
            else that file.
    """

    quality: int = 95
    bit_depth: int | None = None
    strip_metadata: bool = False
    report: bool = True
    save_transforms: bool = True
    compare: bool = False
    lut: str | None = None

    def files(self, output: Path) -> list[tuple[str, Path]]:
        """Every file written for ``output``, as ``(what, path)`` (for checks before work)."""
        files = [("output", output)]
        if self.report:
            files.append(("report", report_path(output)))
        if self.save_transforms:
            files.append(("transforms file", transforms_path(output)))
        if self.compare:
            files.append(("comparison image", compare_path(output)))
        if self.lut is not None:
            files.append(("LUT", Path(self.lut) if self.lut else lut_path(output)))
        return files


def write_outputs(result: Any, output: Path, content: Any, style: Any,
                  options: OutputOptions, max_pixels: int,
                  extra_report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a :class:`~photostyle.engine.pipeline.TransferResult` and the files beside it.

    Args:
        result: the result.
        output: the image file (format from the extension).
        content, style: the inputs (paths: the content's metadata is carried; the compare
            image shows both).
        options: what to write.
        max_pixels: size limit for reading the inputs again.
        extra_report: entries added to the report.

    Returns:
        The report as written (also when ``options.report`` is off).
    """
    from photostyle.files.metadata import Metadata, read_metadata
    from photostyle.files.writers import default_bit_depth, save_json

    metadata = Metadata()
    if not options.strip_metadata and isinstance(content, str | Path):
        metadata = read_metadata(content).for_output(source=str(content))
    result.save(output, quality=options.quality, metadata=metadata,
                bit_depth=options.bit_depth)
    report = result.report
    inputs = report.setdefault("inputs", {})
    for what, source in (("content", content), ("style", style)):
        if isinstance(source, str | Path):  # the file, not the pixels that travelled
            inputs[what] = str(source)
    report.update(extra_report or {})
    report["output"] = str(output)
    report["output_file"] = {
        "bit_depth": options.bit_depth or default_bit_depth(output, result.bit_depth),
        "profile": report.get("colour", {}).get("output_profile"),
        "quality": options.quality}
    report["metadata"] = {"exif": metadata.exif is not None, "xmp": metadata.xmp is not None,
                          "stripped": options.strip_metadata}
    if options.save_transforms and result.look is not None:
        result.look.save(transforms_path(output))
        report["transforms"] = str(transforms_path(output))
    if options.lut is not None:
        from photostyle.runs.lut import export_lut

        target = Path(options.lut) if options.lut else lut_path(output)
        report["lut"] = export_lut(result, content, target, max_pixels=max_pixels)
    if options.compare and isinstance(content, str | Path) and isinstance(style, str | Path):
        write_compare(content, style, result, output, max_pixels)
    if options.report:
        save_json(report, report_path(output))
    return report


def write_compare(content: str | Path, style: str | Path, result: Any, output: Path,
                  max_pixels: int) -> None:
    """The labelled side-by-side image of ``--compare`` (all three shown in sRGB)."""
    from photostyle.files.images import load_image
    from photostyle.runs.sheets import write_contact_sheet

    tiles = [(what, load_image(path, max_pixels=max_pixels, what=f"{what} image"))
             for what, path in (("content", content), ("style", style))]
    write_contact_sheet([*tiles, ("result", result.srgb())], compare_path(output),
                        height=COMPARE_HEIGHT, per_row=3)
