"""Writing a result: the image and the files that go with it, named after it.

For an output ``OUT.png`` a transfer may write a report (``OUT.png.json``) and the look's
transforms (``OUT.png.transforms.npz``, for ``photostyle apply``): the *sidecars*. Where
they go is ``--sidecars`` (:data:`SIDECARS`): in a ``photostyle-sidecars`` folder beside
the output (the default: a photographer's folder of 500 photos keeps 500 photos and one
folder, and a researcher still has every report, named after its photo), beside the output
itself, or nowhere. Files the user asks for by name stay beside the output:
``OUT.png-compare.png`` (content, style and result side by side) and a LUT (``--lut``).
Every front-end (a single transfer, a batch, the app) writes them through
:func:`write_outputs`, inside :func:`~photostyle.interrupts.deferred_interrupts` so that an
interrupt waits until each file is whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Height of each tile of the ``--compare`` image.
COMPARE_HEIGHT = 480

#: Where reports and transforms go: a folder beside the output, beside the output, nowhere.
SIDECARS = ("folder", "beside", "none")

#: The default of ``--sidecars``.
DEFAULT_SIDECARS = "folder"

#: The folder, beside the outputs, that ``--sidecars folder`` writes into.
SIDECAR_FOLDER = "photostyle-sidecars"


def sidecar_base(output: str | Path, sidecars: str = DEFAULT_SIDECARS) -> Path:
    """The path a sidecar's name is made from: the output itself (``beside``) or the same
    name in :data:`SIDECAR_FOLDER` beside it (``folder``)."""
    p = Path(output)
    if sidecars not in SIDECARS:
        raise ValueError(f"sidecars: one of {', '.join(SIDECARS)}, not {sidecars!r}")
    return p.parent / SIDECAR_FOLDER / p.name if sidecars == "folder" else p


def report_path(output: str | Path, sidecars: str = DEFAULT_SIDECARS) -> Path:
    """The JSON report of an output: its full name plus ``.json`` (``out.png.json``), so
    that ``out.png`` and ``out.jpg`` keep a report each; in :data:`SIDECAR_FOLDER` unless
    ``sidecars`` is ``beside``."""
    p = sidecar_base(output, sidecars)
    return p.with_name(p.name + ".json")


def compare_path(output: str | Path) -> Path:
    """Where ``--compare`` writes the side-by-side image: ``<output name>-compare.png``."""
    p = Path(output)
    return p.with_name(p.name + "-compare.png")


def transforms_path(output: str | Path, sidecars: str = DEFAULT_SIDECARS) -> Path:
    """Where the look's transforms are saved: ``<output name>.transforms.npz``, in
    :data:`SIDECAR_FOLDER` unless ``sidecars`` is ``beside``."""
    p = sidecar_base(output, sidecars)
    return p.with_name(p.name + ".transforms.npz")


def find_transforms(output: str | Path) -> Path:
    """The transforms saved with ``output``, wherever ``--sidecars`` put them (the folder
    first, then beside it); the folder's name when neither exists."""
    for sidecars in ("folder", "beside"):
        if transforms_path(output, sidecars).is_file():
            return transforms_path(output, sidecars)
    return transforms_path(output)


def losses_path(output: str | Path) -> Path:
    """Where ``--plot`` draws the loss curves: ``<output name>-losses.png``."""
    p = Path(output)
    return p.with_name(p.name + "-losses.png")


def write_loss_plot(report: dict[str, Any], target: Path) -> bool:
    """Draw a transfer's loss curves (:func:`photostyle.runs.plots.loss_curves`), titled
    with its content's name, into ``target`` (written whole or not at all). Returns False,
    with a warning, when the report records no loss history (a preview optimises nothing)."""
    from photostyle.files.writers import atomic_write
    from photostyle.runs.plots import loss_curves

    content = Path(str((report.get("inputs") or {}).get("content", ""))).name
    try:
        image = loss_curves(report, f"{content}: loss terms per evaluation (log scale; "
                            "each term before its weight, total: their weighted sum)")
    except ValueError as exc:
        log.warning("no loss curves drawn: %s", exc)
        return False
    with atomic_write(target, "wb") as handle:
        image.save(handle, format="PNG")
    return True


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
        plot: draw the loss curves (:func:`losses_path`).
        lut: write a 3D LUT: ``None`` no; ``""`` beside the output (:func:`lut_path`);
            else that file.
        sidecars: where the report and the transforms go (:data:`SIDECARS`); ``none``
            writes neither.
    """

    quality: int = 95
    bit_depth: int | None = None
    strip_metadata: bool = False
    report: bool = True
    save_transforms: bool = True
    compare: bool = False
    plot: bool = False
    lut: str | None = None
    sidecars: str = DEFAULT_SIDECARS

    def __post_init__(self) -> None:
        if self.sidecars not in SIDECARS:
            from photostyle.errors import ConfigError

            raise ConfigError(f"--sidecars: one of {', '.join(SIDECARS)}, not "
                              f"{self.sidecars!r}")

    @property
    def writes_report(self) -> bool:
        return self.report and self.sidecars != "none"

    @property
    def writes_transforms(self) -> bool:
        return self.save_transforms and self.sidecars != "none"

    def report_file(self, output: Path) -> Path:
        return report_path(output, "beside" if self.sidecars == "none" else self.sidecars)

    def transforms_file(self, output: Path) -> Path:
        return transforms_path(output, "beside" if self.sidecars == "none" else self.sidecars)

    def files(self, output: Path) -> list[tuple[str, Path]]:
        """Every file written for ``output``, as ``(what, path)`` (for checks before work)."""
        files = [("output", output)]
        if self.writes_report:
            files.append(("report", self.report_file(output)))
        if self.writes_transforms:
            files.append(("transforms file", self.transforms_file(output)))
        if self.compare:
            files.append(("comparison image", compare_path(output)))
        if self.plot:
            files.append(("loss plot", losses_path(output)))
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
    if options.writes_transforms and result.look is not None:
        result.look.save(options.transforms_file(output))
        report["transforms"] = str(options.transforms_file(output))
    if options.lut is not None:
        from photostyle.runs.lut import export_lut

        target = Path(options.lut) if options.lut else lut_path(output)
        report["lut"] = export_lut(result, content, target, max_pixels=max_pixels)
    if options.compare and isinstance(content, str | Path) and isinstance(style, str | Path):
        write_compare(content, style, result, output, max_pixels)
    if options.plot and write_loss_plot(report, losses_path(output)):
        report["loss_plot"] = str(losses_path(output))
    if options.writes_report:
        save_json(report, options.report_file(output))
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
