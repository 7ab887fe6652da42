"""A disk cache of ``syntax.analyse`` results, keyed by what determines them.

esprima is pure Python: checking and instrumenting a generated template (~50 KB) takes about
0.15 s, more than running all of its test scenarios, and ``sgtm templates test`` / ``sgtm dev``
redo it on every start for code that has not changed. A result depends only on the code, the
first line it is reported under and the checker itself, so the key hashes those together with
the text of the checker's modules and esprima's version: editing the checker invalidates every
entry. The source name appears only in warnings; it is stored as a placeholder and filled in
on reading, so the same template generated into another directory is the same entry. Only accepted code is cached (a rejected one is re-checked, so
its errors always come from the checker itself).

The cache lives in ``$SGTM_CACHE_DIR`` (``off`` disables it), else ``$XDG_CACHE_HOME/sgtm`` or
``~/.cache/sgtm``. It is only a cache: an unreadable or unwritable entry means re-checking.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from runtime import syntax

_ENV = "SGTM_CACHE_DIR"


def cache_dir() -> Path | None:
    configured = os.environ.get(_ENV)
    if configured == "off":
        return None
    if configured:
        return Path(configured) / "analysis"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sgtm" / "analysis"


@functools.lru_cache(maxsize=1)
def _fingerprint() -> str:
    from importlib import metadata

    from runtime import portability

    # The version, not the module: importing esprima is the cost this cache avoids.
    try:
        version = metadata.version("esprima")
    except metadata.PackageNotFoundError:
        version = "?"
    h = hashlib.sha256(version.encode())
    for module in (syntax, portability):
        h.update(Path(str(module.__file__)).read_bytes())
    return h.hexdigest()


def _key(code: str, first_line: int) -> str:
    h = hashlib.sha256(_fingerprint().encode())
    h.update(f"\0{first_line}\0".encode())
    h.update(code.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _encode(result: syntax.Analysis) -> str:
    return json.dumps(
        {
            "code": result.code,
            "api_calls": [[line, calls] for line, calls in result.api_calls.items()],
            "warnings": [[w.line, w.column, w.message] for w in result.warnings],
        },
        ensure_ascii=False,
    )


def _decode(text: str, source: str) -> syntax.Analysis:
    doc = json.loads(text)
    return syntax.Analysis(
        str(doc["code"]),
        {int(line): [(int(c), str(api)) for c, api in calls] for line, calls in doc["api_calls"]},
        [syntax.SyntaxProblem(source, int(li), int(co), str(m)) for li, co, m in doc["warnings"]],
    )


def analyse(code: str, source: str = "<template>", first_line: int = 1) -> syntax.Analysis:
    """``syntax.analyse``, answered from the cache when the same code was accepted before."""
    where = cache_dir()
    if where is None:
        return syntax.analyse(code, source, first_line)
    path = where / (_key(code, first_line) + ".json")
    try:
        return _decode(path.read_text(encoding="utf-8"), source)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent, unreadable or from an incompatible writer: check again
    result = syntax.analyse(code, source, first_line)  # raises on rejected code: not cached
    try:
        where.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a concurrent reader never sees half an entry.
        fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_encode(result))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full disk only costs the next start the check again
    return result


def check(code: str, source: str = "<template>", first_line: int = 1) -> str:
    """``syntax.check`` through the cache."""
    return analyse(code, source, first_line).code
