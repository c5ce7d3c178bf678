"""photostyle app: the command that serves the web app (found by name by the command line)."""

from __future__ import annotations

import argparse
import os
import sys

from photostyle.engine.config import parse_settings
from photostyle.errors import ConfigError, PhotostyleError

#: Largest upload limit the app takes (a photo of the largest accepted size, 16 bits).
MAX_UPLOAD_MB = 4096


def run(args: argparse.Namespace) -> int:
    """``photostyle app``: check the options, then serve the page until Ctrl-C; every file
    the app made is deleted when it stops. Returns the exit status."""
    import importlib.util

    from photostyle.app import security
    from photostyle.app.jobs import Limits, Studio
    from photostyle.engine.config import preset_config

    auth = security.parse_auth(args.auth or os.environ.get("PHOTOSTYLE_APP_AUTH") or None)
    security.check_host(args.host, auth)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port: must be between 0 and 65535, got {args.port}")
    if not 1 <= args.workers <= 64:
        raise ConfigError(f"--workers: must be between 1 and 64, got {args.workers}")
    if not 0 < args.max_upload_mb <= MAX_UPLOAD_MB:
        raise ConfigError(f"--max-upload-mb: must be a number of megabytes between 0 and "
                          f"{MAX_UPLOAD_MB}, got {args.max_upload_mb:g}")
    overrides = parse_settings(args.set) | {
        name: getattr(args, name) for name in ("vgg_weights", "device", "network", "seg_model")
        if getattr(args, name) is not None}
    limits = Limits(int(args.max_upload_mb * 2**20), args.max_pixels)
    overrides["max_pixels"] = args.max_pixels
    preset_config("default", **overrides)  # every setting checked before anything starts
    if importlib.util.find_spec("gradio") is None:  # an extra
        raise PhotostyleError("the app needs Gradio, which is not installed: pip install -e "
                              "\".[app]\"")
    studio = Studio(overrides, limits, args.workers)
    try:
        security.prepare_environment(studio.root)
        from photostyle.app import page  # after prepare_environment: Gradio reads it on import

        def ready(url: str) -> None:
            print(f"photostyle app: serving on {url} (Ctrl-C stops)", flush=True)

        page.serve(studio, host=args.host, port=args.port, auth=auth, ready=ready)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the app is stopped
    finally:
        studio.close()
    print("photostyle app: stopped; its temporary files are deleted", file=sys.stderr)
    return 0
