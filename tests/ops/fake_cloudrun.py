"""A small Cloud Run Admin API v2 (services get/patch, operations) plus sidecar /v1/stats,
served by pytest-httpserver for the rollout tests."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug import Request, Response

from tests.ops.fake_tagmanager import AnyURI

TYPE_LATEST = {1, "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"}
TYPE_REVISION = {2, "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"}
_TAG = re.compile(r"^[a-z]([a-z0-9-]{0,44}[a-z0-9])?$")


class FakeCloudRun:
    def __init__(self, project: str = "shop-prod", region: str = "europe-west1") -> None:
        self.parent = f"projects/{project}/locations/{region}"
        self.name = f"{self.parent}/services/sgtm"
        self.host = "sgtm-abc123-ew.a.run.app"
        self.revisions = ["sgtm-00001-aaa"]
        # Fresh services route to "latest", as `gcloud run deploy` leaves them.
        self.traffic: list[dict[str, Any]] = [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}
        ]
        self.patches: list[Any] = []
        self.pending_polls = 0  # how many operation polls answer done=false
        self.operations: dict[str, dict[str, Any]] = {}
        self.stats: dict[
            str, Any
        ] = {}  # url prefix ("canary", "stable") -> JSON body or status int
        self.generation = 1

    def serve(self, httpserver: Any) -> str:
        httpserver.expect_request(AnyURI()).respond_with_handler(self.handle)
        self.base = httpserver.url_for("/").rstrip("/")
        return self.base

    def deploy(self, revision: str) -> None:
        """A new ready revision deployed with --no-traffic (traffic pinned to revisions)."""
        if any(t["type"] in TYPE_LATEST for t in self.traffic):
            self.traffic = [self._pinned(t) for t in self.traffic]
        self.revisions.append(revision)

    def _pinned(self, target: dict[str, Any]) -> dict[str, Any]:
        if target["type"] in TYPE_LATEST:
            return {
                **target,
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": self.revisions[-1],
            }
        return target

    def split(self) -> dict[str, tuple[int, str]]:
        """revision -> (percent, tag), for assertions."""
        out = {}
        for t in self.traffic:
            revision = t.get("revision") or self.revisions[-1]
            out[revision] = (int(t.get("percent", 0)), t.get("tag", ""))
        return out

    # -- HTTP ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path
        for role, body in self.stats.items():
            if path == f"/{role}/v1/stats":
                # The sidecar answers its counters only to a v2 signature over GET and the path.
                signature = request.headers.get("X-Sgtm-Signature", "")
                if ",v2=" not in signature:
                    return Response("unsigned", status=401)
                if isinstance(body, int):
                    return Response("oops", status=body)
                if isinstance(body, str):
                    return Response(body, status=200, content_type="application/json")
                return self._json(body)
        if path == f"/v2/{self.name}":
            if request.method == "GET":
                return self._json(self.service())
            if request.method == "PATCH":
                return self._patch(request)
        if path.startswith(f"/v2/{self.parent}/operations/") and request.method == "GET":
            op = self.operations.get(path[len("/v2/") :])
            if op is None:
                return self._error(404, "operation not found", "NOT_FOUND")
            if self.pending_polls > 0:
                self.pending_polls -= 1
                return self._json({"name": op["name"], "done": False})
            return self._json(op)
        return self._error(404, f"{request.method} {path} not found", "NOT_FOUND")

    def service(self) -> dict[str, Any]:
        statuses = []
        for t in self.traffic:
            status = dict(t)
            if t["type"] in TYPE_LATEST:
                status["revision"] = self.revisions[-1]
            if t.get("tag"):
                status["uri"] = f"https://{t['tag']}---{self.host}"
            statuses.append(status)
        return {
            "name": self.name,
            "uri": f"https://{self.host}",
            "generation": str(self.generation),
            "latestReadyRevision": f"{self.name}/revisions/{self.revisions[-1]}",
            "latestCreatedRevision": f"{self.name}/revisions/{self.revisions[-1]}",
            "traffic": self.traffic,
            "trafficStatuses": statuses,
            "etag": f'"gen-{self.generation}"',
        }

    def _patch(self, request: Request) -> Response:
        body = request.get_json()
        self.patches.append(body)
        traffic = body.get("traffic") or []
        tags = [t.get("tag") for t in traffic if t.get("tag")]
        if len(tags) != len(set(tags)) or not all(_TAG.match(t) for t in tags):
            return self._error(400, f"invalid traffic tags {tags}", "INVALID_ARGUMENT")
        for t in traffic:
            if t.get("type") in TYPE_REVISION and t.get("revision") not in self.revisions:
                return self._error(
                    400, f"revision {t.get('revision')} not found", "INVALID_ARGUMENT"
                )
            if t.get("type") not in TYPE_REVISION | TYPE_LATEST:
                return self._error(400, f"bad traffic type {t.get('type')!r}", "INVALID_ARGUMENT")
        if sum(int(t.get("percent", 0)) for t in traffic) != 100:
            return self._error(400, "traffic percents must add up to 100", "INVALID_ARGUMENT")
        self.traffic = [
            {k: v for k, v in t.items() if k in ("type", "revision", "percent", "tag")}
            for t in traffic
        ]
        self.generation += 1
        op_name = f"{self.parent}/operations/op-{self.generation}"
        op = {
            "name": op_name,
            "done": True,
            "response": {
                "@type": "type.googleapis.com/google.cloud.run.v2.Service",
                **self.service(),
            },
        }
        self.operations[op_name] = op
        if self.pending_polls > 0:
            return self._json({"name": op_name, "done": False})
        return self._json(op)

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _error(self, code: int, message: str, status: str) -> Response:
        return self._json({"error": {"code": code, "message": message, "status": status}}, code)
