
___INFO___

{
  "type": "CLIENT",
  "id": "cvt_temp_public_id",
  "version": 1,
  "securityGroups": [],
  "displayName": "sgtm-companion client (acme-home)",
  "brand": {
    "id": "brand_dummy",
    "displayName": "sgtm-companion"
  },
  "description": "Receives signed event batches from the sgtm-companion sidecar, runs the container once per event and answers with per-destination outcomes.",
  "containerContexts": [
    "SERVER"
  ]
}


___TEMPLATE_PARAMETERS___

[
  {
    "type": "TEXT",
    "name": "clientPath",
    "displayName": "Request path",
    "simpleValueType": true,
    "defaultValue": "/s2s/events",
    "help": "POST requests on exactly this path are claimed; every other request is left to the other clients.",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "SIMPLE_TABLE",
    "name": "keyIds",
    "displayName": "Signing key ids (from the SGTM_CREDENTIALS key file)",
    "simpleTableColumns": [
      {
        "defaultValue": "",
        "displayName": "Key id",
        "name": "keyId",
        "type": "TEXT",
        "valueValidators": [
          {
            "type": "NON_EMPTY"
          }
        ],
        "isUnique": true
      }
    ],
    "newRowButtonText": "Add row",
    "help": "Batches must be signed with one of these keys. List two during a rotation."
  },
  {
    "type": "TEXT",
    "name": "maxSkewSeconds",
    "displayName": "Maximum clock skew (seconds)",
    "simpleValueType": true,
    "defaultValue": "300",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "SIMPLE_TABLE",
    "name": "destinationPurposes",
    "displayName": "Destinations: kind and consent purposes",
    "simpleTableColumns": [
      {
        "defaultValue": "",
        "displayName": "Destination",
        "name": "destination",
        "type": "TEXT",
        "valueValidators": [
          {
            "type": "NON_EMPTY"
          }
        ],
        "isUnique": true
      },
      {
        "defaultValue": "",
        "displayName": "Kind",
        "name": "kind",
        "type": "TEXT",
        "valueValidators": [
          {
            "type": "NON_EMPTY"
          }
        ]
      },
      {
        "defaultValue": "",
        "displayName": "Purposes (comma separated)",
        "name": "purposes",
        "type": "TEXT",
        "valueValidators": [
          {
            "type": "NON_EMPTY"
          }
        ]
      }
    ],
    "newRowButtonText": "Add row",
    "help": "Used to report skipped_no_consent per destination, and to pick the Google destination whose hashed user data becomes the common user_data."
  },
  {
    "type": "RADIO",
    "name": "logType",
    "displayName": "Logging (JSON lines, never raw PII)",
    "radioItems": [
      {
        "value": "no",
        "displayValue": "Do not log"
      },
      {
        "value": "debug",
        "displayValue": "Log in debug and preview only"
      }
    ],
    "simpleValueType": true,
    "defaultValue": "debug"
  }
]


___SANDBOXED_JS_FOR_SERVER___

const addEventCallback = require('addEventCallback');
const addMessageListener = require('addMessageListener');
const claimRequest = require('claimRequest');
const getContainerVersion = require('getContainerVersion');
const getRequestBody = require('getRequestBody');
const getRequestHeader = require('getRequestHeader');
const getRequestMethod = require('getRequestMethod');
const getRequestPath = require('getRequestPath');
const getTimestampMillis = require('getTimestampMillis');
const getType = require('getType');
const hmacSha256 = require('hmacSha256');
const JSON = require('JSON');
const logToConsole = require('logToConsole');
const makeInteger = require('makeInteger');
const makeString = require('makeString');
const Math = require('Math');
const Object = require('Object');
const queryPermission = require('queryPermission');
const returnResponse = require('returnResponse');
const runContainer = require('runContainer');
const setResponseBody = require('setResponseBody');
const setResponseHeader = require('setResponseHeader');
const setResponseStatus = require('setResponseStatus');

const LOG_NAME = 'sgtm-companion client';
const SIGNATURE_HEADER = 'x-sgtm-signature';
const DESTINATION_METADATA_KEY = 'sgtm_destination';
const ENVELOPE_SCHEMA = 1;
const ITEM_KEYS = {"id": "item_id", "name": "item_name", "category": "item_category", "qty": "quantity", "price": "price", "brand": "item_brand", "variant": "item_variant"};
// Far above the sidecar's batch size; a bigger body is a sender bug, not a batch to half-run.
const MAX_EVENTS = 500;
// Destinations whose user data is in Google's shape, exposed as common user_data.
const GOOGLE_KINDS = ['ga4', 'google_ads'];
// Envelope params that have their own place in event data, so they are not copied as-is.
const PARAMS_MAPPED = { items: true, value: true, currency: true };
// Shadow-mode tags send their test surface's answer on this message type; it is recorded next to
// the destination's outcome. A summary bigger than this is a sender bug and is not passed on.
const SHADOW_MESSAGE = 'sgtm_shadow';
const MAX_SHADOW_JSON = 4096;

/*==============================================================================
  Main: claim our path, authenticate, validate, run the container per event
==============================================================================*/

