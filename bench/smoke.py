"""A short run of every benchmark, for CI: each prints its figures and its ratio to the
baseline it measures in the same run, so a broken benchmark is noticed at once.

Nothing here asserts a number (performance is judged by reading full `make bench` runs,
never by thresholds in tests); it fails only when a benchmark itself fails to run.

    python -m bench.smoke
"""

from __future__ import annotations

import os
import sys
import time

from bench import delivery_bench, runtime_bench, sidecar_bench, webhooks_bench

# Small enough for a few seconds each on a busy two-core machine.
RUNS = (
    ("runtime_bench", runtime_bench.main, []),
    ("webhooks_bench", webhooks_bench.main, ["--requests", "20", "--concurrency", "2"]),
    (
        "sidecar_bench",
        sidecar_bench.main,
        ["--duration", "0.5", "--concurrency", "2", "--workers", "1"],
    ),
    (
        "delivery_bench",
        delivery_bench.main,
        [
            "--events",
            "40",
            "--per-request",
            "10",
            "--threads",
            "2",
            "--backlog",
            "400",
            "--runtime-backlog",
            "20",
        ],
    ),
)


def main() -> int:
    os.environ.setdefault("SGTM_BENCH_SECONDS", "0.3")
    os.environ.setdefault("SGTM_BENCH_REQUESTS", "20")
    for name, run, argv in RUNS:
        print(f"== {name} (smoke)", flush=True)
        started = time.monotonic()
        code = run(argv)
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
        if code:
            print(f"bench smoke: {name} exited {code}", file=sys.stderr)
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
