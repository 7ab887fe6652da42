"""Runs reuse a locked-down context per template (runtime/engine.py): each run must still see
pristine globals, prototypes, API values and prelude state, whatever the run before it did."""

from __future__ import annotations

from typing import Any

from runtime.engine import run_template
from runtime.environment import Environment
from runtime.host import Request, RunState
from tests.runtime.helpers import perm, template

# First run (data.tamper): reach everything it can (the global object through the Function
# constructor, every prototype a literal or an API value leads to) and change it. Every run
# then reports what it sees; a pristine run sees the same as the very first one.
TAMPERING = r"""
const getType = require('getType');
const makeString = require('makeString');
const JSON = require('JSON');
const Promise = require('Promise');
const storage = require('templateDataStorage');
const Fn = getType.constructor;
const g = Fn('return this')();

const seen = {
  objectProto: typeof ({}).polluted + typeof ({}).polluted2,
  arrayPush: typeof [].push,
  arrayMapWorks: [1, 2].map((x) => x * 2).join(','),
  stringTrim: ' a '.trim(),
  numberFixed: (1.5).toFixed(1),
  fnCall: typeof getType.call,
  promiseThen: typeof Promise.resolve(1).then,
  iterator: typeof [][g.Symbol.iterator]().next,
  globalLeak: typeof g.leaked,
  sloppyGlobal: typeof g.undeclaredGlobal,
  globalJSON: typeof g.JSON,
  globalArray: typeof g.Array,
  tick: typeof g['__sgtm_' + 'tick'],
  globalProtoIsObject: g.Object.getPrototypeOf(g) === ({}).__proto__,
  extensible: g.Object.isExtensible(g),
  apiProp: typeof makeString.leak,
  getTypeWorks: getType([]),
  jsonParse: typeof JSON.parse,
  storageItem: storage.getItemCopy('k'),
  mathAbs: typeof g.Math.abs,
};

if (data.tamper) {
  ({}).__proto__.polluted = 'yes';
  g.Object.prototype.polluted2 = 'yes';
  [].__proto__.push = null;
  [].__proto__.map = function () { return ['evil']; };
  ''.__proto__.trim = function () { return 'evil'; };
  (1).__proto__.toFixed = null;
  Fn.prototype.call = null;
  Promise.resolve(1).__proto__.then = null;
  g.Object.getPrototypeOf([][g.Symbol.iterator]()).next = null;
  g.leaked = 'yes';
  undeclaredGlobal = 'yes';
  g.JSON = null;
  g.Array = null;
  g['__sgtm_' + 'tick'] = function () {};
  makeString.leak = 'yes';
  g.Math.abs = null;
  g.Object.setPrototypeOf(g.Object.prototype, null);
  storage.setItemCopy('k', 'kept');
}
data.gtmOnSuccess();
return seen;
"""


def _run(tpl: Any, tamper: bool) -> Any:
    state = RunState(
        template_id=tpl.id,
        permissions=tpl.permissions,
        kind="MACRO",
        env=ENV,
        event={},
        request=Request(),
    )
    result = run_template(tpl, {"tamper": tamper}, state)
    assert result.error is None, result.error
    return result.value


ENV = Environment()


def test_a_run_that_tampers_with_everything_it_can_reach_leaves_the_next_run_pristine():
    tpl = template(TAMPERING, [perm("access_template_storage")], kind="MACRO")
    first = _run(tpl, tamper=False)
    assert first["arrayMapWorks"] == "2,4" and first["objectProto"] == "undefinedundefined"
    reused = tpl.contexts[0]
    _run(tpl, tamper=True)
    after = _run(tpl, tamper=False)
    # The same context served all three runs (so this really tests reuse) ...
    assert tpl.contexts == [reused]
    # ... and the third saw exactly what the first did, except template storage, which GTM
    # keeps between runs on purpose (and which lives outside the context).
    assert first.pop("storageItem") is None and after["storageItem"] == "kept"
    after.pop("storageItem")
    assert after == first


def test_a_run_that_leaves_an_undeletable_global_loses_its_context():
    code = r"""
const g = require('getType').constructor('return this')();
if (data.tamper) g.Object.defineProperty(g, 'stuck', {value: 1});
data.gtmOnSuccess();
return typeof g.stuck;
"""
    tpl = template(code, kind="MACRO")
    assert _run(tpl, tamper=False) == "undefined"
    reused = tpl.contexts[0]
    assert _run(tpl, tamper=True) == "number"
    # The reset could not remove it: the context was dropped, and the next run gets a new one.
    assert tpl.contexts == []
    assert _run(tpl, tamper=False) == "undefined"
    assert tpl.contexts and tpl.contexts[0] is not reused


def test_a_run_that_ends_in_an_error_is_not_reused():
    tpl = template("if (data.tamper) require('nope'); data.gtmOnSuccess();", kind="TAG")
    state = RunState(template_id=tpl.id, permissions=tpl.permissions, kind="TAG", env=ENV)
    assert run_template(tpl, {"tamper": True}, state).error
    assert tpl.contexts == []


def test_a_context_whose_lockdown_fails_is_rebuilt_and_never_reused(monkeypatch):
    from runtime import engine

    # An engine where freezing throws: the run still gets a clean context, and no reuse.
    monkeypatch.setattr(
        engine,
        "PRELUDE",
        engine.PRELUDE + "\nglobalThis.__sgtm_lockdown = function () { throw new Error('x'); };",
    )
    tpl = template("data.gtmOnSuccess(); return 'ran';", kind="MACRO")
    for _ in range(2):
        assert _run(tpl, tamper=False) == "ran"
        assert tpl.contexts == []
