"""Rewrite the golden output of `sgtm generate examples/shop/plan.yaml` in tests/golden/shop/.

The only writer of golden files: `python -m tests.regen_golden` (or `make regen`). Run it after
an intended change to the generator, then read the diff before committing it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "examples" / "shop" / "plan.yaml"
GOLDEN = REPO / "tests" / "golden" / "shop"
ROPA = REPO / "tests" / "golden" / "ropa-shop"
PRIVACY_DOC = REPO / "docs" / "privacy.md"
FIELDS_BEGIN = "<!-- sgtm plan ropa: fields begin (generated; make regen) -->\n"
FIELDS_END = "<!-- sgtm plan ropa: fields end -->\n"


def privacy_doc(table: str) -> str:
    """docs/privacy.md with the fields table between its markers replaced by `table`."""
    text = PRIVACY_DOC.read_text(encoding="utf-8")
    head, _, rest = text.partition(FIELDS_BEGIN)
    _, _, tail = rest.partition(FIELDS_END)
    return head + FIELDS_BEGIN + table + FIELDS_END + tail


def main() -> int:
    from formats.plan import load_plan
    from generator.render import generate
    from sgtm.commands.generate import write_tree

    files = generate(load_plan(str(PLAN)))
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    for path in write_tree(files, GOLDEN):
        print(path.relative_to(REPO))
    from generator import ropa

    plan = load_plan(str(PLAN))
    if ROPA.exists():
        shutil.rmtree(ROPA)
    for path in write_tree(ropa.files(plan), ROPA):
        print(path.relative_to(REPO))
    PRIVACY_DOC.write_text(privacy_doc(ropa.field_table(plan)), encoding="utf-8")
    print(PRIVACY_DOC.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
