// The JavaScript half of the sGTM sandbox emulator, evaluated once in every fresh context.
//
// Python exposes one host function, __sgtm_host(name, argsJson) -> envelopeJson. It never
// throws: failures come back as {"e": message} and the shims here throw a JS Error, so a host
// failure behaves like a failing sandbox API (and the quickjs try/catch binding bug is never hit).
// Callbacks and Promises stay on this side; Python only ever sees JSON.
(function () {
  'use strict';
  var G = globalThis;
  var host = G.__sgtm_host;
  var clock = G.__sgtm_clock;
  var NativePromise = G.Promise;
  var nativeJSON = G.JSON;
  var nativeMath = G.Math;
  var nativeObject = G.Object;
  var nativeRegExp = G.RegExp;
  var nativeDate = G.Date;
  var nativeError = G.Error;
  var nativeArray = G.Array;
  var encURI = G.encodeURI, encURIC = G.encodeURIComponent;
  var decURI = G.decodeURI, decURIC = G.decodeURIComponent;

  function SandboxError(message) {
    var e = new nativeError(message);
    e.sgtm = true;
    return e;
  }

  function encode(value) {
    // undefined inside arrays would become null; the host treats both as "absent".
    return nativeJSON.stringify(value === undefined ? null : value);
  }

  function call(name, args) {
    var raw = host(name, encode(args));
    var r = nativeJSON.parse(raw);
    if (r.e !== undefined) throw SandboxError(r.e);
    return r.v;
  }

  // ---- run budget -------------------------------------------------------------------------
  // Every loop head and function entry of template and test code calls this (see syntax.py).
  // Asking Python for the wall clock costs a host call, so it only does so every 2048 ticks.
  var ticks = 0, stopped = null;
  G.__sgtm_tick = function (line) {
    if (stopped !== null) throw SandboxError(stopped);
    if (++ticks < 2048) return;
    ticks = 0;
    var over = clock(line);
    if (over) {
      stopped = over;
      throw SandboxError(over);
    }
  };

  // ---- macrotasks (callLater, delivered HTTP responses) ------------------------------------
  var macro = [];
  var pendingHttp = {};
  function later(fn) {
    macro.push(fn);
  }
  G.__sgtm_run_macrotask = function () {
    if (macro.length === 0) return false;
    var fn = macro.shift();
    fn();
    return true;
  };
  G.__sgtm_deliver = function (id, outcomeJson) {
    var p = pendingHttp[id];
    if (!p) return;
    delete pendingHttp[id];
    var outcome = nativeJSON.parse(outcomeJson);
    if (outcome.ok) p.resolve(outcome.value);
    else p.reject(outcome.value);
  };

  // ---- pure sandbox APIs --------------------------------------------------------------------
  function getType(v) {
    if (v === null) return 'null';
    if (nativeArray.isArray(v)) return 'array';
    var t = typeof v;
    if (t === 'string' || t === 'number' || t === 'boolean' || t === 'undefined' || t === 'function')
      return t;
    return 'object';
  }

  function makeString(v) {
    if (v === null) return 'null';
    if (v === undefined) return 'undefined';
    return '' + v;
  }

  function makeNumber(v) {
    if (typeof v === 'number') return v;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'string') return +v;
    if (v === null) return 0;
    return NaN;
  }

  function makeInteger(v) {
    var n = makeNumber(v);
    if (n !== n || n === Infinity || n === -Infinity) return 0;
    return n < 0 ? nativeMath.ceil(n) : nativeMath.floor(n);
  }

  function makeTableMap(rows, keyColumn, valueColumn) {
    if (getType(rows) !== 'array') return null;
    var out = {}, any = false;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (row && row[keyColumn] !== undefined) {
        out[row[keyColumn]] = row[valueColumn];
        any = true;
      }
    }
    return any ? out : null;
  }

  var sandboxJSON = {
    parse: function (s) {
      if (typeof s !== 'string') return undefined;
      try {
        return nativeJSON.parse(s);
      } catch (e) {
        return undefined;
      }
    },
    stringify: function (v) {
      try {
        return nativeJSON.stringify(v);
      } catch (e) {
        return undefined;
      }
    },
  };

  var sandboxMath = {};
  ['abs', 'ceil', 'floor', 'round', 'max', 'min', 'pow', 'sqrt'].forEach(function (k) {
    sandboxMath[k] = nativeMath[k];
  });

  var sandboxObject = {
    keys: function (o) {
      return getType(o) === 'object' || getType(o) === 'array' ? nativeObject.keys(o) : [];
    },
    values: function (o) {
      return getType(o) === 'object' || getType(o) === 'array' ? nativeObject.values(o) : [];
    },
    entries: function (o) {
      return getType(o) === 'object' || getType(o) === 'array' ? nativeObject.entries(o) : [];
    },
    freeze: function (o) {
      return nativeObject.freeze(o);
    },
    delete: function (o, key) {
      if (o === null || typeof o !== 'object' || nativeObject.isFrozen(o)) return false;
      return delete o[key];
    },
  };

  function sandboxPromise(fn) {
    return new NativePromise(fn);
  }
  sandboxPromise.create = function (fn) {
    return new NativePromise(fn);
  };
  sandboxPromise.all = function (list) {
    return NativePromise.all(list);
  };
  sandboxPromise.resolve = function (v) {
    return NativePromise.resolve(v);
  };
  sandboxPromise.reject = function (v) {
    return NativePromise.reject(v);
  };

  function callLater(fn) {
    if (typeof fn !== 'function') throw SandboxError('callLater: argument must be a function');
    later(function () {
      fn();
    });
  }

  // Server API reference, createRegex: "'g' (global) and 'i' (ignore case) flags are
  // supported. All other characters are silently ignored."
  function createRegex(pattern, flags) {
    var kept = '';
    var given = flags === undefined || flags === null ? '' : makeString(flags);
    if (given.indexOf('g') >= 0) kept += 'g';
    if (given.indexOf('i') >= 0) kept += 'i';
    try {
      return new nativeRegExp(pattern, kept);
    } catch (e) {
      return null;
    }
  }

  // testRegex: "A regex with the global flag is stateful": like RegExp.prototype.test, a 'g'
  // regex continues from its lastIndex, so the state is kept between calls.
  function testRegex(re, s) {
    if (!(re instanceof nativeRegExp)) throw SandboxError('testRegex: first argument must come from createRegex');
    return re.test(makeString(s));
  }

  // computeEffectiveTldPlusOne: "Returns the argument unaltered if it is null/undefined"; the
  // host computes the rest (a blank string for what is not a domain or URL).
  function computeEffectiveTldPlusOne(value) {
    if (value === null || value === undefined) return value;
    return call('computeEffectiveTldPlusOne', [value]);
  }

  function safe(fn) {
    return function (s) {
      try {
        return fn(makeString(s));
      } catch (e) {
        return undefined;
      }
    };
  }

  function getTimestampMillis() {
    return nativeDate.now();
  }

  // ---- host-backed APIs ---------------------------------------------------------------------
  function hostFn(name) {
    return function () {
      return call(name, nativeArray.prototype.slice.call(arguments));
    };
  }

  function httpPromise(name, url, options, body) {
    var id = call(name, [url, options || {}, body === undefined ? null : body]);
    return new NativePromise(function (resolve, reject) {
      pendingHttp[id] = { resolve: resolve, reject: reject };
    });
  }

  function sendHttpRequest(url, a, b, c) {
    if (typeof a === 'function') {
      var cb = a;
      httpPromise('sendHttpRequest', url, b, c).then(
        function (r) {
          cb(r.statusCode, r.headers, r.body);
        },
        function () {
          // The legacy form has no error channel; GTM reports a failed request as status 0 here
          // (documented divergence: the exact value is not specified by Google).
          cb(0, {}, '');
        }
      );
      return undefined;
    }
    return httpPromise('sendHttpRequest', url, a, b);
  }

  function sendHttpGet(url, a, b) {
    if (typeof a === 'function') {
      var cb = a;
      httpPromise('sendHttpGet', url, b, null).then(
        function (r) {
          cb(r.statusCode, r.headers, r.body);
        },
        function () {
          cb(0, {}, '');
        }
      );
      return undefined;
    }
    return httpPromise('sendHttpGet', url, a, null);
  }

  function asyncHost(name) {
    return function () {
      var id = call(name, nativeArray.prototype.slice.call(arguments));
      return new NativePromise(function (resolve, reject) {
        pendingHttp[id] = { resolve: resolve, reject: reject };
      });
    };
  }

  function logToConsole() {
    var parts = nativeArray.prototype.slice.call(arguments).map(function (a) {
      if (typeof a === 'string') return a;
      if (a === undefined) return 'undefined';
      if (typeof a === 'function') return 'function';
      var s = sandboxJSON.stringify(a);
      return s === undefined ? '' + a : s;
    });
    return call('logToConsole', parts);
  }

  function sha256(input, onSuccess, options) {
    var digest = call('sha256Sync', [input, options]);
    later(function () {
      if (typeof onSuccess === 'function') onSuccess(digest);
    });
  }

  var bound = null; // the event a client callback is bound to (runContainer's bindToEvent)
  function runContainer(event, onComplete, onStart) {
    var eventId = call('runContainer:start', [event]);
    // Google documents one form: bindToEvent(addEventCallback)(cb). Whatever the bound function
    // calls while it runs is bound to this event. A callback wrapped the other way round
    // (addEventCallback(bindToEvent(cb))) carries no event: addEventCallback itself runs unbound
    // and fails in a client, as GTM says it must ("must be bound to a specific event").
    function bindToEvent(fn) {
      var wrapper = function () {
        var prev = bound;
        bound = eventId;
        try {
          return fn.apply(null, arguments);
        } finally {
          bound = prev;
        }
      };
      return wrapper;
    }
    if (typeof onStart === 'function') onStart(bindToEvent);
    var summary = call('runContainer:run', [eventId]);
    // Event callbacks bound to this event run once its tags are done, then onComplete.
    later(function () {
      fireEventCallbacks(eventId, summary.containerId, summary.eventData);
      if (typeof onComplete === 'function') onComplete(bindToEvent);
    });
  }

  var eventCallbacks = [];
  function addEventCallback(cb) {
    if (typeof cb !== 'function') throw SandboxError('addEventCallback: the callback must be a function');
    var target = call('addEventCallback', [bound]);
    eventCallbacks.push({ target: target, cb: cb });
  }
  function fireEventCallbacks(target, containerId, eventData) {
    var fired = 0;
    var mine = eventCallbacks.filter(function (e) { return e.target === target; });
    eventCallbacks = eventCallbacks.filter(function (e) { return e.target !== target; });
    for (var i = 0; i < mine.length; i++) {
      // Each callback gets its own copy, as each would from GTM.
      mine[i].cb(containerId, nativeJSON.parse(nativeJSON.stringify(eventData)));
      fired++;
    }
    return fired;
  }
  G.__sgtm_fire_event_callbacks = function (target, containerId, eventDataJson) {
    return fireEventCallbacks(target, containerId, nativeJSON.parse(eventDataJson));
  };

  // ---- messages (tag -> client) -----------------------------------------------------------
  // Callbacks stay here; Python keeps which listener hears which type and event, and calls
  // __sgtm_deliver_message synchronously from the sender's sendMessage.
  var messageListeners = {};
  var listenerCount = 0;
  function addMessageListener(type, cb) {
    if (typeof cb !== 'function') throw SandboxError('addMessageListener: the callback must be a function');
    var id = 'm' + ++listenerCount;
    call('addMessageListener', [makeString(type), id, bound]);
    messageListeners[id] = cb;
  }
  function sendMessage(type, message) {
    call('sendMessage', [makeString(type), message === undefined ? null : message]);
  }
  G.__sgtm_deliver_message = function (id, type, messageJson) {
    var cb = messageListeners[id];
    if (cb) cb(type, nativeJSON.parse(messageJson));
  };

  function storage() {
    return {
      getItemCopy: hostFn('templateDataStorage.getItemCopy'),
      setItemCopy: hostFn('templateDataStorage.setItemCopy'),
      removeItem: hostFn('templateDataStorage.removeItem'),
      clear: hostFn('templateDataStorage.clear'),
    };
  }

  function unsupported(name) {
    return function () {
      throw SandboxError(name + ' is not supported by the local runtime');
    };
  }

  // Every API name the server sandbox knows. Values build the implementation; objects are
  // rebuilt per require() so a template cannot poison another run's copy.
  var API = {
    addEventCallback: function () { return addEventCallback; },
    addMessageListener: function () { return addMessageListener; },
    // Real templates require the test API's assertThat (a Heureka variable does); outside tests
    // calling it fails clearly.
    assertThat: function () {
      return G.__sgtm_test_api ? G.__sgtm_test_api.assertThat : function () {
        throw SandboxError('assertThat is only available while template tests run');
      };
    },
    BigQuery: function () {
      var insert = asyncHost('BigQuery.insert');
      return {
        // The older form takes onSuccess/onFailure callbacks after the options.
        insert: function (connection, rows, options, onSuccess, onFailure) {
          var p = insert(connection, rows, options === undefined ? null : options);
          if (typeof onSuccess === 'function' || typeof onFailure === 'function') {
            p.then(function () { if (typeof onSuccess === 'function') onSuccess(); },
                   function (e) { if (typeof onFailure === 'function') onFailure(e); });
          }
          return p;
        },
      };
    },
    callLater: function () { return callLater; },
    claimRequest: function () { return hostFn('claimRequest'); },
    computeEffectiveTldPlusOne: function () { return computeEffectiveTldPlusOne; },
    createRegex: function () { return createRegex; },
    decodeUri: function () { return safe(decURI); },
    decodeUriComponent: function () { return safe(decURIC); },
    encodeUri: function () { return safe(encURI); },
    encodeUriComponent: function () { return safe(encURIC); },
    extractEventsFromMpv1: function () { return unsupported('extractEventsFromMpv1'); },
    extractEventsFromMpv2: function () { return unsupported('extractEventsFromMpv2'); },
    Firestore: function () {
      return {
        read: asyncHost('Firestore.read'),
        write: asyncHost('Firestore.write'),
        query: asyncHost('Firestore.query'),
        runTransaction: function (fn, options) {
          var tx = call('Firestore.begin', [options || {}]);
          return NativePromise.resolve(fn(tx)).then(function () {
            return call('Firestore.commit', [tx]);
          });
        },
      };
    },
    fromBase64: function () { return hostFn('fromBase64'); },
    generateRandom: function () { return hostFn('generateRandom'); },
    getAllEventData: function () { return hostFn('getAllEventData'); },
    getClientName: function () { return hostFn('getClientName'); },
    getContainerVersion: function () { return hostFn('getContainerVersion'); },
    getCookieValues: function () { return hostFn('getCookieValues'); },
    getEventData: function () { return hostFn('getEventData'); },
    getGoogleAuth: function () { return hostFn('getGoogleAuth'); },
    getGoogleScript: function () { return unsupported('getGoogleScript'); },
    getRemoteAddress: function () { return hostFn('getRemoteAddress'); },
    getRequestBody: function () { return hostFn('getRequestBody'); },
    getRequestHeader: function () { return hostFn('getRequestHeader'); },
    getRequestMethod: function () { return hostFn('getRequestMethod'); },
    getRequestPath: function () { return hostFn('getRequestPath'); },
    getRequestQueryParameter: function () { return hostFn('getRequestQueryParameter'); },
    getRequestQueryParameters: function () { return hostFn('getRequestQueryParameters'); },
    getRequestQueryString: function () { return hostFn('getRequestQueryString'); },
    getTimestamp: function () { return getTimestampMillis; },
    getTimestampMillis: function () { return getTimestampMillis; },
    getType: function () { return getType; },
    hasMessageListener: function () { return hostFn('hasMessageListener'); },
    hmacSha256: function () { return hostFn('hmacSha256'); },
    isRequestMpv1: function () { return hostFn('isRequestMpv1'); },
    isRequestMpv2: function () { return hostFn('isRequestMpv2'); },
    JSON: function () { return { parse: sandboxJSON.parse, stringify: sandboxJSON.stringify }; },
    logToConsole: function () { return logToConsole; },
    makeInteger: function () { return makeInteger; },
    makeNumber: function () { return makeNumber; },
    makeString: function () { return makeString; },
    makeTableMap: function () { return makeTableMap; },
    Math: function () { return nativeObject.assign({}, sandboxMath); },
    Object: function () { return nativeObject.assign({}, sandboxObject); },
    parseUrl: function () { return hostFn('parseUrl'); },
    Promise: function () { return sandboxPromise; },
    queryPermission: function () { return hostFn('queryPermission'); },
    returnResponse: function () { return hostFn('returnResponse'); },
    runContainer: function () { return runContainer; },
    sendEventToGoogleAnalytics: function () { return unsupported('sendEventToGoogleAnalytics'); },
    sendHttpGet: function () { return sendHttpGet; },
    sendHttpRequest: function () { return sendHttpRequest; },
    sendMessage: function () { return sendMessage; },
    sendPixelFromBrowser: function () { return hostFn('sendPixelFromBrowser'); },
    setCookie: function () { return hostFn('setCookie'); },
    setPixelResponse: function () { return hostFn('setPixelResponse'); },
    setResponseBody: function () { return hostFn('setResponseBody'); },
    setResponseHeader: function () { return hostFn('setResponseHeader'); },
    setResponseStatus: function () { return hostFn('setResponseStatus'); },
    sha256: function () { return sha256; },
    sha256Sync: function () { return hostFn('sha256Sync'); },
    templateDataStorage: function () { return storage(); },
    testRegex: function () { return testRegex; },
    toBase64: function () { return hostFn('toBase64'); },
  };
  var OBJECT_APIS = { BigQuery: 1, Firestore: 1, JSON: 1, Math: 1, Object: 1, Promise: 1, templateDataStorage: 1 };

  // ---- calls, mocks and the two require()s ------------------------------------------------
  // Template code gets a require() whose functions record every call (assertApi) and consult
  // the mocks at call time; test code gets the plain APIs.
  var calls = [];
  var mocks = {};
  var objectMocks = {};

  function known(name) {
    return nativeObject.prototype.hasOwnProperty.call(API, name);
  }

  // A recorded API function. With `bind`, the mock in force at require() time is the one it
  // uses for the rest of that run (see templateRequire); without, it has no mock.
  function recorded(name, impl, bind) {
    var mocked = bind === true && nativeObject.prototype.hasOwnProperty.call(mocks, name);
    var m = mocked ? mocks[name] : undefined;
    return function () {
      var args = nativeArray.prototype.slice.call(arguments);
      calls.push({ name: name, args: args });
      if (mocked) return typeof m === 'function' ? m.apply(null, args) : m;
      return impl.apply(null, args);
    };
  }

  function templateRequire(name) {
    if (typeof name !== 'string' || !known(name))
      throw SandboxError('require: unknown API ' + nativeJSON.stringify(name));
    if (nativeObject.prototype.hasOwnProperty.call(objectMocks, name)) return objectMocks[name];
    if (OBJECT_APIS[name] && nativeObject.prototype.hasOwnProperty.call(mocks, name)) {
      // mock('Firestore', () => ({read: ...})): for object APIs the mock is a factory (or the
      // object itself); what it returns is what require() gives the template.
      var m = mocks[name];
      var made = typeof m === 'function' && name !== 'Promise' ? m() : m;
      return wrapObject(name, made);
    }
    // Mocks bind when the template requires the API, i.e. per runCode call for the usual
    // top-level require: a run keeps the mocks it started with even when its Promise callbacks
    // run after the scenario re-mocked for its next runCode (stape's activecampaign-tag tests
    // loop over cases that way, and pass in GTM). Object mocks already bind here.
    var impl = API[name]();
    if (OBJECT_APIS[name]) {
      var out = typeof impl === 'function' ? recorded(name, impl, true) : {};
      nativeObject.keys(impl).forEach(function (k) {
        out[k] = typeof impl[k] === 'function' ? recorded(name + '.' + k, impl[k], true) : impl[k];
      });
      return out;
    }
    return recorded(name, impl, true);
  }

  function wrapObject(name, obj) {
    if (obj === null || typeof obj !== 'object') return obj;
    var out = {};
    nativeObject.keys(obj).forEach(function (k) {
      out[k] = typeof obj[k] === 'function' ? recorded(name + '.' + k, obj[k]) : obj[k];
    });
    return out;
  }

  function plainRequire(name) {
    if (typeof name !== 'string' || !known(name))
      throw SandboxError('require: unknown API ' + nativeJSON.stringify(name));
    return API[name]();
  }

  // ---- running a template -----------------------------------------------------------------
  var outcome = { value: undefined, result: null };


  function withCallbacks(data) {
    var d = data && typeof data === 'object' ? data : {};
    d.gtmOnSuccess = recorded('gtmOnSuccess', function () {
      if (outcome.result === null) outcome.result = 'success';
      call('tag:done', ['success']);
    });
    d.gtmOnFailure = recorded('gtmOnFailure', function () {
      if (outcome.result === null) outcome.result = 'failure';
      call('tag:done', ['failure']);
    });
    return d;
  }

  G.__sgtm_run_template = function (dataJson) {
    var data = withCallbacks(nativeJSON.parse(dataJson));
    var value = G.__sgtm_template(data, templateRequire);
    outcome.value = value;
    if (value && typeof value.then === 'function') {
      value.then(function (v) {
        call('macro:value', [v === undefined ? null : v]);
      });
      return '{"promise":true}';
    }
    return nativeJSON.stringify({ value: value === undefined ? null : value, undefined: value === undefined });
  };

  // The test API (prelude_test.js) builds on these; templates cannot name __sgtm globals.
  G.__sgtm_internal = {
    call: call,
    calls: calls,
    mocks: mocks,
    objectMocks: objectMocks,
    outcome: outcome,
    recorded: recorded,
    withCallbacks: withCallbacks,
    getType: getType,
    templateRequire: templateRequire,
    plainRequire: plainRequire,
    SandboxError: SandboxError,
  };
  G.__sgtm_outcome = function () {
    return outcome.result;
  };
  G.__sgtm_require = templateRequire;

  // ---- reusing a context: lockdown once, verified reset between runs ------------------------
  // Evaluating the prelude and a template costs far more than running it, so the engine keeps
  // a context per template and reuses it, but only in a state no earlier run can have changed:
  // lockdown freezes every object a run can reach that outlives it (the built-ins and their
  // prototypes, hidden ones such as the iterator and generator prototypes, the API values that
  // are shared between runs, the prelude's own globals). Freezing cannot be undone, so those
  // stay pristine by construction. What stays mutable is the global object (sloppy code may
  // create globals) and the prelude's per-run state: __sgtm_reset puts both back and answers
  // false, so the engine throws the context away, when it cannot prove it did.
  var Reflect_ = G.Reflect;
  var NativeSet = G.Set;
  var globalKeys = null;
  var globalProto = null;
  var frozenCount = 0;

  function deepFreeze(roots) {
    var seen = new NativeSet();
    var todo = roots.slice();
    while (todo.length) {
      var o = todo.pop();
      if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
      seen.add(o);
      if (o === G) continue; // the global object is handled key by key below
      nativeObject.freeze(o);
      var keys = Reflect_.ownKeys(o);
      for (var i = 0; i < keys.length; i++) {
        var d = nativeObject.getOwnPropertyDescriptor(o, keys[i]);
        if (!d) continue;
        if ('value' in d) todo.push(d.value);
        if (d.get) todo.push(d.get);
        if (d.set) todo.push(d.set);
      }
      todo.push(nativeObject.getPrototypeOf(o));
    }
    return seen.size;
  }

  G.__sgtm_lockdown = function () {
    if (globalKeys !== null) return frozenCount;
    var roots = [];
    // Intrinsics that no global names, reachable from literals and syntax.
    roots.push(nativeObject.getPrototypeOf(function* () {}));
    roots.push(nativeObject.getPrototypeOf(async function () {}));
    roots.push(nativeObject.getPrototypeOf(async function* () {}));
    roots.push(nativeObject.getPrototypeOf([][G.Symbol.iterator]()));
    roots.push(nativeObject.getPrototypeOf(''[G.Symbol.iterator]()));
    roots.push(nativeObject.getPrototypeOf(new G.Map().entries()));
    roots.push(nativeObject.getPrototypeOf(new G.Set().values()));
    roots.push(nativeObject.getPrototypeOf(/a/g[G.Symbol.matchAll]('a')));
    roots.push(nativeObject.getPrototypeOf(G.Int8Array));
    roots.push((function () { 'use strict'; return nativeObject.getOwnPropertyDescriptor(arguments, 'callee').get; })());
    // API values some runs share (the pure functions, Promise, Math's natives): one sample of
    // each factory's result; the fresh parts of a sample are frozen for nothing, harmlessly.
    nativeObject.keys(API).forEach(function (k) { roots.push(API[k]()); });
    var keys = Reflect_.ownKeys(G);
    for (var i = 0; i < keys.length; i++) {
      var k = keys[i];
      var d = nativeObject.getOwnPropertyDescriptor(G, k);
      // The prelude's shared run state (calls, mocks) stays mutable: only its holder freezes.
      if (k === '__sgtm_internal') nativeObject.freeze(d.value);
      else roots.push(d.value, d.get, d.set);
      if ('value' in d) d.writable = false;
      d.configurable = false;
      nativeObject.defineProperty(G, k, d);
    }
    frozenCount = deepFreeze(roots);
    globalKeys = new NativeSet(keys);
    globalProto = nativeObject.getPrototypeOf(G);
    return frozenCount;
  };

  G.__sgtm_reset = function () {
    if (globalKeys === null) return false;
    if (stopped !== null) return false; // a stopped run stays stopped: never reuse it
    var ok = nativeObject.isExtensible(G) && nativeObject.getPrototypeOf(G) === globalProto;
    // Globals a run created (sloppy assignment to an undeclared name) go; a run that made one
    // undeletable makes the context unusable.
    var keys = Reflect_.ownKeys(G);
    for (var i = 0; i < keys.length; i++) {
      if (!globalKeys.has(keys[i]) && !delete G[keys[i]]) ok = false;
    }
    ticks = 0;
    macro.length = 0;
    pendingHttp = {};
    calls.length = 0;
    nativeObject.keys(mocks).forEach(function (k) { delete mocks[k]; });
    nativeObject.keys(objectMocks).forEach(function (k) { delete objectMocks[k]; });
    outcome.value = undefined;
    outcome.result = null;
    bound = null;
    eventCallbacks = [];
    messageListeners = {};
    listenerCount = 0;
    return ok && Reflect_.ownKeys(G).length === globalKeys.size;
  };
})();
