"""`sgtm push`: make a Tag Manager workspace match a container export.

Reconciliation by name, kind by kind, in dependency order (templates, folders, built-in
variables, variables, triggers, clients, tags, transformations):

- a name the workspace lacks is created;
- a managed entity whose normalised content differs is updated (with its fingerprint);
- a managed entity the export no longer has is deleted, after all creates and updates, in
  reverse dependency order so nothing is deleted while still referenced by us;
- an entity we did not create (no ownership marker, see ``ops.ownership``) is never touched;
  if its name collides with one of ours the push stops before writing anything.

Ids are resolved against the live workspace just before each write, so a rerun after an
interruption picks up whatever the interrupted run created and converges without duplicates.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ops.export import (
    FOLDER,
    KINDS,
    OUTPUT_FIELDS,
    TEMPLATE,
    TRIGGER,
    VARIABLE,
    ContainerExport,
    Entity,
    Kind,
    is_built_in_trigger,
)
from ops.ownership import is_managed, mark_notes, mark_template
from ops.progress import Mode, Progress
from ops.tagmanager import Api, ApiError

DEFAULT_WORKSPACE = "sgtm-companion"
# Fields the API fills with defaults when we leave them out; comparing them when our export
# omits them would report a change on every push.
SERVER_DEFAULTED = frozenset({"tagFiringOption", "consentSettings", "monitoringMetadata"})
_SEMVER = re.compile(r"\b[vV]?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\b")


class PushError(RuntimeError):
    """The push cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class PushOptions:
    account: str
    container: str
    workspace: str = DEFAULT_WORKSPACE
    dry_run: bool = False
    publish: bool = False
    message: str | None = None


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete | enable | conflict
    kind: str
    name: str
    entity: Entity | None = None
    resource: dict[str, Any] | None = None

    def describe(self) -> str:
        return f"{self.action} {self.kind} {self.name!r}"


@dataclass
class PushResult:
    changes: list[Change] = field(default_factory=list)
    conflicts: list[Change] = field(default_factory=list)
    unchanged: int = 0
    written: int = 0
    version: dict[str, Any] | None = None
    requests: int = 0
    retries: int = 0


def plan_version_label(export: ContainerExport, message: str | None) -> str | None:
    """What the published version is named after: --message, else the plan version the
    generator wrote into the export's description/name/notes."""
    if message and message.strip():
        return message.strip()
    match = _SEMVER.search(export.version_text)
    if match:
        return f"plan {match.group(1)}"
    return None


# -- comparison ------------------------------------------------------------------------------