if (getRequestPath() !== data.clientPath) return;
const method = getRequestMethod();
if (method === 'OPTIONS') {
  claimRequest();
  setResponseStatus(204);
  setResponseHeader('allow', 'POST, OPTIONS');
  returnResponse();
  return;
}
if (method !== 'POST') return;
claimRequest();

const body = getRequestBody() || '';
const auth = verifySignature(getRequestHeader(SIGNATURE_HEADER), body);
if (!auth.ok) {
  log({ Type: 'Message', Message: 'rejected: signature ' + auth.reason });
  respond(401, { error: 'unauthorized', reason: auth.reason });
  return;
}

const batch = JSON.parse(body);
const batchProblem = checkBatch(batch);
if (batchProblem) {
  log({ Type: 'Message', Message: 'rejected: ' + batchProblem.field + ' ' + batchProblem.message });
  respond(400, { error: 'bad_request', field: batchProblem.field, message: batchProblem.message });
  return;
}

const errors = [];
const accepted = [];
for (let i = 0; i < batch.events.length; i++) {
  const problem = checkEvent(batch.events[i], i);
  if (problem) {
    errors.push(problem);
  } else {
    accepted.push(withDestinationMap(batch.events[i]));
  }
}
log({ Type: 'Message', Message: 'batch: ' + accepted.length + ' accepted, ' + errors.length + ' rejected' });

const results = [];
let pending = accepted.length;
if (pending === 0) {
  respond(200, { results: results, errors: errors });
}
accepted.forEach((event, position) => {
  const state = { completed: false, tags: undefined, shadow: {} };
  results.push(undefined);
  const finish = () => {
    if (!state.completed || state.tags === undefined || results[position] !== undefined) return;
    const result = { event_id: event.event_id, destinations: outcomes(event, state.tags) };
    const shadow = shadowResults(result.destinations, state.shadow);
    if (shadow) result.shadow = shadow;
    results[position] = result;
    pending--;
    if (pending === 0) respond(200, { results: results, errors: errors });
  };
  runContainer(
    toEventData(event),
    () => {
      state.completed = true;
      finish();
    },
    (bindToEvent) => {
      // Bound to this event, so the callback sees exactly this event's tags. This is the one
      // form Google documents for a client: bindToEvent(addEventCallback)(callback).
      bindToEvent(addEventCallback)((containerId, eventData) => {
        state.tags = (eventData && eventData.tags) || [];
        finish();
      });
      // Bound too: only this event's tags report into this event's result.
      bindToEvent(addMessageListener)(SHADOW_MESSAGE, (type, message) => {
        recordShadow(event, state.shadow, message);
      });
    }
  );
});

/*==============================================================================
  Signature: X-Sgtm-Signature: t=<unix seconds>,kid=<key id>,v1=<hex HMAC-SHA256>
==============================================================================*/

function verifySignature(header, rawBody) {
  if (getType(header) !== 'string' || header === '') return { ok: false, reason: 'missing' };
  const fields = {};
  const parts = header.split(',');
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    if (eq < 1) return { ok: false, reason: 'malformed' };
    fields[parts[i].substring(0, eq).trim()] = parts[i].substring(eq + 1).trim();
  }
  const t = fields.t;
  const kid = fields.kid;
  const v1 = fields.v1;
  if (!t || !kid || !v1 || !isDigits(t)) return { ok: false, reason: 'malformed' };
  const skew = Math.floor(getTimestampMillis() / 1000) - makeInteger(t);
  const maxSkew = makeInteger(data.maxSkewSeconds || 300);
  if (skew > maxSkew || skew < -maxSkew) return { ok: false, reason: 'stale' };
  if (allowedKeyIds().indexOf(kid) === -1 || !queryPermission('use_custom_private_keys', kid)) {
    return { ok: false, reason: 'unknown_key' };
  }
  const expected = hmacSha256(t + '.' + rawBody, kid, { outputEncoding: 'hex' });
  if (!constantTimeEquals(expected, v1.toLowerCase())) return { ok: false, reason: 'mismatch' };
  return { ok: true, keyId: kid };
}

// Every character is compared whatever the earlier ones were: no early exit tells an attacker
// how much of a guess was right.
function constantTimeEquals(a, b) {
  let diff = a.length === b.length ? 0 : 1;
  const n = a.length > b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    diff = diff + (a.charAt(i) === b.charAt(i) ? 0 : 1);
  }
  return diff === 0;
}

function allowedKeyIds() {
  return (data.keyIds || []).map((row) => makeString(row.keyId));
}

function isDigits(text) {
  if (text.length === 0 || text.length > 12) return false;
  for (let i = 0; i < text.length; i++) {
    if (text.charAt(i) < '0' || text.charAt(i) > '9') return false;
  }
  return true;
}

/*==============================================================================
  Validation: every problem names its field as a path into the batch
==============================================================================*/

function problem(index, event, field, message) {
  const entry = { index: index, field: field, message: message };
  if (getType(event) === 'object' && getType(event.event_id) === 'string') {
    entry.event_id = event.event_id;
  }
  return entry;
}

function checkBatch(value) {
  if (getType(value) !== 'object') {
    return { field: '', message: 'the body is not a JSON object' };
  }
  if (value.schema !== ENVELOPE_SCHEMA) {
    return { field: 'schema', message: 'must be ' + ENVELOPE_SCHEMA + ' (the supported batch schema)' };
  }
  if (getType(value.events) !== 'array') {
    return { field: 'events', message: 'must be an array of events' };
  }
  if (value.events.length > MAX_EVENTS) {
    return { field: 'events', message: 'at most ' + MAX_EVENTS + ' events per batch' };
  }
  return undefined;
}

