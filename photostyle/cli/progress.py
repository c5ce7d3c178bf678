"""Progress bars on the console: one transfer's levels and steps, a batch's photos."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """tqdm bar per pyramid level showing the current loss terms."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.level = -1

    def __call__(self, level: int, n_levels: int, count: int, total: int,
                 terms: dict[str, float]) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if level != self.level:
            self.close()
            self.level = level
            # redirected to a log: one line every 30 s and the last, not one per step
            interval = 0.1 if sys.stderr.isatty() else 30.0
            self.bar = tqdm(total=total, desc=f"level {level + 1}/{n_levels}", unit="it",
                            leave=True, dynamic_ncols=True, file=sys.stderr,
                            mininterval=interval)
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class BatchProgress:
    """One bar over a batch's photos; the current photo's level and step as its postfix."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            interval = 0.1 if sys.stderr.isatty() else 30.0
            self.bar = tqdm(total=total, unit="photo", file=sys.stderr, dynamic_ncols=True,
                            mininterval=interval)

    def item(self, index: int, item: Any) -> None:
        if self.bar is None:
            return
        if item.status == "pending":
            self.bar.set_description(item.content.name[:30])
        else:
            self.bar.update(1)

    def step(self, level: int, n_levels: int, count: int, total: int,
             terms: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"level {level + 1}/{n_levels} step {count}/{total}",
                                     refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
