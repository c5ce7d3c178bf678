"""``python -m photostyle``."""

from .cli import main

raise SystemExit(main())
