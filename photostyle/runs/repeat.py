"""Repeating a run from its report (``photostyle transfer --config REPORT.json``).

A report records every setting (``"config"``: :meth:`TransferConfig.to_dict`), the input
files with their SHA-256 (``"files"``) and the versions of the libraries. :func:`read_run`
reads those back; :func:`changed_inputs` says which input files are no longer the bytes the
run was made from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photostyle.engine.config import TransferConfig
from photostyle.engine.report import file_record
from photostyle.errors import ConfigError, InputError

#: A report is a few hundred kilobytes; anything far larger is not one.
MAX_REPORT_BYTES = 64 << 20

#: Input roles a report records, in the order a transfer takes them.
ROLES = ("content", "style", "content_mask", "style_mask")


@dataclass
class RecordedRun:
    """What a report says about the run it describes.

    Attributes:
        config: every setting of the run.
        inputs: the input files by role (``content``, ``style``, ``content_mask``,
            ``style_mask``), as the run named them.
        files: what the run recorded of each input file (``path``, ``bytes``, ``sha256``);
            empty for reports written before photostyle recorded them.
        versions: the library versions the run used.
    """

    config: TransferConfig
    inputs: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def read_report(path: str | os.PathLike) -> dict[str, Any]:
    """A report's JSON (any JSON object), read with a size limit.

    Raises:
        InputError: the file is missing, unreadable, too large, not JSON or not an object.
    """
    p = Path(path)
    what = f"report {p}"
    try:
        if p.stat().st_size > MAX_REPORT_BYTES:
            raise InputError(f"{what}: over {MAX_REPORT_BYTES >> 20} MB, not a report")
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what}: file not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{what}: not JSON (it is not text)") from None
    except OSError as exc:
        raise InputError(f"{what}: cannot read it ({getattr(exc, 'strerror', None) or exc})"
                         ) from None
    except ValueError as exc:
        raise InputError(f"{what}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what}: not a photostyle report (a JSON object)")
    return data


def read_run(path: str | os.PathLike) -> RecordedRun:
    """Read a report (or a JSON file of settings alone, ``{"size": 512, ...}``).

    Raises:
        InputError: the file is missing, too large or not JSON.
        ConfigError: it holds no settings, or a setting is unknown or invalid.
    """
    what = f"run file {path}"
    data = read_report(path)
    settings = data.get("config", data if "status" not in data else None)
    if not isinstance(settings, dict):
        raise ConfigError(f"{what}: records no settings (a report of 'photostyle transfer' "
                          "has them under \"config\")")
    try:
        config = TransferConfig.from_dict(settings, recorded="config" in data)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    files = {role: rec for role, rec in (data.get("files") or {}).items()
             if role in ROLES and isinstance(rec, dict) and isinstance(rec.get("path"), str)}
    inputs = {role: rec["path"] for role, rec in files.items()}
    for role in ("content", "style"):  # older reports: the paths alone
        recorded = (data.get("inputs") or {}).get(role)
        if role not in inputs and isinstance(recorded, str) and recorded:
            inputs[role] = recorded
    versions = {str(k): str(v) for k, v in (data.get("versions") or {}).items()}
    return RecordedRun(config, inputs, files, versions)


def changed_inputs(run: RecordedRun, used: dict[str, str | os.PathLike | None]) -> list[str]:
    """One line for each input file in ``used`` (role -> path) whose bytes differ from the
    ones the run recorded (a file the report has no hash of is not checked)."""
    lines = []
    for role, path in used.items():
        recorded = run.files.get(role, {}).get("sha256")
        if path is None or not recorded:
            continue
        now = file_record(path)
        if now is None or now["sha256"] is None:  # not a regular file: its check says why
            continue
        if now["sha256"] != recorded:
            lines.append(f"{role.replace('_', ' ')} {path}: not the file the run was made "
                         f"from (its SHA-256 differs from the report's {recorded[:12]}...)")
    return lines
