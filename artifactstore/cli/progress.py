"""A small byte-count progress bar on stderr, fed by the store's ``progress`` callbacks.

The store calls ``progress(nbytes)`` after each chunk it moves; :class:`ProgressBar`
is such a callable. It redraws at most ten times a second and finishes the line
when closed, so the normal output on stdout is never interleaved with it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from .format import human_size

__all__ = ["LARGE", "ProgressBar", "progress_bar"]

#: Transfers at least this large get a bar when stderr is a terminal.
LARGE = 8 << 20


class ProgressBar:
    """``bar = ProgressBar(total, "put report.json"); bar(4096); ...; bar.close()``."""

    def __init__(self, total: int | None, label: str, file: TextIO | None = None, *, width: int = 30,
                 interval: float = 0.1, start_after: int = 0) -> None:
        self.total = total if total and total > 0 else None
        self.label = label
        self.file = file if file is not None else sys.stderr
        self.width = width
        self.interval = interval
        self.start_after = start_after  # draw nothing until this many bytes went by
        self.done = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._closed = False
        self._drawn = False

    def __call__(self, nbytes: int) -> None:
        self.done += nbytes
        if self.done < self.start_after:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-6)
        rate = f"{human_size(self.done / elapsed)}/s"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"{self.label} [{bar}] {frac * 100:5.1f}%  {human_size(self.done)}/{human_size(self.total)}  {rate}"
        else:
            text = f"{self.label}  {human_size(self.done)}  {rate}"
        self.file.write("\r" + text + "\x1b[K")
        self.file.flush()
        self._drawn = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.done < self.start_after and not self._drawn:
            return  # a small transfer of unknown size: no bar at all
        self._draw(time.monotonic())
        self.file.write("\n")
        self.file.flush()


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_bar(total: int | None, label: str, *, enabled: bool | None = None,
                 threshold: int = LARGE) -> Iterator[Callable[[int], None] | None]:
    """Yield a progress callable, or ``None`` when no bar should be drawn.

    ``enabled=None`` (auto) draws a bar for transfers of ``threshold`` bytes or more
    when stderr is a terminal (of unknown size: once ``threshold`` bytes went by);
    ``True`` always draws one; ``False`` never does.
    """
    start_after = 0
    if enabled is None:
        enabled = stderr_is_tty() and (total is None or total >= threshold)
        start_after = threshold if total is None else 0
    if not enabled:
        yield None
        return
    bar = ProgressBar(total, label, start_after=start_after)
    try:
        yield bar
    finally:
        bar.close()
