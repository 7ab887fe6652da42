
___INFO___

{
  "type": "TAG",
  "id": "cvt_temp_public_id",
  "version": 1,
  "securityGroups": [],
  "displayName": "sgtm-companion BigQuery event log",
  "categories": [
    "DATA_WAREHOUSING"
  ],
  "brand": {
    "id": "brand_dummy",
    "displayName": "sgtm-companion"
  },
  "description": "Sends plan events to BigQuery event log: consent enforced first (fail closed), PII hashed by the destination's own rules, never logged.",
  "containerContexts": [
    "SERVER"
  ]
}


___TEMPLATE_PARAMETERS___

[
  {
    "type": "TEXT",
    "name": "destinationName",
    "displayName": "Destination name (from the plan)",
    "simpleValueType": true,
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "purposes",
    "displayName": "Required consent purposes (comma separated)",
    "simpleValueType": true,
    "help": "Every purpose must be granted or nothing is sent (fail closed).",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "SIMPLE_TABLE",
    "name": "eventMap",
    "displayName": "Events",
    "simpleTableColumns": [
      {
        "defaultValue": "",
        "displayName": "Plan event",
        "name": "event",
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
        "displayName": "Sent as",
        "name": "name",
        "type": "TEXT",
        "valueValidators": [
          {
            "type": "NON_EMPTY"
          }
        ]
      }
    ],
    "newRowButtonText": "Add row"
  },
  {
    "type": "TEXT",
    "name": "projectId",
    "displayName": "Project ID",
    "simpleValueType": true,
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "datasetId",
    "displayName": "Dataset ID",
    "simpleValueType": true,
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "tableId",
    "displayName": "Table ID",
    "simpleValueType": true,
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "GROUP",
    "name": "eventDataGroup",
    "displayName": "Event data",
    "groupStyle": "ZIPPY_CLOSED",
    "subParams": [
      {
        "type": "TEXT",
        "name": "consentState",
        "displayName": "Consent purposes (object)",
        "simpleValueType": true,
        "help": "The client's x-sgtm-consent map; without it only x-ga-gcs can grant ads or analytics."
      },
      {
        "type": "TEXT",
        "name": "destinations",
        "displayName": "Destinations map (object)",
        "simpleValueType": true,
        "help": "The client's x-sgtm-destinations map: who should fire, with their PII."
      }
    ]
  },
  {
    "type": "GROUP",
    "name": "userDataGroup",
    "displayName": "User data",
    "groupStyle": "ZIPPY_CLOSED",
    "subParams": [
      {
        "type": "SELECT",
        "name": "ipPolicy",
        "displayName": "IP address (events from other clients)",
        "macrosInSelect": false,
        "selectItems": [
          {
            "value": "none",
            "displayValue": "Never send"
          },
          {
            "value": "anonymized",
            "displayValue": "Anonymized"
          },
          {
            "value": "full",
            "displayValue": "Full"
          }
        ],
        "simpleValueType": true,
        "defaultValue": "none"
      },
      {
        "type": "CHECKBOX",
        "name": "sendUserAgent",
        "checkboxText": "Send the user agent (events from other clients)",
        "simpleValueType": true,
        "defaultValue": false
      }
    ]
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

const BigQuery = require('BigQuery');
const getContainerVersion = require('getContainerVersion');
const getEventData = require('getEventData');
const getTimestampMillis = require('getTimestampMillis');
const getType = require('getType');
const JSON = require('JSON');
const logToConsole = require('logToConsole');
const makeString = require('makeString');
const Object = require('Object');

const LOG_NAME = 'sgtm-companion bigquery';
// The plan's own event params, read by name (each listed in the read_event_data permission).
const EVENT_PARAMS = ["method", "payment_type"];

/*==============================================================================
  Destination, consent, event mapping and user data (shared by every sgtm-companion tag)
==============================================================================*/

// The entry for this destination in the batch's destinations map: undefined when the event
// did not come from the sgtm-companion client, false when it did but did not ask for us.
function destinationEntry() {
  const all = data.destinations;
  if (getType(all) !== 'object') return undefined;
  const entry = all[data.destinationName];
  return getType(entry) === 'object' ? entry : false;
}

function splitList(text) {
  if (getType(text) === 'array') return text;
  return makeString(text || '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function isGranted(purpose) {
  const consent = data.consentState;
  if (getType(consent) === 'object') return consent[purpose] === true;
  // Not from our client: only a Consent Mode string can grant, and only ads or analytics.
  const gcs = getEventData('x-ga-gcs');
  if (getType(gcs) !== 'string' || gcs.length < 4) return false;
  if (purpose === 'ads') return gcs.charAt(2) === '1';
  if (purpose === 'analytics') return gcs.charAt(3) === '1';
  return false;
}

// The sidecar sends an analytics destination without consent only anonymised (the plan's
// analytics_without_consent: anonymize): no ids, no PII, no IP. Only 'analytics' is waived so.
function isAnonymized(entry) {
  return !!entry && entry.anonymized === true;
}

// Purposes this destination needs that are not granted; fails closed (no purpose configured
// means nothing may be sent).
function deniedPurposes(entry) {
  const required = splitList(data.purposes);
  if (required.length === 0) return ['(none configured)'];
  const denied = required.filter((purpose) => !isGranted(purpose));
  return isAnonymized(entry) ? denied.filter((purpose) => purpose !== 'analytics') : denied;
}

function mappedEventName(eventName) {
  const rows = data.eventMap || [];
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].event === eventName) return makeString(rows[i].name);
  }
  return undefined;
}

