"""Command-line interface: argument parsing, logging, progress bars and exit codes.

Exit status: 0 success; 1 a bug (``internal error``); 2 bad input or settings (one-line
message, no traceback unless ``--verbose``); 3 a batch in which some photos failed; 4 the
optimisation diverged (the last good image is written); 130 interrupted (the best image so
far is still written when there is one).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from photostyle.cli.common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, SIZED_COMMANDS
from photostyle.cli.parser import build_parser
from photostyle.errors import describe
from photostyle.interrupts import import_whole

__all__ = ["main"]

log = logging.getLogger("photostyle")


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


#: Each command: its function as ``module:function``, then the large modules it needs (beyond
#: the pipeline, imported for all), imported whole before it runs. Nothing is imported for
#: ``--help`` (neither torch nor Gradio); the app's command lives with the app.
COMMANDS: dict[str, tuple[str, ...]] = {
    "transfer": ("photostyle.cli.transfer:cmd_transfer",),
    "apply": ("photostyle.cli.apply:cmd_apply",),
    "masks": ("photostyle.cli.masks:cmd_masks", "photostyle.engine.preview"),
    "evaluate": ("photostyle.cli.evaluate:cmd_evaluate", "photostyle.engine.metrics"),
    "ablate": ("photostyle.cli.ablate:cmd_ablate", "photostyle.runs.ablate",
               "photostyle.engine.metrics"),
    "segment": ("photostyle.cli.masks:cmd_segment", "photostyle.engine.segment"),
    "app": ("photostyle.app.command:run",),
    "video": ("photostyle.cli.video:cmd_video", "photostyle.runs.video",
              "photostyle.engine.metrics"),
    "looks": ("photostyle.cli.looks:cmd_looks",),
    "edit": ("photostyle.cli.looks:cmd_edit",),
    "report": ("photostyle.cli.report:cmd_report",),
}


def command(name: str) -> Any:
    """The function that runs command ``name`` (its module imported whole)."""
    entry, *needs = COMMANDS[name]
    module, _, function = entry.partition(":")
    import_whole(module, *needs)
    return getattr(sys.modules[module], function)


class _PipeSafeStdout:
    """``sys.stdout`` that stops writing, without an error, once its reader has gone.

    ``photostyle evaluate | head -1`` closes the pipe after one line; the command still
    finishes its work (the ``--json`` file, the ablation's tables), printing nothing more.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _gone(self) -> None:
        self.closed_by_reader = True
        # Point file descriptor 1 at /dev/null so that the interpreter's own flush at exit
        # does not raise (the recipe of Python's signal documentation).
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``photostyle`` command; returns the exit status."""
    previous_int = signal.getsignal(signal.SIGINT)
    previous_term = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    stdout = sys.stdout
    safe = _PipeSafeStdout(stdout)
    sys.stdout = safe
    try:
        return _main(argv)
    except KeyboardInterrupt:  # while parsing or importing, before any command ran
        print("photostyle: interrupted before a result existed; nothing written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        safe.flush()
        sys.stdout = stdout
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def _main(argv: Sequence[str] | None) -> int:
    # The parser needs no torch (its defaults come from TransferConfig, which imports none),
    # so --help answers at once. Then the large libraries are imported whole, before the
    # command runs (an interrupt that cuts numpy's or torch's import in half leaves them
    # broken in odd ways, and some of their import code swallows it).
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    import_whole("photostyle.engine.pipeline")
    level = logging.DEBUG if args.verbose else (logging.ERROR if args.quiet else logging.WARNING)
    logging.basicConfig(level=level, format="photostyle: %(levelname)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("photostyle").setLevel(logging.INFO if args.verbose else level)
    try:
        return command(args.command)(args)
    except KeyboardInterrupt:
        print("photostyle: interrupted before a result existed; nothing written",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # bad input: one line; a bug: one line, the details with -v
        advice = ("use a smaller --size" if args.command in SIZED_COMMANDS
                  else "the files given are too large for this machine's memory")
        kind, message = describe(exc, advice)
        if args.verbose and kind != "memory":
            traceback.print_exc()
        if kind == "internal":
            print(f"photostyle: {message} (run again with -v for the details, and please "
                  "report it)", file=sys.stderr)
            return EXIT_INTERNAL
        print(f"photostyle: error: {message}", file=sys.stderr)
        return EXIT_USAGE
