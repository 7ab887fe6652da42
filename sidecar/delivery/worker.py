"""The delivery worker: outbox -> signed batches -> the sGTM client -> per-destination results.

One loop step (``run_once``): claim due events (marking their destinations ``executing``), drop
destinations already past their retry window into the dead-letter store, POST one signed batch,
read the per-event, per-destination answer and record every outcome. Failed destinations come
back later alone: the next claim narrows the event's ``destinations`` map to them.

Time is injected (``clock``, ``sleep``, ``rng``) so retry tests run without waiting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from formats.signing import SIGNATURE_HEADER, Keyset, sign_request
from sidecar import logs
from sidecar.delivery.batch import (
    AnswerError,
    Verdict,
    batch_body,
    read_answer,
    unique_batches,
)
from sidecar.delivery.breaker import CircuitBreaker
from sidecar.delivery.policy import RetryPolicy, parse_retry_after
from sidecar.delivery.throttle import Throttle
from sidecar.delivery.transport import HttpTransport, Response, TransportError
from sidecar.store.base import NOT_SENT, THROTTLED, Attempt, Claim, DeliveryStore, Outcome, narrow

log = logging.getLogger("sidecar.delivery")

# The client's outcome -> our state. "rejected" (the client found the event invalid) and
# "skipped_not_requested" (it did not run a destination we named) are final: sending the same
# bytes again gives the same answer, so they go to the dead-letter store for a human to replay.
_FINAL = {
    "success": "succeeded",
    "skipped_no_consent": "filtered",
    "skipped_not_requested": "aborted",
    "rejected": "aborted",
}
_BREAKER_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class WorkerStats:
    batches: int = 0
    events: int = 0
    succeeded: int = 0
    failed: int = 0
    aborted: int = 0
    filtered: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def count(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            setattr(self, o.state, getattr(self, o.state) + 1)


@dataclass(frozen=True)
class EventDelivery:
    """What one push delivery (``deliver_event``) achieved, for the /v1/deliver answer."""

    event_id: str
    found: bool
    pending: tuple[str, ...]  # destinations that still need another try
    retry_in_s: float | None  # when the earliest of them is due


class Worker:
    def __init__(
        self,
        store: DeliveryStore,
        keyset: Keyset,
        policy: RetryPolicy,
        transport: HttpTransport,
        *,
        batch_size: int = 20,
        lease_s: float | None = None,
        settle_s: float | None = None,
        idle_poll_s: float = 0.5,
        housekeeping: Callable[[float], object] | None = None,
        housekeeping_every_s: float = 600.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.store = store
        self.keyset = keyset
        self.policy = policy
        self.transport = transport
        self.batch_size = batch_size
        timeout = transport_timeout(transport)
        # How long sGTM may still be running a request we stopped waiting for (timeout, dropped
        # connection, SIGKILLed worker): its tags keep going. Retrying those events before this
        # has passed could make a destination see an event again after we recorded its
        # acknowledgement, so such retries and restarts wait at least this long.
        self.settle_s = timeout + 5.0 if settle_s is None else settle_s
        # A lease covers one whole exchange plus its settling time, so a slow answer never
        # looks like a dead worker, and a dead worker's batch is retried only once it settled.
        self.lease_s = lease_s if lease_s is not None else timeout + self.settle_s
        if hasattr(transport, "grace_s"):
            # Wait for a late answer up to the settle time instead of resending: a timeout
            # only means "slow", and sGTM is still running the batch (docs/delivery.md).
            transport.grace_s = self.settle_s
        self.idle_poll_s = idle_poll_s
        # Purging expired keys and old rows (SQLite), republishing unpublished events (gcp):
        # done on idle turns, at most every ``housekeeping_every_s``.
        self.housekeeping = housekeeping
        self.housekeeping_every_s = housekeeping_every_s
        self._housekept_at: float | None = None
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.breaker = breaker or CircuitBreaker()
        self.throttle = throttle or Throttle()
        self.stats = WorkerStats()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> int:
        """Destinations a previous run left ``executing`` go back to be retried."""
        n = self.store.requeue_executing(self.clock())
        if n:
            log.warning("requeued %d destination(s) left executing by a stopped worker", n)
        return n

    def run(
        self,
        stop: threading.Event | None = None,
        until_idle: bool = False,
        max_seconds: float | None = None,
    ) -> WorkerStats:
        """Deliver until ``stop`` is set (or, with ``until_idle``, until nothing is pending)."""
        started = self.clock()
        while stop is None or not stop.is_set():
            if max_seconds is not None and self.clock() - started >= max_seconds:
                break
            if self.run_once():
                continue
            self._maybe_housekeep()
            due = self.store.next_due_at()
            if until_idle and due is None:
                break
            now = self.clock()
            wait = self.idle_poll_s if due is None else max(0.0, due - now)
            wait = max(wait, self.breaker.wait_s(now))
            wait = min(wait, self.idle_poll_s) if not until_idle else wait
            if stop is not None:
                if stop.wait(max(wait, 0.001)):
                    break
            else:
                self.sleep(max(wait, 0.001))
        return self.stats

    def _maybe_housekeep(self) -> None:
        if self.housekeeping is None:
            return
        now = self.clock()
        if self._housekept_at is not None and now - self._housekept_at < self.housekeeping_every_s:
            return
        self._housekept_at = now
        try:
            self.housekeeping(now)
        except Exception as exc:  # noqa: BLE001 - housekeeping must never stop delivery
            log.warning("housekeeping failed: %s", exc)

    def run_once(self) -> int:
        """One claim-send-record step; the number of events it handled (0 when idle)."""
        now = self.clock()
        if not self.breaker.allow(now):
            return 0
        claims = self.store.claim(now, self.breaker.batch_limit(self.batch_size), self.lease_s)
        if not claims:
            return 0
        self._deliver(claims)
        return len(claims)

    def deliver_event(self, event_id: str) -> EventDelivery:
        """Deliver one event now (the Pub/Sub push path): only its due destinations are sent."""
        claim = self.store.claim_event(event_id, self.clock(), self.lease_s)
        if claim is not None:
            self._deliver([claim])
        ledger = self.store.ledger(event_id)
        if ledger is None:
            return EventDelivery(event_id, False, (), None)
        pending = tuple(
            d
            for d, s in ledger.destinations.items()
            if s.state in ("waiting", "failed", "executing")
        )
        due = [s.next_attempt_at for s in ledger.destinations.values() if s.next_attempt_at]
        retry_in = max(0.0, min(due) - self.clock()) if pending and due else None
        return EventDelivery(event_id, True, pending, retry_in)

    # -- one batch --------------------------------------------------------------------------

    def _deliver(self, claims: list[Claim]) -> None:
        now = self.clock()
        sendable: list[Claim] = []
        behind: dict[str, int] = {}  # per destination: sends put off in this round
        for claim in claims:
            expired = [
                d
                for d in claim.destinations
                if self.policy.expired(d, claim.window_start[d], now, claim.envelope)
            ]
            if expired:
                # Outside the destination's acceptance window: the platform would refuse it,
                # so it is not sent and not retried (a dlq replay re-evaluates the same rule).
                self._record(
                    claim.event_id,
                    [
                        Outcome(
                            d,
                            "aborted",
                            Attempt(
                                now,
                                NOT_SENT,
                                "expired: "
                                + self.policy.expiry_reason(
                                    d, claim.window_start[d], claim.envelope
                                ),
                            ),
                        )
                        for d in expired
                    ],
                    now,
                )
            rest = tuple(d for d in claim.destinations if d not in expired)
            # Per-destination rate limits: a destination out of tokens waits for its own,
            # the others of the same event go now (a slow vendor holds back only itself).
            held = {}
            for d in rest:
                t = self.throttle.take(d, now, behind.get(d, 0))
                if t is not None:
                    held[d] = t
                    behind[d] = behind.get(d, 0) + 1
            if held:
                self._record(
                    claim.event_id,
                    [
                        Outcome(
                            d,
                            "failed",
                            Attempt(now, THROTTLED, "throttled: held to the plan's max_rate_per_s"),
                            next_attempt_at=t,
                        )
                        for d, t in held.items()
                    ],
                    now,
                )
                rest = tuple(d for d in rest if d not in held)
            if rest:
                sendable.append(_narrowed(claim, rest))
        for batch in unique_batches(sendable):
            self._send(batch)

    def _send(self, claims: list[Claim]) -> None:
        now = self.clock()
        body = batch_body(claims, int(now * 1000))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_request(self.keyset, body, now=int(now)),
            "User-Agent": "sgtm-companion-delivery/1",
        }
        self.stats.batches += 1
        self.stats.events += len(claims)
        try:
            resp = self.transport.post(body, headers)
        except TransportError as exc:
            self.breaker.failure(self.clock())
            wait = self.settle_s if exc.maybe_processed else None
            self._fail_all(claims, f"sGTM unreachable: {exc}", None, wait)
            return
        done = self.clock()
        if resp.elapsed_s > transport_timeout(self.transport):
            log.warning(
                "sGTM answered after %.1f s (timeout %g s): the late answer was recorded, "
                "nothing was resent",
                resp.elapsed_s,
                transport_timeout(self.transport),
            )
        status_key = str(resp.status)
        self.stats.by_status[status_key] = self.stats.by_status.get(status_key, 0) + 1
        if resp.status == 200:
            try:
                verdicts = read_answer(resp.body, claims)
            except AnswerError as exc:
                self.breaker.failure(done)
                self._fail_all(claims, f"sGTM answered 200 but {exc}", 200, None)
                return
            self.breaker.success()
            self._record_many(
                [(c.event_id, self._outcomes(c, verdicts[c.event_id], done)) for c in claims], done
            )
            return
        if resp.status in (400, 413) and len(claims) > 1:
            # One bad event must not take the batch down with it: try each event alone.
            log.warning(
                "sGTM answered %d to a batch of %d; sending them one by one",
                resp.status,
                len(claims),
            )
            for claim in claims:
                self._send([claim])
            return
        retry_after = None
        if resp.status in (429, 503):
            retry_after = parse_retry_after(resp.headers.get("retry-after"), done)
            if retry_after is not None:
                self.breaker.pause(done, retry_after)
        if resp.status in _BREAKER_STATUSES and retry_after is None:
            self.breaker.failure(done)
        reason = _status_reason(resp)
        if resp.status in (400, 413):
            self._abort_all(claims, reason, resp.status, done)
        else:
            self._fail_all(claims, reason, resp.status, retry_after)

    def _outcomes(self, claim: Claim, verdicts: dict[str, Verdict], now: float) -> list[Outcome]:
        outcomes = []
        for dest in claim.destinations:
            v = verdicts[dest]
            attempt = Attempt(now, v.outcome, v.reason or v.outcome, 200)
            if v.outcome in _FINAL:
                state = _FINAL[v.outcome]
                if v.outcome == "skipped_not_requested":
                    attempt = Attempt(
                        now,
                        v.outcome,
                        "the sGTM client did not run this destination although the "
                        "batch named it (skipped_not_requested)",
                        200,
                    )
                outcomes.append(Outcome(dest, state, attempt))
            else:
                outcomes.append(self._retry(claim, dest, attempt, now, None))
        return outcomes

    def _retry(
        self, claim: Claim, dest: str, attempt: Attempt, now: float, retry_after: float | None
    ) -> Outcome:
        return self.policy.after_failure(
            dest,
            attempt,
            claim.attempts.get(dest, 0),
            claim.window_start[dest],
            now,
            self.rng,
            retry_after,
            claim.envelope,
        )

    def _fail_all(
        self, claims: list[Claim], reason: str, status: int | None, retry_after: float | None
    ) -> None:
        now = self.clock()
        attempt = Attempt(now, "failure", reason, status)
        self._record_many(
            [
                (c.event_id, [self._retry(c, d, attempt, now, retry_after) for d in c.destinations])
                for c in claims
            ],
            now,
        )

    def _abort_all(self, claims: list[Claim], reason: str, status: int, now: float) -> None:
        attempt = Attempt(now, "rejected", reason, status)
        self._record_many(
            [
                (c.event_id, [Outcome(d, "aborted", attempt) for d in c.destinations])
                for c in claims
            ],
            now,
        )

    def _record(self, event_id: str, outcomes: list[Outcome], now: float) -> None:
        self._record_many([(event_id, outcomes)], now)

    def _record_many(self, items: list[tuple[str, list[Outcome]]], now: float) -> None:
        self.store.record_many(items, now)
        for event_id, outcomes in items:
            self.stats.count(outcomes)
            self._log_dead(event_id, outcomes)

    def _log_dead(self, event_id: str, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.state not in ("failed", "aborted"):
                continue
            kind = logs.DEAD_LETTER_TYPE if o.state == "aborted" else logs.DELIVERY_FAILURE_TYPE
            logs.delivery(
                kind,
                {
                    "event_id": event_id,
                    "destination": o.destination,
                    "outcome": o.attempt.outcome,
                    "reason": _loggable(o.attempt.reason),
                    "http_status": o.attempt.http_status,
                },
            )


def _narrowed(claim: Claim, dests: tuple[str, ...]) -> Claim:
    if dests == claim.destinations:
        return claim
    return Claim(
        event_id=claim.event_id,
        envelope=narrow(claim.envelope, dests),
        destinations=dests,
        attempts={d: claim.attempts[d] for d in dests},
        window_start={d: claim.window_start[d] for d in dests},
    )


def _loggable(reason: str) -> str:
    """What the log record says. The reason already holds only `answer_cause`'s bounded,
    redacted cause, so the log and the ledger say the same thing."""
    return reason


CAUSE_BYTES = 200
# Keys of the batch the sidecar sends: an answer quoting them echoes event data (a proxy or
# another client behind the URL), and is left out rather than stored or logged.
_ECHO = ('"events"', '"user_data"', '"params"', '"context"', '"destinations"', '"client_id"')


def answer_cause(body: bytes) -> str:
    """The cause sGTM (or the runtime) gave for an error, fit for the ledger and the log:
    the first 200 bytes, on one line, with e-mails, phone numbers, IPs, hashes and tokens
    redacted, and nothing at all when the answer looks like an echo of the events."""
    text = " ".join(body[:CAUSE_BYTES].decode("utf-8", "replace").split())
    if not text:
        return ""
    if any(key in text for key in _ECHO):
        return "(answer left out: it quotes event data)"
    return logs.redact(text)


def _status_reason(resp: Response) -> str:
    if resp.status == 401:
        return (
            "sGTM rejected the signature (401): the delivery keyset does not match the "
            "container's SGTM_CREDENTIALS"
        )
    cause = answer_cause(resp.body)
    return f"sGTM answered HTTP {resp.status}" + (f": {cause}" if cause else "")


def transport_timeout(transport: object) -> float:
    return float(getattr(transport, "timeout_s", 10.0))
