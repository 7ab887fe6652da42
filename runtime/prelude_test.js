// The GTM template test API (runCode, mock, mockObject, assertApi, assertThat, fail), evaluated
// after prelude.js only when a template's ___TESTS___ run.
(function () {
  'use strict';
  var G = globalThis;
  var I = G.__sgtm_internal;
  var call = I.call, calls = I.calls, mocks = I.mocks, objectMocks = I.objectMocks;
  var outcome = I.outcome, recorded = I.recorded, withCallbacks = I.withCallbacks;
  var getType = I.getType, templateRequire = I.templateRequire, plainRequire = I.plainRequire;
  var SandboxError = I.SandboxError;
  var nativeJSON = G.JSON, nativeObject = G.Object, nativeArray = G.Array;

  // ---- test API -----------------------------------------------------------------------------
  var failures = [];

  function fmt(v) {
    if (typeof v === 'function') return 'function ' + (v.name || '(anonymous)');
    if (v === undefined) return 'undefined';
    if (typeof v === 'number' && v !== v) return 'NaN';
    try {
      var s = nativeJSON.stringify(v, function (k, x) {
        return typeof x === 'function' ? '<function>' : x === undefined ? '<undefined>' : x;
      });
      return s === undefined ? '' + v : s;
    } catch (e) {
      return '' + v;
    }
  }

  function deepEqual(a, b) {
    if (a === b) return true;
    if (typeof a === 'number' && typeof b === 'number' && a !== a && b !== b) return true;
    if (getType(a) !== getType(b)) return false;
    var t = getType(a);
    if (t === 'array') {
      if (a.length !== b.length) return false;
      for (var i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
      return true;
    }
    if (t === 'object') {
      var ka = nativeObject.keys(a).filter(function (k) { return a[k] !== undefined; });
      var kb = nativeObject.keys(b).filter(function (k) { return b[k] !== undefined; });
      if (ka.length !== kb.length) return false;
      for (var j = 0; j < ka.length; j++) {
        if (!nativeObject.prototype.hasOwnProperty.call(b, ka[j])) return false;
        if (!deepEqual(a[ka[j]], b[ka[j]])) return false;
      }
      return true;
    }
    return false;
  }

  function failWith(message) {
    failures.push(message);
    var e = SandboxError(message);
    e.sgtmAssertion = true;
    throw e;
  }

  function argsEqual(actual, expected) {
    if (actual.length !== expected.length) {
      // GTM compares the argument lists; trailing undefineds do not count.
      while (actual.length > expected.length && actual[actual.length - 1] === undefined) actual = actual.slice(0, -1);
      if (actual.length !== expected.length) return false;
    }
    for (var i = 0; i < actual.length; i++) if (!deepEqual(actual[i], expected[i])) return false;
    return true;
  }

  function assertApi(name) {
    function callsOf() {
      return calls.filter(function (c) { return c.name === name; });
    }
    function show(list) {
      return list.length === 0 ? 'no calls' : list.map(function (c) { return '(' + c.args.map(fmt).join(', ') + ')'; }).join(', ');
    }
    return {
      wasCalled: function () {
        if (callsOf().length === 0) failWith("assertApi('" + name + "').wasCalled(): it was not called");
      },
      wasNotCalled: function () {
        var list = callsOf();
        if (list.length > 0) failWith("assertApi('" + name + "').wasNotCalled(): it was called " + list.length + ' time(s): ' + show(list));
      },
      wasCalledWith: function () {
        var expected = nativeArray.prototype.slice.call(arguments);
        var list = callsOf();
        if (!list.some(function (c) { return argsEqual(c.args, expected); }))
          failWith("assertApi('" + name + "').wasCalledWith(" + expected.map(fmt).join(', ') + '): actual calls: ' + show(list));
      },
      wasNotCalledWith: function () {
        var expected = nativeArray.prototype.slice.call(arguments);
        if (callsOf().some(function (c) { return argsEqual(c.args, expected); }))
          failWith("assertApi('" + name + "').wasNotCalledWith(" + expected.map(fmt).join(', ') + '): it was called with those arguments');
      },
    };
  }

  function assertThat(actual, message) {
    function check(ok, what, expected) {
      if (ok) return;
      var text = (message ? message + ': ' : '') + 'assertThat(' + fmt(actual) + ').' + what + '(' + (arguments.length > 2 ? fmt(expected) : '') + ') failed';
      failWith(text);
    }
    function len(v) {
      return v === null || v === undefined ? undefined : v.length;
    }
    function contains(v, x) {
      if (getType(v) === 'string') return v.indexOf(x) >= 0;
      if (getType(v) !== 'array') return false;
      return v.some(function (y) { return deepEqual(y, x); });
    }
    var s = {
      isEqualTo: function (e) { check(deepEqual(actual, e), 'isEqualTo', e); },
      isNotEqualTo: function (e) { check(!deepEqual(actual, e), 'isNotEqualTo', e); },
      isStrictlyEqualTo: function (e) { check(actual === e, 'isStrictlyEqualTo', e); },
      isNotStrictlyEqualTo: function (e) { check(actual !== e, 'isNotStrictlyEqualTo', e); },
      isDefined: function () { check(actual !== undefined, 'isDefined'); },
      isUndefined: function () { check(actual === undefined, 'isUndefined'); },
      isNull: function () { check(actual === null, 'isNull'); },
      isNotNull: function () { check(actual !== null, 'isNotNull'); },
      isTrue: function () { check(actual === true, 'isTrue'); },
      isFalse: function () { check(actual === false, 'isFalse'); },
      isTruthy: function () { check(!!actual, 'isTruthy'); },
      isFalsy: function () { check(!actual, 'isFalsy'); },
      isNaN: function () { check(typeof actual === 'number' && actual !== actual, 'isNaN'); },
      isNotNaN: function () { check(!(typeof actual === 'number' && actual !== actual), 'isNotNaN'); },
      isInfinity: function () { check(actual === Infinity || actual === -Infinity, 'isInfinity'); },
      isNotInfinity: function () { check(actual !== Infinity && actual !== -Infinity, 'isNotInfinity'); },
      isString: function () { check(getType(actual) === 'string', 'isString'); },
      isNumber: function () { check(getType(actual) === 'number', 'isNumber'); },
      isBoolean: function () { check(getType(actual) === 'boolean', 'isBoolean'); },
      isArray: function () { check(getType(actual) === 'array', 'isArray'); },
      isObject: function () { check(getType(actual) === 'object', 'isObject'); },
      isFunction: function () { check(getType(actual) === 'function', 'isFunction'); },
      isGreaterThan: function (e) { check(actual > e, 'isGreaterThan', e); },
      isGreaterThanOrEqualTo: function (e) { check(actual >= e, 'isGreaterThanOrEqualTo', e); },
      isLessThan: function (e) { check(actual < e, 'isLessThan', e); },
      isLessThanOrEqualTo: function (e) { check(actual <= e, 'isLessThanOrEqualTo', e); },
      hasLength: function (n) { check(len(actual) === n, 'hasLength', n); },
      isEmpty: function () { check(len(actual) === 0 || (getType(actual) === 'object' && nativeObject.keys(actual).length === 0), 'isEmpty'); },
      isNotEmpty: function () { check(!(len(actual) === 0 || (getType(actual) === 'object' && nativeObject.keys(actual).length === 0)), 'isNotEmpty'); },
      contains: function () {
        var xs = nativeArray.prototype.slice.call(arguments);
        check(xs.every(function (x) { return contains(actual, x); }), 'contains', xs.length === 1 ? xs[0] : xs);
      },
      doesNotContain: function () {
        var xs = nativeArray.prototype.slice.call(arguments);
        check(!xs.some(function (x) { return contains(actual, x); }), 'doesNotContain', xs.length === 1 ? xs[0] : xs);
      },
      containsExactly: function () {
        var xs = nativeArray.prototype.slice.call(arguments);
        var ok = getType(actual) === 'array' && actual.length === xs.length &&
          xs.every(function (x) { return contains(actual, x); }) && actual.every(function (y) { return contains(xs, y); });
        check(ok, 'containsExactly', xs);
      },
      doesNotContainExactly: function () {
        var xs = nativeArray.prototype.slice.call(arguments);
        var ok = getType(actual) === 'array' && actual.length === xs.length &&
          xs.every(function (x) { return contains(actual, x); }) && actual.every(function (y) { return contains(xs, y); });
        check(!ok, 'doesNotContainExactly', xs);
      },
    };
    return s;
  }

  function mock(name, value) {
    if (typeof name !== 'string') failWith('mock: the first argument must be an API name');
    mocks[name] = value;
  }

  function mockObject(name, obj) {
    if (typeof name !== 'string') failWith('mockObject: the first argument must be an API name');
    var out = {};
    nativeObject.keys(obj || {}).forEach(function (k) {
      out[k] = typeof obj[k] === 'function' ? recorded(name + '.' + k, obj[k]) : obj[k];
    });
    objectMocks[name] = out;
  }

  // Google's test API runs the template with the data object given to each runCode call and
  // resets mocks before each test (docs/runtime.md): each call gets its own data, while mocks
  // are per scenario and bound when the template requires the API. The template sees a copy of
  // the object given, with gtmOnSuccess/gtmOnFailure added, so neither those nor the template's
  // own assignments leak into the test's object or into the next runCode call.
  function runCode(data) {
    outcome.result = null;
    var given = data === undefined || data === null ? {} : data;
    var d = getType(given) === 'object' ? nativeObject.assign({}, given) : given;
    d = withCallbacks(d);
    call('test:run', []);
    var value = G.__sgtm_template(d, templateRequire);
    return value;
  }

  function fail(message) {
    failWith(message === undefined ? 'fail() called' : 'fail(' + fmt(message) + ')');
  }

  G.__sgtm_test_api = {
    runCode: runCode,
    mock: mock,
    mockObject: mockObject,
    assertApi: assertApi,
    assertThat: assertThat,
    fail: fail,
    require: plainRequire,
  };
  G.__sgtm_failures = function () {
    return nativeJSON.stringify(failures);
  };
})();