// The plan gives this kind of destination no PII: no user data is ever sent.
function destinationUserData(entry, rules) {
  return {};
}

function firstIp(value) {
  if (getType(value) !== 'string') return undefined;
  const ip = value.split(',')[0].trim();
  return ip === '' ? undefined : ip;
}

// IPv4 keeps three octets, IPv6 its first three groups (the sidecar's 'anonymized' policy).
function anonymizeIp(ip) {
  if (ip.indexOf(':') === -1) {
    const octets = ip.split('.');
    return octets.length === 4 ? octets[0] + '.' + octets[1] + '.' + octets[2] + '.0' : undefined;
  }
  const groups = [];
  const parts = ip.split(':');
  for (let i = 0; i < parts.length && i < 3 && parts[i] !== ''; i++) groups.push(parts[i]);
  return groups.join(':') + '::';
}

function clientIp(entry) {
  if (entry) return firstIp(entry.ip);
  if (data.ipPolicy !== 'full' && data.ipPolicy !== 'anonymized') return undefined;
  const ip = firstIp(getEventData('ip_override'));
  if (!ip) return undefined;
  return data.ipPolicy === 'anonymized' ? anonymizeIp(ip) : ip;
}

function clientUserAgent(entry) {
  if (entry) return getType(entry.user_agent) === 'string' ? entry.user_agent : undefined;
  if (!data.sendUserAgent) return undefined;
  const userAgent = getEventData('user_agent');
  return getType(userAgent) === 'string' ? userAgent : undefined;
}

function eventTimestampMillis() {
  const timestamp = getEventData('x-sgtm-timestamp');
  return getType(timestamp) === 'number' ? timestamp : getTimestampMillis();
}

