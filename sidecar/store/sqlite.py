"""The embedded backend: one SQLite file in WAL mode holds outbox, ledger, dead letters and contexts.

Several gunicorn worker processes (ingest) and one separate delivery worker process share the
file. Every write is one ``BEGIN IMMEDIATE`` transaction, so the dedupe check and the insert
happen under SQLite's single write lock: two processes racing on the same key cannot both
accept it, and a crash mid-transaction leaves nothing half-written.

Durability: ``synchronous=FULL``. In WAL mode NORMAL already survives a SIGKILL of the process
(the WAL is in the OS page cache) but may lose the last commits on a power cut or kernel crash,
and ``enqueue`` promises the client that an accepted event is on disk before it answers 2xx.
FULL costs an fsync per commit (~6k single-row commits/s on a VM disk, libraries.md §6), far
above the rates a shop sends; the bench can measure NORMAL with ``synchronous="NORMAL"``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sidecar.store.base import (
    NOT_COUNTED,
    Attempt,
    Claim,
    DeadLetter,
    DestinationStatus,
    EnqueueResult,
    LedgerEntry,
    OutboxRecord,
    Outcome,
    QuarantinedBody,
    StoreUnavailable,
    ledger_status,
    narrow,
    not_queued,
)
from sidecar.store.reconcile_sqlite import SqliteReconcile

SCHEMA_VERSION = 1
log = logging.getLogger("sidecar.store.sqlite")
# /readyz fails below this much free space in the outbox's file system (SGTM_MIN_FREE_MB):
# SQLite needs room for the WAL and checkpoints, and a full disk fails every write.
DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024
# PRAGMA quick_check reads the whole file: run it at most this often for readiness.
INTEGRITY_EVERY_S = 600.0


class Replaced(StoreUnavailable):
    """The file (or directory) this store opened is no longer the one at its path."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT PRIMARY KEY,
    event_name   TEXT NOT NULL,
    source       TEXT NOT NULL,
    order_id     TEXT,
    envelope     TEXT NOT NULL,
    decision     TEXT NOT NULL,
    plan_version TEXT NOT NULL,
    accepted_at  REAL NOT NULL,
    forwarded_at REAL,
    skipped      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_order ON events(order_id) WHERE order_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS dedupe_keys (
    key      TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    seen_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id        TEXT NOT NULL,
    destination     TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN
                        ('waiting','executing','failed','succeeded','aborted','filtered')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    window_start    REAL NOT NULL,
    lease_until     REAL,
    acked_at        REAL,
    last_reason     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (event_id, destination)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(next_attempt_at)
    WHERE state IN ('waiting','failed');
CREATE INDEX IF NOT EXISTS deliveries_executing ON deliveries(state) WHERE state = 'executing';
CREATE TABLE IF NOT EXISTS attempts (
    event_id    TEXT NOT NULL,
    destination TEXT NOT NULL,
    at          REAL NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    http_status INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_event ON attempts(event_id, destination);
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    destination TEXT NOT NULL,
    dead_at     REAL NOT NULL,
    reason      TEXT NOT NULL,
    attempts    TEXT NOT NULL,
    replayed_at REAL
);
CREATE INDEX IF NOT EXISTS dead_letters_at ON dead_letters(dead_at);
CREATE TABLE IF NOT EXISTS quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    platform    TEXT NOT NULL,
    topic       TEXT NOT NULL,
    body        BLOB NOT NULL,
    headers     TEXT NOT NULL,
    errors      TEXT NOT NULL,
    received_at REAL NOT NULL,
    replayed_at REAL,
    last_result TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS contexts (
    token     TEXT PRIMARY KEY,
    context   TEXT NOT NULL,
    expire_at REAL NOT NULL
);
"""


class SqliteStore(SqliteReconcile):
    """``Store`` and ``DeliveryStore`` on one SQLite file; safe across processes and threads."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "./sgtm-outbox.sqlite",
        *,
        busy_timeout_s: float = 10.0,
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous: expected FULL, NORMAL or EXTRA, got {synchronous!r}")
        self.path = os.fspath(path)
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._synchronous = synchronous
        self._clock = clock
        self.min_free_bytes = DEFAULT_MIN_FREE_BYTES
        # One connection per thread and process: sqlite3 connections must not cross a fork
        # (gunicorn preloading) nor be used by two threads at once (gthread workers).
        self._local = threading.local()
        self._identity: tuple[int, int, int, int] | None = None
        self._fault: str | None = None  # the storage fault last logged (once per change)
        self._fault_lock = threading.Lock()
        self._integrity: tuple[float, str] | None = None
        self._migrate()
        # What "the outbox" is from now on: this directory and this file, by device and inode.
        # A connection keeps writing to an unlinked or replaced file without an error; every
        # transaction compares this identity with the path's, before and after its commit.
        self._identity = self._path_identity()

    # -- connections and transactions ------------------------------------------------------

    def _path_identity(self) -> tuple[int, int, int, int]:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            d = os.stat(directory)
        except OSError as exc:
            raise Replaced(
                f"{self.path}: the outbox directory is gone ({exc.strerror}); "
                "nothing more is accepted until it is restored and the service restarted"
            ) from None
        try:
            f = os.stat(self.path)
        except OSError as exc:
            raise Replaced(
                f"{self.path}: the outbox file is gone ({exc.strerror}); "
                "nothing more is accepted until it is restored and the service restarted"
            ) from None
        return (d.st_dev, d.st_ino, f.st_dev, f.st_ino)

    def _check_identity(self) -> None:
        if self._identity is None:
            return
        if self._path_identity() != self._identity:
            raise Replaced(
                f"{self.path}: the outbox file or its directory was replaced while open; "
                "writes would go to a file nobody reads, so nothing more is accepted until "
                "the service restarts"
            )

    def _fault_changed(self, fault: str | None) -> None:
        """Log a storage fault once when it starts or changes, and once when it clears."""
        with self._fault_lock:
            if fault == self._fault:
                return
            before, self._fault = self._fault, fault
        if fault is not None:
            log.error(
                "outbox storage fault",
                extra={"json_fields": {"type": "storage_fault", "cause": fault}},
            )
        elif before is not None:
            log.warning(
                "outbox storage recovered",
                extra={"json_fields": {"type": "storage_recovered", "was": before}},
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            directory = os.path.dirname(os.path.abspath(self.path))
            if self._identity is None:  # first open (the constructor): may create the file
                os.makedirs(directory, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            else:
                # Later connections (new threads, forked workers) never create anything: a
                # missing file is a fault, not a fresh empty outbox.
                self._check_identity()
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=rw"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=True)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreUnavailable(f"{self.path}: cannot switch to WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: cannot open the outbox: {exc}") from exc
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock before any read.

        The outbox's identity is checked before and after the commit: a commit that landed
        in an unlinked or replaced file raises, so the caller answers 503, never 2xx."""
        try:
            with self._tx_inner() as db:
                yield db
        except StoreUnavailable as exc:
            self._fault_changed(_cause(exc))
            raise
        self._fault_changed(None)

    @contextmanager
    def _tx_inner(self) -> Iterator[sqlite3.Connection]:
        self._check_identity()
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # "database is locked" after busy_timeout
            raise StoreUnavailable(f"{self.path}: outbox busy: {exc}") from exc
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise StoreUnavailable(f"{self.path}: commit failed: {exc}") from exc
        self._check_identity()

    def _read(self) -> sqlite3.Connection:
        return self._conn()

    def _migrate(self) -> None:
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.path}: outbox schema {version} is newer than this build "
                    f"({SCHEMA_VERSION}); upgrade sgtm-companion"
                )
            # executescript() would commit our transaction, so run statement by statement.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            self._reconcile_tables(db)  # sidecar/store/reconcile_sqlite.py
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- ingest side ------------------------------------------------------------------------

    def enqueue(self, records: list[OutboxRecord], dedupe_window_s: int) -> list[EnqueueResult]:
        now = self._clock()
        horizon = now - dedupe_window_s
        results: list[EnqueueResult] = []
        try:
            with self._tx() as db:
                for record in records:
                    keys = _keys_of(record)
                    match = _first_seen(db, keys, horizon)
                    if match is None and _stored(db, record.event_id):
                        # Past the dedupe window but still in the ledger: a stored event is
                        # never replaced (nor re-queued) by a later one with its id.
                        match = record.event_id
                    if match is not None:
                        results.append(EnqueueResult(record.event_id, "duplicate", match))
                        continue
                    self._insert(db, record, keys, now)
                    results.append(EnqueueResult(record.event_id, "accepted"))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: enqueue failed: {exc}") from exc
        return results

    def _insert(
        self, db: sqlite3.Connection, record: OutboxRecord, keys: tuple[str, ...], now: float
    ) -> None:
        for key in keys:
            db.execute(
                "INSERT OR REPLACE INTO dedupe_keys(key, event_id, seen_at) VALUES (?, ?, ?)",
                (key, record.event_id, now),
            )
        db.execute(
            "INSERT INTO events(event_id, event_name, source, order_id, envelope,"
            " decision, plan_version, accepted_at, forwarded_at, skipped)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (
                record.event_id,
                record.event_name,
                record.source,
                record.order_id,
                _dumps(record.envelope),
                _dumps(record.decision),
                record.plan_version,
                record.accepted_at,
                0 if record.destinations else 1,
            ),
        )
        window_start = _event_time(record)
        db.executemany(
            "INSERT INTO deliveries(event_id, destination, state, attempts, next_attempt_at,"
            " window_start) VALUES (?, ?, 'waiting', 0, ?, ?)",
            [
                (record.event_id, d, record.accepted_at, record.window_starts.get(d, window_start))
                for d in record.destinations
            ],
        )

    def note_skipped(self, record: OutboxRecord) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT OR IGNORE INTO events(event_id, event_name, source, order_id, envelope,"
                    " decision, plan_version, accepted_at, skipped)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (
                        record.event_id,
                        record.event_name,
                        record.source,
                        record.order_id,
                        "{}",  # nothing will be forwarded, so keep no payload
                        _dumps(record.decision),
                        record.plan_version,
                        record.accepted_at,
                    ),
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: note_skipped failed: {exc}") from exc

    def put_context(self, token: str, context: dict[str, Any], ttl_s: int) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT OR REPLACE INTO contexts(token, context, expire_at) VALUES (?, ?, ?)",
                    (token, _dumps(context), self._clock() + ttl_s),
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: put_context failed: {exc}") from exc

    def get_context(self, token: str) -> dict[str, Any] | None:
        try:
            row = (
                self._read()
                .execute(
                    "SELECT context FROM contexts WHERE token = ? AND expire_at > ?",
                    (token, self._clock()),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:  # a broken outbox is a 503 to retry, never a 500
            raise StoreUnavailable(f"{self.path}: get_context failed: {exc}") from exc
        return json.loads(row[0]) if row else None

    def ping(self) -> None:
        try:
            with self._tx() as db:
                db.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc

    def health_checks(self, now: float | None = None) -> dict[str, str]:
        """Readiness, check by check: "ok" or "failed: <why>" (never a path: /readyz is public).

        - ``outbox_file``: the file and directory are the ones opened at start;
        - ``writable``: a write transaction commits (a real write, to ``health``);
        - ``free_space``: at least ``min_free_bytes`` free in its file system;
        - ``integrity``: ``PRAGMA quick_check`` (at most every INTEGRITY_EVERY_S seconds).
        """
        now = self._clock() if now is None else now
        checks: dict[str, str] = {}
        try:
            self._check_identity()
            checks["outbox_file"] = "ok"
        except StoreUnavailable as exc:
            checks["outbox_file"] = "failed: " + _cause(exc)
        try:
            with self._tx() as db:
                db.execute("INSERT OR REPLACE INTO health(id, checked_at) VALUES (1, ?)", (now,))
            checks["writable"] = "ok"
        except (StoreUnavailable, sqlite3.Error) as exc:
            checks["writable"] = "failed: " + _cause(exc)
        try:
            free = shutil.disk_usage(os.path.dirname(os.path.abspath(self.path))).free
            mb, need = free // 2**20, self.min_free_bytes // 2**20
            checks["free_space"] = (
                "ok" if free >= self.min_free_bytes else f"failed: {mb} MiB free, below {need} MiB"
            )
        except OSError as exc:
            checks["free_space"] = f"failed: {exc.strerror}"
        checks["integrity"] = self._integrity_check(now)
        return checks

    def _integrity_check(self, now: float) -> str:
        if self._integrity is not None and now - self._integrity[0] < INTEGRITY_EVERY_S:
            return self._integrity[1]
        try:
            rows = self._read().execute("PRAGMA quick_check").fetchall()
            verdict = "ok" if rows == [("ok",)] else f"failed: {str(rows[0][0])[:200]}"
        except (StoreUnavailable, sqlite3.Error) as exc:
            verdict = "failed: " + _cause(exc)
        self._integrity = (now, verdict)
        return verdict

    # -- quarantine -------------------------------------------------------------------------

    def quarantine(self, item: QuarantinedBody) -> str:
        try:
            with self._tx() as db:
                cur = db.execute(
                    "INSERT INTO quarantine(source, platform, topic, body, headers, errors,"
                    " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        item.source,
                        item.platform,
                        item.topic,
                        item.body,
                        _dumps(item.headers),
                        _dumps(list(item.errors)),
                        item.received_at,
                    ),
                )
                return str(cur.lastrowid)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: quarantine failed: {exc}") from exc

    def quarantined(
        self, include_replayed: bool = False, limit: int = 1000
    ) -> list[QuarantinedBody]:
        where = "" if include_replayed else " WHERE replayed_at IS NULL"
        try:
            rows = (
                self._read()
                .execute(_Q_COLUMNS + where + " ORDER BY id LIMIT ?", (limit,))
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: quarantine read failed: {exc}") from exc
        return [_quarantined(r) for r in rows]

    def quarantined_one(self, item_id: str) -> QuarantinedBody | None:
        try:
            key = int(item_id)
        except ValueError:
            return None
        row = self._read().execute(_Q_COLUMNS + " WHERE id = ?", (key,)).fetchone()
        return _quarantined(row) if row else None

    def quarantine_result(self, item_id: str, result: str, replayed_at: float | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE quarantine SET last_result = ?, replayed_at = COALESCE(?, replayed_at)"
                " WHERE id = ?",
                (result, replayed_at, int(item_id)),
            )

    def quarantine_count(self) -> int:
        try:
            row = (
                self._read()
                .execute("SELECT COUNT(*) FROM quarantine WHERE replayed_at IS NULL")
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: quarantine read failed: {exc}") from exc
        return int(row[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    def purge(self, now: float, dedupe_window_s: int, retention_s: int) -> int:
        """Drop expired dedupe keys and contexts, and finished events older than retention."""
        with self._tx() as db:
            n = db.execute(
                "DELETE FROM dedupe_keys WHERE seen_at < ?", (now - dedupe_window_s,)
            ).rowcount
            n += db.execute("DELETE FROM contexts WHERE expire_at <= ?", (now,)).rowcount
            old = now - retention_s
            for table in ("attempts", "deliveries"):
                n += db.execute(
                    f"DELETE FROM {table} WHERE event_id IN (SELECT event_id FROM events"  # noqa: S608
                    " WHERE accepted_at < ?)",
                    (old,),
                ).rowcount
            n += db.execute("DELETE FROM events WHERE accepted_at < ?", (old,)).rowcount
            n += db.execute("DELETE FROM dead_letters WHERE dead_at < ?", (old,)).rowcount
            n += self._purge_reconcile(db, old)
            n += db.execute("DELETE FROM quarantine WHERE received_at < ?", (old,)).rowcount
        return n

    # -- delivery side ----------------------------------------------------------------------

    def claim(self, now: float, limit: int, lease_s: float) -> list[Claim]:
        with self._tx() as db:
            # Expired leases belong to a worker that died without requeue_executing running.
            claims = [_claim_one(db, e, now, lease_s) for e in _due_events(db, now, limit)]
        return [c for c in claims if c is not None]

    def claim_event(self, event_id: str, now: float, lease_s: float) -> Claim | None:
        with self._tx() as db:
            return _claim_one(db, event_id, now, lease_s)

    def record(self, event_id: str, outcomes: list[Outcome], now: float) -> None:
        self.record_many([(event_id, outcomes)], now)

    def record_many(self, items: list[tuple[str, list[Outcome]]], now: float) -> None:
        # One transaction for a whole batch's answer: one fsync instead of one per event.
        with self._tx() as db:
            for event_id, outcomes in items:
                _record_in(db, event_id, outcomes, now)

    def requeue_executing(self, now: float) -> int:
        with self._tx() as db:
            return db.execute(
                # Not before the lease ends: the dead worker's request may still be running in
                # sGTM until then (see Worker.settle_s).
                "UPDATE deliveries SET state = 'failed', lease_until = NULL,"
                " next_attempt_at = MAX(?, COALESCE(lease_until, 0)),"
                " last_reason = 'interrupted: the delivery worker stopped mid-attempt'"
                " WHERE state = 'executing'",
                (now,),
            ).rowcount

    def next_due_at(self) -> float | None:
        row = (
            self._read()
            .execute(
                "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM deliveries"
                " WHERE state IN ('waiting','failed')"
                " UNION ALL SELECT MIN(lease_until) FROM deliveries WHERE state = 'executing')"
            )
            .fetchone()
        )
        return row[0] if row else None

    def dead_letters(
        self,
        since: float | None = None,
        destination: str | None = None,
        include_replayed: bool = False,
        limit: int = 1000,
    ) -> list[DeadLetter]:
        where, params = _dl_filter(since, destination, include_replayed)
        rows = (
            self._read()
            .execute(
                _dl_query(where) + " LIMIT ?",
                (*params, limit),
            )
            .fetchall()
        )
        return [_dead_letter(r) for r in rows]

    def dead_letter(self, dead_letter_id: str) -> DeadLetter | None:
        try:
            key = int(dead_letter_id)
        except ValueError:
            return None
        row = (
            self._read()
            .execute(
                "SELECT d.id, d.event_id, d.destination, d.dead_at, d.reason, d.attempts,"
                " e.event_name, e.order_id, d.replayed_at FROM dead_letters d"
                " LEFT JOIN events e USING (event_id) WHERE d.id = ?",
                (key,),
            )
            .fetchone()
        )
        return _dead_letter(row) if row else None

    def replay(
        self,
        since: float | None = None,
        destination: str | None = None,
        now: float = 0.0,
        on_each: Callable[[DeadLetter], None] | None = None,
    ) -> list[DeadLetter]:
        now = now or self._clock()
        where, params = _dl_filter(since, destination, include_replayed=False)
        with self._tx() as db:
            rows = db.execute(
                _dl_query(where),
                params,
            ).fetchall()
            replayed = []
            for row in rows:
                letter = _dead_letter(row)
                # Only still-dead destinations go back; a later success must not be resent.
                changed = db.execute(
                    # The window keeps counting from what the destination's acceptance rule
                    # counts from: the worker re-evaluates it and records "expired: <rule>"
                    # instead of sending what the platform would refuse.
                    "UPDATE deliveries SET state = 'waiting', attempts = 0, next_attempt_at = ?,"
                    " last_reason = 'replayed from the dead-letter store'"
                    " WHERE event_id = ? AND destination = ? AND state = 'aborted'",
                    (now, letter.event_id, letter.destination),
                ).rowcount
                db.execute("UPDATE dead_letters SET replayed_at = ? WHERE id = ?", (now, row[0]))
                if changed:
                    replayed.append(letter)
                if on_each is not None:
                    on_each(letter)
        return replayed

    def ledger(self, event_id: str) -> LedgerEntry | None:
        try:
            db = self._read()
            row = db.execute(
                "SELECT event_id, event_name, source, order_id, accepted_at, forwarded_at, skipped,"
                " decision FROM events WHERE event_id = ?",
                (event_id,),
            ).fetchone()
            return _ledger_entry(db, row) if row else None
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: ledger read failed: {exc}") from exc

    def stored_envelope(self, event_id: str) -> dict[str, Any] | None:
        """The event as it is forwarded (minimised), or None."""
        try:
            row = (
                self._read()
                .execute("SELECT envelope FROM events WHERE event_id = ?", (event_id,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: envelope read failed: {exc}") from exc
        return json.loads(row[0]) if row else None

    def ledger_for_order(self, order_id: str) -> list[LedgerEntry]:
        try:
            db = self._read()
            rows = db.execute(
                "SELECT event_id, event_name, source, order_id, accepted_at, forwarded_at, skipped,"
                " decision FROM events WHERE order_id = ? ORDER BY accepted_at, event_id",
                (order_id,),
            ).fetchall()
            return [_ledger_entry(db, r) for r in rows]
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: ledger read failed: {exc}") from exc

    def counts(self) -> dict[str, int]:
        rows = (
            self._read().execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        )
        return {state: n for state, n in sorted(rows)}


# -- helpers ---------------------------------------------------------------------------------


def _cause(exc: BaseException) -> str:
    """The reason without the file path (readiness answers are public)."""
    text = str(exc)
    for prefix in (": ",):
        head, sep, tail = text.partition(prefix)
        if sep and ("/" in head or head.endswith(".sqlite")):
            return tail
    return text


# A destination is due when it waits or failed and its time has come, or when it is executing
# under a lease that ran out (its worker died without requeue_executing running).
# Due rows in due order, read from the partial index (no scan of the whole table, which a
# GROUP BY would do: with a 120,000-event backlog that made every claim O(backlog)).
_DUE_ROWS = (
    "SELECT event_id FROM deliveries INDEXED BY deliveries_due"
    " WHERE state IN ('waiting','failed') AND next_attempt_at <= ?"
    " ORDER BY next_attempt_at LIMIT ?"
)
_LAPSED_ROWS = (
    "SELECT event_id FROM deliveries INDEXED BY deliveries_executing"
    " WHERE state = 'executing' AND lease_until < ? LIMIT ?"
)


def _due_events(db: sqlite3.Connection, now: float, limit: int) -> list[str]:
    """Up to ``limit`` distinct event ids with a due destination, earliest first."""
    # Expired leases first: they belong to a worker that died without requeue_executing.
    seen: dict[str, None] = {}
    for (event_id,) in db.execute(_LAPSED_ROWS, (now, limit * 8)):
        seen.setdefault(event_id)
    rows = limit * 8  # an event has a handful of destinations; widen until enough ids
    while len(seen) < limit:
        got = db.execute(_DUE_ROWS, (now, rows)).fetchall()
        for (event_id,) in got:
            seen.setdefault(event_id)
            if len(seen) >= limit:
                break
        if len(got) < rows:
            break
        rows *= 4
    return list(seen)[:limit]


_CLAIM_DESTINATIONS = (
    "SELECT destination, attempts, window_start FROM deliveries WHERE event_id = ?"
    " AND ((state IN ('waiting','failed') AND next_attempt_at <= ?)"
    "      OR (state = 'executing' AND lease_until < ?))"
    " ORDER BY destination"
)


def _record_in(db: sqlite3.Connection, event_id: str, outcomes: list[Outcome], now: float) -> None:
    sent = False
    for o in outcomes:
        a = o.attempt
        counted = a.outcome not in NOT_COUNTED
        sent = sent or counted
        db.execute(
            "INSERT INTO attempts(event_id, destination, at, outcome, reason, http_status)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, o.destination, a.at, a.outcome, a.reason, a.http_status),
        )
        db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + ?, lease_until = NULL,"
            " next_attempt_at = COALESCE(?, next_attempt_at), last_reason = ?,"
            " acked_at = CASE WHEN ? = 'succeeded' THEN ? ELSE acked_at END"
            " WHERE event_id = ? AND destination = ?",
            (
                o.state,
                1 if counted else 0,
                o.next_attempt_at,
                a.reason,
                o.state,
                now,
                event_id,
                o.destination,
            ),
        )
        if o.state == "aborted":
            history = db.execute(
                "SELECT at, outcome, reason, http_status FROM attempts"
                " WHERE event_id = ? AND destination = ? ORDER BY rowid",
                (event_id, o.destination),
            ).fetchall()
            db.execute(
                "INSERT INTO dead_letters(event_id, destination, dead_at, reason, attempts)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    event_id,
                    o.destination,
                    now,
                    a.reason,
                    _dumps([list(h) for h in history]),
                ),
            )
    if sent:
        db.execute(
            "UPDATE events SET forwarded_at = ? WHERE event_id = ? AND forwarded_at IS NULL",
            (now, event_id),
        )


def _claim_one(db: sqlite3.Connection, event_id: str, now: float, lease_s: float) -> Claim | None:
    dests = db.execute(
        _CLAIM_DESTINATIONS,
        (event_id, now, now),
    ).fetchall()
    if not dests:
        return None
    names = tuple(d[0] for d in dests)
    db.executemany(
        "UPDATE deliveries SET state = 'executing', lease_until = ?"
        " WHERE event_id = ? AND destination = ?",
        [(now + lease_s, event_id, name) for name in names],
    )
    row = db.execute("SELECT envelope FROM events WHERE event_id = ?", (event_id,)).fetchone()
    envelope = json.loads(row[0]) if row else {}
    return Claim(
        event_id=event_id,
        envelope=narrow(envelope, names),
        destinations=names,
        attempts={d[0]: d[1] for d in dests},
        window_start={d[0]: d[2] for d in dests},
    )


def _keys_of(record: OutboxRecord) -> tuple[str, ...]:
    keys = list(record.dedupe_keys) or [record.event_id]
    if record.event_id not in keys:
        keys.insert(0, record.event_id)
    return tuple(dict.fromkeys(keys))


def _stored(db: sqlite3.Connection, event_id: str) -> bool:
    return db.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone() is not None


def _first_seen(db: sqlite3.Connection, keys: tuple[str, ...], horizon: float) -> str | None:
    for key in keys:
        hit = db.execute(
            "SELECT 1 FROM dedupe_keys WHERE key = ? AND seen_at >= ?", (key, horizon)
        ).fetchone()
        if hit:
            return key
    return None


def _event_time(record: OutboxRecord) -> float:
    """The retry window counts from when the event happened: that is what platforms check."""
    ts = record.envelope.get("timestamp")
    if isinstance(ts, int | float) and not isinstance(ts, bool) and ts > 0:
        return min(ts / 1000.0, record.accepted_at)
    return record.accepted_at


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _dl_filter(
    since: float | None, destination: str | None, include_replayed: bool
) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if since is not None:
        clauses.append("d.dead_at >= ?")
        params.append(since)
    if destination is not None:
        clauses.append("d.destination = ?")
        params.append(destination)
    if not include_replayed:
        clauses.append("d.replayed_at IS NULL")
    return " AND ".join(clauses), tuple(params)


def _dl_query(where: str) -> str:
    # ``where`` is assembled by _dl_filter from fixed fragments; values are bound parameters.
    head = (
        "SELECT d.id, d.event_id, d.destination, d.dead_at, d.reason, d.attempts,"
        " e.event_name, e.order_id, d.replayed_at FROM dead_letters d"
        " LEFT JOIN events e USING (event_id) WHERE "
    )
    return head + where + " ORDER BY d.id"


_Q_COLUMNS = (
    "SELECT id, source, platform, topic, body, headers, errors, received_at, replayed_at,"
    " last_result FROM quarantine"
)


def _quarantined(row: tuple[Any, ...]) -> QuarantinedBody:
    return QuarantinedBody(
        id=str(row[0]),
        source=row[1],
        platform=row[2],
        topic=row[3],
        body=bytes(row[4]),
        headers=json.loads(row[5]),
        errors=tuple(json.loads(row[6])),
        received_at=row[7],
        replayed_at=row[8],
        last_result=row[9] or "",
    )


def _dead_letter(row: tuple[Any, ...]) -> DeadLetter:
    attempts = tuple(
        Attempt(at, outcome, reason, status) for at, outcome, reason, status in json.loads(row[5])
    )
    return DeadLetter(
        id=str(row[0]),
        event_id=row[1],
        destination=row[2],
        dead_at=row[3],
        reason=row[4],
        attempts=attempts,
        event_name=row[6] or "",
        order_id=row[7],
        replayed_at=row[8],
    )


def _ledger_entry(db: sqlite3.Connection, row: tuple[Any, ...]) -> LedgerEntry:
    event_id, event_name, source, order_id, accepted_at, forwarded_at, skipped, decision = row
    dests = {
        d: DestinationStatus(state, attempts, reason, acked, nxt if state == "failed" else None)
        for d, state, attempts, reason, acked, nxt in db.execute(
            "SELECT destination, state, attempts, last_reason, acked_at, next_attempt_at"
            " FROM deliveries WHERE event_id = ? ORDER BY destination",
            (event_id,),
        ).fetchall()
    }
    return LedgerEntry(
        event_id=event_id,
        event_name=event_name,
        source=source,
        order_id=order_id,
        accepted_at=accepted_at,
        forwarded_at=forwarded_at,
        destinations=dests,
        status=ledger_status(bool(skipped) and not dests, [s.state for s in dests.values()]),
        decided=not_queued(json.loads(decision) if decision else None, dests),
    )
