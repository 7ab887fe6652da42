"""The reconciliation benchmark at its smoke size: it runs and reconciles what it stored.

No timing is asserted here (figures come from `python -m bench reconcile_bench`, docs/
reconcile.md); this only keeps the benchmark working."""

from __future__ import annotations

from bench import reconcile_bench


def test_bench_runs_at_smoke_size(tmp_path, capsys):
    assert (
        reconcile_bench.main(
            ["--events", "3000", "--repeat", "1", "--keep", str(tmp_path / "b.sqlite")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "events: 3,000 over 30 days (3% purchases)" in out
    assert "ratio: " in out
    counted = int(out.split("reconciled ")[1].split(" orders")[0].replace(",", ""))
    assert 50 < counted < 150  # ~3 % of 3,000, every one of them counted on its day
