"""The forwarded batch and the sGTM client's answer (docs/architecture.md, "Sidecar -> sGTM").

``read_answer`` turns the client's 200 body into one verdict per claimed event and destination.
Anything the answer leaves out is a failure to retry, never a silent success: a destination is
done only when the client said ``success`` (or skipped it for lack of consent).

A destination in shadow mode also gets its test surface's answer back, as ``shadow.<dest>`` next
to the outcomes; it becomes the attempt's reason (``shadow: <compact JSON>``), which both stores
keep with the attempt, in the ledger's last reason and in dead letters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sidecar.store.base import Claim

OUTCOMES = ("success", "failure", "skipped_no_consent", "skipped_not_requested")
SHADOW_PREFIX = "shadow: "
# The client already bounds a summary to 4096 characters; this keeps a misbehaving one from
# filling the ledger.
MAX_SHADOW_JSON = 4096


@dataclass(frozen=True)
class Verdict:
    outcome: str  # one of OUTCOMES, or "rejected" (the client refused the event as invalid)
    reason: str


class AnswerError(ValueError):
    """The answer is not the documented shape; the message names the JSON pointer."""


def wire_id(claim: Claim) -> str:
    """The event id sGTM sees (and answers by): the envelope's, else the stored one."""
    value = claim.envelope.get("event_id")
    return value if isinstance(value, str) else claim.event_id


def unique_batches(claims: list[Claim]) -> list[list[Claim]]:
    """Split claims so no batch names the same wire id twice (a browser event kept under its
    own namespace shares the pixel's id with the webhook's event for the same order)."""
    batches: list[list[Claim]] = []
    for claim in claims:
        wire = wire_id(claim)
        for batch in batches:
            if all(wire_id(c) != wire for c in batch):
                batch.append(claim)
                break
        else:
            batches.append([claim])
    return batches


def batch_body(claims: list[Claim], sent_at_ms: int) -> bytes:
    doc = {"schema": 1, "sent_at": sent_at_ms, "events": [c.envelope for c in claims]}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def read_answer(body: bytes, claims: list[Claim]) -> dict[str, dict[str, Verdict]]:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnswerError(f"answer is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AnswerError("/: expected an object with results and errors")
    results = doc.get("results", [])
    errors = doc.get("errors", [])
    if not isinstance(results, list):
        raise AnswerError("/results: expected an array")
    if not isinstance(errors, list):
        raise AnswerError("/errors: expected an array")

    # sGTM answers by the event id it was sent (the envelope's: the pixel's id, which a
    # browser event stored under its own namespace keeps); the worker never puts two claims
    # with the same one in a batch (``unique_batches``), so it names exactly one claim.
    wanted = {wire_id(c): c for c in claims}
    said: dict[str, dict[str, Verdict]] = {}
    for i, item in enumerate(results):
        wire, dests = _result_item(item, f"/results/{i}")
        if wire not in wanted:
            continue  # an id we did not send this time: nothing to record
        event_id = wanted[wire].event_id
        shadow = item.get("shadow")
        for dest, outcome in dests.items():
            if outcome not in OUTCOMES:
                said.setdefault(event_id, {})[dest] = Verdict(
                    "failure", f"sGTM answered an unknown outcome {outcome!r} at /results/{i}"
                )
            else:
                reason = _shadow_reason(shadow, dest, f"/results/{i}/shadow")
                said.setdefault(event_id, {})[dest] = Verdict(outcome, reason)
    for i, item in enumerate(errors):
        if not isinstance(item, dict):
            raise AnswerError(f"/errors/{i}: expected an object")
        named: Any = item.get("event_id")
        index = item.get("index")
        if not isinstance(named, str) and isinstance(index, int) and 0 <= index < len(claims):
            named = wire_id(claims[index])
        if not isinstance(named, str) or named not in wanted:
            continue
        event_id = wanted[named].event_id
        where = item.get("field") or f"events[{index}]"
        why = f"sGTM client rejected the event: {where}: {item.get('message', 'invalid')}"
        for dest in wanted[named].destinations:
            said.setdefault(event_id, {})[dest] = Verdict("rejected", why)

    verdicts: dict[str, dict[str, Verdict]] = {}
    for claim in claims:
        got = said.get(claim.event_id, {})
        verdicts[claim.event_id] = {
            dest: got.get(dest)
            or Verdict("failure", "sGTM answered 200 without a result for this destination")
            for dest in claim.destinations
        }
    return verdicts


def _result_item(item: Any, pointer: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict):
        raise AnswerError(f"{pointer}: expected an object")
    event_id = item.get("event_id")
    if not isinstance(event_id, str):
        raise AnswerError(f"{pointer}/event_id: expected a string")
    dests = item.get("destinations")
    if not isinstance(dests, dict):
        raise AnswerError(f"{pointer}/destinations: expected an object")
    return event_id, dests


def _shadow_reason(shadow: Any, dest: str, pointer: str) -> str:
    """The attempt reason carrying ``dest``'s shadow summary; '' when there is none. A summary
    of the wrong shape is named, not dropped: the outcome still counts."""
    if shadow is None:
        return ""
    if not isinstance(shadow, dict):
        return f"sGTM answered a malformed shadow summary at {pointer}: expected an object"
    entry = shadow.get(dest)
    if entry is None:
        return ""
    where = f"{pointer}/{dest}"
    if not isinstance(entry, dict):
        return f"sGTM answered a malformed shadow summary at {where}: expected an object"
    status = entry.get("status_code")
    if not isinstance(status, int) or isinstance(status, bool):
        return (
            f"sGTM answered a malformed shadow summary at {where}/status_code: expected an integer"
        )
    if not isinstance(entry.get("response"), dict):
        return f"sGTM answered a malformed shadow summary at {where}/response: expected an object"
    text = json.dumps(
        {"status_code": status, "response": entry["response"]},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    )
    if len(text) > MAX_SHADOW_JSON:
        return (
            f"sGTM answered a shadow summary of {len(text)} characters at {where}; "
            f"more than {MAX_SHADOW_JSON} are not recorded"
        )
    return SHADOW_PREFIX + text