function truncate(value, max) {
  return getType(value) === 'string' && value.length > max ? value.substring(0, max) : value;
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

/*==============================================================================
  Main: requested? consented? mapped? then build and send
==============================================================================*/

const eventName = getEventData('event_name');
const eventId = getEventData('event_id');
const entry = destinationEntry();
if (entry === false) {
  log({ Type: 'Message', TraceId: eventId, EventName: eventName, Message: 'skipped_not_requested' });
  return data.gtmOnSuccess();
}
const denied = deniedPurposes(entry);
if (denied.length > 0) {
  log({
    Type: 'Message',
    TraceId: eventId,
    EventName: eventName,
    Message: 'skipped_no_consent: ' + denied.join(', ') + ' not granted'
  });
  return data.gtmOnSuccess();
}
const mappedName = mappedEventName(eventName);
if (!mappedName) {
  log({ Type: 'Message', TraceId: eventId, EventName: eventName, Message: 'event not mapped for this destination' });
  return data.gtmOnSuccess();
}

const row = buildRow();
const table = { projectId: data.projectId, datasetId: data.datasetId, tableId: data.tableId };
log({
  Type: 'Request',
  TraceId: eventId,
  EventName: mappedName,
  RequestMethod: 'BigQuery.insert',
  RequestUrl: table.projectId + '.' + table.datasetId + '.' + table.tableId
});
BigQuery.insert(table, [row], { ignoreUnknownValues: true }).then(
  () => {
    log({ Type: 'Response', TraceId: eventId, EventName: mappedName, Message: 'inserted' });
    data.gtmOnSuccess();
  },
  (error) => {
    log({ Type: 'Message', TraceId: eventId, EventName: mappedName, Message: 'insert failed' });
    data.gtmOnFailure();
  }
);

/*==============================================================================
  BigQuery row (schema in docs/generator.md)
==============================================================================*/

function buildRow() {
  const params = {};
  EVENT_PARAMS.forEach((key) => {
    const value = getEventData(key);
    if (value !== undefined && value !== null) params[key] = value;
  });
  const out = {
    event_id: makeString(eventId),
    event_name: mappedName,
    event_timestamp: eventTimestampMillis() / 1000,
    destination: data.destinationName,
    consent: JSON.stringify(data.consentState || {}),
    params: JSON.stringify(params)
  };
  const anonymized = isAnonymized(entry);
  const text = {
    client_id: anonymized ? undefined : getEventData('client_id'),
    session_id: anonymized ? undefined : getEventData('ga_session_id'),
    transaction_id: getEventData('transaction_id'),
    currency: getEventData('currency'),
    page_location: getEventData('page_location'),
    page_referrer: getEventData('page_referrer')
  };
  Object.keys(text).forEach((key) => {
    if (text[key] !== undefined && text[key] !== null && text[key] !== '') out[key] = makeString(text[key]);
  });
  const value = getEventData('value');
  if (getType(value) === 'number') out.value = value;
  const items = getEventData('items');
  if (getType(items) === 'array') out.items = JSON.stringify(items);
  const userData = destinationUserData(entry, 'google');
  if (Object.keys(userData).length > 0) out.user_data = JSON.stringify(userData);
  return out;
}


___SERVER_PERMISSIONS___

[
  {
    "instance": {
      "key": {
        "publicId": "read_event_data",
        "versionId": "1"
      },
      "param": [
        {
          "key": "eventDataAccess",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "keyPatterns",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 1,
                "string": "client_id"
              },
              {
                "type": 1,
                "string": "currency"
              },
              {
                "type": 1,
                "string": "event_id"
              },
              {
                "type": 1,
                "string": "event_name"
              },
              {
                "type": 1,
                "string": "ga_session_id"
              },
              {
                "type": 1,
                "string": "ip_override"
              },
              {
                "type": 1,
                "string": "items"
              },
              {
                "type": 1,
                "string": "method"
              },
              {
                "type": 1,
                "string": "page_location"
              },
              {
                "type": 1,
                "string": "page_referrer"
              },
              {
                "type": 1,
                "string": "payment_type"
              },
              {
                "type": 1,
                "string": "transaction_id"
              },
              {
                "type": 1,
                "string": "user_agent"
              },
              {
                "type": 1,
                "string": "value"
              },
              {
                "type": 1,
                "string": "x-ga-gcs"
              },
              {
                "type": 1,
                "string": "x-sgtm-timestamp"
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
        "publicId": "access_bigquery",
        "versionId": "1"
      },
      "param": [
        {
          "key": "allowedTables",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 3,
                "mapKey": [
                  {
                    "type": 1,
                    "string": "projectId"
                  },
                  {
                    "type": 1,
                    "string": "datasetId"
                  },
                  {
                    "type": 1,
                    "string": "tableId"
                  },
                  {
                    "type": 1,
                    "string": "operation"
                  }
                ],
                "mapValue": [
                  {
                    "type": 1,
                    "string": "acme-analytics-eu"
                  },
                  {
                    "type": 1,
                    "string": "sgtm_events"
                  },
                  {
                    "type": 1,
                    "string": "events_v1"
                  },
                  {
                    "type": 1,
                    "string": "write"
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
        "publicId": "read_container_data",
        "versionId": "1"
      },
      "param": []
    },
    "isRequired": true
  }
]


___TESTS___

scenarios:
- name: '[Consent] Analytics not granted: no row is written and the tag succeeds'
  code: |-
    mockData.consentState = { ads: true, analytics: false };
    runCode(mockData);
    assertThat(inserts.length).isEqualTo(0);
    assertApi('gtmOnSuccess').wasCalled();
- name: '[Row] An event is inserted into the plan table'
  code: |-
    runCode(mockData);
    assertThat(inserts.length).isEqualTo(1);
    assertThat(inserts[0].table).isEqualTo({ projectId: 'acme-test', datasetId: 'sgtm_events', tableId: 'events_v1' });
    assertThat(inserts[0].options).isEqualTo({ ignoreUnknownValues: true });
    assertThat(inserts[0].rows).isEqualTo([{
      event_id: 'ord-1001-purchase',
      event_name: 'purchase',
      event_timestamp: (NOW - 60000) / 1000,
      destination: 'warehouse',
      consent: '{"ads":false,"analytics":true}',
      params: '{"payment_type":"card"}',
      client_id: '1234567890.1732860000',
      session_id: '1732860000',
      transaction_id: '1001',
      currency: 'EUR',
      page_location: 'https://shop.example.com/checkout',
      value: 59.9,
      items: JSON.stringify(eventData.items)
    }]);
    callLater(() => {
      assertApi('gtmOnSuccess').wasCalled();
    });
- name: '[Row] The plan gives the warehouse no PII: none reaches the table'
  code: |-
    mockData.destinations.warehouse.user_data = { sha256_email_address: HASH };
    mockData.piiFields = 'email';
    runCode(mockData);
    assertThat(inserts[0].rows[0].user_data).isUndefined();
- name: '[Row] An anonymised event is written without client or session ids'
  code: |-
    mockData.consentState = { ads: false, analytics: false };
    mockData.destinations.warehouse.anonymized = true;
    runCode(mockData);
    assertThat(inserts.length).isEqualTo(1);
    assertThat(inserts[0].rows[0].client_id).isUndefined();
    assertThat(inserts[0].rows[0].session_id).isUndefined();
    assertThat(inserts[0].rows[0].transaction_id).isEqualTo('1001');
- name: '[Errors] A failed insert fails the tag'
  code: |-
    insertFails = true;
    runCode(mockData);
    callLater(() => {
      assertApi('gtmOnFailure').wasCalled();
      assertApi('gtmOnSuccess').wasNotCalled();
    });
setup: |-
  const JSON = require('JSON');
  const Promise = require('Promise');
  const callLater = require('callLater');
  const NOW = 1732870000000;
  // sha256 of 'ana@example.com' (Meta and Google rules agree on it).
  const HASH = '8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11';
  let requests = [];
  let eventData = {
    event_name: 'purchase',
    event_id: 'ord-1001-purchase',
    client_id: '1234567890.1732860000',
    ga_session_id: '1732860000',
    user_id: 'cust-42',
    value: 59.9,
    currency: 'EUR',
    transaction_id: '1001',
    payment_type: 'card',
    items: [{ item_id: 'SKU-1', item_name: 'Mug', item_category: 'Kitchen', quantity: 2, price: 19.95 }],
    page_location: 'https://shop.example.com/checkout',
    ip_override: '203.0.113.7, 10.0.0.1',
    user_agent: 'Mozilla/5.0',
    'x-ga-gcs': 'G111',
    'x-sgtm-timestamp': NOW - 60000,
    'x-sgtm-context': { fbp: 'fb.1.1732860000.123', gclid: 'Cj0KCQiA' }
  };
  function answer(statusCode, body) {
    mock('sendHttpRequest', (url, options, requestBody) => {
      requests.push({ url: url, options: options, body: JSON.parse(requestBody) });
      return Promise.create((resolve) => resolve({ statusCode: statusCode, headers: {}, body: body || '' }));
    });
  }
  function fromOtherClient(userData) {
    // An event another client (the GA4 web client) produced: no x-sgtm-* keys, raw PII.
    mockData.consentState = undefined;
    mockData.destinations = undefined;
    eventData.user_data = userData;
  }
  mock('getEventData', (key) => eventData[key]);
  mock('getTimestampMillis', NOW);
  answer(200, '{}');
  let inserts = [];
  let insertFails = false;
  mockObject('BigQuery', {
    insert: (table, rows, options) => {
      inserts.push({ table: table, rows: rows, options: options });
      return Promise.create((resolve, reject) => (insertFails ? reject({ reason: 'failed' }) : resolve()));
    }
  });
  const mockData = {
    destinationName: 'warehouse',
    purposes: 'analytics',
    eventMap: [{ event: 'purchase', name: 'purchase' }],
    consentState: { ads: false, analytics: true },
    destinations: { warehouse: { user_data: {}, ip: null, user_agent: null } },
    piiFields: '',
    defaultCountry: 'ES',
    ipPolicy: 'none',
    sendUserAgent: false,
    logType: 'no',
    projectId: 'acme-test',
    datasetId: 'sgtm_events',
    tableId: 'events_v1'
  };


___NOTES___

Generated by sgtm-companion from tracking plan acme-home 1.0.0.
Do not edit here: change the plan and run `sgtm generate` again.


