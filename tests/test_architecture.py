"""The house rules of the code's layout, read from the code's own imports.

- formats/ (the core) imports no other package of the project; sgtm/ (the application) is
  imported by nobody; generator, runtime, sidecar and ops import only the core, never each other.
- No import cycle between modules, nor between sibling packages at any level (the way
  sidecar.api and sidecar.webhooks once imported each other).
- The sidecar image installs `.[sidecar,gcp]` only: everything the service imports comes from
  those extras, and none of the runtime's or ops' libraries come along.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import sys
import tomllib
from functools import cache
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

PACKAGES = ("formats", "generator", "runtime", "sidecar", "ops", "sgtm")
# Which top-level packages each one may import (besides itself).
ALLOWED = {
    "formats": set(),
    "generator": {"formats"},
    "runtime": {"formats"},
    "sidecar": {"formats"},
    "ops": {"formats"},
    "sgtm": {"formats", "generator", "runtime", "sidecar", "ops"},
}


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _owner(name: str) -> str | None:
    """The project module that ``import name`` loads (a name inside a module maps to it)."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports() -> dict[str, set[str]]:
    """Module -> every module it imports, including imports inside functions; plus the
    third-party names under the key ``(module, "external")``."""
    graph: dict[str, set[str]] = {}
    for name, path in modules().items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from pkg import submodule` is an edge to the submodule; any other name is an
                # edge to the module that defines it.
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules()
                    else node.module
                    for alias in node.names
                ]
            for target in targets:
                owner = _owner(target)
                if owner is not None and owner != name:
                    deps.add(owner)
                elif owner is None:
                    deps.add("!" + target)  # third party or standard library
        graph[name] = deps
    return graph


def _project_edges() -> list[tuple[str, str]]:
    return [(a, b) for a, deps in imports().items() for b in deps if not b.startswith("!")]


def _cycles(edges: list[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_graph_sees_the_whole_house() -> None:
    # A guard for the checks below: they read real modules and real edges.
    assert {"formats.plan.model", "sidecar.app", "sgtm.cli", "runtime.engine"} <= set(modules())
    assert ("sidecar.app", "sidecar.api.webhooks") in _project_edges()


def test_packages_import_only_downwards() -> None:
    wrong = sorted(
        f"{a} imports {b}"
        for a, b in _project_edges()
        if a.split(".")[0] != b.split(".")[0] and b.split(".")[0] not in ALLOWED[a.split(".")[0]]
    )
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(_project_edges()) == []


def test_no_import_cycle_between_sibling_packages() -> None:
    # sidecar.api.events -> sidecar.verification.auth is an edge sidecar.api -> sidecar.verification
    # among the children of sidecar; a parent importing its own children is not counted.
    edges = []
    for a, b in _project_edges():
        pa, pb = a.split("."), b.split(".")
        common = 0
        while common < min(len(pa), len(pb)) and pa[common] == pb[common]:
            common += 1
        if common == len(pa) or common == len(pb):
            continue  # a package and its own submodule
        edges.append((".".join(pa[: common + 1]), ".".join(pb[: common + 1])))
    assert _cycles(edges) == []


def test_the_command_line_loads_no_module_by_name() -> None:
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        assert "import_module(" not in text and "__import__(" not in text, name


@cache
def _file_owners() -> dict[str, str]:
    owners = {}
    for dist in md.distributions():
        for file in dist.files or ():
            owners[str(Path(dist.locate_file(file)).resolve())] = canonicalize_name(
                dist.metadata["Name"]
            )
    return owners


def _closure(requirements: list[str]) -> set[str]:
    """Distributions installed by these requirements, transitively (extras followed)."""
    env = default_environment()
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = name + "[" + ",".join(sorted(req.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        for sub in md.requires(req.name) or []:
            todo.append((Requirement(sub), ""))
            todo.extend((Requirement(sub), e) for e in req.extras)
    return {key.partition("[")[0] for key in seen}


def _image_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [*project["dependencies"], *extras["sidecar"], *extras["gcp"]]


def test_the_sidecar_image_has_everything_the_service_imports() -> None:
    owners = _file_owners()
    installed = _closure(_image_requirements())
    missing = set()
    for module, deps in imports().items():
        if module.split(".")[0] not in ("formats", "sidecar"):
            continue
        for dep in deps:
            if not dep.startswith("!"):
                continue
            name = dep[1:]
            spec = None
            while name and spec is None:
                try:
                    spec = importlib.util.find_spec(name)
                except (ImportError, ValueError):
                    spec = None
                if spec is None:
                    name = name.rpartition(".")[0]
            assert spec is not None, f"{module} imports {dep[1:]}, which is not installed"
            origin = spec.origin or next(iter(spec.submodule_search_locations or []), "")
            owner = owners.get(str(Path(origin).resolve())) if origin else None
            if owner is not None and owner not in installed and owner != "sgtm-companion":
                missing.add(f"{module} imports {dep[1:]} from {owner}")
    assert sorted(missing) == []


def test_the_sidecar_image_leaves_the_developer_tools_out() -> None:
    installed = _closure(_image_requirements())
    assert {"flask", "gunicorn", "google-cloud-pubsub", "ruamel-yaml"} <= installed
    assert installed.isdisjoint(
        {"quickjs", "esprima", "google-api-python-client", "google-cloud-run"}
    )


def test_the_dockerfile_builds_only_the_service() -> None:
    text = (REPO / "Dockerfile").read_text("utf-8")
    assert '".[sidecar,gcp]"' in text and '"sgtm-companion[sidecar,gcp]"' in text
    copied = {
        line.split()[1] for line in text.splitlines() if line.startswith("COPY ") and "./" in line
    }
    assert {"formats", "sidecar"} <= copied and copied.isdisjoint(
        {"generator", "runtime", "ops", "sgtm"}
    )


def test_constraints_pin_everything_ci_and_the_image_install() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = _closure([*project["dependencies"], *project["optional-dependencies"]["test"]])
    wanted.discard("sgtm-companion")
    pinned = {}
    for line in (REPO / "constraints.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = version
    assert sorted(wanted - set(pinned)) == [], "run `make constraints`"
    assert all(pinned.values()), "every line of constraints.txt is NAME==VERSION"
    docker = (REPO / "Dockerfile").read_text("utf-8")
    assert "-c constraints.txt" in docker
    assert "-c constraints.txt" in (REPO / "Makefile").read_text("utf-8")


def test_one_jinja_environment() -> None:
    # Two environments once gave the `js` filter two meanings (a single-quoted JS string in
    # templates, a JSON literal in the snippet); every artifact now renders through one.
    owners = {m for m, deps in imports().items() if {"!jinja2.Environment", "!jinja2"} & deps}
    assert owners == {"generator.render.env"}