function isText(value, max) {
  return getType(value) === 'string' && value.length > 0 && value.length <= max;
}

function checkEvent(event, index) {
  const at = 'events[' + index + ']';
  if (getType(event) !== 'object') return problem(index, event, at, 'must be an object');
  if (!isText(event.event_name, 40)) {
    return problem(index, event, at + '.event_name', 'must be a non-empty string of at most 40 characters');
  }
  if (!isText(event.event_id, 128)) {
    return problem(index, event, at + '.event_id', 'must be a non-empty string of at most 128 characters');
  }
  if (getType(event.timestamp) !== 'number' || event.timestamp <= 0) {
    return problem(index, event, at + '.timestamp', 'must be milliseconds since the epoch');
  }
  const optionalText = ['client_id', 'session_id', 'user_id'];
  for (let i = 0; i < optionalText.length; i++) {
    const key = optionalText[i];
    if (event[key] !== undefined && event[key] !== null && !isText(event[key], 256)) {
      return problem(index, event, at + '.' + key, 'must be a non-empty string of at most 256 characters');
    }
  }
  if (getType(event.consent) !== 'object') {
    return problem(index, event, at + '.consent', 'must be an object of purpose -> boolean');
  }
  const purposes = Object.keys(event.consent);
  for (let j = 0; j < purposes.length; j++) {
    if (getType(event.consent[purposes[j]]) !== 'boolean') {
      return problem(index, event, at + '.consent.' + purposes[j], 'must be true or false');
    }
  }
  const objects = ['params', 'context'];
  for (let k = 0; k < objects.length; k++) {
    const value = event[objects[k]];
    if (value !== undefined && value !== null && getType(value) !== 'object') {
      return problem(index, event, at + '.' + objects[k], 'must be an object');
    }
  }
  const params = event.params || {};
  if (params.value !== undefined && getType(params.value) !== 'number') {
    return problem(index, event, at + '.params.value', 'must be a number');
  }
  if (params.currency !== undefined && !(isText(params.currency, 3) && params.currency.length === 3)) {
    return problem(index, event, at + '.params.currency', 'must be an ISO 4217 code');
  }
  if (params.items !== undefined) {
    if (getType(params.items) !== 'array') {
      return problem(index, event, at + '.params.items', 'must be an array');
    }
    for (let n = 0; n < params.items.length; n++) {
      const item = params.items[n];
      if (getType(item) !== 'object' || !isText(item.id, 100)) {
        return problem(index, event, at + '.params.items[' + n + '].id', 'every item needs an id');
      }
    }
  }
  if (getType(event.destinations) === 'array') {
    for (let a = 0; a < event.destinations.length; a++) {
      if (!isText(event.destinations[a], 40)) {
        return problem(index, event, at + '.destinations[' + a + ']', 'must be a destination name');
      }
    }
    return undefined;
  }
  const destinations = event.destinations || {};
  const names = Object.keys(destinations);
  for (let d = 0; d < names.length; d++) {
    if (getType(destinations[names[d]]) !== 'object') {
      return problem(index, event, at + '.destinations.' + names[d], 'must be an object');
    }
  }
  return undefined;
}

// A re-delivery may name its destinations as a list: the same as a map of empty entries.
function withDestinationMap(event) {
  if (getType(event.destinations) !== 'array') return event;
  const copy = {};
  Object.keys(event).forEach((key) => {
    copy[key] = event[key];
  });
  copy.destinations = {};
  event.destinations.forEach((name) => {
    copy.destinations[name] = {};
  });
  return copy;
}

/*==============================================================================
  Event data: Google's common event data conventions plus our x-sgtm-* keys
==============================================================================*/

function toEventData(event) {
  const params = event.params || {};
  const context = event.context || {};
  const out = {};
  // Custom params first, so a clash never overwrites a common key set below.
  Object.keys(params).forEach((key) => {
    if (!PARAMS_MAPPED[key]) out[key] = params[key];
  });
  out.event_name = event.event_name;
  out.event_id = event.event_id;
  if (event.client_id) out.client_id = event.client_id;
  if (event.user_id) out.user_id = event.user_id;
  if (event.session_id) out.ga_session_id = event.session_id;
  if (params.value !== undefined) out.value = params.value;
  if (params.currency !== undefined) out.currency = params.currency;
  if (params.items !== undefined) out.items = params.items.map(toGa4Item);
  if (context.page_location) out.page_location = context.page_location;
  if (context.page_referrer) out.page_referrer = context.page_referrer;
  if (context.language) out.language = context.language;
  if (context.ip) out.ip_override = context.ip;
  if (context.user_agent) out.user_agent = context.user_agent;
  const userData = googleUserData(event.destinations);
  if (userData) out.user_data = userData;
  out['x-ga-gcs'] = consentModeString(event.consent, context.gcs);
  out['x-sgtm-consent'] = event.consent;
  if (event.destinations) out['x-sgtm-destinations'] = event.destinations;
  out['x-sgtm-timestamp'] = event.timestamp;
  const signals = {};
  ['fbp', 'fbc', 'gclid', 'gcs', 'gcd', 'tcf', 'channel'].forEach((key) => {
    if (context[key]) signals[key] = context[key];
  });
  out['x-sgtm-context'] = signals;
  return out;
}

