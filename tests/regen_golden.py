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


def main() -> int:
    from formats.plan import load_plan
    from generator.render import generate
    from sgtm.commands.generate import write_tree

    files = generate(load_plan(str(PLAN)))
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    for path in write_tree(files, GOLDEN):
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
