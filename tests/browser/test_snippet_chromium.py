"""The consent-aware snippet in a real browser: headless Chromium (Debian's `chromium`,
installed by `make test`) loads a local shop page carrying the snippet and a CMP cookie, against
a running sidecar on 127.0.0.1; with consent denied and then granted, the test reads what the
page actually sent (the requests the sidecar received, the cookies the page had) and what the
sidecar stored.

Under CI=true a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from formats import signing
from formats.plan import load_plan
from generator.render.snippet import SnippetOptions, render_snippet
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.store.sqlite import SqliteStore
from sidecar.webhooks.identity import cart_key
from tests.conftest import EXAMPLE_PLAN
from tests.sidecar.conftest import make_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "c1-8a6f0e4c9b3d2e1f"
GA = "GA1.1.1827526090.1689745728"
FBP = "fb.1.1718193500123.1098115397"

if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (make test installs it: apt-get install chromium)")
    pytest.skip("chromium is not installed; `make test` installs it", allow_module_level=True)

# The shop page: a stand-in CMP reads its own cookie and sets the Consent Mode state, cookies
# the Google tag and the Meta pixel would have set are present, and the checkout posts the
# snippet's context. What the page saw and got back is written into the DOM for the test.
PAGE = """<!doctype html>
<html><head><title>Acme checkout</title></head><body>
<pre id="result">pending</pre>
<script>
  document.cookie = '_ga=%(ga)s; path=/; max-age=86400';
  document.cookie = '_fbp=%(fbp)s; path=/; max-age=86400';
  var cmp = (document.cookie.match(/(?:^|; )cmp_consent=([^;]*)/) || [])[1] || 'none';
  window.dataLayer = window.dataLayer || [];
  if (cmp !== 'none') {
    var state = cmp === 'granted' ? 'granted' : 'denied';
    window.dataLayer.push(['consent', 'default', {ad_storage: state, ad_user_data: state,
      analytics_storage: state, functionality_storage: 'granted'}]);
  }
</script>
<script src="/context.js"></script>
<script>
  var out = document.getElementById('result');
  window.sgtmContext.post('%(token)s', '%(bearer)s').then(function (answer) {
    out.textContent = JSON.stringify({answer: answer, cookies: document.cookie, cmp: cmp});
  }, function (error) {
    out.textContent = JSON.stringify({error: String(error)});
  });
</script>
</body></html>
"""


class Recorder:
    """WSGI middleware: keeps every request body the sidecar received."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        self.requests.append(
            {"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "body": body}
        )
        return self.app(environ, start_response)


def _serve(server: Any) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    # The page server first: its origin is the web source's allowed origin.
    page: dict[str, Any] = {"consent": "denied", "html": "", "js": ""}

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            if self.path.startswith("/context.js"):
                data, kind = page["js"].encode(), "text/javascript"
            else:
                data, kind = page["html"].encode(), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            if kind.startswith("text/html"):
                # The CMP's own cookie, as the consent banner would have left it.
                self.send_header(
                    "Set-Cookie", f"cmp_consent={page['consent']}; Path=/; Max-Age=86400"
                )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            return

    page_server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    origin = f"http://127.0.0.1:{page_server.server_address[1]}"
    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    text = text.replace("origins: [https://shop.acme-home.example", f"origins: [{origin}", 1)
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(text, encoding="utf-8")
    assert origin in plan_path.read_text(encoding="utf-8")
    env = make_env()
    store = SqliteStore(tmp_path / "outbox.sqlite", synchronous="NORMAL")
    app = create_app(
        Config(
            plan_path=str(plan_path),
            environ=env,
            store=store,
            log_stream=io.StringIO(),
            rate_limits=False,
        )
    )
    recorder = Recorder(app)
    sidecar = make_server("127.0.0.1", 0, recorder, threaded=True)
    endpoint = f"http://127.0.0.1:{sidecar.server_port}"
    keys = signing.parse_keyset(env["WEB_TOKEN_KEYS"], source="test")
    page["js"] = render_snippet(load_plan(str(plan_path)), SnippetOptions(endpoint, "euconsent-v2"))
    page["html"] = PAGE % {
        "ga": GA,
        "fbp": FBP,
        "token": TOKEN,
        "bearer": signing.issue_token(keys, origin, 900),
    }
    threads = [_serve(page_server), _serve(sidecar)]
    try:
        yield {
            "page": page,
            "url": origin + "/checkout",
            "recorder": recorder,
            "store": store,
            "profile": tmp_path / "chromium-profile",
        }
    finally:
        page_server.shutdown()
        sidecar.shutdown()
        for thread in threads:
            thread.join(timeout=5)
        page_server.server_close()
        store.close()


def _browse(loop: dict[str, Any]) -> dict[str, Any]:
    """Load the page in headless Chromium (one profile for the whole test, so cookies carry
    over from the denied visit to the granted one) and return what the page wrote."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={loop['profile']}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            loop["url"] + "?gclid=Cj0KCQ&fbclid=IwAR2F4&email=ana%40example.com",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = result.stdout
    start = dom.find('<pre id="result">')
    assert start != -1, (result.returncode, result.stderr[-2000:])
    text = dom[start + len('<pre id="result">') : dom.index("</pre>", start)]
    text = (
        text.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )
    assert text != "pending", "the page never got the sidecar's answer: " + result.stderr[-2000:]
    return json.loads(text)


def _posted(loop: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        json.loads(r["body"])
        for r in loop["recorder"].requests
        if r["method"] == "POST" and r["path"] == "/v1/context"
    ]


def test_denied_then_granted_in_a_real_browser(loop: dict[str, Any]) -> None:
    # 1. The CMP cookie says denied: the page has _ga and _fbp, but the snippet reads neither.
    loop["page"]["consent"] = "denied"
    seen = _browse(loop)
    assert seen["cmp"] == "denied"
    assert seen["answer"]["status"] == "stored", seen
    assert f"_ga={GA}" in seen["cookies"] and f"_fbp={FBP}" in seen["cookies"]
    [sent] = _posted(loop)
    assert sent["consent"] == {"ads": False, "analytics": False, "functional": True}
    assert not {"client_id", "session_id", "fbp", "fbc", "gclid"} & set(sent), sent
    stored = loop["store"].get_context(cart_key(TOKEN))
    assert not {"client_id", "session_id", "fbp", "fbc", "gclid", "user_agent"} & set(stored)
    # The URL reached the sidecar whole; what it stored lost the email.
    assert "email=" in sent["page_location"]
    assert "email=" not in stored["page_location"] and "gclid=Cj0KCQ" in stored["page_location"]

    # 2. The visitor accepts: same browser profile, the CMP cookie now says granted.
    loop["page"]["consent"] = "granted"
    seen = _browse(loop)
    assert seen["cmp"] == "granted"
    sent = _posted(loop)[-1]
    assert sent["consent"] == {"ads": True, "analytics": True, "functional": True}
    assert sent["client_id"] == "1827526090.1689745728"
    assert (sent["fbp"], sent["gclid"]) == (FBP, "Cj0KCQ")
    assert sent["fbc"].startswith("fb.1.") and sent["fbc"].endswith(".IwAR2F4")
    stored = loop["store"].get_context(cart_key(TOKEN))
    assert stored["client_id"] == "1827526090.1689745728"
    assert (stored["fbp"], stored["gclid"]) == (FBP, "Cj0KCQ")
    assert "HeadlessChrome" in stored["user_agent"] or "Chrome" in stored["user_agent"]
