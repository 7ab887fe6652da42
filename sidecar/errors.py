"""The sidecar's one exception base class and its JSON error answers.

Every error leaves the service as JSON ``{"error": {"code", "message", "request_id", ...}}``:
never an HTML page, never a traceback. An unexpected exception answers a generic 500 naming
only the request id; the log line carries the exception type and the redacted traceback so the
id can be looked up without any request data reaching the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, has_app_context, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("sidecar.errors")


class SidecarError(Exception):
    """A failure the sidecar answers itself, with a status, a stable code and a precise message.

    ``errors`` lists every problem found (``{"pointer", "message"}``) when there are several.
    """

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        errors_omitted: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.errors = errors or []
        self.errors_omitted = errors_omitted
        self.headers = headers or {}


class StartupError(SidecarError):
    """The service must not start: an invalid plan, missing secrets, a bad setting."""

    status = 500
    code = "startup"


class AuthError(SidecarError):
    status = 401
    code = "unauthenticated"


class ForbiddenError(SidecarError):
    status = 403
    code = "forbidden"


class UnavailableError(SidecarError):
    """The outbox cannot take writes; the client should retry."""

    status = 503
    code = "unavailable"


def request_id() -> str:
    return getattr(g, "request_id", "") if has_app_context() else ""


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    body.update(extra)
    body["request_id"] = request_id()
    return {"error": body}


def _http_code(exc: HTTPException) -> str:
    name = (exc.name or "error").lower()
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SidecarError)
    def _sidecar_error(exc: SidecarError):  # type: ignore[no-untyped-def]
        extra: dict[str, Any] = {}
        if exc.errors:
            extra["errors"] = exc.errors
        if exc.errors_omitted:
            extra["errors_omitted"] = exc.errors_omitted
        response = jsonify(error_body(exc.status, exc.code, exc.message, **extra))
        response.status_code = exc.status
        for name, value in exc.headers.items():
            response.headers[name] = value
        if "Retry-After" in exc.headers:
            # The app's last after_request restores it over the rate limiter's window value.
            g.retry_after = exc.headers["Retry-After"]
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        message = exc.description or exc.name or "error"
        response = jsonify(error_body(status, _http_code(exc), message))
        response.status_code = status
        # Keep the headers werkzeug and flask-limiter put on the exception (Allow, Retry-After).
        if exc.response is not None:
            for name, value in exc.response.headers.items():
                if name.lower() not in ("content-type", "content-length"):
                    response.headers[name] = value
        for name, value in exc.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        if isinstance(exc, HTTPException):  # pragma: no cover - routed above
            return _http_error(exc)
        # Only the type goes into the message; the redaction filter scrubs the traceback.
        log.error(
            "unexpected %s while handling the request",
            type(exc).__name__,
            exc_info=exc,
            extra={"json_fields": {"type": "unexpected_error", "request_id": request_id()}},
        )
        response = jsonify(
            error_body(
                500,
                "internal",
                "internal error; quote the request id when reporting it",
            )
        )
        response.status_code = 500
        return response
