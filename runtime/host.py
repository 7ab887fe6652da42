"""The Python half of the sandbox APIs: one run's state and the host functions.

``Host.dispatch`` is the only function the engine exposes to JavaScript. It takes an API name
and a JSON argument list and returns a JSON envelope, ``{"v": value}`` or ``{"e": message}``;
it never raises (quickjs mishandles Python exceptions that JS code could catch).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from runtime.environment import Environment, HttpResult, OutboundError
from runtime.messages import Listener, MessageBus
from runtime.permissions import PermissionDenied, Permissions

# Two-label public suffixes common in ecommerce. A full Public Suffix List is not shipped
# (listed as a divergence in docs/runtime.md); everything else is treated as one label.
MULTI_LABEL_SUFFIXES = frozenset(
    """co.uk org.uk ac.uk gov.uk me.uk ltd.uk plc.uk net.uk co.jp ne.jp or.jp ac.jp com.au
    net.au org.au edu.au gov.au co.nz org.nz net.nz com.br net.br org.br com.mx org.mx com.ar
    com.tr com.cn net.cn org.cn com.hk com.sg com.tw co.in net.in org.in co.kr co.za org.za
    com.es com.pl com.ua co.il co.id com.my com.ph com.vn com.co com.pe com.sa com.eg
    github.io herokuapp.com appspot.com web.app firebaseapp.com blogspot.com""".split()
)

# The access token getGoogleAuth stands for in local runs (sGTM uses its service account).
LOCAL_GOOGLE_TOKEN_ENV = "SGTM_GOOGLE_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret


class _Null:
    """A host result that JS must see as ``null`` (plain ``None`` means ``undefined``)."""


NULL = _Null()


class ApiError(Exception):
    """A sandbox API failure; the message is what the template's caller sees."""


@dataclass
class Request:
    method: str = "GET"
    path: str = "/"
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    remote_addr: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None


@dataclass
class Response:
    status: int = 200
    headers: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower name -> (name, value)
    body: bytes = b""
    cookies: list[str] = field(default_factory=list)
    returned: bool = False


