"""Run one template in a fresh QuickJS context and drive its event loop to the end.

How runaway code is stopped, and why this way: quickjs's own ``set_time_limit`` would interrupt
a busy loop, but while it is set every host call fails, and every sandbox API is a host call.
A worker thread cannot be killed mid-evaluation, and a worker process per run would cost more
than the run itself and make host calls IPC. So the source is instrumented instead
(``syntax.check``): every loop head and function entry calls a JS budget function that asks
Python for the wall clock every 2048 ticks and, past the deadline, throws and stays tripped
so that no later callback can continue. Between jobs the Python event loop checks the same
deadline, which stops endless ``callLater``/Promise chains. Deep recursion ends with QuickJS's
stack limit and allocation bombs with its memory limit. Host calls keep working throughout.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import quickjs

from formats.tpl import Tpl, TplError, parse_tpl
from runtime import analysis_cache, syntax
from runtime.environment import OutboundError
from runtime.host import Host, RunState
from runtime.permissions import Permissions

PRELUDE = resources.files("runtime").joinpath("prelude.js").read_text(encoding="utf-8")
PRELUDE_TEST = resources.files("runtime").joinpath("prelude_test.js").read_text(encoding="utf-8")

# Template code is evaluated starting at this engine line and test code at TEST_BASE, so a
# stack frame's line tells which of the two (or the prelude, below both) it belongs to.
TEMPLATE_BASE = 10_001
TEST_BASE = 60_001

# Globals the GTM sandbox does not have: inside template and test code they are undefined.
HIDDEN = (
    "JSON Math Object Promise Date RegExp Array String Number Boolean Function Error Symbol "
    "Reflect Proxy Map Set WeakMap WeakSet eval globalThis parseInt parseFloat isNaN isFinite "
    "encodeURI encodeURIComponent decodeURI decodeURIComponent escape unescape BigInt "
    "ArrayBuffer DataView Uint8Array Int32Array Float64Array Atomics SharedArrayBuffer console "
    "__sgtm_host __sgtm_clock __sgtm_run_template __sgtm_test_api __sgtm_require __sgtm_deliver "
    "__sgtm_run_macrotask __sgtm_fire_event_callbacks __sgtm_failures __sgtm_outcome "
    "__sgtm_deliver_message"
).split()

MEMORY_LIMIT = 64 * 1024 * 1024
STACK_LIMIT = 1024 * 1024

_FRAME = re.compile(r"at (?P<fn>[^\s(]+) \(<input>:(?P<line>\d+)\)")
# Sandbox API errors start with the API's name: "sendHttpRequest: ...", "addEventCallback ...".
_API_IN_MESSAGE = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)?)[: ]")


@dataclass(frozen=True)
class Template:
    """A parsed, checked and instrumented template, ready to run any number of times."""

    tpl: Tpl
    code: str  # instrumented
    permissions: Permissions
    id: str
    # file line -> [(column, api)] of sandbox API calls, to give runtime errors a column
    api_calls: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    # uses of what Google does not document (runtime/portability.py), as ``file:line:col``
    warnings: tuple[syntax.SyntaxProblem, ...] = ()
    # idle locked-down contexts holding this template, reused after a verified reset (_Context)
    contexts: list[_Context] = field(default_factory=list, compare=False, repr=False)

    @property
    def source(self) -> str:
        return self.tpl.source

    @property
    def kind(self) -> str:
        return self.tpl.type


def compile_template(tpl: Tpl, template_id: str | None = None) -> Template:
    """Check the code section (raises ``syntax.TemplateSyntaxError``) and instrument it."""
    if tpl.context != "SERVER":
        section = tpl.sections["SANDBOXED_JS_FOR_WEB_TEMPLATE"]
        raise TplError(
            tpl.source,
            section.line,
            "this code is ___SANDBOXED_JS_FOR_WEB_TEMPLATE___: the local runtime runs server "
            "templates (___SANDBOXED_JS_FOR_SERVER___) only",
        )
    checked = analysis_cache.analyse(tpl.code, tpl.source, tpl.code_line)
    return Template(
        tpl,
        checked.code,
        Permissions.of(tpl),
        template_id or tpl.source,
        checked.api_calls,
        tuple(checked.warnings),
    )


def load_template(path: str | Path) -> Template:
    """Read, parse and check a ``.tpl`` file; errors name ``file:line``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TplError(str(p), 1, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TplError(str(p), 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return compile_template(parse_tpl(text, str(p)))


@dataclass
class RunResult:
    outcome: str | None  # 'success' / 'failure' for tags, None when neither was called
    value: Any = None  # what a MACRO returned (after its Promise settled)
    error: str | None = None
    logs: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.outcome != "failure"


# Idle contexts kept per template: enough for the tags of one template an event fires at once
# (each keeps its context until the event's callbacks ran) and a few concurrent requests.
POOL_SIZE = 8
_POOL_LOCK = threading.Lock()


class _Context:
    """A QuickJS context with the prelude and one template evaluated and locked down
    (``__sgtm_lockdown`` in prelude.js), serving one Sandbox at a time.

    Evaluating the prelude and a template costs several times what running it does; a locked
    down context is returned to its template's pool only when ``__sgtm_reset`` proves it
    pristine again, so every run still starts from the same globals, prototypes and state.
    """

    def __init__(self, template: Template, lockdown: bool) -> None:
        self.sandbox: Sandbox | None = None
        ctx = self._build(template)
        self.locked = False
        if lockdown:
            try:
                self.locked = bool(ctx.eval("__sgtm_lockdown()"))
            except quickjs.JSException:
                # An engine whose intrinsics cannot all be frozen: a context never reused,
                # rebuilt so that no run sees a half-frozen one.
                ctx = self._build(template)
        self.ctx = ctx
        self.run_template = ctx.get("__sgtm_run_template")
        self.run_macrotask = ctx.get("__sgtm_run_macrotask")
        self.deliver = ctx.get("__sgtm_deliver")
        self.reset = ctx.get("__sgtm_reset")

    def _build(self, template: Template) -> quickjs.Context:
        ctx = quickjs.Context()
        ctx.set_memory_limit(MEMORY_LIMIT)
        ctx.set_max_stack_size(STACK_LIMIT)
        # The callables reach the sandbox of the moment: the same context serves many runs.
        ctx.add_callable("__sgtm_host", self._host)
        ctx.add_callable("__sgtm_clock", self._clock)
        ctx.eval(PRELUDE)
        ctx.eval(_wrap_template(template.code))
        return ctx

    def discard(self) -> None:
        """Free the engine now: the context and its host callables (bound to this object) form
        a reference cycle that would otherwise wait for the cyclic garbage collector."""
        self.sandbox = None
        for name in ("run_template", "run_macrotask", "deliver", "reset", "ctx"):
            self.__dict__.pop(name, None)

    def _host(self, name: str, args_json: str) -> str:
        assert self.sandbox is not None, "host call with no run in progress"
        return self.sandbox.host.dispatch(name, args_json)

    def _clock(self, line: Any) -> str:
        assert self.sandbox is not None, "clock call with no run in progress"
        return self.sandbox._clock(line)  # noqa: SLF001 - the sandbox's own budget


def _checkout(template: Template, pooled: bool) -> _Context:
    if pooled:
        with _POOL_LOCK:
            if template.contexts:
                return template.contexts.pop()
    return _Context(template, lockdown=pooled)


def _checkin(template: Template, context: _Context) -> None:
    """Back to the pool if the reset succeeds; otherwise dropped (a fresh one replaces it)."""
    context.sandbox = None
    try:
        pristine = context.locked and context.reset() is True
    except quickjs.JSException:
        pristine = False
    if pristine:
        with _POOL_LOCK:
            if len(template.contexts) < POOL_SIZE:
                template.contexts.append(context)
                return
    context.discard()


class Sandbox:
    """One template run in a context of its own: fresh, or a pooled one after a verified reset
    (``pooled = False`` for callers that evaluate more code into the context, like tests)."""

    pooled = True

    def __init__(self, template: Template, state: RunState, timeout: float = 5.0) -> None:
        self.template = template
        self.state = state
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.errors: list[str] = []
        self.host = Host(state)
        self.host.call_js = self.call
        context = _checkout(template, self.pooled)
        context.sandbox = self
        self._context: _Context | None = context
        self.ctx = context.ctx
        self._stop_message = ""

    def close(self) -> None:
        """Give the context back: to the pool when the run ended cleanly (no error, nothing
        pending) and the reset proves it pristine, else to the garbage collector."""
        context, self._context = self._context, None
        self.__dict__.pop("ctx", None)
        self.host.call_js = None
        if context is None:
            return
        if self.pooled and not self.errors and not self._stop_message and not self.state.http:
            _checkin(self.template, context)
        else:
            context.discard()

    # -- budget -----------------------------------------------------------------------------
    def _clock(self, line: Any) -> str:
        if time.monotonic() <= self.deadline:
            return ""
        where = self.describe_line(int(line)) if isinstance(line, int | float) else "?"
        self._stop_message = (
            f"stopped runaway code: the run exceeded {self.timeout:g}s (last loop or function "
            f"entered at {where})"
        )
        return self._stop_message

    def describe_line(self, file_line: int) -> str:
        return f"{self.template.source}:{file_line}"

    # -- running ----------------------------------------------------------------------------
    def _open(self) -> _Context:
        if self._context is None:
            raise RuntimeError("this sandbox was closed: its context went back to the pool")
        return self._context

    def run(self, data: dict[str, Any]) -> RunResult:
        started = time.perf_counter()
        value: Any = None
        try:
            raw = self._open().run_template(json.dumps(data, ensure_ascii=False))
            self.state.client_returned = True
            reply = json.loads(raw)
            if not reply.get("promise"):
                value = None if reply.get("undefined") else reply.get("value")
        except quickjs.JSException as exc:
            self.state.client_returned = True
            self.errors.append(self.explain(exc))
        self.settle()
        if self.state.macro_resolved:
            value = self.state.macro_value
        return RunResult(
            outcome=self.state.outcome,
            value=value,
            error="; ".join(self.errors) if self.errors else None,
            logs=list(self.state.logs),
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )

    def call(self, function: str, *args: Any) -> Any:
        """Call a global JS function; uncaught errors are recorded, not raised."""
        try:
            return self.ctx.get(function)(*args)
        except quickjs.JSException as exc:
            self.errors.append(self.explain(exc))
            return None

    def settle(self) -> None:
        """Run microtasks, callLater callbacks and HTTP completions until nothing is left."""
        ctx = self.ctx
        context = self._open()
        run_macro = context.run_macrotask
        deliver = context.deliver
        while True:
            if time.monotonic() > self.deadline:
                if not self._stop_message:
                    self._stop_message = (
                        f"stopped: the run did not finish within {self.timeout:g}s "
                        f"({self._waiting_on()})"
                    )
                if not any(self._stop_message in e for e in self.errors):
                    self.errors.append(self._stop_message)
                self._abandon()
                return
            try:
                if ctx.execute_pending_job():
                    continue
                if self.state.async_results:
                    rid, ok, value = self.state.async_results.pop(0)
                    deliver(rid, json.dumps({"ok": ok, "value": value}))
                    continue
                if run_macro():
                    continue
            except quickjs.JSException as exc:
                message = self.explain(exc)
                if not any(message == e or message.endswith(": " + e) for e in self.errors):
                    self.errors.append(message)
                if self._stop_message:
                    self._abandon()
                    return
                continue
            if not self.state.http:
                return
            self._deliver_http(deliver)

    def _waiting_on(self) -> str:
        if self.state.http:
            return f"{len(self.state.http)} HTTP request(s) still pending"
        return "callbacks kept scheduling more work"

    def _abandon(self) -> None:
        for future, _ in self.state.http.values():
            future.cancel()
        self.state.http.clear()

    def _deliver_http(self, deliver: Any) -> None:
        # Wait for whichever request finishes (or times out) first, then hand it to JS.
        now = time.monotonic()
        next_due = min(due for _, due in self.state.http.values())
        wait = max(0.0, min(next_due, self.deadline) - now)
        ready = [
            (rid, future, due)
            for rid, (future, due) in self.state.http.items()
            if future.done() or due <= now
        ]
        if not ready:
            futures.wait(
                [f for f, _ in self.state.http.values()],
                timeout=wait,
                return_when=futures.FIRST_COMPLETED,
            )
            return
        rid, future, due = ready[0]
        del self.state.http[rid]
        if not future.done():
            future.cancel()
            outcome = {"ok": False, "value": {"reason": "timed_out"}}
            self.state.logs.append("sendHttpRequest timed_out: no answer within options.timeout")
        else:
            try:
                result = future.result()
                outcome = {
                    "ok": True,
                    "value": {
                        "statusCode": result.status,
                        "headers": result.headers,
                        "body": result.body,
                    },
                }
            except OutboundError as exc:
                outcome = {"ok": False, "value": {"reason": exc.reason}}
                self.state.logs.append(f"sendHttpRequest {exc.reason}: {exc.detail}")
        try:
            deliver(rid, json.dumps(outcome, ensure_ascii=False))
        except quickjs.JSException as exc:
            self.errors.append(self.explain(exc))

    # -- errors -----------------------------------------------------------------------------
    def explain(self, exc: quickjs.JSException) -> str:
        """An engine error as ``source:line: message``, mapped back to the file."""
        text = str(exc)
        first = text.split("\n", 1)[0].strip()
        first = first.removeprefix("Error: ")
        if first.startswith("InternalError: stack overflow"):
            first = "stopped runaway recursion: stack overflow"
        elif "out of memory" in first:
            first = f"stopped: the run used more than {MEMORY_LIMIT // (1024 * 1024)} MiB"
        where = self.locate(text)
        if where and where.startswith(self.template.source + ":"):
            where += self._column(where, first)
        return f"{where}: {first}" if where else first

    def _column(self, where: str, message: str) -> str:
        """``:COL`` of the API call the message is about, when the static check saw exactly
        where on that line it is called (QuickJS stack traces carry no columns)."""
        line_text = where.rsplit(":", 1)[-1]
        api = _API_IN_MESSAGE.match(message)
        if not line_text.isdigit() or api is None:
            return ""
        cols = [c for c, name in self.template.api_calls.get(int(line_text), []) if name == api[1]]
        return f":{cols[0]}" if cols else ""

    def locate(self, stack: str) -> str | None:
        for match in _FRAME.finditer(stack):
            line = int(match.group("line"))
            if TEMPLATE_BASE <= line < TEST_BASE:
                return self.describe_line(self.template.tpl.code_line + line - TEMPLATE_BASE)
        return None


def _wrap_template(code: str) -> str:
    hidden = ", ".join(HIDDEN)
    return (
        "\n" * (TEMPLATE_BASE - 1)
        + "globalThis.__sgtm_template = function (data, require) { return (function ("
        + hidden
        + ") { return (function (data) {"
        + code
        + "\n})(data); })(); };"
    )


def wrap_test(code: str) -> str:
    hidden = ", ".join(HIDDEN)
    return (
        "\n" * (TEST_BASE - 1)
        + "globalThis.__sgtm_scenario = function (api) { (function (runCode, mock, mockObject, "
        + "assertApi, assertThat, fail, require, "
        + hidden
        + ") { return (function () {"
        + code
        + "\n})(); })(api.runCode, api.mock, api.mockObject, api.assertApi, api.assertThat, api.fail, "
        + "api.require); };"
    )


def run_template(
    template: Template,
    data: dict[str, Any],
    state: RunState,
    timeout: float = 5.0,
) -> RunResult:
    """Run ``template`` once with ``data`` in a fresh context and wait for it to settle."""
    try:
        sandbox = Sandbox(template, state, timeout)
    except quickjs.JSException as exc:
        return RunResult(outcome=None, error=f"{template.source}: {str(exc).splitlines()[0]}")
    try:
        return sandbox.run(data)
    finally:
        sandbox.close()
