"""The runtime benchmark runs at HEAD (it once failed on a changed internal signature).

Figures are printed for whoever reads the log; nothing here is timed or compared to a threshold.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_runtime_bench_smoke_runs_every_figure_with_tags_succeeding():
    env = dict(os.environ, SGTM_BENCH_SMOKE="1", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "runtime_bench"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for figure in ("runs/CPU-s", "ms CPU/event", "ratio     template / baseline"):
        assert figure in out
    outcomes = [line for line in out.splitlines() if line.startswith("outcomes")]
    # The single-template figure only counts successful runs, and so does sgtm dev's.
    assert outcomes and "error" not in outcomes[0] and "'success'" in outcomes[0]
    assert "failure" not in outcomes[1] and "exception" not in outcomes[1]
