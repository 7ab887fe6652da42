"""`sgtm push` against the stateful fake Tag Manager API."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest

from ops.ownership import MARKER
from ops.tagmanager import RetryPolicy
from sgtm.cli import build_parser, main
from sgtm.commands.ops import run_push
from tests.conftest import corpus_exports
from tests.ops.fake_tagmanager import quota_403, quota_429, unavailable_503

SERVER_EXPORTS = corpus_exports("SERVER")
logging.getLogger("werkzeug").setLevel(logging.ERROR)

TEMPLATE_DATA = """___INFO___

{
  "type": "TAG",
  "id": "cvt_temp_public_id",
  "version": 1,
  "displayName": "Shop Meta CAPI",
  "containerContexts": ["SERVER"]
}


___TEMPLATE_PARAMETERS___

[]


___SANDBOXED_JS_FOR_SERVER___

data.gtmOnSuccess();
"""


def _p(key: str, value: str, type_: str = "TEMPLATE") -> dict:
    return {"type": type_, "key": key, "value": value}


def small_export() -> dict:
    """A generator-shaped server export: template, folder, variables, triggers, client, tags."""
    ids = {"accountId": "6000", "containerId": "9000"}
    return {
        "exportFormatVersion": 2,
        "exportTime": "2026-11-29 10:00:00",
        "containerVersion": {
            "path": "accounts/6000/containers/9000/versions/0",
            **ids,
            "containerVersionId": "0",
            "description": "Shop tracking plan, plan version 1.2.0",
            "container": {**ids, "name": "Shop server", "usageContext": ["SERVER"]},
            "customTemplate": [
                {**ids, "templateId": "7", "name": "Shop Meta CAPI", "templateData": TEMPLATE_DATA}
            ],
            "folder": [{**ids, "folderId": "3", "name": "sgtm-companion"}],
            "variable": [
                {
                    **ids,
                    "variableId": "10",
                    "name": "ED - value",
                    "type": "ed",
                    "parameter": [
                        _p("keyPath", "value"),
                        _p("setDefaultValue", "false", "BOOLEAN"),
                    ],
                    "parentFolderId": "3",
                    "formatValue": {},
                },
                {
                    **ids,
                    "variableId": "11",
                    "name": "C - currency",
                    "type": "c",
                    "parameter": [_p("value", "EUR")],
                },
            ],
            "trigger": [
                {
                    **ids,
                    "triggerId": "20",
                    "name": "Event - purchase",
                    "type": "CUSTOM_EVENT",
                    "customEventFilter": [
                        {
                            "type": "EQUALS",
                            "parameter": [_p("arg0", "{{_event}}"), _p("arg1", "purchase")],
                        }
                    ],
                    "parentFolderId": "3",
                },
                {
                    **ids,
                    "triggerId": "21",
                    "name": "Event - refund",
                    "type": "CUSTOM_EVENT",
                    "customEventFilter": [
                        {
                            "type": "EQUALS",
                            "parameter": [_p("arg0", "{{_event}}"), _p("arg1", "refund")],
                        }
                    ],
                },
            ],
            "client": [{**ids, "clientId": "30", "name": "GA4", "type": "gaaw_client"}],
            "tag": [
                {
                    **ids,
                    "tagId": "40",
                    "name": "Meta - purchase",
                    "type": "cvt_9000_7",
                    "parameter": [
                        _p("value", "{{ED - value}}"),
                        _p("currency", "{{C - currency}}"),
                    ],
                    "firingTriggerId": ["20"],
                    "parentFolderId": "3",
                    "tagFiringOption": "ONCE_PER_EVENT",
                    "monitoringMetadata": {"type": "MAP"},
                    "consentSettings": {"consentStatus": "NOT_SET"},
                },
                {
                    **ids,
                    "tagId": "41",
                    "name": "Meta - refund",
                    "type": "cvt_9000_7",
                    "parameter": [_p("value", "{{ED - value}}")],
                    "firingTriggerId": ["21"],
                    "tagFiringOption": "ONCE_PER_EVENT",
                },
                {
                    **ids,
                    "tagId": "42",
                    "name": "Conversion Linker",
                    "type": "sgtmadscl",
                    "firingTriggerId": ["2147479574"],
                },
            ],
            "builtInVariable": [
                {**ids, "type": "EVENT_NAME", "name": "Event Name"},
                {**ids, "type": "CLIENT_NAME", "name": "Client Name"},
            ],
        },
    }


def write(tmp_path: Path, doc: dict, name: str = "container.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return str(path)


def push_args(fake, export: str, *extra: str) -> list[str]:
    return [
        "push",
        export,
        "--account",
        fake.account,
        "--container",
        fake.container,
        "--endpoint",
        fake.endpoint,
        "--qps",
        "100000",
        *extra,
    ]


def run_with(fake, export: str, *extra: str, sleeps: list | None = None, attempts: int = 6):
    """run_push with recorded (not slept) backoff delays."""
    args = build_parser().parse_args(push_args(fake, export, *extra))
    recorded = sleeps if sleeps is not None else []
    return run_push(args, sleep=recorded.append, policy=RetryPolicy(max_attempts=attempts))


def test_first_push_creates_everything_with_resolved_ids(fake_tm, tmp_path, capsys):
    export = write(tmp_path, small_export())
    assert main(push_args(fake_tm, export)) == 0

    tags = fake_tm.entities("sgtm-companion", "tags")
    triggers = fake_tm.entities("sgtm-companion", "triggers")
    templates = fake_tm.entities("sgtm-companion", "templates")
    folders = fake_tm.entities("sgtm-companion", "folders")
    assert set(tags) == {"Meta - purchase", "Meta - refund", "Conversion Linker"}
    purchase = tags["Meta - purchase"]
    # Export ids are replaced by the ids the API assigned.
    assert purchase["firingTriggerId"] == [triggers["Event - purchase"]["triggerId"]]
    assert purchase["type"] == f"cvt_200_{templates['Shop Meta CAPI']['templateId']}"
    assert purchase["parentFolderId"] == folders["sgtm-companion"]["folderId"]
    assert tags["Conversion Linker"]["firingTriggerId"] == ["2147479574"]
    # API spelling on the wire.
    assert purchase["tagFiringOption"] == "oncePerEvent"
    assert triggers["Event - purchase"]["type"] == "customEvent"
    assert triggers["Event - purchase"]["customEventFilter"][0]["type"] == "equals"
    # Ownership marked on everything we created.
    assert all(MARKER in t["notes"] for t in tags.values())
    assert MARKER in templates["Shop Meta CAPI"]["templateData"].split("___NOTES___")[1]
    assert set(fake_tm.workspace("sgtm-companion")["built_ins"]) == {"eventName", "clientName"}
    captured = capsys.readouterr()
    assert "12 change(s), 0 unchanged" in captured.out
    # Progress is on stderr, one line per step when not a terminal; its counter reaches the
    # header's total (enabling two built-ins in one request counts as two changes).
    steps = [line for line in captured.err.splitlines() if line.startswith("[")]
    assert steps[0].startswith("[1/12] ")
    assert any(
        line.endswith("/12] enable built-in variables eventName, clientName")
        or "enable built-in variables" in line
        and "-" in line.split("]")[0]
        for line in steps
    )
    assert steps[-1].startswith("[12/12] ")
    assert any("create tag 'Meta - purchase'" in line for line in steps)
    assert "left)" in steps[-1]  # time left at the pace so far


def test_push_format_json_prints_one_document_and_no_progress(fake_tm, tmp_path, capsys):
    export = write(tmp_path, small_export())
    assert main([*push_args(fake_tm, export), "--format", "json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["written"] == 11 and len(document["changes"]) == 12
    assert "[1" not in captured.err


def test_second_push_of_the_same_export_changes_nothing(fake_tm, tmp_path, capsys):
    export = write(tmp_path, small_export())
    assert main(push_args(fake_tm, export)) == 0
    writes = len(fake_tm.writes())
    capsys.readouterr()
    assert main(push_args(fake_tm, export)) == 0
    assert len(fake_tm.writes()) == writes
    assert "0 change(s), 10 unchanged" in capsys.readouterr().out


def test_a_changed_entity_is_updated_and_nothing_else(fake_tm, tmp_path):
    doc = small_export()
    assert main(push_args(fake_tm, write(tmp_path, doc))) == 0
    before = fake_tm.entities("sgtm-companion", "tags")["Meta - purchase"]
    fake_tm.requests.clear()

    doc["containerVersion"]["tag"][0]["parameter"][1]["value"] = "USD"
    assert main(push_args(fake_tm, write(tmp_path, doc))) == 0

    assert fake_tm.writes() == [("PUT", "/tagmanager/v2/" + before["path"])]
    after = fake_tm.entities("sgtm-companion", "tags")["Meta - purchase"]
    assert after["tagId"] == before["tagId"]
    assert after["fingerprint"] != before["fingerprint"]
    assert {"type": "template", "key": "currency", "value": "USD"} in after["parameter"]


def test_removed_managed_entities_are_deleted_dependants_first(fake_tm, tmp_path, capsys):
    doc = small_export()
    assert main(push_args(fake_tm, write(tmp_path, doc))) == 0
    cv = doc["containerVersion"]
    cv["tag"] = [t for t in cv["tag"] if t["name"] != "Meta - refund"]
    cv["trigger"] = [t for t in cv["trigger"] if t["name"] != "Event - refund"]
    capsys.readouterr()

    # The fake refuses to delete a trigger a tag still uses: order matters.
    assert main(push_args(fake_tm, write(tmp_path, doc))) == 0
    assert "Meta - refund" not in fake_tm.entities("sgtm-companion", "tags")
    assert "Event - refund" not in fake_tm.entities("sgtm-companion", "triggers")
    out = capsys.readouterr().err  # progress lines are on stderr
    assert out.index("delete tag 'Meta - refund'") < out.index("delete trigger 'Event - refund'")


def test_foreign_entities_are_never_touched(fake_tm, tmp_path):
    export = write(tmp_path, small_export())
    assert main(push_args(fake_tm, export)) == 0
    foreign = fake_tm.add_foreign(
        "sgtm-companion",
        "tags",
        {"name": "Hand-made TikTok", "type": "sgtmadscl", "notes": "made in the UI"},
    )
    fake_tm.requests.clear()
    assert main(push_args(fake_tm, export)) == 0
    assert fake_tm.writes() == []
    assert fake_tm.entities("sgtm-companion", "tags")["Hand-made TikTok"] == foreign


def test_a_name_taken_by_a_foreign_entity_stops_the_push_before_any_write(
    fake_tm, tmp_path, capsys
):
    export = write(tmp_path, small_export())
    assert main(push_args(fake_tm, export, "--dry-run")) == 0  # nothing exists yet
    fake_tm._create_workspace({"name": "sgtm-companion"})
    fake_tm.add_foreign("sgtm-companion", "triggers", {"name": "Event - refund", "type": "always"})
    fake_tm.requests.clear()

    assert main(push_args(fake_tm, export)) == 1
    assert fake_tm.writes() == []
    err = capsys.readouterr()
    assert "conflict: trigger 'Event - refund'" in err.out
    assert "nothing was written" in err.err


def test_quota_errors_are_retried_with_backoff(fake_tm, tmp_path):
    export = write(tmp_path, small_export())
    fake_tm.fail(429, quota_429(), times=2, method="POST", path_contains="/tags")
    fake_tm.fail(403, quota_403(), times=1, method="POST", path_contains="/triggers")
    sleeps: list[float] = []
    assert run_with(fake_tm, export, sleeps=sleeps) == 0
    backoff = [s for s in sleeps if s >= 1]
    assert backoff == [2.0, 2.0, 4.0]  # trigger 403 once; first tag 429 twice
    assert len(fake_tm.entities("sgtm-companion", "tags")) == 3


def test_a_forbidden_error_that_is_not_a_rate_limit_is_not_retried(fake_tm, tmp_path, capsys):
    export = write(tmp_path, small_export())
    denied = {"error": {"code": 403, "message": "The caller does not have permission"}}
    fake_tm.fail(403, denied, times=-1, method="POST")
    sleeps: list[float] = []
    assert run_with(fake_tm, export, sleeps=sleeps) == 1
    assert [s for s in sleeps if s >= 1] == []
    err = capsys.readouterr().err
    assert "HTTP 403: The caller does not have permission" in err
    assert "re-running the same command resumes safely" in err


def test_interrupted_push_resumes_and_converges_without_duplicates(fake_tm, tmp_path, httpserver):
    export = write(tmp_path, small_export())
    posts = {"n": 0}

    def after_five_creates(method: str, path: str) -> bool:
        if method == "POST" and "built_in_variables" not in path:
            posts["n"] += 1
        return posts["n"] > 5

    from tests.ops.fake_tagmanager import Fault

    outage = Fault(after_five_creates, 503, unavailable_503(), times=-1)
    fake_tm.faults.append(outage)
    assert run_with(fake_tm, export, attempts=3) == 3  # the API stayed unavailable
    created = sum(len(fake_tm.entities("sgtm-companion", r)) for r in ("templates", "folders"))
    assert created >= 2  # the first run got somewhere before the outage

    fake_tm.faults.clear()
    assert run_with(fake_tm, export) == 0
    names = {
        r: sorted(fake_tm.entities("sgtm-companion", r))
        for r in ("templates", "folders", "variables", "triggers", "clients", "tags")
    }
    assert names == {
        "templates": ["Shop Meta CAPI"],
        "folders": ["sgtm-companion"],
        "variables": ["C - currency", "ED - value"],
        "triggers": ["Event - purchase", "Event - refund"],
        "clients": ["GA4"],
        "tags": ["Conversion Linker", "Meta - purchase", "Meta - refund"],
    }
    fake_tm.requests.clear()
    assert run_with(fake_tm, export) == 0
    assert fake_tm.writes() == []


def test_a_create_whose_answer_was_lost_is_not_repeated(fake_tm, tmp_path, capsys):
    export = write(tmp_path, small_export())
    # The server stores the tag, then the connection drops before the client hears back.
    fake_tm.fail(
        503, unavailable_503(), times=1, method="POST", path_contains="/tags", after_apply=True
    )
    assert run_with(fake_tm, export) == 0
    tags = fake_tm.workspace("sgtm-companion")["entities"]["tags"].values()
    assert sorted(t["name"] for t in tags) == [
        "Conversion Linker",
        "Meta - purchase",
        "Meta - refund",
    ]
    assert "already done by the interrupted attempt" in capsys.readouterr().out


def test_dry_run_prints_the_plan_and_writes_nothing(fake_tm, tmp_path, capsys):
    doc = small_export()
    assert main(push_args(fake_tm, write(tmp_path, doc), "--dry-run")) == 0
    assert fake_tm.writes() == []
    assert fake_tm.workspaces == {}
    out = capsys.readouterr().out
    assert "workspace 'sgtm-companion' does not exist; it would be created" in out
    assert "create tag 'Meta - purchase'" in out and "dry run" in out

    assert main(push_args(fake_tm, write(tmp_path, doc))) == 0
    doc["containerVersion"]["tag"][0]["parameter"][1]["value"] = "USD"
    doc["containerVersion"]["tag"].pop(1)
    fake_tm.requests.clear()
    capsys.readouterr()
    assert main(push_args(fake_tm, write(tmp_path, doc), "--dry-run")) == 0
    assert fake_tm.writes() == []
    out = capsys.readouterr().out
    assert "  update tag 'Meta - purchase'" in out
    assert "  delete tag 'Meta - refund'" in out


def test_publish_creates_a_version_named_after_the_plan_version(fake_tm, tmp_path, capsys):
    export = write(tmp_path, small_export())
    assert main(push_args(fake_tm, export, "--publish")) == 0
    live = fake_tm.versions[fake_tm.live]
    assert live["name"] == "sgtm-companion plan 1.2.0"
    assert "plan version 1.2.0" in live["description"]
    assert {t["name"] for t in live["tag"]} == {
        "Meta - purchase",
        "Meta - refund",
        "Conversion Linker",
    }
    assert "published version" in capsys.readouterr().out

    # The workspace went into the version; a new push starts from it and has nothing to do.
    versions = len(fake_tm.versions)
    assert main(push_args(fake_tm, export, "--publish")) == 0
    assert len(fake_tm.versions) == versions
    assert "nothing to publish" in capsys.readouterr().out


def test_readme_push_command_publishes_the_container_sgtm_generate_writes(
    fake_tm, tmp_path, capsys
):
    """README.md and docs/deploy.md: `sgtm generate examples/shop/plan.yaml -o out`, then
    `sgtm push out/container.json --account A --container C --publish`, with no --message: the
    generated container carries the plan version where push reads it."""
    out = tmp_path / "out"
    assert main(["generate", "examples/shop/plan.yaml", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(push_args(fake_tm, str(out / "container.json"), "--publish")) == 0
    live = fake_tm.versions[fake_tm.live]
    assert live["name"] == "sgtm-companion plan 1.0.0"
    assert "published version" in capsys.readouterr().out


def test_publish_with_an_explicit_message(fake_tm, tmp_path):
    export = write(tmp_path, small_export())
    assert main(push_args(fake_tm, export, "--publish", "--message", "release 42")) == 0
    assert fake_tm.versions[fake_tm.live]["name"] == "sgtm-companion release 42"


def test_publish_without_a_plan_version_is_refused_before_writing(fake_tm, tmp_path, capsys):
    doc = small_export()
    del doc["containerVersion"]["description"]
    assert main(push_args(fake_tm, write(tmp_path, doc), "--publish")) == 1
    assert fake_tm.requests == []
    assert "pass --message" in capsys.readouterr().err


def test_tags_with_setup_tags_are_written_after_the_tags_they_name(fake_tm, tmp_path):
    doc = small_export()
    # The first tag in the file sets up with the last one.
    doc["containerVersion"]["tag"][0]["setupTag"] = [{"tagName": "Conversion Linker"}]
    assert main(push_args(fake_tm, write(tmp_path, doc))) == 0
    tags = fake_tm.entities("sgtm-companion", "tags")
    assert tags["Meta - purchase"]["setupTag"] == [{"tagName": "Conversion Linker"}]


def test_container_can_be_named_by_public_id(fake_tm, tmp_path):
    args = push_args(fake_tm, write(tmp_path, small_export()))
    args[args.index("--container") + 1] = "GTM-FAKE1"
    assert main(args) == 0
    assert len(fake_tm.entities("sgtm-companion", "tags")) == 3


def test_bad_exports_are_reported_with_json_pointers_and_nothing_is_sent(fake_tm, tmp_path, capsys):
    doc = small_export()
    cv = doc["containerVersion"]
    cv["tag"][0]["firingTriggerId"] = ["99"]
    cv["tag"][1]["type"] = "cvt_9000_8"
    cv["trigger"][1]["type"] = "CUSTOM_EVNT"
    cv["variable"].append(copy.deepcopy(cv["variable"][0]))
    assert main(push_args(fake_tm, write(tmp_path, doc))) == 1
    err = capsys.readouterr().err
    assert "/containerVersion/tag/0/firingTriggerId/0: trigger id '99' is not in trigger[]" in err
    assert "/containerVersion/tag/1/type: custom template type 'cvt_9000_8'" in err
    assert "/containerVersion/trigger/1/type: 'CUSTOM_EVNT' is not a Trigger.type value" in err
    assert "/containerVersion/variable/2/name: duplicate variable name 'ED - value'" in err
    assert fake_tm.requests == []


def test_json_syntax_errors_name_line_and_column(fake_tm, tmp_path, capsys):
    path = tmp_path / "container.json"
    path.write_text('{\n  "exportFormatVersion": 2,\n  "containerVersion": {,}\n}\n')
    assert main(push_args(fake_tm, str(path))) == 1
    assert f"{path}:3:24: invalid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("name", SERVER_EXPORTS)
def test_real_server_exports_push_and_converge(fake_tm, corpus, name, capsys):
    fake_tm.page_size = 100
    export = str(corpus / name)
    assert main(push_args(fake_tm, export)) == 0
    writes = len(fake_tm.writes())
    assert writes > 0
    assert main(push_args(fake_tm, export)) == 0
    assert len(fake_tm.writes()) == writes
