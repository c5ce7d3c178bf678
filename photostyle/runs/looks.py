"""Looks kept by name: a style photo and the settings it is used with, stored once and
named wherever ``--style`` is taken (``--look NAME``).

Each look is one small folder, readable by hand, in the user's data folder
(:func:`looks_folder`)::

    ~/.local/share/photostyle/looks/golden-hour/
        look.json        name, when and with which photostyle it was saved, the settings
        style.jpg        the style photo, byte for byte
        style-mask.png   its mask, if one was given

``look.json`` records the preset and the settings that differ from it
(:meth:`TransferConfig.to_dict` spelling); a transfer with ``--look`` starts from them and
the options given on its own command line win.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from photostyle.engine.config import TransferConfig, preset_config
from photostyle.errors import ConfigError, InputError, OutputError

log = logging.getLogger(__name__)

#: Environment variable naming the looks folder (overrides the platform's data folder).
LOOKS_ENV = "PHOTOSTYLE_LOOKS"

#: A look's name: letters, digits, spaces, ``-``, ``_`` and ``.``, starting with a letter or
#: digit, at most 64 characters (it is a folder name on every platform).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")

#: The file in each look's folder that describes it.
DESCRIPTION = "look.json"

#: Version of ``look.json``'s layout.
FORMAT_VERSION = 1


def looks_folder() -> Path:
    """Where looks are kept: ``$PHOTOSTYLE_LOOKS`` if set; else the platform's data folder:
    ``$XDG_DATA_HOME/photostyle/looks`` (``~/.local/share/...``) on Linux,
    ``~/Library/Application Support/photostyle/looks`` on macOS,
    ``%APPDATA%\\photostyle\\looks`` on Windows."""
    if os.environ.get(LOOKS_ENV):
        return Path(os.environ[LOOKS_ENV]).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "photostyle" / "looks"


def check_name(name: str) -> str:
    """``name`` if it is a valid look name.

    Raises:
        ConfigError: naming the rule.
    """
    if not NAME_PATTERN.fullmatch(name) or name.endswith((".", " ")) or ".." in name:
        raise ConfigError(f"look name {name!r}: use letters, digits, spaces, '-', '_' and '.', "
                          "starting with a letter or digit (at most 64 characters)")
    return name


@dataclass(frozen=True)
class StoredLook:
    """A look as its folder holds it.

    Attributes:
        name: its name.
        folder: its folder.
        style: the style photo in it.
        style_mask: the style's mask in it, or ``None``.
        preset: the preset it was saved with.
        settings: the settings that differ from the preset (``TransferConfig`` fields).
        created: when it was saved (ISO 8601).
        description: ``look.json`` as read.
    """

    name: str
    folder: Path
    style: Path
    style_mask: Path | None
    preset: str
    settings: dict[str, Any]
    created: str = ""
    description: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def config(self, **over: Any) -> TransferConfig:
        """The look's settings, with ``over`` on top."""
        return preset_config(self.preset, **{**self.settings, **over})


def _differences(config: TransferConfig, preset: str) -> dict[str, Any]:
    base = preset_config(preset).to_dict()
    return {k: v for k, v in config.to_dict().items() if base.get(k) != v}


