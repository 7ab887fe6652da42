"""Static check of the sandboxed-JavaScript subset, and the loop-budget source transform.

GTM compiles template code before it runs it and refuses constructs its sandbox does not have
(ES5.1 plus arrows and ``let``/``const``; no ``new``, ``this``, regex literals, ``try``...). We
parse with esprima, walk the tree with a deny-list, and report each problem as
``template:line:col`` with the file line of the code section, so a bad template fails before
it runs, at the place to fix.

The same parse gives the ranges used by ``instrument``: it inserts a call to the budget
function at every loop head and function entry. The text inserted never contains a newline,
so engine line numbers still equal code line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime import portability

TICK = "__sgtm_tick"

# ESTree node types the sandbox does not accept (sgtm-templates.md 4.1 and 4.4).
DENIED: dict[str, str] = {
    "TemplateLiteral": "template literals (backticks) are not supported; concatenate strings",
    "TaggedTemplateExpression": "tagged templates are not supported",
    "ClassDeclaration": "'class' is not supported",
    "ClassExpression": "'class' is not supported",
    "NewExpression": "'new' is not supported in sandboxed JavaScript",
    "ThisExpression": "'this' is not supported: sandboxed functions have no this",
    "TryStatement": "try/catch is not supported in sandboxed JavaScript",
    "ThrowStatement": "'throw' is not supported; call data.gtmOnFailure() instead",
    "SpreadElement": "spread '...' is not supported",
    "RestElement": "rest parameters '...' are not supported",
    "ObjectPattern": "destructuring is not supported",
    "ArrayPattern": "destructuring is not supported",
    "AssignmentPattern": "default parameter values are not supported",
    "YieldExpression": "generators are not supported",
    "AwaitExpression": "async/await is not supported; use require('Promise')",
    "LabeledStatement": "labels are not supported",
    "DoWhileStatement": "do...while is not supported",
    "WithStatement": "'with' is not supported",
    "DebuggerStatement": "'debugger' is not supported",
    "MetaProperty": "new.target is not supported",
    "Import": "import is not supported; use require('apiName')",
}

LOOPS = ("ForStatement", "ForInStatement", "ForOfStatement", "WhileStatement", "DoWhileStatement")
FUNCTIONS = ("FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression")

# Wrapping the body in a function makes top-level ``return`` legal; the prefix sits on the first
# line so line numbers are unchanged (columns on line 1 are corrected below).
_PREFIX = "(function(){"
_SUFFIX = "\n})"


@dataclass(frozen=True)
class SyntaxProblem:
    source: str
    line: int  # file line
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


class TemplateSyntaxError(ValueError):
    """Code that GTM would refuse to save; ``problems`` lists every finding."""

    def __init__(self, problems: list[SyntaxProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Analysis:
    """What the check learned about a piece of code, besides that it is acceptable."""

    code: str  # instrumented
    # Calls of sandbox APIs by file line: [(column, api name)], so a runtime error raised by an
    # API can name its column (the engine's stack traces carry lines only).
    api_calls: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    # Uses of what Google's documentation does not cover (runtime/portability.py).
    warnings: list[SyntaxProblem] = field(default_factory=list)


@dataclass
class _Walk:
    source: str
    first_line: int
    problems: list[SyntaxProblem]
    inserts: list[tuple[int, str]]
    warnings: list[SyntaxProblem] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> API it was required as
    calls: list[tuple[int, int, str, bool]] = field(default_factory=list)  # line, col, name, inline
    members: list[tuple[int, int, str, str]] = field(default_factory=list)  # line, col, obj, member
    # Property names the code itself defines ({name: ...}, x.name = ...): calling one is calling
    # the template's own function, not a standard-library method.
    own_properties: set[str] = field(default_factory=set)
    # local name -> identifiers its value is computed from, to follow indirect aliases such as
    # `const bigquery = getType(BigQuery) === 'function' ? BigQuery() : BigQuery;`
    derived: list[tuple[str, set[str]]] = field(default_factory=list)

    def where(self, loc) -> tuple[int, int]:
        line, col = loc.start.line, loc.start.column
        if line == 1:
            col -= len(_PREFIX)
        return self.first_line + line - 1, col + 1

    def deny(self, node, message: str) -> None:
        line, col = self.where(node.loc)
        self.problems.append(SyntaxProblem(self.source, line, col, message))

    def warn(self, node, message: str) -> None:
        line, col = self.where(node.loc)
        self.warnings.append(SyntaxProblem(self.source, line, col, message))

    def __call__(self, node, _meta) -> None:
        kind = node.type
        if kind in DENIED:
            self.deny(node, DENIED[kind])
        elif kind == "Literal" and getattr(node, "regex", None):
            self.deny(node, "regex literals are not supported; use require('createRegex')")
        elif kind == "UnaryExpression" and node.operator == "delete":
            self.deny(node, "the delete operator is not supported; use Object.delete(obj, key)")
        elif kind == "BinaryExpression" and node.operator == "in":
            self.deny(node, "the 'in' operator is not supported; use obj.hasOwnProperty(key)")
        elif kind == "Property" and node.kind in ("get", "set"):
            self.deny(node, "getters and setters are not supported")
        elif kind == "Identifier" and str(node.name).startswith("__sgtm"):
            self.deny(node, f"the name {node.name} is reserved by the local runtime")
        elif kind == "CallExpression" and _is_require(node) and not _literal_arg(node):
            self.deny(node, "require() takes a string literal naming the API")
        if kind in FUNCTIONS and (getattr(node, "isAsync", False) or node.generator):
            self.deny(node, "async functions and generators are not supported")
        if kind in LOOPS or kind in FUNCTIONS:
            self._tick(node)
        self._learn(node)

    def _learn(self, node) -> None:
        """Record API aliases and calls, and warn about what Google does not document."""
        kind = node.type
        if kind == "VariableDeclarator" and node.id.type == "Identifier" and node.init:
            init = node.init
            if init.type == "CallExpression" and _is_require(init) and _literal_arg(init):
                self.aliases[node.id.name] = init.arguments[0].value
            else:
                self.derived.append((node.id.name, _identifiers(init)))
        elif kind == "AssignmentExpression" and node.left.type == "Identifier":
            self.derived.append((node.left.name, _identifiers(node.right)))
        if kind == "CallExpression":
            line, col = self.where(node.loc)
            callee = node.callee
            if callee.type == "Identifier":
                self.calls.append((line, col, callee.name, False))
            elif callee.type == "CallExpression" and _is_require(callee) and _literal_arg(callee):
                self.calls.append((line, col, callee.arguments[0].value, True))
            elif callee.type == "MemberExpression" and not callee.computed:
                target = callee.object
                obj = target.name if target.type == "Identifier" else ""
                if target.type == "CallExpression" and _is_require(target) and _literal_arg(target):
                    obj = " " + target.arguments[0].value  # require('BigQuery').insert(...)
                where = self.where(callee.property.loc)
                self.members.append((where[0], where[1], obj, callee.property.name))
        elif kind == "Property" and not node.computed and node.key.type == "Identifier":
            self.own_properties.add(node.key.name)
        elif kind == "Property" and not node.computed and node.key.type == "Literal":
            self.own_properties.add(str(node.key.value))
        elif kind == "AssignmentExpression" and node.left.type == "MemberExpression":
            if not node.left.computed:
                self.own_properties.add(node.left.property.name)
        if kind == "ForOfStatement":
            self.warn(node, portability.syntax_warning("ForOfStatement"))
        elif kind == "Property" and node.shorthand:
            self.warn(node, portability.syntax_warning("shorthand"))
        elif kind == "Property" and node.method:
            self.warn(node, portability.syntax_warning("method"))
        elif kind == "Property" and node.computed:
            self.warn(node, portability.syntax_warning("computed"))
        elif kind in ("BinaryExpression", "AssignmentExpression") and node.operator in (
            "**",
            "**=",
        ):
            self.warn(node, portability.syntax_warning("**"))

    def finish(self) -> tuple[dict[int, list[tuple[int, str]]], list[SyntaxProblem]]:
        """Resolve aliases (a function may call an API required further down) and method
        calls on API objects, once the whole tree is known."""
        for name, sources in self.derived:
            apis = {self.aliases.get(n) for n in sources} - {None}
            if name not in self.aliases and len(apis) == 1:
                (api,) = apis
                if api in portability.OBJECT_API_MEMBERS:
                    self.aliases[name] = api
        api_calls: dict[int, list[tuple[int, str]]] = {}
        for line, col, name, inline in self.calls:
            api = name if inline else self.aliases.get(name)
            if api is not None:
                api_calls.setdefault(line, []).append((col, api))
        warnings = list(self.warnings)
        for line, col, obj, member in self.members:
            api = obj[1:] if obj.startswith(" ") else self.aliases.get(obj)
            if api is not None:
                api_calls.setdefault(line, []).append((col, f"{api}.{member}"))
            if api in portability.OBJECT_API_MEMBERS:
                if member not in portability.OBJECT_API_MEMBERS[api]:
                    message = portability.member_warning(api, member)
                    warnings.append(SyntaxProblem(self.source, line, col, message))
                continue
            if obj == "data" and member in portability.DATA_CALLBACKS:
                continue
            if member in portability.DOCUMENTED_METHODS or member in portability.PROMISE_METHODS:
                continue
            if member in self.own_properties:
                continue
            message = portability.method_warning(member)
            warnings.append(SyntaxProblem(self.source, line, col, message))
        for entries in api_calls.values():
            entries.sort()
        warnings.sort(key=lambda p: (p.line, p.column))
        return api_calls, warnings

    def _tick(self, node) -> None:
        body = node.body
        line = self.where(node.loc)[0]
        call = f"{TICK}({line});"
        if body.type == "BlockStatement":
            self.inserts.append((body.range[0] + 1, call))
        elif node.type == "ArrowFunctionExpression":
            # Expression body: evaluate the tick first, keep the value (comma operator).
            self.inserts.append((body.range[0], f"({TICK}({line}),"))
            self.inserts.append((body.range[1], ")"))
        else:
            self.inserts.append((body.range[0], "{" + call))
            self.inserts.append((body.range[1], "}"))


def _identifiers(node) -> set[str]:
    """The names an expression may evaluate to as a whole: ``X``, ``X()``, and the branches of
    ``c ? a : b`` and ``a || b`` (a call's result or a member of ``X`` is not ``X``)."""
    kind = node.type
    if kind == "Identifier":
        return {node.name}
    if kind == "CallExpression" and node.callee.type == "Identifier" and not node.arguments:
        return {node.callee.name}
    if kind == "ConditionalExpression":
        return _identifiers(node.consequent) | _identifiers(node.alternate)
    if kind == "LogicalExpression":
        return _identifiers(node.left) | _identifiers(node.right)
    return set()


def _is_require(node) -> bool:
    return node.callee.type == "Identifier" and node.callee.name == "require"


def _literal_arg(node) -> bool:
    args = node.arguments
    return len(args) == 1 and args[0].type == "Literal" and isinstance(args[0].value, str)


def check(code: str, source: str = "<template>", first_line: int = 1) -> str:
    """Check ``code`` and return it instrumented with loop/function budget ticks.

    Raises ``TemplateSyntaxError`` listing every problem found, each as ``source:line:col``.
    """
    return analyse(code, source, first_line).code


def analyse(code: str, source: str = "<template>", first_line: int = 1) -> Analysis:
    """``check``, also returning the API call sites and the portability warnings."""
    # Imported here: loading esprima builds Unicode tables over every code point (~0.5 s), which
    # a start-up that finds its analyses cached (runtime/analysis_cache.py) never needs.
    import esprima

    wrapped = _PREFIX + code + _SUFFIX
    walk = _Walk(source, first_line, [], [])
    try:
        esprima.parseScript(wrapped, {"range": True, "loc": True}, walk)
    except esprima.Error as exc:
        line = int(getattr(exc, "lineNumber", 1) or 1)
        col = int(getattr(exc, "column", 1) or 1)
        if line == 1:
            col = max(1, col - len(_PREFIX))
        message = str(getattr(exc, "description", "") or exc.message)
        message = message.removeprefix(f"Line {line}: ")
        raise TemplateSyntaxError(
            [SyntaxProblem(source, first_line + line - 1, col, f"syntax error: {message}")]
        ) from None
    if walk.problems:
        walk.problems.sort(key=lambda p: (p.line, p.column))
        raise TemplateSyntaxError(walk.problems)
    out = wrapped
    # Insert from the end so earlier offsets stay valid; ties keep their discovery order.
    for offset, text in sorted(walk.inserts, key=lambda item: item[0], reverse=True):
        out = out[:offset] + text + out[offset:]
    api_calls, warnings = walk.finish()
    return Analysis(out[len(_PREFIX) : len(out) - len(_SUFFIX)], api_calls, warnings)
