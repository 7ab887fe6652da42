"""`pixel_events`: which of a Meta destination's events the browser pixel also sends."""

from __future__ import annotations

from formats.plan import load_plan_text
from formats.plan.loader import check_plan_text
from tests.conftest import EXAMPLE_PLAN

EXAMPLE = EXAMPLE_PLAN.read_text(encoding="utf-8")
LINE = "    pixel_events: [view_item, add_to_cart, begin_checkout, purchase]\n"


def test_the_example_lists_its_pixel_events():
    plan = load_plan_text(EXAMPLE, "plan.yaml")
    assert plan.destinations["meta"].pixel_events == (
        "view_item",
        "add_to_cart",
        "begin_checkout",
        "purchase",
    )
    assert plan.destinations["ga4"].pixel_events == ()


def test_an_event_the_destination_does_not_receive_is_an_error():
    text = EXAMPLE.replace(LINE, "    pixel_events: [purchase, refund]\n")
    plan, problems = check_plan_text(text, "plan.yaml")
    assert plan is None
    assert [p.message for p in problems] == [
        "destinations.meta.pixel_events[1]: unknown event 'refund'"
    ]


def test_only_meta_has_a_pixel():
    text = EXAMPLE.replace(
        "    retry_window_hours: 72\n", "    retry_window_hours: 72\n    pixel_events: [purchase]\n"
    )
    plan, problems = check_plan_text(text, "plan.yaml")
    assert plan is None
    assert [p.message for p in problems] == [
        "destinations.ga4.pixel_events: only a meta_capi destination has a browser pixel to "
        "deduplicate with"
    ]
