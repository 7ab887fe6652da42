"""Plan loader messages a newcomer meets first: duplicate keys, events nobody receives."""

from __future__ import annotations

from formats.plan.loader import check_plan_text
from tests.conftest import EXAMPLE_PLAN

EXAMPLE = EXAMPLE_PLAN.read_text(encoding="utf-8")


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    lines = text.splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if line.startswith(needle)]
    return hits[nth - 1]


def test_a_duplicate_event_names_both_positions_without_dumping_values():
    body = "  newsletter_signup:\n    params:\n      method: {type: string}\n"
    text = EXAMPLE.replace("\ndestinations:\n", "\n" + body + "destinations:\n", 1)
    plan, problems = check_plan_text(text, "plan.yaml")
    assert plan is None
    first = _line_of(text, "  newsletter_signup:")
    second = _line_of(text, "  newsletter_signup:", 2)
    assert [str(p) for p in problems] == [
        f"plan.yaml:{second}:3: error: events.newsletter_signup: duplicate key "
        f"'newsletter_signup'; it is first defined at line {first}, column 3 "
        "(merge the two or rename one)"
    ]
    assert "original value" not in str(problems[0]) and "{" not in problems[0].message


def test_every_duplicate_is_reported_at_once():
    text = "plan: x\nversion: '1.0.0'\nplan: y\nevents:\n  a: {}\n  a: {}\n"
    _, problems = check_plan_text(text, "p.yaml")
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(3, "plan"), (6, "events.a")]


def test_an_event_no_destination_receives_is_a_warning():
    body = "  wishlist_add:\n    params:\n      value: {type: number}\n"
    text = EXAMPLE.replace("\ndestinations:\n", "\n" + body + "destinations:\n", 1)
    plan, problems = check_plan_text(text, "plan.yaml")
    assert plan is not None  # a warning, not an error
    assert [(p.level, p.line, p.message) for p in problems] == [
        (
            "warning",
            _line_of(text, "  wishlist_add:"),
            "events.wishlist_add: no destination receives this event; it is accepted and "
            "stored but never sent",
        )
    ]


def test_the_example_plan_has_no_warnings():
    plan, problems = check_plan_text(EXAMPLE, "plan.yaml")
    assert plan is not None and problems == []