function toGa4Item(item) {
  const out = {};
  Object.keys(item).forEach((key) => {
    out[ITEM_KEYS[key] || key] = item[key];
  });
  return out;
}

/*==============================================================================
  Consent Mode gcs: the sandbox twin of decode_gcs in sidecar/consent_signals.py

  Both are held to tests/vectors/consent.json: 'G1' + ad_storage + analytics_storage, each '1'
  granted, '0' denied or '-' not set, exactly four characters. Anything else ('X111', 'G1111',
  'G1x1') is malformed and grants nothing.
==============================================================================*/

// {ads, analytics} (true only for '1'), or undefined when the value is not a gcs string.
function consentFromGcs(value) {
  if (getType(value) !== 'string') return undefined;
  let start = 0;
  let end = value.length;
  while (start < end && ' \t\r\n'.indexOf(value.charAt(start)) !== -1) start++;
  while (end > start && ' \t\r\n'.indexOf(value.charAt(end - 1)) !== -1) end--;
  const text = value.substring(start, end);
  if (text.length !== 4 || text.substring(0, 2) !== 'G1') return undefined;
  const ads = text.charAt(2);
  const analytics = text.charAt(3);
  if ('01-'.indexOf(ads) === -1 || '01-'.indexOf(analytics) === -1) return undefined;
  return { ads: ads === '1', analytics: analytics === '1' };
}

// G1 + ad_storage + analytics_storage; a CMP signal in context.gcs can only make it stricter,
// and one that is present but malformed denies both (as the sidecar's decide() does).
function consentModeString(consent, gcs) {
  const cmp = gcs ? consentFromGcs(gcs) : { ads: true, analytics: true };
  const ads = consent.ads === true && !!cmp && cmp.ads;
  const analytics = consent.analytics === true && !!cmp && cmp.analytics;
  return 'G1' + (ads ? '1' : '0') + (analytics ? '1' : '0');
}

// The user data of the first (by name) Google destination that received some: already
// normalised and hashed by Google's rules, and only what that destination may get.
function googleUserData(destinations) {
  if (!destinations) return undefined;
  const names = Object.keys(destinations).sort();
  for (let i = 0; i < names.length; i++) {
    const row = destinationRow(names[i]);
    if (!row || GOOGLE_KINDS.indexOf(row.kind) === -1) continue;
    const userData = destinations[names[i]].user_data;
    if (
      getType(userData) === 'object' &&
      (userData.sha256_email_address || userData.sha256_phone_number || userData.address)
    ) {
      return userData;
    }
  }
  return undefined;
}

/*==============================================================================
  Results: one outcome per destination, from the tags' statuses and the consent map
==============================================================================*/

function destinationRow(name) {
  const rows = data.destinationPurposes || [];
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].destination === name) return rows[i];
  }
  return undefined;
}

