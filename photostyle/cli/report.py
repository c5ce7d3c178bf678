"""photostyle report: what a run's report says, and its loss curves as a picture."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from photostyle.cli.common import EXIT_OK


def summary(report: dict[str, Any]) -> list[str]:
    """A few lines: status, inputs, the settings that differ from the defaults, the levels'
    final losses and times, and the libraries' versions."""
    from photostyle.engine.config import TransferConfig
    from photostyle.runs.repeat import ROLES

    lines = [f"status: {report.get('status', '?')}"
             + (f" ({report['message']})" if report.get("message") else "")]
    files = report.get("files") or {}
    inputs = report.get("inputs") or {}
    for role in ROLES:
        rec = files.get(role)
        path = rec.get("path") if isinstance(rec, dict) else inputs.get(role)
        if path:
            digest = rec.get("sha256") if isinstance(rec, dict) else None
            lines.append(f"{role.replace('_', ' ')}: {path}"
                         + (f" (sha256 {digest[:12]}...)" if digest else ""))
    config = report.get("config")
    if isinstance(config, dict):
        defaults = TransferConfig().to_dict()
        changed = {k: v for k, v in config.items() if defaults.get(k, object()) != v}
        lines.append("settings that differ from the defaults: " + (
            ", ".join(f"{k}={v}" for k, v in changed.items()) or "none"))
    for level in report.get("levels") or []:
        final = level.get("final") or {}
        size = level.get("size", ["?", "?"])
        lines.append(f"level {level.get('level')}: {size[1]} x {size[0]} px, "
                     f"{level.get('evaluations')} evaluations in {level.get('seconds', 0):.1f} s,"
                     f" final total loss {final.get('total', float('nan')):.4g}")
    total = (report.get("timings") or {}).get("total")
    if total is not None:
        lines.append(f"time: {total:.1f} s")
    versions = report.get("versions") or {}
    if versions:
        lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()
                                              if k != "platform"))
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    from photostyle.files.paths import check_writes
    from photostyle.runs.outputs import losses_path, write_loss_plot
    from photostyle.runs.repeat import read_report

    report = read_report(args.report)
    source = Path(args.report)  # OUT.json -> OUT-losses.png, the name --plot gives it
    output = source.with_suffix("") if source.suffix.lower() == ".json" else source
    target = Path(args.output) if args.output else losses_path(output)
    if not args.no_plot:
        check_writes([("loss plot", target)], [("report", args.report)])
    for line in summary(report):
        print(line)
    if not args.no_plot and write_loss_plot(report, target):
        print(f"loss curves: {target}")
    return EXIT_OK
