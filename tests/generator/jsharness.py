"""Run a sandboxed-JS fragment in QuickJS with the few sandbox APIs it uses, backed by the real
implementations (hashlib for sha256Sync), for tests that need a function's result directly."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import quickjs

SHIM = """
function getType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}
function makeInteger(v) { return parseInt(v, 10); }
function makeString(v) { return String(v); }
function createRegex(pattern, flags) {
  try { return new RegExp(pattern, flags || ''); } catch (e) { return null; }
}
function testRegex(regex, text) { return regex.test(text); }
function sha256Sync(text, options) {
  if (!options || options.outputEncoding !== 'hex') throw new Error('tests expect hex output');
  return __py_sha256(text);
}
"""


def context(code: str) -> quickjs.Context:
    ctx = quickjs.Context()
    ctx.add_callable("__py_sha256", lambda text: hashlib.sha256(text.encode("utf-8")).hexdigest())
    ctx.eval(SHIM)
    ctx.eval(code)
    return ctx


def call(ctx: quickjs.Context, function: str, *args: Any) -> Any:
    argv = ", ".join(json.dumps(a, ensure_ascii=False) for a in args)
    result = ctx.eval(f"JSON.stringify({function}({argv}))")
    return None if result is None else json.loads(result)
