"""The HTML report: self-contained (no network), and every chart drawn in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from sgtm.commands.reconcile import run_reconcile
from sidecar.reconcile.days import day_range
from sidecar.reconcile.html import CHART_IDS, render_html
from tests.conftest import IN_CI
from tests.reconcile import scenario


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if IN_CI:
            pytest.fail("chromium is not installed; `make browser` installs Debian's package")
        pytest.skip("chromium is not installed (make browser)")
    return found


def _report(store):
    scenario.build(store)
    windows = day_range("2026-11-29", "2026-11-30", None, "Europe/Madrid", time.time())
    return run_reconcile(scenario.plan(), store, windows)


def test_the_file_needs_no_network(sqlite_store):
    page = render_html(_report(sqlite_store))
    # plotly.js is inlined once; outside it the page loads nothing from anywhere
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all("src=" not in tag for tag in scripts)
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert page.count('class="chart"') == len(CHART_IDS)
    # missing/failed orders with the command that shows their path
    assert "<code>sgtm ledger show shopify-o3-purchase</code>" in page
    assert "meta: aborted" in page
    assert "buyero1@example.com" not in page


def test_chromium_draws_every_chart(tmp_path, sqlite_store, chromium):
    path = tmp_path / "report.html"
    path.write_text(render_html(_report(sqlite_store)), encoding="utf-8")
    out = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            # offline: any request leaving the file would fail, and the charts with it
            "--proxy-server=127.0.0.1:9",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    for chart in CHART_IDS:
        # plotly replaces the empty div with its SVG layers once the figure is drawn
        start = dom.index(f'id="{chart}"')
        section = dom[start : start + 200_000]
        assert 'class="main-svg"' in section, f"{chart} was not drawn"
    # the traces are there: one line per destination in the coverage chart, boxes for latency
    assert dom.count('class="scatterlayer') >= 2
    assert 'class="trace boxes"' in dom
