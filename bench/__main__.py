"""Run every benchmark module (``bench/*_bench.py``) or the ones named on the command line.

``--smoke`` sets ``SGTM_BENCH_SMOKE=1``: each benchmark that honours it runs briefly, to show it
still works (figures printed, not meaningful, no threshold).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if "--smoke" in argv:
        argv = [a for a in argv if a != "--smoke"]
        os.environ["SGTM_BENCH_SMOKE"] = "1"
    here = Path(__file__).parent
    available = sorted(p.stem for p in here.glob("*_bench.py"))
    wanted = argv or available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have {', '.join(available)}")
        return 2
    for name in wanted:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        code = module.main([]) if _takes_argv(module.main) else module.main()
        if code:
            return int(code)
    return 0


def _takes_argv(func) -> bool:
    import inspect

    return bool(inspect.signature(func).parameters)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
