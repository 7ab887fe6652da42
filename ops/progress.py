"""Progress of long commands (push, dlq replay, ...): one helper, three behaviours.

- a terminal gets a tqdm bar with counts, rate and time left, redrawn in place;
- anything else (a CI log, a pipe, a file) gets one plain line per step,
  `[n/N] what (about 1m20s left)`, so logs stay greppable and nothing is redrawn;
- `--format json` gets nothing: stdout holds the one JSON document and stderr stays quiet.

Everything goes to stderr; stdout is the command's report (docs/cli.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any, Literal

Mode = Literal["auto", "bar", "lines", "quiet"]


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """`step(what)` before each unit of work; `close()` at the end (or use `with`)."""

    def __init__(
        self,
        total: int,
        label: str,
        *,
        mode: Mode = "auto",
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "step",
    ) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        if mode == "auto":
            mode = "bar" if _is_tty(self.stream) else "lines"
        self.mode = mode
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=label, unit=unit, file=self.stream, dynamic_ncols=True
            )

    def left(self) -> float | None:
        """Seconds left at the average pace so far; None before the first step ends."""
        if self.done == 0:
            return None
        elapsed = self.clock() - self.started
        return elapsed / self.done * (self.total - self.done)

    def step(self, what: str, n: int = 1) -> None:
        """Announce the next `n` units (`what` is about to happen); counts them as done."""
        if self.mode == "bar":
            self._bar.set_postfix_str(what[:60], refresh=False)
            self._bar.update(n)
            self.done += n
            return
        first = self.done + 1
        last = self.done + n
        self.total = max(self.total, last)  # an estimate that fell short never prints 5/4
        left = self.left()
        self.done = last
        if self.mode == "quiet":
            return
        counter = f"{first}/{self.total}" if n == 1 else f"{first}-{last}/{self.total}"
        suffix = f" (about {format_seconds(left)} left)" if left is not None else ""
        print(f"[{counter}] {what}{suffix}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """A line about the current step that is not a step of its own."""
        if self.mode == "quiet":
            return
        if self.mode == "bar":
            self._bar.write(message, file=self.stream)
            return
        print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def mode_for(fmt: str) -> Mode:
    """The progress mode a command's `--format` implies."""
    return "quiet" if fmt == "json" else "auto"
