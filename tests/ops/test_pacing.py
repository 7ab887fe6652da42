"""Pacing to the Tag Manager quota, on a simulated clock."""

from __future__ import annotations

import json

from ops.tagmanager import Pacer, RetryPolicy
from sgtm.cli import build_parser
from sgtm.commands.ops import run_push
from tests.ops.test_push import push_args, small_export


class SimClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_spaces_calls_by_the_inverse_of_qps():
    clock = SimClock()
    pacer = Pacer(0.25, clock.sleep, clock)
    for _ in range(5):
        pacer.wait()
    assert clock.sleeps == [4.0, 4.0, 4.0, 4.0]


def test_pacer_does_not_sleep_when_the_caller_was_slow_anyway():
    clock = SimClock()
    pacer = Pacer(0.25, clock.sleep, clock)
    pacer.wait()
    clock.now += 10
    pacer.wait()
    assert clock.sleeps == []


def test_default_push_stays_within_25_requests_per_100_seconds(fake_tm, tmp_path):
    export = tmp_path / "container.json"
    export.write_text(json.dumps(small_export()))
    argv = push_args(fake_tm, str(export))
    argv[argv.index("--qps") + 1] = "0.25"
    clock = SimClock()
    args = build_parser().parse_args(argv)
    assert run_push(args, sleep=clock.sleep, clock=clock, policy=RetryPolicy()) == 0
    # Every request is at least 4 simulated seconds after the one before it, so any
    # 100-second window holds at most 25.
    requests = len(fake_tm.requests)
    assert requests > 20
    assert clock.now - 1000.0 >= 4.0 * (requests - 1)