function purposesOf(name) {
  const row = destinationRow(name);
  if (!row) return undefined;
  return makeString(row.purposes)
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

function outcomes(event, tags) {
  const status = {};
  tags.forEach((tag) => {
    const name = tag[DESTINATION_METADATA_KEY];
    if (!name) return;
    const ok = tag.status === 'success';
    status[name] = status[name] === undefined ? ok : status[name] && ok;
  });
  const requested = event.destinations;
  const names = requested ? Object.keys(requested) : [];
  Object.keys(status).forEach((name) => {
    if (names.indexOf(name) === -1) names.push(name);
  });
  names.sort();
  const out = {};
  names.forEach((name) => {
    const purposes = purposesOf(name);
    const entry = requested ? requested[name] : undefined;
    // An anonymised destination was sent without analytics consent on purpose (the plan's
    // analytics_without_consent: anonymize); only analytics is waived, as in the tags.
    const waived = entry && entry.anonymized === true ? 'analytics' : '';
    const denied = purposes ? purposes.filter((p) => p !== waived && event.consent[p] !== true) : [];
    if (requested && !requested[name]) {
      out[name] = 'skipped_not_requested';
    } else if (denied.length > 0) {
      out[name] = 'skipped_no_consent';
    } else if (status[name] === undefined) {
      // Requested, but no tag of that destination ran: retry once the container is fixed.
      out[name] = 'failure';
    } else {
      out[name] = status[name] ? 'success' : 'failure';
    }
  });
  return out;
}

/*==============================================================================
  Shadow mode: each destination's test surface answer, as its tag summarised it
==============================================================================*/

function recordShadow(event, shadow, message) {
  const ok =
    getType(message) === 'object' &&
    isText(message.destination, 40) &&
    getType(message.status_code) === 'number' &&
    getType(message.response) === 'object';
  if (!ok) {
    log({ Type: 'Message', TraceId: event.event_id, Message: 'ignored a malformed ' + SHADOW_MESSAGE + ' message' });
    return;
  }
  let response = message.response;
  const size = (JSON.stringify(response) || '').length;
  if (size > MAX_SHADOW_JSON) {
    log({ Type: 'Message', TraceId: event.event_id, Message: 'shadow summary of ' + message.destination + ' too large: ' + size });
    response = { error: { message: 'summary of ' + size + ' characters left out (limit ' + MAX_SHADOW_JSON + ')' } };
  }
  shadow[message.destination] = { status_code: message.status_code, response: response };
}

// Only destinations with an outcome in this result, in name order; undefined when none.
function shadowResults(destinations, shadow) {
  const names = Object.keys(shadow)
    .filter((name) => destinations[name] !== undefined)
    .sort();
  if (names.length === 0) return undefined;
  const out = {};
  names.forEach((name) => {
    out[name] = shadow[name];
  });
  return out;
}

/*==============================================================================
  Utilities
==============================================================================*/

function respond(statusCode, payload) {
  setResponseStatus(statusCode);
  setResponseHeader('content-type', 'application/json');
  setResponseHeader('cache-control', 'no-store');
  setResponseBody(JSON.stringify(payload));
  returnResponse();
}

/*==============================================================================
  Logging (stape GTMS-3: one JSON object per line; only in debug and preview)
==============================================================================*/

function isLoggingEnabled() {
  if (data.logType === 'no') return false;
  const version = getContainerVersion();
  return !!(version && (version.debugMode || version.previewMode));
}

function log(entry) {
  if (!isLoggingEnabled()) return;
  entry.Name = LOG_NAME;
  logToConsole(JSON.stringify(entry));
}


___SERVER_PERMISSIONS___

[
  {
    "instance": {
      "key": {
        "publicId": "read_request",
        "versionId": "1"
      },
      "param": [
        {
          "key": "requestAccess",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "headerAccess",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "queryParameterAccess",
          "value": {
            "type": 1,
            "string": "any"
          }
        },
        {
          "key": "headersAllowed",
          "value": {
            "type": 8,
            "boolean": true
          }
        },
        {
          "key": "bodyAllowed",
          "value": {
            "type": 8,
            "boolean": true
          }
        },
        {
          "key": "pathAllowed",
          "value": {
            "type": 8,
            "boolean": true
          }
        },
        {
          "key": "headerWhitelist",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 3,
                "mapKey": [
                  {
                    "type": 1,
                    "string": "headerName"
                  }
                ],
                "mapValue": [
                  {
                    "type": 1,
                    "string": "x-sgtm-signature"
                  }
                ]
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "access_response",
        "versionId": "1"
      },
      "param": [
        {
          "key": "writeResponseAccess",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "writeHeaderAccess",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "writeStatusAllowed",
          "value": {
            "type": 8,
            "boolean": true
          }
        },
        {
          "key": "writeHeadersAllowed",
          "value": {
            "type": 8,
            "boolean": true
          }
        },
        {
          "key": "writeBodyAllowed",
          "value": {
            "type": 8,
            "boolean": true
          }
        },
        {
          "key": "writeHeaderWhitelist",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 3,
                "mapKey": [
                  {
                    "type": 1,
                    "string": "headerName"
                  }
                ],
                "mapValue": [
                  {
                    "type": 1,
                    "string": "allow"
                  }
                ]
              },
              {
                "type": 3,
                "mapKey": [
                  {
                    "type": 1,
                    "string": "headerName"
                  }
                ],
                "mapValue": [
                  {
                    "type": 1,
                    "string": "cache-control"
                  }
                ]
              },
              {
                "type": 3,
                "mapKey": [
                  {
                    "type": 1,
                    "string": "headerName"
                  }
                ],
                "mapValue": [
                  {
                    "type": 1,
                    "string": "content-type"
                  }
                ]
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "return_response",
        "versionId": "1"
      },
      "param": []
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "run_container",
        "versionId": "1"
      },
      "param": []
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "read_event_metadata",
        "versionId": "1"
      },
      "param": []
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "read_container_data",
        "versionId": "1"
      },
      "param": []
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "logging",
        "versionId": "1"
      },
      "param": [
        {
          "key": "environments",
          "value": {
            "type": 1,
            "string": "debug"
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "use_custom_private_keys",
        "versionId": "1"
      },
      "param": [
        {
          "key": "keyIds",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 1,
                "string": "delivery-1"
              },
              {
                "type": 1,
                "string": "delivery-2"
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "use_message",
        "versionId": "1"
      },
      "param": [
        {
          "key": "allowedActions",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "messageTypes",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 3,
                "mapKey": [
                  {
                    "type": 1,
                    "string": "type"
                  },
                  {
                    "type": 1,
                    "string": "action"
                  }
                ],
                "mapValue": [
                  {
                    "type": 1,
                    "string": "sgtm_shadow"
                  },
                  {
                    "type": 1,
                    "string": "listen"
                  }
                ]
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  }
]


___TESTS___

scenarios:
- name: '[Routing] Requests on other paths are left to other clients'
  code: |-
    mock('getRequestPath', '/g/collect');
    mock('getRequestMethod', 'POST');
    runCode(mockData);
    assertApi('claimRequest').wasNotCalled();
    assertApi('runContainer').wasNotCalled();
    assertApi('returnResponse').wasNotCalled();
- name: '[Routing] GET on the client path is left to other clients'
  code: |-
    mock('getRequestPath', PATH);
    mock('getRequestMethod', 'GET');
    runCode(mockData);
    assertApi('claimRequest').wasNotCalled();
    assertApi('returnResponse').wasNotCalled();
- name: '[Routing] OPTIONS is answered without running the container'
  code: |-
    mock('getRequestPath', PATH);
    mock('getRequestMethod', 'OPTIONS');
    runCode(mockData);
    assertApi('claimRequest').wasCalled();
    assertApi('setResponseStatus').wasCalledWith(204);
    assertApi('runContainer').wasNotCalled();
    assertApi('returnResponse').wasCalled();
- name: '[Signature] A missing signature is rejected with 401 and nothing runs'
  code: |-
    request(batchBody([purchase]), undefined);
    runCode(mockData);
    assertApi('claimRequest').wasCalled();
    assertApi('setResponseStatus').wasCalledWith(401);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'unauthorized', reason: 'missing' }));
    assertApi('runContainer').wasNotCalled();
- name: '[Signature] A wrong signature is rejected with 401 and nothing runs'
  code: |-
    const body = batchBody([purchase]);
    request(body, 't=' + NOW_SECONDS + ',kid=' + KEY_ID + ',v1=' + WRONG);
    runCode(mockData);
    assertApi('setResponseStatus').wasCalledWith(401);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'unauthorized', reason: 'mismatch' }));
    assertApi('runContainer').wasNotCalled();
