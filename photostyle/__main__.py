"""``python -m photostyle``."""

from photostyle.cli import main

raise SystemExit(main())
