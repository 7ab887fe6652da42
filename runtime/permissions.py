"""Server permissions, enforced the way GTM enforces them: the API call fails.

Each check takes the decoded ``___SERVER_PERMISSIONS___`` of a template (``Tpl.permission``)
and raises ``PermissionDenied`` naming the API, the permission and what it would have needed.
Mocked APIs in template tests are not checked (GTM does the same).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from formats.tpl import Tpl

DISPLAY = {
    "read_event_data": "Reads event data",
    "read_request": "Reads HTTP request",
    "send_http": "Sends HTTP requests",
    "get_cookies": "Reads cookie value(s)",
    "set_cookies": "Sets a cookie",
    "logging": "Logs to console",
    "access_response": "Accesses response",
    "return_response": "Returns response",
    "run_container": "Runs the container",
    "read_container_data": "Reads container data",
    "read_event_metadata": "Reads event metadata",
    "access_template_storage": "Accesses template storage",
    "access_bigquery": "Accesses BigQuery",
    "access_firestore": "Accesses Google Cloud Firestore",
    "use_custom_private_keys": "Uses custom private keys",
    "send_pixel_from_browser": "Sends pixels from browsers",
    "use_google_credentials": "Uses Google credentials",
    "use_message": "Uses messages",
}

GOOGLE_DOMAINS = (
    "google.com",
    "googleapis.com",
    "google-analytics.com",
    "googletagmanager.com",
    "doubleclick.net",
    "googleadservices.com",
    "googlesyndication.com",
)


class PermissionDenied(Exception):  # noqa: N818 - the name says what GTM reports
    def __init__(self, api: str, public_id: str, why: str) -> None:
        name = DISPLAY.get(public_id, public_id)
        super().__init__(f"{api}: permission denied by '{name}' ({public_id}): {why}")


@dataclass(frozen=True)
class Permissions:
    """The decoded permissions of one template, keyed by publicId."""

    granted: dict[str, dict[str, Any]]
    # event key -> allowed by keyPatterns, filled as runs ask: the table is the template's, so
    # it is worked out once per key rather than per getEventData call
    _event_keys: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, tpl: Tpl) -> Permissions:
        granted: dict[str, dict[str, Any]] = {}
        for public_id in tpl.permission_ids:
            granted[public_id] = tpl.permission(public_id) or {}
        return cls(granted)

    def need(self, api: str, public_id: str) -> dict[str, Any]:
        params = self.granted.get(public_id)
        if params is None:
            raise PermissionDenied(api, public_id, "the template does not declare this permission")
        return params

    # -- event data ---------------------------------------------------------------------------
    def read_event_data(self, api: str, key: str | None) -> None:
        params = self.need(api, "read_event_data")
        if params.get("eventDataAccess", "any") == "any":
            return
        if key is None:
            raise PermissionDenied(api, "read_event_data", "reading all event data needs 'any'")
        allowed = self._event_keys.get(key)
        if allowed is None:
            patterns = [str(p) for p in params.get("keyPatterns") or []]
            allowed = any(_key_allowed(key, p) for p in patterns)
            if len(self._event_keys) < 10_000:  # keys come from template code: bounded anyway
                self._event_keys[key] = allowed
        if not allowed:
            patterns = [str(p) for p in params.get("keyPatterns") or []]
            raise PermissionDenied(
                api, "read_event_data", f"key {key!r} is not in keyPatterns {patterns}"
            )

    # -- request ------------------------------------------------------------------------------
    def read_request(self, api: str, part: str, name: str | None = None) -> None:
        """``part`` is one of body, path, method, remoteAddress, headers, queryParameters,
        queryString; ``name`` the header or query parameter asked for."""
        params = self.need(api, "read_request")
        # The header and query allow-lists sit under "specific" in the editor: with
        # requestAccess 'any' they are ignored (stape data-client relies on that).
        if params.get("requestAccess", "any") == "any":
            return
        flag = {"queryString": "queryParametersAllowed"}.get(part, f"{part}Allowed")
        default = part == "method"  # no export carries methodAllowed; GTM lets it through
        allowed = params.get(flag, default) or (
            part == "queryString" and params.get("queryStringAllowed", False)
        )
        if not allowed:
            raise PermissionDenied(api, "read_request", f"{flag} is not granted")
        if part == "headers" and name is not None and params.get("headerAccess") == "specific":
            allowed_names = [
                str(row.get("headerName", "")).lower()
                for row in params.get("headerWhitelist") or []
                if isinstance(row, dict)
            ]
            if name.lower() not in allowed_names:
                raise PermissionDenied(
                    api, "read_request", f"header {name!r} is not in the header allow-list"
                )
        if part == "queryParameters" and params.get("queryParameterAccess") == "specific":
            allowed_params = [
                str(row.get("queryParameter", ""))
                for row in params.get("queryParameterWhitelist") or []
                if isinstance(row, dict)
            ]
            if name is None:
                raise PermissionDenied(
                    api,
                    "read_request",
                    "reading every query parameter needs queryParameterAccess 'any'",
                )
            if name not in allowed_params:
                raise PermissionDenied(
                    api, "read_request", f"query parameter {name!r} is not in the allow-list"
                )

    # -- cookies ------------------------------------------------------------------------------
    def get_cookies(self, api: str, name: str) -> None:
        params = self.need(api, "get_cookies")
        if params.get("cookieAccess", "any") == "any":
            return
        names = [str(n) for n in params.get("cookieNames") or []]
        if not any(fnmatch.fnmatchcase(name, n) for n in names):
            raise PermissionDenied(api, "get_cookies", f"cookie {name!r} is not in {names}")

    def set_cookies(self, api: str, name: str, options: dict[str, Any]) -> None:
        params = self.need(api, "set_cookies")
        rows = [r for r in params.get("allowedCookies") or [] if isinstance(r, dict)]
        for row in rows:
            if not fnmatch.fnmatchcase(name, str(row.get("name", ""))):
                continue
            secure = str(row.get("secure", "any"))
            if secure == "secure" and not options.get("secure"):
                raise PermissionDenied(api, "set_cookies", f"cookie {name!r} must be secure")
            return
        raise PermissionDenied(
            api,
            "set_cookies",
            f"cookie {name!r} is not in allowedCookies {[r.get('name') for r in rows]}",
        )

    # -- outbound -----------------------------------------------------------------------------
    def send_http(self, api: str, url: str, public_id: str = "send_http") -> None:
        params = self.need(api, public_id)
        if params.get("allowedUrls", "any") == "any":
            return
        host = (urlsplit(url).hostname or "").lower()
        if params.get("allowGoogleDomains") and any(
            host == d or host.endswith("." + d) for d in GOOGLE_DOMAINS
        ):
            return
        patterns = [str(p) for p in params.get("urls") or []]
        if not any(url_matches(url, p) for p in patterns):
            # The query string is left out: it can carry access tokens.
            shown = url.split("?", 1)[0]
            raise PermissionDenied(api, public_id, f"URL {shown!r} does not match {patterns}")

    # -- logging: GTM drops logs silently outside debug when only 'debug' is granted -----------
    def logging(self, api: str, debug: bool) -> bool:
        params = self.need(api, "logging")
        return params.get("environments", "debug") == "all" or debug

    # -- response -----------------------------------------------------------------------------
    def access_response(self, api: str, part: str, header: str | None = None) -> None:
        params = self.need(api, "access_response")
        if params.get("writeResponseAccess", "any") != "any" and not params.get(
            f"write{part}Allowed", False
        ):
            raise PermissionDenied(api, "access_response", f"write{part}Allowed is not granted")
        # The header allow-list lives under "specific" in the editor: with
        # writeResponseAccess 'any' it is ignored (stape data-client relies on that).
        specific = params.get("writeResponseAccess", "any") != "any"
        if specific and header is not None and params.get("writeHeaderAccess") == "specific":
            allowed = [
                str(row.get("headerName", "")).lower()
                for row in params.get("writeHeaderWhitelist") or []
                if isinstance(row, dict)
            ]
            if header.lower() not in allowed:
                raise PermissionDenied(
                    api, "access_response", f"response header {header!r} is not in {allowed}"
                )

    # -- cloud --------------------------------------------------------------------------------
    def access_bigquery(self, api: str, project: str, dataset: str, table: str) -> None:
        params = self.need(api, "access_bigquery")
        for row in params.get("allowedTables") or []:
            if not isinstance(row, dict):
                continue
            if all(
                fnmatch.fnmatchcase(value, str(row.get(key, "*")))
                for key, value in (
                    ("projectId", project),
                    ("datasetId", dataset),
                    ("tableId", table),
                )
            ) and str(row.get("operation", "write")) in ("write", "read_write"):
                return
        raise PermissionDenied(
            api, "access_bigquery", f"table {project}.{dataset}.{table} is not allowed for write"
        )

    def access_firestore(self, api: str, project: str, path: str, operation: str) -> None:
        params = self.need(api, "access_firestore")
        for row in params.get("allowedOptions") or []:
            if not isinstance(row, dict):
                continue
            op = str(row.get("operation", "read_write"))
            if (
                fnmatch.fnmatchcase(project, str(row.get("projectId", "*")))
                and fnmatch.fnmatchcase(path, str(row.get("path", "*")))
                and (op == "read_write" or op == operation)
            ):
                return
        raise PermissionDenied(
            api,
            "access_firestore",
            f"{operation} of {path!r} in project {project!r} is not allowed",
        )

    def private_key(self, api: str, key_id: str) -> None:
        params = self.need(api, "use_custom_private_keys")
        # The editor's param name for the key list is not documented; any list of ids
        # (plain strings or rows naming keyId) restricts, no list allows every key.
        lists = [v for v in params.values() if isinstance(v, list)]
        if not lists:
            return
        ids = {
            str(x.get("keyId", x.get("key_id", ""))) if isinstance(x, dict) else str(x)
            for lst in lists
            for x in lst
        }
        if key_id not in ids:
            raise PermissionDenied(
                api, "use_custom_private_keys", f"key id {key_id!r} is not allowed"
            )

    # -- messages -----------------------------------------------------------------------------
    def use_message(self, api: str, message_type: str, action: str | None) -> None:
        """``action`` is ``listen`` or ``send``; None (``hasMessageListener``) accepts either,
        since both a listening client and a sending tag may ask."""
        params = self.need(api, "use_message")
        if params.get("allowedActions", "any") == "any":
            return
        rows = [r for r in params.get("messageTypes") or [] if isinstance(r, dict)]
        for row in rows:
            granted = str(row.get("action", ""))
            if str(row.get("type", "")) != message_type:
                continue
            if action is None or granted in (action, "listen_and_send"):
                return
        wanted = f"{action} of" if action else "use of"
        allowed = [f"{r.get('type')}:{r.get('action')}" for r in rows]
        raise PermissionDenied(
            api, "use_message", f"{wanted} message type {message_type!r} is not in {allowed}"
        )

    def query(self, public_id: str, args: list[Any], *, debug: bool = False) -> bool:
        """``queryPermission``: the same checks, answered as a boolean."""
        try:
            first = args[0] if args else None
            if public_id == "send_http":
                self.send_http("queryPermission", str(first or ""))
            elif public_id == "read_event_data":
                self.read_event_data("queryPermission", None if first is None else str(first))
            elif public_id == "get_cookies":
                self.get_cookies("queryPermission", str(first or ""))
            elif public_id == "set_cookies":
                opts = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
                self.set_cookies("queryPermission", str(first or ""), opts)
            elif public_id == "use_custom_private_keys":
                self.private_key("queryPermission", str(first or ""))
            elif public_id == "logging":
                return self.logging("queryPermission", debug)
            elif public_id == "access_bigquery" and len(args) > 1 and isinstance(args[1], dict):
                info = args[1]
                self.access_bigquery(
                    "queryPermission",
                    str(info.get("projectId", "")),
                    str(info.get("datasetId", "")),
                    str(info.get("tableId", "")),
                )
            else:
                self.need("queryPermission", public_id)
        except PermissionDenied:
            return False
        return True


def _key_allowed(key: str, pattern: str) -> bool:
    # A pattern grants the key itself and everything below it (user_data grants user_data.x);
    # '*' is a wildcard within the pattern.
    return fnmatch.fnmatchcase(key, pattern) or key.startswith(pattern.rstrip("*") + ".")


def url_matches(url: str, pattern: str) -> bool:
    """GTM URL match patterns: scheme and host must match (``*.`` = any subdomain), the path of
    the pattern is a prefix when it ends in ``/`` and ``*`` matches anything."""
    u = urlsplit(url)
    p = urlsplit(pattern if "://" in pattern else "https://" + pattern)
    if u.scheme.lower() != p.scheme.lower():
        return False
    host, phost = (u.hostname or "").lower(), (p.hostname or "").lower()
    if phost.startswith("*."):
        if not (host == phost[2:] or host.endswith(phost[1:])):
            return False
    elif host != phost:
        return False
    if p.port is not None and u.port != p.port:
        return False
    path, ppath = u.path or "/", p.path or "/"
    regex = re.escape(ppath).replace(r"\*", ".*")
    if ppath.endswith("/") or ppath.endswith("*"):
        return re.match(regex, path) is not None
    return re.fullmatch(regex, path) is not None
