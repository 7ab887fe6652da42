"""The checkout snippet: rendered from the plan, run in a real JS engine (QuickJS) against a
fake page, and what it posts is accepted by ``POST /v1/context``."""

from __future__ import annotations

import json

import pytest
import quickjs

from formats.plan import load_plan
from generator.render.snippet import SnippetOptions, render_snippet
from sgtm.cli import main as sgtm
from tests.conftest import EXAMPLE_PLAN

ENDPOINT = "https://sgtm.acme-home.example"
COOKIES = (
    "_ga=GA1.1.1827526090.1689745728; "
    "_ga_ACME12345=GS1.1.1718193600.3.1.1718193700.0.0.0; "
    "_fbp=fb.1.1718193500123.1098115397; "
    "cart=c1-8a6f0e4c9b3d2e1f; "
    "euconsent-v2=COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"
)


@pytest.fixture(scope="module")
def snippet() -> str:
    return render_snippet(load_plan(EXAMPLE_PLAN), SnippetOptions(ENDPOINT, "euconsent-v2"))


def run(snippet: str, *, cookies: str, search: str = "", data_layer: str = "[]") -> quickjs.Context:
    ctx = quickjs.Context()
    ctx.set_time_limit(2)
    ctx.eval(
        f"""
        var posted = [];
        var window = {{
          location: {{ href: 'https://shop.acme-home.example/checkouts/cn/1' + {json.dumps(search)},
                       search: {json.dumps(search)} }},
          navigator: {{ language: 'de-DE' }},
          dataLayer: {data_layer},
          fetch: function (url, init) {{
            posted.push({{ url: url, init: init }});
            return Promise.resolve({{ json: function () {{ return {{ status: 'stored' }}; }} }});
          }}
        }};
        var document = {{ cookie: {json.dumps(cookies)}, referrer: 'https://shop.acme-home.example/cart' }};
        """
    )
    ctx.eval(snippet)
    return ctx


def collect(ctx: quickjs.Context) -> dict:
    return json.loads(ctx.eval("JSON.stringify(window.sgtmContext.collect())"))


def test_render_is_deterministic_and_carries_the_plans_facts(snippet):
    again = render_snippet(load_plan(EXAMPLE_PLAN), SnippetOptions(ENDPOINT + "/", "euconsent-v2"))
    assert again == snippet
    assert 'var GA_SESSION_COOKIE = "_ga_ACME12345";' in snippet
    assert 'var PURPOSES = ["ads", "analytics", "functional"];' in snippet


def test_the_example_snippet_is_the_generated_one(repo_root):
    example = repo_root / "examples" / "snippets" / "context.js"
    expected = render_snippet(load_plan(EXAMPLE_PLAN), SnippetOptions(ENDPOINT, "euconsent-v2"))
    assert example.read_text(encoding="utf-8") == expected


def test_collects_ga_ids_for_analytics_and_click_ids_for_ads_only_when_granted(snippet):
    layer = """[
      ['consent', 'default', {ad_storage: 'denied', analytics_storage: 'denied',
                              ad_user_data: 'denied', functionality_storage: 'granted'}],
      {event: 'gtm.js'},
      ['consent', 'update', {analytics_storage: 'granted'}]
    ]"""
    ctx = run(snippet, cookies=COOKIES, search="?fbclid=IwAR2F4&gclid=Cj0KCQ", data_layer=layer)
    body = collect(ctx)
    # ads is denied: _fbp, _fbc, fbclid and gclid are not even read.
    assert body == {
        "client_id": "1827526090.1689745728",
        "session_id": "1718193600",
        "gcs": "G101",
        "tcf": "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA",
        "page_location": "https://shop.acme-home.example/checkouts/cn/1?fbclid=IwAR2F4&gclid=Cj0KCQ",
        "page_referrer": "https://shop.acme-home.example/cart",
        "language": "de-DE",
        "consent": {"ads": False, "analytics": True, "functional": True},
    }


def test_gs2_session_cookie_and_gcl_cookie_and_no_consent_state(snippet):
    cookies = (
        "_ga=GA1.1.99.88; _ga_ACME12345=GS2.1.s1718193600$o3$g1$t1718193700$j0$l0$h0; "
        "_gcl_aw=GCL.1718190000.Cj0KCQ-cookie; _fbc=fb.1.1718190000.IwAR-cookie"
    )
    layer = "[['consent', 'default', {ad_storage: 'granted', ad_user_data: 'granted', analytics_storage: 'granted'}]]"
    body = collect(run(snippet, cookies=cookies, search="?fbclid=IwAR2F4", data_layer=layer))
    assert body["session_id"] == "1718193600"
    assert body["gclid"] == "Cj0KCQ-cookie"
    assert body["fbc"] == "fb.1.1718190000.IwAR-cookie"
    # No Consent Mode state at all: no consent is claimed and no identifier is read.
    body = collect(run(snippet, cookies=cookies))
    assert "consent" not in body and "gcs" not in body
    assert not {"client_id", "session_id", "fbp", "fbc", "gclid"} & set(body)


