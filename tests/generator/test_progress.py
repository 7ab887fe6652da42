"""The shared progress helper: a bar on a terminal, plain lines elsewhere, nothing for json."""

from __future__ import annotations

import io

from ops.progress import Progress, format_seconds, mode_for


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_count_to_the_total_with_time_left_at_the_pace_so_far():
    clock, out = Clock(), io.StringIO()
    with Progress(4, "push", stream=out, clock=clock) as progress:
        progress.step("create tag 'A'")
        clock.now += 10
        progress.step("enable built-in variables x, y", n=2)
        clock.now += 20
        progress.step("delete trigger 'B'")
    assert out.getvalue().splitlines() == [
        "[1/4] create tag 'A'",
        "[2-3/4] enable built-in variables x, y (about 30s left)",
        "[4/4] delete trigger 'B' (about 10s left)",
    ]


def test_json_format_is_quiet():
    out = io.StringIO()
    with Progress(2, "replay", stream=out, mode=mode_for("json")) as progress:
        progress.step("a")
        progress.note("b")
    assert out.getvalue() == ""


def test_a_terminal_gets_a_bar_with_counts_and_rate():
    out = Terminal()
    with Progress(3, "push", stream=out, unit="change") as progress:
        for name in "abc":
            progress.step(name)
    text = out.getvalue()
    assert "\r" in text and "3/3" in text and "change/s" in text
    assert "[1/3]" not in text


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 59.6, 61, 3725)] == ["0s", "1m00s", "1m01s", "1h02m"]