- name: '[Signature] A signature older than the allowed skew is rejected as stale'
  code: |-
    const body = batchBody([purchase]);
    request(body, 't=' + (NOW_SECONDS - 301) + ',kid=' + KEY_ID + ',v1=' + SIGNATURE);
    runCode(mockData);
    assertApi('setResponseStatus').wasCalledWith(401);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'unauthorized', reason: 'stale' }));
    assertApi('hmacSha256').wasNotCalled();
    assertApi('runContainer').wasNotCalled();
- name: '[Signature] A signature from the future beyond the skew is rejected as stale'
  code: |-
    const body = batchBody([purchase]);
    request(body, 't=' + (NOW_SECONDS + 301) + ',kid=' + KEY_ID + ',v1=' + SIGNATURE);
    runCode(mockData);
    assertApi('setResponseStatus').wasCalledWith(401);
    assertApi('runContainer').wasNotCalled();
- name: '[Signature] An unknown key id is rejected before any HMAC is computed'
  code: |-
    const body = batchBody([purchase]);
    request(body, 't=' + NOW_SECONDS + ',kid=retired-key,v1=' + SIGNATURE);
    runCode(mockData);
    assertApi('setResponseStatus').wasCalledWith(401);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'unauthorized', reason: 'unknown_key' }));
    assertApi('hmacSha256').wasNotCalled();
- name: '[Signature] A header without t, kid and v1 is malformed'
  code: |-
    request(batchBody([purchase]), 'v1=' + SIGNATURE);
    runCode(mockData);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'unauthorized', reason: 'malformed' }));
    assertApi('runContainer').wasNotCalled();
- name: '[Batch] A body that is not JSON is answered 400'
  code: |-
    signedRequest('not json');
    runCode(mockData);
    assertApi('setResponseStatus').wasCalledWith(400);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'bad_request', field: '', message: 'the body is not a JSON object' }));
    assertApi('runContainer').wasNotCalled();
- name: '[Batch] An unsupported batch schema is answered 400 naming the field'
  code: |-
    signedRequest(JSON.stringify({ schema: 2, events: [] }));
    runCode(mockData);
    assertApi('setResponseStatus').wasCalledWith(400);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'bad_request', field: 'schema', message: 'must be 1 (the supported batch schema)' }));
- name: '[Batch] A batch with too many events is answered 400 without running any'
  code: |-
    const events = [];
    for (let i = 0; i < 501; i++) events.push(purchase);
    signedRequest(batchBody(events));
    runCode(mockData);
    assertApi('setResponseStatus').wasCalledWith(400);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({ error: 'bad_request', field: 'events', message: 'at most 500 events per batch' }));
    assertApi('runContainer').wasNotCalled();
- name: '[Validation] A malformed event is reported by field and the valid one still runs'
  code: |-
    const broken = JSON.parse(JSON.stringify(purchase));
    broken.event_id = 'ord-1002-purchase';
    broken.event_name = '';
    signedRequest(batchBody([purchase, broken]));
    runCode(mockData);
    assertThat(runs.length).isEqualTo(1);
    callbacks[0]('GTM-TEST', { tags: [
      tagStatus('meta', 'success'),
      tagStatus('google_ads', 'success')
    ] });
    assertApi('setResponseStatus').wasCalledWith(200);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({
      results: [{ event_id: 'ord-1001-purchase', destinations: { ga4: 'skipped_no_consent', google_ads: 'success', meta: 'success' } }],
      errors: [{ index: 1, field: 'events[1].event_name', message: 'must be a non-empty string of at most 40 characters', event_id: 'ord-1002-purchase' }]
    }));
- name: '[Validation] A consent value that is not a boolean is named'
  code: |-
    const broken = JSON.parse(JSON.stringify(purchase));
    broken.consent.ads = 'yes';
    signedRequest(batchBody([broken]));
    runCode(mockData);
    assertApi('runContainer').wasNotCalled();
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({
      results: [],
      errors: [{ index: 0, field: 'events[0].consent.ads', message: 'must be true or false', event_id: 'ord-1001-purchase' }]
    }));