def save_look(name: str, style: str | os.PathLike, config: TransferConfig, *,
              preset: str = "default", style_mask: str | os.PathLike | None = None,
              replace: bool = False, folder: Path | None = None) -> StoredLook:
    """Keep ``style`` (and its mask) with ``config`` as look ``name``.

    The look's folder is written whole beside the others and renamed into place, so that a
    failure leaves no half look; replacing an existing look (``replace``) swaps the folders.

    Raises:
        ConfigError: a bad name, or the look exists and ``replace`` is false.
        InputError: the style photo (or mask) cannot be read.
        OutputError: the looks folder cannot be written.
    """
    from photostyle import __version__
    from photostyle.files.images import IMAGE_EXTENSIONS, open_image
    from photostyle.files.paths import check_input_file

    check_name(name)
    root = folder or looks_folder()
    target = root / name
    if target.exists() and not replace:
        raise ConfigError(f"look {name!r} exists ({target}); give --replace to replace it")
    source = check_input_file(style, "style image")
    if source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise InputError(f"style image {source}: not a photo photostyle reads "
                         f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
    open_image(source, max_pixels=config.max_pixels, what="style image").close()
    mask = check_input_file(style_mask, "style mask") if style_mask else None
    description = {
        "format": "photostyle-look", "version": FORMAT_VERSION, "name": name,
        "created": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "photostyle": __version__, "style": f"style{source.suffix.lower()}",
        "style_source": str(source.resolve()),
        "style_mask": "style-mask.png" if mask else None,
        "preset": preset, "settings": _differences(config, preset),
    }
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    except OSError as exc:
        raise OutputError(f"looks folder {root}: cannot write ({exc})") from None
    try:
        shutil.copyfile(source, work / f"style{source.suffix.lower()}")
        if mask is not None:
            shutil.copyfile(mask, work / "style-mask.png")
        (work / DESCRIPTION).write_text(json.dumps(description, indent=2) + "\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=root))
            os.replace(target, old / name)
            os.replace(work, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, target)
    except OSError as exc:
        raise OutputError(f"look {name!r}: cannot write {target} ({exc})") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return load_look(name, folder=root)


def load_look(name: str, *, folder: Path | None = None) -> StoredLook:
    """Look ``name`` from the looks folder.

    Raises:
        ConfigError: no such look (the known ones are named), or its folder is damaged.
    """
    root = folder or looks_folder()
    check_name(name)
    where = root / name
    path = where / DESCRIPTION
    if not path.is_file():
        known = ", ".join(look.name for look in list_looks(folder=root)) or "none saved yet"
        raise ConfigError(f"look {name!r}: not found in {root} (looks: {known}; save one "
                          "with 'photostyle looks save NAME --style PHOTO')")
    try:
        data = json.loads(path.read_text())
        style = where / Path(str(data["style"])).name
        mask_name = data.get("style_mask")
        mask = where / Path(str(mask_name)).name if mask_name else None
        preset = str(data.get("preset") or "default")
        settings = dict(data.get("settings") or {})
        if not style.is_file() or (mask is not None and not mask.is_file()):
            raise ValueError("its style photo is missing")
        preset_config(preset, **settings)  # the settings are still valid
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        raise ConfigError(f"look {name!r}: {path} cannot be used ({exc}); save it again "
                          "with --replace") from None
    return StoredLook(name, where, style, mask, preset, settings, str(data.get("created", "")),
                      data)


def list_looks(*, folder: Path | None = None) -> list[StoredLook]:
    """Every readable look, by name; a damaged one is skipped with a warning."""
    root = folder or looks_folder()
    if not root.is_dir():
        return []
    looks = []
    for where in sorted(root.iterdir(), key=lambda p: p.name.lower()):
        if where.name.startswith(".") or not (where / DESCRIPTION).is_file():
            continue
        try:
            looks.append(load_look(where.name, folder=root))
        except ConfigError as exc:
            log.warning("%s", exc)
    return looks


def remove_look(name: str, *, folder: Path | None = None) -> Path:
    """Delete look ``name``'s folder (only a folder that holds a ``look.json``).

    Raises:
        ConfigError: no such look.
    """
    root = folder or looks_folder()
    check_name(name)
    where = root / name
    if not (where / DESCRIPTION).is_file() or where.is_symlink():
        raise ConfigError(f"look {name!r}: not found in {root}")
    shutil.rmtree(where)
    return where


def resolve_config(given: dict[str, Any], preset: str | None,
                   look: StoredLook) -> TransferConfig:
    """The settings of a run with ``--look``: the look's preset and settings, then the
    settings ``given`` on the command line; a ``preset`` named there replaces the look's
    (and its settings)."""
    if preset is None or preset == look.preset:
        return look.config(**given)
    return preset_config(preset, **given)