def normalise(value: Any) -> Any:
    """Content without API bookkeeping and without representation noise: empty values and
    ``false`` are absent, keyed parameters are ordered by key (GTM does not care about their
    order; list items have no keys and keep theirs)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in OUTPUT_FIELDS:
                continue
            item = normalise(item)
            if item in (None, "", [], {}, False):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        if items and all(isinstance(v, dict) and "key" in v for v in items):
            items.sort(key=lambda v: str(v["key"]))
        return items
    return value


def differs(kind: Kind, desired: dict[str, Any], actual: dict[str, Any]) -> bool:
    ignore = {kind.id_field, "galleryReference"}
    want = {k: v for k, v in normalise(desired).items() if k not in ignore}
    have_all = normalise(actual)
    have = {
        k: v
        for k, v in have_all.items()
        if k not in ignore and (k in want or k not in SERVER_DEFAULTED)
    }
    return want != have


# -- reference resolution ----------------------------------------------------------------------


class Resolver:
    """Turns the export's ids into the workspace's ids, by name."""

    def __init__(self, export: ContainerExport, container_id: str, state: WorkspaceState):
        self.export = export
        self.container_id = container_id
        self.state = state

    def _id(self, kind: Kind, name: str) -> str:
        resource = self.state.entities[kind.key].get(name)
        if resource is None:
            return f"<new {kind.label} {name!r}>"
        return str(resource[kind.id_field])

    def trigger(self, export_id: str) -> str:
        if is_built_in_trigger(str(export_id)):
            return str(export_id)
        return self._id(TRIGGER, self.export.trigger_names[str(export_id)])

    def body(self, entity: Entity) -> dict[str, Any]:
        body = copy.deepcopy(entity.body)
        for key in ("firingTriggerId", "blockingTriggerId"):
            if key in body:
                body[key] = [self.trigger(t) for t in body[key]]
        if "parentFolderId" in body:
            name = self.export.folder_names[str(body["parentFolderId"])]
            body["parentFolderId"] = self._id(FOLDER, name)
        entity_type = body.get("type")
        if isinstance(entity_type, str) and entity_type in self.export.template_names:
            # Custom templates are pushed as the workspace's own copies, so both export
            # shapes (container and gallery) become cvt_<containerId>_<templateId>.
            template_id = self._id(TEMPLATE, self.export.template_names[entity_type])
            body["type"] = f"cvt_{self.container_id}_{template_id}"
        if isinstance(body.get("parameter"), list):
            body["parameter"] = [self._parameter(p) for p in body["parameter"]]
        if entity.kind is TEMPLATE:
            body["templateData"] = mark_template(str(body.get("templateData") or ""))
        else:
            body["notes"] = mark_notes(body.get("notes"))
        return body

    def _parameter(self, param: Any) -> Any:
        if not isinstance(param, dict):
            return param
        param = dict(param)
        if param.get("type") == "triggerReference" and "value" in param:
            if str(param["value"]) in self.export.trigger_names:
                param["value"] = self.trigger(str(param["value"]))
        for key in ("list", "map"):
            if isinstance(param.get(key), list):
                param[key] = [self._parameter(p) for p in param[key]]
        return param


# -- workspace state ---------------------------------------------------------------------------


@dataclass
class WorkspaceState:
    path: str | None  # None: the workspace does not exist yet (dry run)
    entities: dict[str, dict[str, dict[str, Any]]]  # kind key -> name -> API resource
    built_ins: set[str]

    @classmethod
    def empty(cls) -> WorkspaceState:
        return cls(None, {k.key: {} for k in KINDS}, set())


def read_workspace(api: Api, wpath: str) -> WorkspaceState:
    ws = api.workspaces
    state = WorkspaceState(wpath, {}, set())
    for kind in KINDS:
        collection = getattr(ws, kind.resource)()
        items = api.list_all(collection, wpath, kind.items_key, f"list {kind.resource}")
        state.entities[kind.key] = {str(item.get("name")): item for item in items}
    enabled = api.list_all(ws.built_in_variables(), wpath, "builtInVariable", "list built-ins")
    state.built_ins = {str(b.get("type")) for b in enabled}
    return state


def state_from_version(version: dict[str, Any]) -> WorkspaceState:
    state = WorkspaceState.empty()
    for kind in KINDS:
        for item in version.get(kind.key) or []:
            state.entities[kind.key][str(item.get("name"))] = item
    state.built_ins = {str(b.get("type")) for b in version.get("builtInVariable") or []}
    return state


# -- planning ----------------------------------------------------------------------------------


def plan_changes(
    export: ContainerExport, state: WorkspaceState, container_id: str
) -> tuple[list[Change], list[Change], int]:
    """(changes in apply order, conflicts, unchanged count) for the workspace as it is now."""
    resolver = Resolver(export, container_id, state)
    changes: list[Change] = []
    conflicts: list[Change] = []
    unchanged = 0
    wanted = {kind.key: {e.name for e in export.entities[kind.key]} for kind in KINDS}
    for kind in KINDS:
        if kind is VARIABLE:  # built-in variables go right before the variables
            missing = [t for t, _ in export.built_ins if t not in state.built_ins]
            for api_type in sorted(set(missing)):
                changes.append(Change("enable", "built-in variable", api_type))
        for entity in _write_order(export.entities[kind.key]):
            actual = state.entities[kind.key].get(entity.name)
            if actual is None:
                changes.append(Change("create", kind.label, entity.name, entity))
            elif not is_managed(actual, template=kind is TEMPLATE):
                conflicts.append(Change("conflict", kind.label, entity.name, entity, actual))
            elif differs(kind, resolver.body(entity), actual):
                changes.append(Change("update", kind.label, entity.name, entity, actual))
            else:
                unchanged += 1
    for kind in reversed(KINDS):
        for name in sorted(state.entities[kind.key]):
            actual = state.entities[kind.key][name]
            if name not in wanted[kind.key] and is_managed(actual, template=kind is TEMPLATE):
                changes.append(Change("delete", kind.label, name, None, actual))
    return changes, conflicts, unchanged


def _write_order(entities: list[Entity]) -> list[Entity]:
    """Export order, except that tags naming setup/teardown tags come after the others, so
    the tags they name exist first (GTM allows one setup and one teardown tag per tag)."""
    return sorted(entities, key=lambda e: bool(e.body.get("setupTag") or e.body.get("teardownTag")))


# -- the command -------------------------------------------------------------------------------


class Pusher:
    def __init__(
        self,
        api: Api,
        export: ContainerExport,
        options: PushOptions,
        out: Callable[[str], None] = print,
        progress_mode: Mode = "auto",
    ) -> None:
        self.api = api
        self.export = export
        self.options = options
        self.out = out
        self.progress_mode = progress_mode

    def run(self) -> PushResult:
        opts = self.options
        result = PushResult()
        label = plan_version_label(self.export, opts.message) if opts.publish else None
        if opts.publish and label is None:
            raise PushError(
                f"{self.export.source}: --publish needs the plan version to name the version: "
                "the export's description, name and container notes carry none; pass --message"
            )
        cpath, container_id = self._container_path()
        wpath = self._find_workspace(cpath)
        if wpath is None:
            if opts.dry_run:
                self.out(f"workspace {opts.workspace!r} does not exist; it would be created")
                state = state_from_version(self._live_version(cpath) or {})
            else:
                wpath = self._create_workspace(cpath)
                state = read_workspace(self.api, wpath)
        else:
            state = read_workspace(self.api, wpath)

        changes, conflicts, unchanged = plan_changes(self.export, state, container_id)
        result.changes, result.conflicts, result.unchanged = changes, conflicts, unchanged
        for conflict in conflicts:
            self.out(
                f"conflict: {conflict.kind} {conflict.name!r} exists in the workspace but was "
                "not created by sgtm-companion (no 'managed-by: sgtm-companion' marker); rename "
                "one of them, or add the marker to its notes to hand it over"
            )
        if conflicts:
            raise PushError(f"{len(conflicts)} name conflict(s); nothing was written")

        self.out(
            f"{len(changes)} change(s), {unchanged} unchanged"
            + (" (dry run: nothing is written)" if opts.dry_run else "")
        )
        if opts.dry_run:
            for change in changes:
                self.out(f"  {change.describe()}")
            self._finish(result)
            return result

        assert wpath is not None
        self._apply(wpath, container_id, state, changes, result)
        if opts.publish:
            assert label is not None
            result.version = self._publish(cpath, wpath, container_id, label, result)
        self._finish(result)
        return result

    def _finish(self, result: PushResult) -> None:
        result.requests, result.retries = self.api.requests, self.api.retries

    # container and workspace

    def _container_path(self) -> tuple[str, str]:
        account, container = self.options.account, self.options.container
        if container.upper().startswith("GTM-"):
            containers = self.api.list_all(
                self.api.service.accounts().containers(),
                f"accounts/{account}",
                "container",
                "list containers",
            )
            for c in containers:
                if str(c.get("publicId", "")).upper() == container.upper():
                    return str(c["path"]), str(c["containerId"])
            raise PushError(f"no container with public id {container} in account {account}")
        return f"accounts/{account}/containers/{container}", container

    def _find_workspace(self, cpath: str) -> str | None:
        for ws in self.api.list_all(self.api.workspaces, cpath, "workspace", "list workspaces"):
            if ws.get("name") == self.options.workspace:
                return str(ws["path"])
        return None

    def _create_workspace(self, cpath: str) -> str:
        name = self.options.workspace
        body = {"name": name, "description": "Pushed by sgtm-companion (sgtm push)."}

        def recover() -> dict[str, Any] | None:
            path = self._find_workspace(cpath)
            return {"path": path} if path else None

        self.out(f"creating workspace {name!r}")
        created = self.api.call(
            self.api.workspaces.create(parent=cpath, body=body),
            f"create workspace {name!r}",
            recover,
        )
        return str(created["path"])

    def _live_version(self, cpath: str) -> dict[str, Any] | None:
        try:
            return self.api.call(
                self.api.service.accounts().containers().versions().live(parent=cpath),
                "read the live version",
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    # writes

    def _apply(
        self,
        wpath: str,
        container_id: str,
        state: WorkspaceState,
        changes: list[Change],
        result: PushResult,
    ) -> None:
        # The counter counts changes, as the header does: built-in variables are enabled in one
        # request, which advances it by as many changes (it used to stop short of the header).
        with Progress(len(changes), "push", mode=self.progress_mode, unit="change") as progress:
            self._apply_each(wpath, container_id, state, changes, result, progress)

    def _apply_each(
        self,
        wpath: str,
        container_id: str,
        state: WorkspaceState,
        changes: list[Change],
        result: PushResult,
        progress: Progress,
    ) -> None:
        resolver = Resolver(self.export, container_id, state)
        enable = [c.name for c in changes if c.action == "enable"]
        enabled_done = False
        for change in changes:
            if change.action == "enable":
                if enabled_done:
                    continue
                enabled_done = True
                progress.step(f"enable built-in variables {', '.join(enable)}", n=len(enable))
                self._enable_built_ins(wpath, enable, state)
                result.written += 1
                continue
            kind = next(k for k in KINDS if k.label == change.kind)
            collection = getattr(self.api.workspaces, kind.resource)()
            if change.action == "delete":
                assert change.resource is not None
                progress.step(change.describe())
                self.api.call(collection.delete(path=change.resource["path"]), change.describe())
                state.entities[kind.key].pop(change.name, None)
                result.written += 1
                continue
            assert change.entity is not None
            body = resolver.body(change.entity)
            current = state.entities[kind.key].get(change.name)
            if current is not None and not differs(kind, body, current):
                progress.step(f"{change.describe()}: already up to date")
                continue
            progress.step(change.describe())
            if current is None:
                saved = self.api.call(
                    collection.create(parent=wpath, body=body),
                    change.describe(),
                    recover=functools.partial(self._find, wpath, kind, change.name),
                )
            else:
                saved = self.api.call(
                    collection.update(
                        path=current["path"], fingerprint=current.get("fingerprint"), body=body
                    ),
                    change.describe(),
                )
            state.entities[kind.key][change.name] = saved
            result.written += 1

    def _find(self, wpath: str, kind: Kind, name: str) -> dict[str, Any] | None:
        collection = getattr(self.api.workspaces, kind.resource)()
        for item in self.api.list_all(collection, wpath, kind.items_key, f"list {kind.resource}"):
            if item.get("name") == name:
                return item
        return None

    def _enable_built_ins(self, wpath: str, types: list[str], state: WorkspaceState) -> None:
        collection = self.api.workspaces.built_in_variables()

        def recover() -> dict[str, Any] | None:
            enabled = self.api.list_all(collection, wpath, "builtInVariable", "list built-ins")
            have = {str(b.get("type")) for b in enabled}
            return {"builtInVariable": enabled} if set(types) <= have else None

        self.api.call(
            collection.create(parent=wpath, type=types), "enable built-in variables", recover
        )
        state.built_ins.update(types)

    def _publish(
        self, cpath: str, wpath: str, container_id: str, label: str, result: PushResult
    ) -> dict[str, Any] | None:
        if result.written == 0:
            live = self._live_version(cpath)
            if live is not None:
                pending, _, _ = plan_changes(self.export, state_from_version(live), container_id)
                if not pending:
                    self.out("nothing to publish: the live version already matches the export")
                    return None
        name = f"sgtm-companion {label}"
        notes = f"Published by sgtm push from {self.export.source}.\n{self.export.version_text}"
        self.out(f"creating version {name!r}")
        created = self.api.call(
            self.api.workspaces.create_version(
                path=wpath, body={"name": name, "notes": notes.strip()}
            ),
            "create version",
        )
        if created.get("compilerError"):
            raise PushError(
                "Tag Manager could not compile the workspace into a version; open the "
                f"workspace {self.options.workspace!r} in the UI to see the errors"
            )
        version = created.get("containerVersion") or {}
        if not version.get("path"):
            raise PushError("create_version answered without a containerVersion path")
        self.out(f"publishing version {version.get('containerVersionId')} ({name})")
        published = self.api.call(
            self.api.service.accounts()
            .containers()
            .versions()
            .publish(path=version["path"], fingerprint=version.get("fingerprint")),
            "publish version",
        )
        if published.get("compilerError"):
            raise PushError("Tag Manager refused to publish the version (compiler error)")
        return published.get("containerVersion") or version