- name: '[Event data] Each event follows the common event data conventions'
  code: |-
    signedRequest(batchBody([purchase]));
    runCode(mockData);
    const event = runs[0];
    assertThat(event.event_name).isEqualTo('purchase');
    assertThat(event.event_id).isEqualTo('ord-1001-purchase');
    assertThat(event.client_id).isEqualTo('1234567890.1732860000');
    assertThat(event.ga_session_id).isEqualTo('1732860000');
    assertThat(event.value).isEqualTo(59.9);
    assertThat(event.currency).isEqualTo('EUR');
    assertThat(event.transaction_id).isEqualTo('1001');
    assertThat(event.payment_type).isEqualTo('card');
    assertThat(event.items).isEqualTo([{ item_id: 'SKU-1', item_name: 'Mug', item_category: 'Kitchen', quantity: 2, price: 19.95 }]);
    assertThat(event.page_location).isEqualTo('https://shop.example.com/checkout');
    assertThat(event.ip_override).isEqualTo('203.0.113.7');
    assertThat(event.user_agent).isEqualTo('Mozilla/5.0');
    assertThat(event.user_data).isEqualTo({ sha256_email_address: HASH });
    assertThat(event['x-ga-gcs']).isEqualTo('G110');
    assertThat(event['x-sgtm-consent']).isEqualTo({ analytics: false, ads: true });
    assertThat(event['x-sgtm-destinations']).isEqualTo(purchase.destinations);
    assertThat(event['x-sgtm-timestamp']).isEqualTo(purchase.timestamp);
    assertThat(event['x-sgtm-context']).isEqualTo({ fbp: 'fb.1.1732860000.123', gcs: 'G111', channel: 'web' });
- name: '[Event data] Only Google destinations pass their hashed user data on as user_data'
  code: |-
    const other = JSON.parse(JSON.stringify(purchase));
    Object.delete(other.destinations, 'google_ads');
    other.destinations.crm = { user_data: { sha256_email_address: HASH }, ip: null, user_agent: null };
    signedRequest(batchBody([other]));
    runCode(mockData);
    assertThat(runs[0].user_data).isUndefined();
- name: '[Event data] A destinations list restricts a re-delivery like a map of empty entries'
  code: |-
    const again = JSON.parse(JSON.stringify(purchase));
    again.destinations = ['meta'];
    signedRequest(batchBody([again]));
    runCode(mockData);
    assertThat(runs[0]['x-sgtm-destinations']).isEqualTo({ meta: {} });
    callbacks[0]('GTM-TEST', { tags: [tagStatus('meta', 'success'), tagStatus('ga4', 'success')] });
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({
      results: [{ event_id: 'ord-1001-purchase', destinations: { ga4: 'skipped_not_requested', meta: 'success' } }],
      errors: []
    }));
- name: '[Results] Outcomes per destination come from the tags and the consent map'
  code: |-
    signedRequest(batchBody([purchase]));
    runCode(mockData);
    assertApi('returnResponse').wasNotCalled();
    callbacks[0]('GTM-TEST', { tags: [
      tagStatus('meta', 'failure'),
      tagStatus('google_ads', 'success'),
      tagStatus('warehouse', 'success'),
      { id: '99', status: 'success' }
    ] });
    assertApi('setResponseStatus').wasCalledWith(200);
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({
      results: [{ event_id: 'ord-1001-purchase', destinations: {
        ga4: 'skipped_no_consent',
        google_ads: 'success',
        meta: 'failure',
        warehouse: 'skipped_not_requested'
      } }],
      errors: []
    }));
    assertApi('returnResponse').wasCalled();
- name: '[Results] An anonymised analytics destination is judged by its tag, not by consent'
  code: |-
    const anonymous = JSON.parse(JSON.stringify(purchase));
    anonymous.destinations.ga4.anonymized = true;
    signedRequest(batchBody([anonymous]));
    runCode(mockData);
    callbacks[0]('GTM-TEST', { tags: [
      tagStatus('ga4', 'success'),
      tagStatus('google_ads', 'success'),
      tagStatus('meta', 'success')
    ] });
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({
      results: [{ event_id: 'ord-1001-purchase', destinations: { ga4: 'success', google_ads: 'success', meta: 'success' } }],
      errors: []
    }));
- name: '[Results] A requested destination whose tag never ran is a failure, to be retried'
  code: |-
    const allowed = JSON.parse(JSON.stringify(purchase));
    allowed.consent.analytics = true;
    signedRequest(batchBody([allowed]));
    runCode(mockData);
    callbacks[0]('GTM-TEST', { tags: [tagStatus('meta', 'success'), tagStatus('google_ads', 'success')] });
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({
      results: [{ event_id: 'ord-1001-purchase', destinations: { ga4: 'failure', google_ads: 'success', meta: 'success' } }],
      errors: []
    }));
