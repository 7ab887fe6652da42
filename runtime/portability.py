"""What Google documents for sandboxed JavaScript, and the warning for what it does not.

The runtime runs a template on QuickJS, whose strings and arrays have every ES2023 method. GTM's
sandbox is "based on ECMAScript 5.1" with arrow functions and ``let``/``const``, and only the
methods of its standard-library page are guaranteed; others may be missing in GTM. So a template
that calls ``'x'.startsWith('y')`` passes here and may fail in production. ``sgtm templates
test`` prints a portability warning for each use of something Google's documentation does not
cover, and ``--strict`` fails the template.

The lists below are copied from /work/shared/reference/sgtm-templates.md (4.1 "Documented",
4.2 "Standard library", 3.3-3.5 object APIs), which quotes
developers.google.com/tag-platform/tag-manager/templates/sandboxed-javascript and
.../templates/standard-library (read 2026-12-02). A call's receiver type is not known before
the code runs, so a method name is accepted when any documented type has it.
"""

from __future__ import annotations

STANDARD_LIBRARY = "developers.google.com/tag-platform/tag-manager/templates/standard-library"
SANDBOXED_JS = "developers.google.com/tag-platform/tag-manager/templates/sandboxed-javascript"

ARRAY_METHODS = frozenset(
    "concat every filter forEach indexOf join lastIndexOf map pop push reduce reduceRight "
    "reverse shift slice some sort splice toString unshift".split()
)
STRING_METHODS = frozenset(
    "charAt concat indexOf lastIndexOf match replace search slice split substring toLowerCase "
    "toLocaleLowerCase toString toUpperCase toLocaleUpperCase trim".split()
)
# "Object, Boolean, Number: toString" (already in both lists above).
DOCUMENTED_METHODS = ARRAY_METHODS | STRING_METHODS

# Members of the object APIs, as the server API reference documents them.
OBJECT_API_MEMBERS: dict[str, frozenset[str]] = {
    "JSON": frozenset({"parse", "stringify"}),
    "Math": frozenset({"abs", "ceil", "floor", "round", "max", "min", "pow", "sqrt"}),
    "Object": frozenset({"keys", "values", "entries", "freeze", "delete"}),
    "Promise": frozenset({"create", "all"}),
    "templateDataStorage": frozenset({"getItemCopy", "setItemCopy", "removeItem", "clear"}),
    "BigQuery": frozenset({"insert"}),
    "Firestore": frozenset({"read", "write", "query", "runTransaction"}),
}
# A Promise from Promise.create / sendHttpRequest / BigQuery.insert has these (server API
# reference, Promise section).
PROMISE_METHODS = frozenset({"then", "catch", "finally"})
# Properties of ``data`` that are functions (tags only).
DATA_CALLBACKS = frozenset({"gtmOnSuccess", "gtmOnFailure"})

# ES features newer than ES5.1 that GTM's documentation does not mention, and that the static
# check does not already refuse (refused ones are in syntax.DENIED).
UNDOCUMENTED_SYNTAX: dict[str, str] = {
    "ForOfStatement": "for...of is not in ES5.1 and not documented for the sandbox; "
    "use for (let i = 0; i < a.length; i++) or forEach",
    "shorthand": "shorthand properties ({a}) are not in ES5.1 and not documented for the "
    "sandbox; write {a: a}",
    "method": "method shorthand ({f() {}}) is not in ES5.1 and not documented for the sandbox; "
    "write {f: () => ...}",
    "computed": "computed property keys ({[k]: v}) are not in ES5.1 and not documented for the "
    "sandbox; assign obj[k] = v",
    "**": "the ** operator is not in ES5.1 and not documented for the sandbox; use Math.pow",
}


def method_warning(method: str) -> str:
    return (
        f"'.{method}()' is not in Google's sandbox standard library ({STANDARD_LIBRARY}); it "
        "works locally but may not exist in GTM"
    )


def member_warning(api: str, member: str) -> str:
    documented = ", ".join(sorted(OBJECT_API_MEMBERS[api]))
    return f"{api}.{member} is not documented for the sandbox ({api} has: {documented})"


def syntax_warning(feature: str) -> str:
    return f"{UNDOCUMENTED_SYNTAX[feature]} ({SANDBOXED_JS})"
