"""Render a tracking plan into everything a user imports into a server GTM container.

``generate(plan)`` returns ``{relative path: file text}``; writing it is the caller's business,
so tests and the golden files compare exactly what the CLI writes.
"""

from __future__ import annotations

from formats import contract as compiler
from formats.plan import model as m
from generator.render.container import ContainerOptions, container_export, dumps
from generator.render.readme import readme
from generator.render.templates import DEFAULT_KEY_IDS, all_templates


def generate(plan: m.Plan, key_ids: tuple[str, ...] = DEFAULT_KEY_IDS) -> dict[str, str]:
    templates = all_templates(plan, key_ids)
    export = container_export(plan, templates, ContainerOptions(key_ids))
    files = {t.filename: t.text for t in templates}
    files["container.json"] = dumps(export)
    files.update(compiler.artifacts(plan))
    files["README.md"] = readme(plan, templates, export, key_ids)
    return dict(sorted(files.items()))


__all__ = ["DEFAULT_KEY_IDS", "generate"]