@dataclass
class RunState:
    """Everything one template run can see; shared with the tags a client's event fires."""

    template_id: str
    permissions: Permissions
    kind: str  # TAG, CLIENT or MACRO
    env: Environment
    testing: bool = False
    request: Request | None = None
    response: Response | None = None
    event: dict[str, Any] | None = None
    event_id: str | None = None
    client_name: str = ""
    claimed: Callable[[], bool] | None = None
    claim: Callable[[], None] | None = None
    run_container: Callable[[dict[str, Any], str], dict[str, Any]] | None = None
    logs: list[str] = field(default_factory=list)
    outcome: str | None = None
    macro_value: Any = None
    macro_resolved: bool = False
    client_returned: bool = False
    async_results: list[tuple[str, bool, Any]] = field(default_factory=list)
    http: dict[str, tuple[Future[HttpResult], float]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    fs_tx: dict[str, list[str]] = field(default_factory=dict)
    # A client's run and the tags it fires share one bus (runtime.messages).
    messages: MessageBus = field(default_factory=MessageBus)


class Host:
    def __init__(self, state: RunState) -> None:
        self.state = state
        # Calls a global function of this run's JS context (set by the engine's Sandbox), used
        # to hand a message to a listener registered here.
        self.call_js: Callable[..., Any] | None = None

    def dispatch(self, name: str, args_json: str) -> str:
        try:
            method = _API_METHODS.get(name)
            if method is None:
                raise ApiError(f"{name} is not supported by the local runtime")
            fn = getattr(self, method)
            args = json.loads(args_json)
            value = fn(*args) if isinstance(args, list) else fn(args)
            if value is None:
                return "{}"
            if value is NULL:
                return '{"v": null}'
            return json.dumps({"v": value}, ensure_ascii=False, allow_nan=False)
        except (ApiError, PermissionDenied, LookupError) as exc:
            return json.dumps({"e": str(exc)})
        except TypeError as exc:
            return json.dumps({"e": f"{name}: wrong arguments ({exc})"})
        except Exception as exc:  # noqa: BLE001 - a host function must never raise into quickjs
            return json.dumps({"e": f"{name}: internal error in the local runtime: {exc}"})

    # -- helpers ----------------------------------------------------------------------------
    @property
    def perms(self) -> Permissions:
        return self.state.permissions

    def _request(self) -> Request:
        return self.state.request or Request(method="", path="")

    def _response(self) -> Response:
        if self.state.response is None:
            self.state.response = Response()
        return self.state.response

    def _async_ok(self, value: Any) -> str:
        rid = self.state.env.next_id("a")
        self.state.async_results.append((rid, True, value))
        return rid

    def _async_fail(self, value: Any) -> str:
        rid = self.state.env.next_id("a")
        self.state.async_results.append((rid, False, value))
        return rid

    # -- test/engine plumbing ----------------------------------------------------------------
    def api_test_run(self) -> None:
        self.state.outcome = None
        self.state.client_returned = False

    def api_tag_done(self, result: str) -> None:
        if self.state.outcome is None:
            self.state.outcome = result

    def api_macro_value(self, value: Any) -> None:
        self.state.macro_value = value
        self.state.macro_resolved = True

    # -- event data --------------------------------------------------------------------------
    def api_getAllEventData(self) -> Any:  # noqa: N802 - sandbox API names
        self.perms.read_event_data("getAllEventData", None)
        # dispatch serialises the value at once: that is the copy the template gets
        return self.state.event or {}

    def api_getEventData(self, key_path: Any = None) -> Any:  # noqa: N802
        key = "" if key_path is None else str(key_path)
        self.perms.read_event_data("getEventData", key)
        return event_value(self.state.event or {}, key)

    # -- request -----------------------------------------------------------------------------
    def api_getRequestBody(self) -> Any:  # noqa: N802
        self.perms.read_request("getRequestBody", "body")
        req = self.state.request
        return None if req is None or not req.body else req.body.decode("utf-8", "replace")

    def api_getRequestPath(self) -> Any:  # noqa: N802
        self.perms.read_request("getRequestPath", "path")
        return self.state.request.path if self.state.request else None

    def api_getRequestMethod(self) -> Any:  # noqa: N802
        self.perms.read_request("getRequestMethod", "method")
        return self.state.request.method if self.state.request else None

    def api_getRequestHeader(self, name: Any = None) -> Any:  # noqa: N802
        header = str(name or "")
        self.perms.read_request("getRequestHeader", "headers", header)
        if self.state.request is None and self.state.testing:
            # GTM's test sandbox answers a defined value here: stape tiktok-tag's scenarios
            # assert that a logged TraceId (read from a header) is defined.
            return ""
        return self._request().header(header)

    def api_getRequestQueryString(self) -> Any:  # noqa: N802
        self.perms.read_request("getRequestQueryString", "queryString")
        return self._request().query if self.state.request else None

    def api_getRequestQueryParameter(self, name: Any = None) -> Any:  # noqa: N802
        key = str(name or "")
        self.perms.read_request("getRequestQueryParameter", "queryParameters", key)
        for k, v in parse_qsl(self._request().query, keep_blank_values=True):
            if k == key:
                return v
        return None

    def api_getRequestQueryParameters(self) -> Any:  # noqa: N802
        self.perms.read_request("getRequestQueryParameters", "queryParameters")
        out: dict[str, Any] = {}
        for k, v in parse_qsl(self._request().query, keep_blank_values=True):
            if k in out:
                out[k] = (out[k] if isinstance(out[k], list) else [out[k]]) + [v]
            else:
                out[k] = v
        return out

    def api_getRemoteAddress(self) -> Any:  # noqa: N802
        self.perms.read_request("getRemoteAddress", "remoteAddress")
        req = self.state.request
        if req is None:
            return None
        forwarded = req.header("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
        fwd = req.header("forwarded")
        if fwd:
            for part in fwd.split(";"):
                key, _, value = part.strip().partition("=")
                if key.lower() == "for":
                    return value.strip('"[]')
        return req.remote_addr

    def api_isRequestMpv1(self) -> bool:  # noqa: N802
        self.perms.read_request("isRequestMpv1", "path")
        req = self._request()
        return req.path == "/collect" and ("v=1" in req.query.split("&"))

    def api_isRequestMpv2(self) -> bool:  # noqa: N802
        self.perms.read_request("isRequestMpv2", "path")
        req = self._request()
        return req.path.endswith("/g/collect") and ("v=2" in req.query.split("&"))

    def api_getCookieValues(self, name: Any = None, no_decode: Any = False) -> list[str]:  # noqa: N802
        cookie = str(name or "")
        self.perms.get_cookies("getCookieValues", cookie)
        header = self._request().header("cookie") or ""
        out = []
        for part in header.split(";"):
            k, sep, v = part.strip().partition("=")
            if sep and k == cookie:
                out.append(v if no_decode else unquote(v))
        return out

    # -- response ----------------------------------------------------------------------------
    def api_claimRequest(self) -> None:  # noqa: N802
        if self.state.kind != "CLIENT":
            raise ApiError("claimRequest can only be called from a client")
        if self.state.client_returned:
            raise ApiError(
                "Tried to claim a request after a Client had returned. Calling claimRequest "
                "from a callback is not supported."
            )
        if self.state.claim is not None:
            self.state.claim()
        else:
            self.state.claimed = lambda: True

    def api_runContainer_start(self, event: Any) -> str:  # noqa: N802
        self.perms.need("runContainer", "run_container")
        if self.state.kind != "CLIENT":
            raise ApiError("runContainer can only be called from a client")
        if self.state.claimed is None or not self.state.claimed():
            raise ApiError("Request must be claimed before calling runContainer.")
        if not isinstance(event, dict):
            raise ApiError("runContainer: the event must be an object")
        event_id = self.state.env.next_id("e")
        self.state.events[event_id] = event
        return event_id

    def api_runContainer_run(self, event_id: str) -> Any:  # noqa: N802
        event = self.state.events.pop(event_id)
        if self.state.run_container is None:  # template tests: no container, no tags
            return {"containerId": self.state.env.container_id, "eventData": {"tags": []}}
        bus = self.state.messages
        outer, bus.current = bus.current, event_id
        try:
            return self.state.run_container(event, self.state.client_name)
        finally:
            bus.current = outer

    # -- messages ----------------------------------------------------------------------------
    def api_addMessageListener(self, message_type: Any, listener_id: Any, bound: Any) -> None:  # noqa: N802
        kind = _str(message_type)
        self.perms.use_message("addMessageListener", kind, "listen")
        call_js = self.call_js
        if call_js is None:
            raise ApiError("addMessageListener: this run cannot receive messages")
        lid = str(listener_id)

        def deliver(sent_type: str, message: Any) -> None:
            call_js("__sgtm_deliver_message", lid, sent_type, json.dumps(message))

        event = None if bound is None else str(bound)
        self.state.messages.listen(Listener(kind, event, deliver))

    def api_hasMessageListener(self, message_type: Any) -> bool:  # noqa: N802
        kind = _str(message_type)
        self.perms.use_message("hasMessageListener", kind, None)
        return self.state.messages.has(kind)

    def api_sendMessage(self, message_type: Any, message: Any = None) -> None:  # noqa: N802
        kind = _str(message_type)
        self.perms.use_message("sendMessage", kind, "send")
        self.state.messages.send(kind, message)

    def api_addEventCallback(self, bound: Any) -> str:  # noqa: N802
        self.perms.need("addEventCallback", "read_event_metadata")
        if bound is not None:
            return str(bound)
        if self.state.kind == "CLIENT":
            raise ApiError(
                'addEventCallback called unbound from a client: in a client it "must be bound '
                "to a specific event using the runContainer API's bindToEvent function\"; "
                "write bindToEvent(addEventCallback)((containerId, eventData) => {...}) in "
                "runContainer's onStart or onComplete (developers.google.com/tag-platform/"
                "tag-manager/server-side/api#addeventcallback)"
            )
        return self.state.event_id or "test"

    def api_setResponseStatus(self, code: Any) -> None:  # noqa: N802
        self.perms.access_response("setResponseStatus", "Status")
        try:
            status = int(code)
        except (TypeError, ValueError):
            raise ApiError(f"setResponseStatus: {code!r} is not a status code") from None
        if not 100 <= status <= 599:
            raise ApiError(f"setResponseStatus: {status} is not a status code")
        self._response().status = status

    def api_setResponseHeader(self, name: Any, value: Any = None) -> None:  # noqa: N802
        header = str(name or "")
        self.perms.access_response("setResponseHeader", "Headers", header)
        if not header or any(c in header for c in "\r\n:"):
            raise ApiError(f"setResponseHeader: {header!r} is not a header name")
        headers = self._response().headers
        if value is None:
            headers.pop(header.lower(), None)
        else:
            headers[header.lower()] = (header, str(value).replace("\r", " ").replace("\n", " "))

    def api_setResponseBody(self, body: Any, encoding: Any = None) -> None:  # noqa: N802
        self.perms.access_response("setResponseBody", "Body")
        text = "" if body is None else str(body)
        enc = str(encoding or "utf8").lower()
        try:
            if enc == "base64":
                raw = base64.b64decode(text)
            elif enc == "hex":
                raw = bytes.fromhex(text)
            elif enc in ("utf8", "utf-8"):
                raw = text.encode("utf-8")
            elif enc in ("ascii", "latin1", "binary"):
                raw = text.encode("latin-1", errors="replace")
            elif enc in ("utf16le", "ucs2"):
                raw = text.encode("utf-16-le")
            else:
                raise ApiError(f"setResponseBody: unknown encoding {encoding!r}")
        except (binascii.Error, ValueError):
            raise ApiError(f"setResponseBody: the body is not valid {enc}") from None
        self._response().body = raw

    def api_setPixelResponse(self) -> None:  # noqa: N802
        self.perms.access_response("setPixelResponse", "Body")
        resp = self._response()
        resp.status = 200
        resp.body = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
        resp.headers["content-type"] = ("Content-Type", "image/gif")
        resp.headers["cache-control"] = ("Cache-Control", "no-store, no-cache, must-revalidate")

    def api_setCookie(  # noqa: N802
        self, name: Any, value: Any = "", options: Any = None, no_encode: Any = False
    ) -> None:
        cookie = str(name or "")
        opts = options if isinstance(options, dict) else {}
        self.perms.set_cookies("setCookie", cookie, opts)
        text = "" if value is None else str(value)
        parts = [f"{cookie}={text if no_encode else quote(text, safe='')}"]
        domain = opts.get("domain")
        if domain == "auto":
            host = (self._request().header("host") or "").split(":")[0]
            domain = etld_plus_one(host) if host and not host.replace(".", "").isdigit() else None
        if domain and domain != "none":
            parts.append(f"Domain={domain}")
        parts.append(f"Path={opts.get('path') or '/'}")
        if opts.get("max-age") is not None:
            parts.append(f"Max-Age={int(opts['max-age'])}")
        elif opts.get("expires"):
            parts.append(f"Expires={opts['expires']}")
        if opts.get("secure"):
            parts.append("Secure")
        if opts.get("httpOnly") or opts.get("HttpOnly"):
            parts.append("HttpOnly")
        same_site = opts.get("sameSite") or opts.get("samesite")
        if same_site:
            parts.append(f"SameSite={same_site}")
        self._response().cookies.append("; ".join(parts))

    def api_returnResponse(self) -> None:  # noqa: N802
        self.perms.need("returnResponse", "return_response")
        self._response().returned = True

    def api_sendPixelFromBrowser(self, url: Any) -> bool:  # noqa: N802
        self.perms.send_http("sendPixelFromBrowser", str(url or ""), "send_pixel_from_browser")
        return False  # the local server has no browser transport (GA4 web requests only)

    # -- container data ----------------------------------------------------------------------
    def api_getClientName(self) -> str:  # noqa: N802
        self.perms.need("getClientName", "read_container_data")
        return self.state.client_name

    def api_getContainerVersion(self) -> dict[str, Any]:  # noqa: N802
        self.perms.need("getContainerVersion", "read_container_data")
        env = self.state.env
        return {
            "containerId": env.container_id,
            "debugMode": env.debug,
            "environmentName": env.environment_name,
            "environmentMode": "local",
            "previewMode": False,
            "version": env.container_version,
        }

    def api_logToConsole(self, *args: Any) -> None:  # noqa: N802
        if not self.perms.logging("logToConsole", self.state.env.debug or self.state.testing):
            return
        line = " ".join(
            a if isinstance(a, str) else json.dumps(a, ensure_ascii=False) for a in args
        )
        self.state.logs.append(line)
        sink = self.state.env.log_sink
        if sink is not None and self.state.env.debug:
            sink(f"[{self.state.template_id}] {line}")

    def api_queryPermission(self, public_id: Any, *args: Any) -> bool:  # noqa: N802
        return self.perms.query(str(public_id), list(args), debug=self.state.env.debug)

    def api_getGoogleAuth(self, options: Any = None) -> dict[str, Any]:  # noqa: N802
        params = self.perms.need("getGoogleAuth", "use_google_credentials")
        scopes = options.get("scopes") if isinstance(options, dict) else None
        if not isinstance(scopes, list) or not scopes:
            raise ApiError("getGoogleAuth: options.scopes must be a non-empty array")
        allowed = [str(s) for s in params.get("allowedScopes") or []]
        denied = [s for s in scopes if str(s) not in allowed]
        if denied:
            raise PermissionDenied(
                "getGoogleAuth", "use_google_credentials", f"scopes {denied} are not in {allowed}"
            )
        return {"scopes": scopes, "local": True}

    # -- crypto and encoding ------------------------------------------------------------------
    def api_sha256Sync(self, value: Any, options: Any = None) -> str:  # noqa: N802
        digest = hashlib.sha256(_str(value).encode("utf-8")).digest()
        return _encode_digest(digest, options, "base64")

    def api_hmacSha256(self, value: Any, key_id: Any, options: Any = None) -> str:  # noqa: N802
        self.perms.private_key("hmacSha256", str(key_id))
        key = self.state.env.hmac_key(str(key_id))
        digest = hmac.new(key, _str(value).encode("utf-8"), hashlib.sha256).digest()
        return _encode_digest(digest, options, "base64url")

    def api_toBase64(self, value: Any, options: Any = None) -> str:  # noqa: N802
        raw = _str(value).encode("utf-8")
        if isinstance(options, dict) and options.get("urlEncoding"):
            return base64.urlsafe_b64encode(raw).decode("ascii")
        return base64.b64encode(raw).decode("ascii")

    def api_fromBase64(self, value: Any) -> Any:  # noqa: N802
        text = _str(value).strip()
        try:
            text = text.replace("-", "+").replace("_", "/")
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            return raw.decode("utf-8")
        except (binascii.Error, ValueError):
            return None

    def api_generateRandom(self, low: Any, high: Any) -> int:  # noqa: N802
        lo, hi = int(low), int(high)
        if hi < lo:
            raise ApiError("generateRandom: max is smaller than min")
        return lo + secrets.randbelow(hi - lo + 1)

    def api_parseUrl(self, url: Any) -> Any:  # noqa: N802
        return parse_url(_str(url))

    def api_computeEffectiveTldPlusOne(self, value: Any) -> Any:  # noqa: N802
        text = _str(value)
        host = urlsplit(text).hostname if "://" in text else text.split("/")[0].split(":")[0]
        return etld_plus_one(host or "")

    # -- outbound HTTP -----------------------------------------------------------------------
    def api_sendHttpGet(self, url: Any, options: Any = None, body: Any = None) -> str:  # noqa: N802
        opts = dict(options) if isinstance(options, dict) else {}
        opts["method"] = "GET"
        return self._send("sendHttpGet", url, opts, None)

    def api_sendHttpRequest(self, url: Any, options: Any = None, body: Any = None) -> str:  # noqa: N802
        return self._send("sendHttpRequest", url, options, body)

    def _send(self, api: str, url: Any, options: Any, body: Any) -> str:
        target = _str(url)
        opts = options if isinstance(options, dict) else {}
        self.perms.send_http(api, target)
        given = opts.get("headers")
        headers = dict(given) if isinstance(given, dict) else {}
        if opts.get("authorization") is not None:
            # sGTM signs with the container's service account (Application Default
            # Credentials). Locally there is none: a token for local runs comes from the
            # environment, and without one the call fails loudly rather than going out unsigned.
            token = os.environ.get(LOCAL_GOOGLE_TOKEN_ENV, "")
            if not token:
                raise ApiError(
                    f"{api}: options.authorization (getGoogleAuth) is not supported by the local "
                    f"runtime unless {LOCAL_GOOGLE_TOKEN_ENV} holds an access token to send"
                )
            headers.setdefault("Authorization", f"Bearer {token}")
        timeout_ms = opts.get("timeout", 15000)
        try:
            timeout = max(0.001, float(timeout_ms) / 1000.0)
        except (TypeError, ValueError):
            raise ApiError(
                f"sendHttpRequest: options.timeout {timeout_ms!r} is not a number"
            ) from None
        method = str(opts.get("method") or "GET")
        payload = None if body is None else _str(body)
        rid = self.state.env.next_id("h")
        future = self.state.env.fetch(target, method, headers, payload, timeout)
        self.state.http[rid] = (future, time.monotonic() + timeout)
        return rid

    # -- storage and Google Cloud stand-ins ------------------------------------------------
    def _storage(self) -> dict[str, Any]:
        self.perms.need("templateDataStorage", "access_template_storage")
        return self.state.env.storage.setdefault(self.state.template_id, {})

    def api_templateDataStorage__getItemCopy(self, key: Any) -> Any:  # noqa: N802
        value = self._storage().get(_str(key))
        return NULL if value is None else copy.deepcopy(value)

    def api_templateDataStorage__setItemCopy(self, key: Any, value: Any = None) -> None:  # noqa: N802
        store = self._storage()
        if value is None:
            store.pop(_str(key), None)
        else:
            store[_str(key)] = copy.deepcopy(value)

    def api_templateDataStorage__removeItem(self, key: Any) -> None:  # noqa: N802
        self._storage().pop(_str(key), None)

    def api_templateDataStorage__clear(self) -> None:  # noqa: N802
        self._storage().clear()

    def api_BigQuery__insert(self, info: Any, rows: Any, options: Any = None) -> str:  # noqa: N802
        if not isinstance(info, dict) or not info.get("datasetId") or not info.get("tableId"):
            raise ApiError("BigQuery.insert: connectionInfo needs datasetId and tableId")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ApiError("BigQuery.insert: rows must be an array of objects")
        project = str(info.get("projectId") or _default_project())
        dataset, table = str(info["datasetId"]), str(info["tableId"])
        self.perms.access_bigquery("BigQuery.insert", project, dataset, table)
        key = f"{project}.{dataset}.{table}"
        self.state.env.bigquery.setdefault(key, []).extend(copy.deepcopy(rows))
        return self._async_ok(None)

    def _fs_path(
        self, api: str, path: Any, options: Any, operation: str, query: bool = False
    ) -> tuple[str, str]:
        text = _str(path)
        if not text or text.startswith("/") or text.endswith("/"):
            raise ApiError(f"{api}: path {text!r} must not be empty or start/end with '/'")
        opts = options if isinstance(options, dict) else {}
        project = str(opts.get("projectId") or _default_project())
        # A query reads the documents of a collection: check it as "<collection>/*".
        self.perms.access_firestore(api, project, text + "/*" if query else text, operation)
        return project, text

    def api_Firestore__read(self, path: Any, options: Any = None) -> str:  # noqa: N802
        project, doc = self._fs_path("Firestore.read", path, options, "read")
        data = self.state.env.firestore.get(f"{project}/{doc}")
        if data is None:
            return self._async_fail({"reason": "not_found", "message": f"document {doc} not found"})
        return self._async_ok({"id": doc.split("/")[-1], "data": copy.deepcopy(data)})

    def api_Firestore__write(self, path: Any, data: Any, options: Any = None) -> str:  # noqa: N802
        project, doc = self._fs_path("Firestore.write", path, options, "write")
        if not isinstance(data, dict):
            raise ApiError("Firestore.write: input must be an object")
        if doc.count("/") % 2 == 0:  # a collection: the document gets a generated id
            doc = f"{doc}/{secrets.token_hex(10)}"
        key = f"{project}/{doc}"
        opts = options if isinstance(options, dict) else {}
        store = self.state.env.firestore
        if opts.get("merge") and isinstance(store.get(key), dict):
            store[key] = {**store[key], **copy.deepcopy(data)}
        else:
            store[key] = copy.deepcopy(data)
        tx = opts.get("transaction")
        if tx is not None:
            self.state.fs_tx.setdefault(str(tx), []).append(doc.split("/")[-1])
        return self._async_ok(doc.split("/")[-1])

    def api_Firestore__query(self, collection: Any, queries: Any, options: Any = None) -> str:  # noqa: N802
        project, coll = self._fs_path("Firestore.query", collection, options, "read", query=True)
        opts = options if isinstance(options, dict) else {}
        limit = int(opts.get("limit", 5))
        prefix = f"{project}/{coll}/"
        found = []
        for key, data in sorted(self.state.env.firestore.items()):
            rest = key[len(prefix) :] if key.startswith(prefix) else None
            if rest is None or "/" in rest:
                continue
            if all(_fs_match(data, q) for q in queries or []):
                found.append({"id": rest, "data": copy.deepcopy(data)})
        return self._async_ok(found[:limit])

    def api_Firestore__begin(self, options: Any = None) -> str:  # noqa: N802
        tx = self.state.env.next_id("tx")
        self.state.fs_tx[tx] = []
        return tx

    def api_Firestore__commit(self, tx: Any) -> list[str]:  # noqa: N802
        return self.state.fs_tx.pop(str(tx), [])


# Engine plumbing calls use ':' in their names so no template API can collide with them.
_PLUMBING = {
    "test_run": "test:run",
    "tag_done": "tag:done",
    "macro_value": "macro:value",
    "runContainer_start": "runContainer:start",
    "runContainer_run": "runContainer:run",
}


_METHODS = tuple(m for m in dir(Host) if m.startswith("api_"))


def _api_name(method: str) -> str:
    short = method.removeprefix("api_")
    return _PLUMBING.get(short, short.replace("__", "."))


# API name -> method name, built once: a Host is made per run, a bound-method table per run
# cost more than the host calls of a typical tag.
_API_METHODS = {_api_name(m): m for m in _METHODS}


def event_value(event: dict[str, Any], key: str) -> Any:
    """``getEventData`` key paths: a literal top-level key first, else dot parts with indices."""
    if key in event:
        return event[key]
    current: Any = event
    for part in key.split("."):
        if isinstance(current, dict):
            if part not in current:
                return None
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def etld_plus_one(host: str) -> str:
    """The registrable domain of ``host``; ``''`` when it is not a domain (GTM: "Returns a
    blank string if the argument is not a valid domain or URL"), including a bare public
    suffix, which has no eTLD+1."""
    labels = host.lower().removesuffix(".").split(".")
    if not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return ""
    suffix = 2 if ".".join(labels[-2:]) in MULTI_LABEL_SUFFIXES else 1
    if len(labels) <= suffix:
        return ""
    return ".".join(labels[-(suffix + 1) :])


def parse_url(url: str) -> Any:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    params: dict[str, Any] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k in params:
            params[k] = (params[k] if isinstance(params[k], list) else [params[k]]) + [v]
        else:
            params[k] = v
    hostname = parts.hostname or ""
    host = hostname + (f":{port}" if port is not None else "")
    return {
        "href": url,
        "origin": f"{parts.scheme}://{host}",
        "protocol": parts.scheme + ":",
        "username": parts.username or "",
        "password": parts.password or "",
        "host": host,
        "hostname": hostname,
        "port": "" if port is None else str(port),
        "pathname": parts.path or "/",
        "search": "?" + parts.query if parts.query else "",
        "searchParams": params,
        "hash": "#" + parts.fragment if parts.fragment else "",
    }


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def _encode_digest(digest: bytes, options: Any, default: str) -> str:
    enc = default
    if isinstance(options, dict) and options.get("outputEncoding"):
        enc = str(options["outputEncoding"])
    if enc == "hex":
        return digest.hex()
    if enc == "base64":
        return base64.b64encode(digest).decode("ascii")
    if enc == "base64url":
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    raise ApiError(f"unknown outputEncoding {enc!r} (hex, base64 or base64url)")


def _default_project() -> str:
    import os

    return os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project")


def _fs_match(data: Any, query: Any) -> bool:
    if not isinstance(query, list) or len(query) != 3 or not isinstance(data, dict):
        return False
    key, op, value = query
    actual = event_value(data, str(key))
    ops = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a is not None and a < b,
        "<=": lambda a, b: a is not None and a <= b,
        ">": lambda a, b: a is not None and a > b,
        ">=": lambda a, b: a is not None and a >= b,
        "array-contains": lambda a, b: isinstance(a, list) and b in a,
        "in": lambda a, b: isinstance(b, list) and a in b,
    }
    fn = ops.get(str(op))
    if fn is None:
        raise ApiError(f"Firestore.query: operator {op!r} is not supported")
    try:
        return bool(fn(actual, value))
    except TypeError:
        return False


__all__ = ["ApiError", "Host", "HttpResult", "OutboundError", "Request", "Response", "RunState"]
