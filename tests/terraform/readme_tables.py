"""Inputs/Outputs tables of each module README, kept in step with variables.tf and outputs.tf.

The tables sit between BEGIN_TF_DOCS / END_TF_DOCS markers, as terraform-docs would write them
(terraform-docs itself is a Go binary CI cannot download). Rewrite them with:

    .venv/bin/python -m tests.terraform.readme_tables
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.terraform import hcl

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"


def module_dirs() -> list[Path]:
    modules = sorted(p for p in (hcl.TERRAFORM / "modules").iterdir() if p.is_dir())
    return [hcl.TERRAFORM, *modules]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _expr(value: object) -> str:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return json.dumps(value, sort_keys=True)


def render(directory: Path) -> str:
    files = hcl.tf_files_in(directory)
    lines = ["## Inputs", "", "| Name | Description | Type | Default |", "|---|---|---|---|"]
    for var in sorted(hcl.blocks(files, "variable"), key=lambda b: b.labels[0]):
        body = var.body
        default = f"`{_cell(_expr(body['default']))}`" if "default" in body else "required"
        raw_type = body.get("type", "any")
        type_ = _cell(_expr(raw_type) if raw_type.startswith("${") else raw_type)
        desc = _cell(body.get("description", ""))
        lines.append(f"| `{var.labels[0]}` | {desc} | `{type_}` | {default} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for out in sorted(hcl.blocks(files, "output"), key=lambda b: b.labels[0]):
        lines.append(f"| `{out.labels[0]}` | {_cell(out.body.get('description', ''))} |")
    return "\n".join(lines)


def current(readme: Path) -> str | None:
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def write(directory: Path) -> bool:
    readme = directory / "README.md"
    text = readme.read_text(encoding="utf-8")
    table = render(directory)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = f"{head}{BEGIN}\n{table}\n{END}{tail}"
    else:
        new = f"{text.rstrip()}\n\n{BEGIN}\n{table}\n{END}\n"
    if new != text:
        readme.write_text(new, encoding="utf-8")
        return True
    return False


if __name__ == "__main__":
    changed = [str(d / "README.md") for d in module_dirs() if write(d)]
    print("\n".join(changed) or "README tables up to date")
    sys.exit(0)