- name: '[Shadow] A tag shadow report is recorded next to the outcome of its destination'
  code: |-
    signedRequest(batchBody([purchase]));
    runCode(mockData);
    assertThat(listeners.map((l) => l.type)).isEqualTo(['sgtm_shadow']);
    listeners[0].listener('sgtm_shadow', { destination: 'meta', status_code: 200, response: { events_received: 1, fbtrace_id: 'AbC' } });
    listeners[0].listener('sgtm_shadow', { destination: 'meta', status_code: 'bad' });
    listeners[0].listener('sgtm_shadow', { destination: 'crm', status_code: 200, response: {} });
    callbacks[0]('GTM-TEST', { tags: [tagStatus('meta', 'success'), tagStatus('google_ads', 'success')] });
    assertApi('setResponseBody').wasCalledWith(JSON.stringify({
      results: [{
        event_id: 'ord-1001-purchase',
        destinations: { ga4: 'skipped_no_consent', google_ads: 'success', meta: 'success' },
        shadow: { meta: { status_code: 200, response: { events_received: 1, fbtrace_id: 'AbC' } } }
      }],
      errors: []
    }));
setup: |-
  const JSON = require('JSON');
  const Object = require('Object');
  const PATH = "/s2s/events";
  const KEY_ID = "delivery-1";
  const NOW = 1732870000000;
  const NOW_SECONDS = 1732870000;
  const SIGNATURE = '5f2b3c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3';
  const WRONG = '0000000000000000000000000000000000000000000000000000000000000000';
  const HASH = '8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11';
  const mockData = {
    clientPath: PATH,
    keyIds: [{ keyId: KEY_ID }],
    maxSkewSeconds: '300',
    destinationPurposes: [
      { destination: 'crm', kind: 'http', purposes: 'functional' },
      { destination: 'ga4', kind: 'ga4', purposes: 'analytics' },
      { destination: 'google_ads', kind: 'google_ads', purposes: 'ads' },
      { destination: 'meta', kind: 'meta_capi', purposes: 'ads' },
      { destination: 'warehouse', kind: 'bigquery', purposes: 'analytics' }
    ],
    logType: 'no'
  };
  const purchase = {
    event_name: 'purchase',
    event_id: 'ord-1001-purchase',
    timestamp: 1732869990000,
    client_id: '1234567890.1732860000',
    session_id: '1732860000',
    consent: { analytics: false, ads: true },
    params: {
      transaction_id: '1001',
      value: 59.9,
      currency: 'EUR',
      payment_type: 'card',
      items: [{ id: 'SKU-1', name: 'Mug', category: 'Kitchen', qty: 2, price: 19.95 }]
    },
    context: {
      page_location: 'https://shop.example.com/checkout',
      ip: '203.0.113.7',
      user_agent: 'Mozilla/5.0',
      fbp: 'fb.1.1732860000.123',
      gcs: 'G111',
      channel: 'web'
    },
    destinations: {
      ga4: { user_data: {}, ip: null, user_agent: null },
      google_ads: { user_data: { sha256_email_address: HASH }, ip: null, user_agent: null },
      meta: { user_data: { em: HASH }, ip: '203.0.113.7', user_agent: 'Mozilla/5.0' }
    }
  };
  let runs = [];
  let callbacks = [];
  let listeners = [];
  let boundDepth = 0;
  function batchBody(events) {
    return JSON.stringify({ schema: 1, sent_at: NOW, events: events });
  }
  function tagStatus(destination, status) {
    const tag = { id: '1', status: status, executionTime: 12 };
    tag["sgtm_destination"] = destination;
    return tag;
  }
  function request(body, header) {
    mock('getRequestPath', PATH);
    mock('getRequestMethod', 'POST');
    mock('getRequestBody', body);
    mock('getRequestHeader', (name) => (name === 'x-sgtm-signature' ? header : undefined));
    mock('getTimestampMillis', NOW);
    mock('queryPermission', (permission, keyId) => permission === 'use_custom_private_keys' && keyId === KEY_ID);
    mock('hmacSha256', (message, keyId, options) => {
      const expected = NOW_SECONDS + '.' + body;
      return keyId === KEY_ID && message === expected && options.outputEncoding === 'hex' ? SIGNATURE : WRONG;
    });
    // bindToEvent as GTM documents it: it binds the function it is given, so what that function
    // does while it runs belongs to the event. The API mocks check they run bound, which is how
    // a client must call them (binding the callback instead of the API runs the API unbound).
    mock('runContainer', (event, onComplete, onStart) => {
      runs.push(event);
      const bind = (fn) => (a, b) => {
        boundDepth++;
        const result = fn(a, b);
        boundDepth--;
        return result;
      };
      if (onStart) onStart(bind);
      if (onComplete) onComplete(bind);
    });
    mock('addEventCallback', (callback) => {
      if (boundDepth === 0) fail('addEventCallback was called unbound; a client must call bindToEvent(addEventCallback)(callback)');
      callbacks.push(callback);
    });
    mock('addMessageListener', (type, listener) => {
      if (boundDepth === 0) fail('addMessageListener was called unbound; the client binds it with bindToEvent(addMessageListener)');
      listeners.push({ type: type, listener: listener });
    });
  }
  function signedRequest(body) {
    request(body, 't=' + NOW_SECONDS + ',kid=' + KEY_ID + ',v1=' + SIGNATURE);
  }


___NOTES___

Generated by sgtm-companion from tracking plan acme-home 1.0.0.
Do not edit here: change the plan and run `sgtm generate` again.