def test_attributes_are_what_the_webhook_mapping_reads_back(snippet):
    from sidecar.webhooks.model import carried_identity

    layer = "[['consent', 'default', {ad_storage: 'granted', ad_user_data: 'granted', analytics_storage: 'granted'}]]"
    attrs = json.loads(
        run(snippet, cookies=COOKIES, data_layer=layer).eval(
            "JSON.stringify(window.sgtmContext.attributes())"
        )
    )
    assert carried_identity(list(attrs.items())) == {
        "client_id": "1827526090.1689745728",
        "session_id": "1718193600",
        "fbp": "fb.1.1718193500123.1098115397",
        "gcs": "G111",
        "consent": ["ads", "analytics"],
    }


def test_post_sends_the_token_with_the_browser_credentials(snippet):
    ctx = run(snippet, cookies=COOKIES)
    ctx.eval("window.sgtmContext.post('c1-8a6f0e4c9b3d2e1f', 'v1.tk1.payload.mac')")
    sent = json.loads(ctx.eval("JSON.stringify(posted)"))
    assert len(sent) == 1
    assert sent[0]["url"] == ENDPOINT + "/v1/context"
    init = sent[0]["init"]
    assert init["headers"]["Authorization"] == "Bearer v1.tk1.payload.mac"
    assert (init["method"], init["keepalive"], init["credentials"]) == ("POST", True, "omit")
    assert json.loads(init["body"])["token"] == "c1-8a6f0e4c9b3d2e1f"


def test_what_the_snippet_posts_is_accepted_and_joined(snippet, shop_store):
    shop, store = shop_store
    layer = "[['consent', 'default', {ad_storage: 'granted', ad_user_data: 'granted', analytics_storage: 'granted', functionality_storage: 'granted'}]]"
    without_tcf = COOKIES.split("; euconsent-v2=")[0]
    body = collect(run(snippet, cookies=without_tcf, search="?gclid=Cj0", data_layer=layer))
    body["token"] = "7df6264faff82e3bdf73d0ba225dd00e"
    answer = shop.context(body)
    assert answer.status_code == 200, answer.get_json()
    stored = store.get_context("cart:7df6264faff82e3bdf73d0ba225dd00e")
    assert stored["client_id"] == "1827526090.1689745728"
    assert stored["gclid"] == "Cj0"
    assert stored["consent"] == {"ads": True, "analytics": True, "functional": True}


def test_the_sidecar_keeps_only_identifiers_whose_purpose_is_granted(snippet, shop_store):
    # The TC string consents to purposes 1-3 only: analytics (1, 8, 9) and ads (1, 3, 4, 7)
    # are denied whatever the Consent Mode state says, so no GA id and no click id is kept.
    shop, store = shop_store
    layer = "[['consent', 'default', {ad_storage: 'granted', ad_user_data: 'granted', analytics_storage: 'granted', functionality_storage: 'granted'}]]"
    body = collect(run(snippet, cookies=COOKIES, search="?gclid=Cj0", data_layer=layer))
    assert body["client_id"] and body["gclid"] and body["tcf"]
    body["token"] = "8df6264faff82e3bdf73d0ba225dd00e"
    assert shop.context(body).status_code == 200
    stored = store.get_context("cart:8df6264faff82e3bdf73d0ba225dd00e")
    assert not {"client_id", "session_id", "fbp", "fbc", "gclid", "user_agent"} & set(stored)
    assert stored["tcf"] == body["tcf"]


def test_cli_writes_the_snippet(tmp_path, capsys):
    out = tmp_path / "context.js"
    code = sgtm(
        [
            "snippet",
            str(EXAMPLE_PLAN),
            "-o",
            str(out),
            "--endpoint",
            ENDPOINT,
            "--cmp-cookie",
            "euconsent-v2",
        ]
    )
    assert code == 0
    assert out.read_text(encoding="utf-8") == render_snippet(
        load_plan(EXAMPLE_PLAN), SnippetOptions(ENDPOINT, "euconsent-v2")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--endpoint", "javascript:alert(1)"],
            "--endpoint: 'javascript:alert(1)' is not an http(s) URL",
        ),
        (["--cmp-cookie", "a;b"], "--cmp-cookie: 'a;b' is not a cookie name"),
    ],
)
def test_cli_refuses_bad_options_with_a_message(tmp_path, capsys, args, message):
    base = ["snippet", str(EXAMPLE_PLAN), "-o", str(tmp_path / "x.js"), "--endpoint", ENDPOINT]
    code = sgtm([*base, *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.js").exists()


def test_cli_reports_a_broken_plan_with_its_location(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("plan: [\n", encoding="utf-8")
    assert sgtm(["snippet", str(plan), "-o", "-", "--endpoint", ENDPOINT]) == 1
    assert f"{plan}:" in capsys.readouterr().err
