"""Structured JSON logs for Cloud Logging, with request ids, trace correlation and redaction.

Lines are written by google-cloud-logging's ``StructuredLogHandler`` (one JSON object per line on
stdout, which Cloud Run ships to Cloud Logging). It correlates traces from ``traceparent`` or
``X-Cloud-Trace-Context`` by itself; two filters run in front of it:

- ``RequestFilter`` replaces the handler's own ``httpRequest`` (which would carry the full URL
  with its query string and the User-Agent, both of which can hold personal data) by method,
  path and protocol, and adds the request id.
- ``RedactionFilter`` is defence in depth: the code never logs event values, but if one slips
  into a message, an argument, ``json_fields`` or a traceback, e-mail addresses, IP addresses,
  phone-like numbers, 64-hex hashes, credentials and the exact values of the configured
  secrets are replaced by ``[redacted]`` before formatting.

The consent audit record is a log entry of its own type (``"type": "consent_decision"``; Terraform's audit sink and metrics select on it).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable
from typing import IO, Any

from flask import g, has_request_context, request
from google.cloud.logging_v2.handlers import StructuredLogHandler

LOGGER = "sidecar"
REDACTED = "[redacted]"
AUDIT_TYPE = "consent_decision"
# Delivery records, one per failed attempt and one per dead letter; Terraform's log-based
# metrics and alerts select on these types (terraform/variables.tf: log_record_types).
DELIVERY_FAILURE_TYPE = "delivery_failure"
DEAD_LETTER_TYPE = "dead_letter"

# One alternation, so each string is scanned once. Scoped flags only: Python refuses global
# flags in the middle of a pattern.
_PII = re.compile(
    "|".join(
        (
            r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}",  # e-mail
            r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+",  # Authorization values
            r"\bv1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",  # browser tokens
            r"\bv1=[0-9a-fA-F]{16,}",  # request signatures
            r"\b[0-9a-fA-F]{64}\b",  # SHA-256 of PII
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b",  # IPv4
            # IPv6: eight groups, or a "::" abbreviation (event ids like a:b:c stay readable)
            r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])",
            r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?(?![\w:])",
            r"\+\d[\d\s().-]{6,}\d",  # international phone numbers
        )
    )
)


# Everything _PII matches contains a digit, an "@" or the word bearer; most log strings (names,
# outcomes) contain none, and this check is far cheaper than the alternation.
_HINT = re.compile(r"[0-9@]|(?i:bearer)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return _PII.sub(REDACTED, text) if _HINT.search(text) else text


def _redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, secrets) for v in value]
    return value


class RedactionFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is removed whole.
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            # The handler's formatter would append the traceback unredacted; fold it in here.
            message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            message += "\n" + record.stack_info
            record.stack_info = None
        record.msg = redact(message, self.secrets)
        record.args = None
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            record.json_fields = _redact_value(fields, self.secrets)
        return True


class RequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not has_request_context():
            return True
        if not hasattr(record, "http_request"):
            record.http_request = {
                "requestMethod": request.method,
                "requestUrl": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL"),
            }
        rid = getattr(g, "request_id", None)
        if rid:
            fields = getattr(record, "json_fields", None)
            fields = dict(fields) if isinstance(fields, dict) else {}
            fields.setdefault("request_id", rid)
            record.json_fields = fields
        return True


def make_handler(
    *,
    stream: IO[str] | None = None,
    project_id: str | None = None,
    secrets: Iterable[str] = (),
    level: str = "INFO",
) -> logging.Handler:
    handler = StructuredLogHandler(
        stream=stream or sys.stdout, project_id=project_id, labels={"component": "sidecar"}
    )
    # Ours first: the handler's own filter reads http_request and must see the reduced one.
    handler.filters[:0] = [RedactionFilter(secrets), RequestFilter()]
    handler.setLevel(level)
    return handler


class GunicornLogHandler(StructuredLogHandler):
    """gunicorn's own lines (boot, worker, debug request lines, the access log) as the same
    Cloud Logging JSON, through the same redaction as the app's: at debug level gunicorn logs
    each request's path, and a path can hold an e-mail address.

    gunicorn builds it from ``logconfig_dict`` before the app exists, so the secrets to redact
    are read here from the plan the environment names (when it loads; the start-up check
    refuses to run otherwise)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream=stream or sys.stdout, labels={"component": "gunicorn"})
        self.filters[:0] = [RedactionFilter(_configured_secrets())]


def _configured_secrets() -> list[str]:
    from sidecar.config import Config, load
    from sidecar.errors import StartupError

    try:
        return list(load(Config.from_env()).secrets.values())
    except (StartupError, OSError, ValueError):
        return []


def configure(
    *,
    stream: IO[str] | None = None,
    project_id: str | None = None,
    secrets: Iterable[str] = (),
    level: str = "INFO",
) -> logging.Logger:
    """Send the ``sidecar`` loggers (and werkzeug's, gunicorn's errors) through one handler.

    Replaces any handler installed by an earlier ``configure`` so that app factories called
    repeatedly (tests) do not stack handlers.
    """
    handler = make_handler(stream=stream, project_id=project_id, secrets=secrets, level=level)
    handler._sgtm = True  # type: ignore[attr-defined]
    logger = logging.getLogger(LOGGER)
    for old in [h for h in logger.handlers if getattr(h, "_sgtm", False)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def audit(record: dict[str, Any]) -> None:
    """One consent decision, as its own log entry type. Holds no values, only names and outcomes."""
    logging.getLogger(f"{LOGGER}.audit").info(
        "consent decision", extra={"json_fields": {"type": AUDIT_TYPE, **record}}
    )


def delivery(kind: str, record: dict[str, Any]) -> None:
    """A delivery failure or dead letter as its own entry type: ids, destination, reason, HTTP
    status; never event data (reasons come from sGTM's answer or the tags' own messages)."""
    logging.getLogger(f"{LOGGER}.delivery").warning(
        "%s: event %s destination %s: %s",
        kind.replace("_", " "),
        record.get("event_id"),
        record.get("destination"),
        record.get("reason"),
        extra={"json_fields": {"type": kind, **record}},
    )
