"""A small stateful Tag Manager API v2, served by pytest-httpserver.

It keeps workspaces, entities, built-in variables and versions in memory, assigns ids from one
counter per container and fingerprints on every write, answers in API spelling, and checks
what a real server would reject: duplicate names, unresolved trigger/folder/template
references, export (UPPER_SNAKE) enum spelling, stale fingerprints. Faults (quota errors,
outages, lost responses) are injected per request for the retry and resume tests.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_httpserver import URIPattern
from werkzeug import Request, Response

RESOURCES = {
    # API collection -> (list/array key, id field)
    "templates": ("template", "templateId"),
    "folders": ("folder", "folderId"),
    "variables": ("variable", "variableId"),
    "triggers": ("trigger", "triggerId"),
    "clients": ("client", "clientId"),
    "tags": ("tag", "tagId"),
    "transformations": ("transformation", "transformationId"),
}
VERSION_KEYS = {
    "templates": "customTemplate",
    "folders": "folder",
    "variables": "variable",
    "triggers": "trigger",
    "clients": "client",
    "tags": "tag",
    "transformations": "transformation",
}
_UPPER_ENUM = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


class AnyURI(URIPattern):
    def match(self, uri: str) -> bool:
        return True


@dataclass
class Fault:
    matches: Callable[[str, str], bool]  # (method, path) -> bool
    status: int
    body: dict[str, Any]
    times: int  # how many matching requests fail; -1 = until cleared
    after_apply: bool = False  # True: do the work, then lose the response


def quota_429() -> dict[str, Any]:
    return {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}


def quota_403() -> dict[str, Any]:
    return {
        "error": {
            "code": 403,
            "message": "Quota exceeded for quota metric 'Queries' (per 100 seconds)",
            "errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits"}],
            "status": "PERMISSION_DENIED",
        }
    }


def unavailable_503() -> dict[str, Any]:
    return {
        "error": {"code": 503, "message": "The service is unavailable", "status": "UNAVAILABLE"}
    }


class FakeTagManager:
    def __init__(self, account: str = "100", container: str = "200", public_id: str = "GTM-FAKE1"):
        self.account = account
        self.container = container
        self.public_id = public_id
        self.cpath = f"accounts/{account}/containers/{container}"
        self.counter = 0
        self.stamp = 1_700_000_000_000
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.latest: str | None = None
        self.live: str | None = None
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.page_size = 4  # small, so listing always pages

    # -- helpers for tests ---------------------------------------------------------------------

    def serve(self, httpserver: Any) -> str:
        httpserver.expect_request(AnyURI()).respond_with_handler(self.handle)
        return httpserver.url_for("/")

    def fail(
        self,
        status: int,
        body: dict[str, Any],
        times: int = 1,
        method: str | None = None,
        path_contains: str = "",
        after_apply: bool = False,
    ) -> Fault:
        fault = Fault(
            lambda m, p: (method is None or m == method) and path_contains in p,
            status,
            body,
            times,
            after_apply,
        )
        self.faults.append(fault)
        return fault

    def workspace(self, name: str) -> dict[str, Any]:
        return next(w for w in self.workspaces.values() if w["meta"]["name"] == name)

    def entities(self, name: str, resource: str) -> dict[str, dict[str, Any]]:
        """Entities of one kind in the named workspace, by entity name."""
        items = self.workspace(name)["entities"][resource].values()
        return {e["name"]: e for e in items}

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m in ("POST", "PUT", "DELETE")]

    def add_foreign(self, workspace: str, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        """An entity someone made by hand in the UI (no ownership marker)."""
        ws = self.workspace(workspace)
        return self._store(ws, resource, dict(body))

    # -- the HTTP surface ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path
        method = request.method
        self.requests.append((method, path))
        fault = self._fault(method, path)
        if fault is not None and not fault.after_apply:
            return self._json(fault.body, fault.status)
        prefix = "/tagmanager/v2/"
        if not path.startswith(prefix):
            return self._error(404, f"unknown path {path}")
        try:
            status, body = self._route(method, path[len(prefix) :], request)
        except _ApiFail as exc:
            status, body = exc.status, {"error": {"code": exc.status, "message": exc.message}}
        if fault is not None:  # the server did the work, the client never hears about it
            return self._json(fault.body, fault.status)
        return self._json(body, status)

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times != 0 and fault.matches(method, path):
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _error(self, status: int, message: str) -> Response:
        return self._json({"error": {"code": status, "message": message}}, status)

    def _route(self, method: str, rest: str, request: Request) -> tuple[int, Any]:
        parts = rest.split("/")
        if parts[:1] != ["accounts"] or len(parts) < 3:
            raise _ApiFail(404, f"not found: {rest}")
        if parts[1] != self.account:
            raise _ApiFail(404, f"account {parts[1]} not found")
        if len(parts) == 3 and parts[2] == "containers" and method == "GET":
            container = {
                "path": self.cpath,
                "accountId": self.account,
                "containerId": self.container,
                "publicId": self.public_id,
                "usageContext": ["server"],
            }
            return 200, {"container": [container]}
        if parts[3] != self.container:
            raise _ApiFail(404, f"container {parts[3]} not found")
        tail = parts[4:]
        if tail == ["versions:live"] and method == "GET":
            if self.live is None:
                raise _ApiFail(404, "no live version")
            return 200, self.versions[self.live]
        if len(tail) == 2 and tail[0] == "versions" and method == "POST":
            vid, _, action = tail[1].partition(":")
            if action != "publish" or vid not in self.versions:
                raise _ApiFail(404, "version not found")
            fingerprint = request.args.get("fingerprint")
            if fingerprint and fingerprint != self.versions[vid]["fingerprint"]:
                raise _ApiFail(409, "fingerprint mismatch")
            self.live = vid
            return 200, {"containerVersion": self.versions[vid]}
        if tail == ["workspaces"]:
            if method == "GET":
                return 200, self._page(request, "workspace", [w["meta"] for w in self._wss()])
            if method == "POST":
                return 200, self._create_workspace(request.get_json())
        if len(tail) >= 2 and tail[0] == "workspaces":
            wid, _, action = tail[1].partition(":")
            ws = self.workspaces.get(wid)
            if ws is None:
                raise _ApiFail(404, f"workspace {wid} not found")
            if action == "create_version" and method == "POST":
                return 200, self._create_version(ws, request.get_json() or {})
            if len(tail) == 2 and method == "GET":
                return 200, ws["meta"]
            if len(tail) == 3 and tail[2] == "built_in_variables":
                return self._built_ins(ws, method, request)
            if len(tail) >= 3 and tail[2] in RESOURCES:
                return self._entities(ws, tail[2], tail[3:], method, request)
        raise _ApiFail(404, f"not found: {method} {rest}")

    def _wss(self) -> list[dict[str, Any]]:
        return list(self.workspaces.values())

    def _page(self, request: Request, key: str, items: list[Any]) -> dict[str, Any]:
        start = int(request.args.get("pageToken") or 0)
        page = items[start : start + self.page_size]
        body: dict[str, Any] = {key: page} if page else {}
        if start + self.page_size < len(items):
            body["nextPageToken"] = str(start + self.page_size)
        return body

    def _next_id(self) -> str:
        self.counter += 1
        return str(self.counter)

    def _fingerprint(self) -> str:
        self.stamp += 1
        return str(self.stamp)

    # -- workspaces and versions ---------------------------------------------------------------

    def _create_workspace(self, body: dict[str, Any]) -> dict[str, Any]:
        name = (body or {}).get("name")
        if not name:
            raise _ApiFail(400, "workspace name is required")
        if any(w["meta"]["name"] == name for w in self._wss()):
            raise _ApiFail(400, "Found entity with duplicate name")
        wid = self._next_id()
        path = f"{self.cpath}/workspaces/{wid}"
        ws = {
            "meta": {
                "path": path,
                "accountId": self.account,
                "containerId": self.container,
                "workspaceId": wid,
                "name": name,
                "description": body.get("description", ""),
                "fingerprint": self._fingerprint(),
            },
            "entities": {r: {} for r in RESOURCES},
            "built_ins": {},
        }
        # A new workspace starts from the latest version, as in GTM.
        if self.latest is not None:
            version = self.versions[self.latest]
            for resource, key in VERSION_KEYS.items():
                _, id_field = RESOURCES[resource]
                for item in version.get(key, []):
                    copied = copy.deepcopy(item)
                    copied["workspaceId"] = wid
                    copied["path"] = f"{path}/{resource}/{copied[id_field]}"
                    ws["entities"][resource][copied[id_field]] = copied
            for item in version.get("builtInVariable", []):
                ws["built_ins"][item["type"]] = dict(item, workspaceId=wid)
        self.workspaces[wid] = ws
        return ws["meta"]

    def _create_version(self, ws: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        vid = self._next_id()
        version: dict[str, Any] = {
            "path": f"{self.cpath}/versions/{vid}",
            "accountId": self.account,
            "containerId": self.container,
            "containerVersionId": vid,
            "name": body.get("name", ""),
            "description": body.get("notes", ""),
            "fingerprint": self._fingerprint(),
        }
        for resource, key in VERSION_KEYS.items():
            items = [copy.deepcopy(e) for e in ws["entities"][resource].values()]
            for item in items:
                item.pop("workspaceId", None)
                item.pop("path", None)
            if items:
                version[key] = items
        if ws["built_ins"]:
            version["builtInVariable"] = [dict(b) for b in ws["built_ins"].values()]
        self.versions[vid] = version
        self.latest = vid
        del self.workspaces[ws["meta"]["workspaceId"]]  # GTM deletes the workspace
        return {"containerVersion": version}

    # -- built-in variables --------------------------------------------------------------------

    def _built_ins(self, ws: dict[str, Any], method: str, request: Request) -> tuple[int, Any]:
        if method == "GET":
            return 200, self._page(request, "builtInVariable", list(ws["built_ins"].values()))
        types = request.args.getlist("type")
        if not types:
            raise _ApiFail(400, "type is required")
        if method == "POST":
            created = []
            for t in types:
                if _UPPER_ENUM.match(t):
                    raise _ApiFail(400, f"Invalid value at 'type' ({t})")
                item = {
                    "path": f"{ws['meta']['path']}/built_in_variables",
                    "accountId": self.account,
                    "containerId": self.container,
                    "workspaceId": ws["meta"]["workspaceId"],
                    "type": t,
                    "name": t,
                }
                ws["built_ins"][t] = item
                created.append(item)
            return 200, {"builtInVariable": created}
        if method == "DELETE":
            for t in types:
                ws["built_ins"].pop(t, None)
            return 200, {}
        raise _ApiFail(405, "method not allowed")

    # -- entities ------------------------------------------------------------------------------

    def _entities(
        self, ws: dict[str, Any], resource: str, rest: list[str], method: str, request: Request
    ) -> tuple[int, Any]:
        key, id_field = RESOURCES[resource]
        store = ws["entities"][resource]
        if not rest:
            if method == "GET":
                items = sorted(store.values(), key=lambda e: int(e[id_field]))
                return 200, self._page(request, key, items)
            if method == "POST":
                body = request.get_json()
                self._validate(ws, resource, body, None)
                return 200, self._store(ws, resource, body)
        eid = rest[0]
        current = store.get(eid)
        if current is None:
            raise _ApiFail(404, f"{key} {eid} not found")
        if method == "GET":
            return 200, current
        if method == "DELETE":
            self._check_not_referenced(ws, resource, current)
            del store[eid]
            return 200, {}
        if method == "PUT":
            fingerprint = request.args.get("fingerprint")
            if fingerprint and fingerprint != current["fingerprint"]:
                raise _ApiFail(409, "fingerprint mismatch: the entity changed since it was read")
            body = request.get_json()
            self._validate(ws, resource, body, eid)
            updated = {k: v for k, v in body.items() if k not in ("path", "fingerprint", id_field)}
            updated.update(
                {
                    k: current[k]
                    for k in ("path", "accountId", "containerId", "workspaceId", id_field)
                }
            )
            updated["fingerprint"] = self._fingerprint()
            store[eid] = updated
            return 200, updated
        raise _ApiFail(405, "method not allowed")

    def _store(self, ws: dict[str, Any], resource: str, body: dict[str, Any]) -> dict[str, Any]:
        _, id_field = RESOURCES[resource]
        eid = self._next_id()
        entity = dict(body)
        entity.update(
            {
                "path": f"{ws['meta']['path']}/{resource}/{eid}",
                "accountId": self.account,
                "containerId": self.container,
                "workspaceId": ws["meta"]["workspaceId"],
                id_field: eid,
                "fingerprint": self._fingerprint(),
                "tagManagerUrl": f"https://tagmanager.google.com/#/{resource}/{eid}",
            }
        )
        ws["entities"][resource][eid] = entity
        return entity

    def _validate(self, ws: dict[str, Any], resource: str, body: Any, eid: str | None) -> None:
        _, id_field = RESOURCES[resource]
        if not isinstance(body, dict) or not body.get("name"):
            raise _ApiFail(400, "name is required")
        for other in ws["entities"][resource].values():
            if other["name"] == body["name"] and other[id_field] != eid:
                raise _ApiFail(400, f"Found entity with duplicate name: {body['name']}")
        if resource == "templates" and not body.get("templateData"):
            raise _ApiFail(400, "templateData is required")
        triggers = ws["entities"]["triggers"]
        for field_name in ("firingTriggerId", "blockingTriggerId"):
            for tid in body.get(field_name, []):
                if tid not in triggers and int(tid) < 2147479552:
                    raise _ApiFail(400, f"Unknown trigger id {tid} in {field_name}")
        tag_names = {t["name"] for t in ws["entities"]["tags"].values()}
        for field_name in ("setupTag", "teardownTag"):
            for ref in body.get(field_name, []):
                if ref.get("tagName") not in tag_names:
                    raise _ApiFail(400, f"{field_name} names unknown tag {ref.get('tagName')!r}")
        folder = body.get("parentFolderId")
        if folder is not None and folder not in ws["entities"]["folders"]:
            raise _ApiFail(400, f"Unknown folder id {folder}")
        entity_type = body.get("type", "")
        if resource in ("tags", "variables", "clients") and entity_type.startswith("cvt_"):
            match = re.match(rf"^cvt_{self.container}_(\d+)$", entity_type)
            if not match or match.group(1) not in ws["entities"]["templates"]:
                raise _ApiFail(400, f"Unknown entity type (template public ID: {entity_type})")
        if resource == "triggers" and _UPPER_ENUM.match(entity_type or ""):
            raise _ApiFail(400, f"Invalid value at 'trigger.type' ({entity_type})")
        self._check_enum_spelling(body, resource)

    def _check_enum_spelling(self, value: Any, where: str) -> None:
        """The API speaks camelCase enums; an export's UPPER_SNAKE value is a 400."""
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("type", "tagFiringOption", "consentStatus") and isinstance(item, str):
                    if where not in ("tags", "variables", "clients", "transformations") and (
                        _UPPER_ENUM.match(item)
                    ):
                        raise _ApiFail(400, f"Invalid value at '{key}' ({item})")
                self._check_enum_spelling(item, "nested")
        elif isinstance(value, list):
            for item in value:
                self._check_enum_spelling(item, "nested")

    def _check_not_referenced(self, ws: dict[str, Any], resource: str, entity: dict[str, Any]):
        if resource == "triggers":
            tid = entity["triggerId"]
            for tag in ws["entities"]["tags"].values():
                if tid in tag.get("firingTriggerId", []) + tag.get("blockingTriggerId", []):
                    raise _ApiFail(400, f"trigger {tid} is used by tag {tag['name']!r}")
        if resource == "templates":
            code = f"cvt_{self.container}_{entity['templateId']}"
            for r in ("tags", "variables", "clients"):
                for other in ws["entities"][r].values():
                    if other.get("type") == code:
                        raise _ApiFail(400, f"template is used by {other['name']!r}")


class _ApiFail(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
