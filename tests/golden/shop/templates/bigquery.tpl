
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

function isGranted(purpose) {
  const consent = data.consentState;
  if (getType(consent) === 'object') return consent[purpose] === true;
  // Not from our client: only a well-formed Consent Mode string can grant, and only ads or
  // analytics.
  const gcs = consentFromGcs(getEventData('x-ga-gcs'));
  if (!gcs || (purpose !== 'ads' && purpose !== 'analytics')) return false;
  return gcs[purpose] === true;
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

/*==============================================================================
  IP addresses: the sandbox twin of sidecar/ipanon.py (parse, /24 + /48 anonymisation)

  Both are held to tests/vectors/ip.json. Anything Python's ipaddress refuses is refused here
  (undefined), so a value the tag cannot parse is never sent, cut or not.
==============================================================================*/

const IP_HEX = '0123456789abcdef';
const IP_SPACE = ' \t\r\n';

function ipStrip(text) {
  let start = 0;
  let end = text.length;
  while (start < end && IP_SPACE.indexOf(text.charAt(start)) !== -1) start++;
  while (end > start && IP_SPACE.indexOf(text.charAt(end - 1)) !== -1) end--;
  return text.substring(start, end);
}

// ASCII digits only, at least `min` and at most `max` of them; the number or -1.
function ipDigits(text, min, max) {
  if (text.length < min || text.length > max) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = IP_HEX.indexOf(text.charAt(i));
    if (digit === -1 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

// Four octets, or undefined; like Python, no leading zeros ('010' is refused, '0' is fine).
function ipv4Octets(text) {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const octets = [];
  for (let i = 0; i < 4; i++) {
    const value = ipDigits(parts[i], 1, 3);
    if (value === -1 || value > 255 || (parts[i].length > 1 && parts[i].charAt(0) === '0')) {
      return undefined;
    }
    octets.push(value);
  }
  return octets;
}

// Whether the text has the shape of Python's `a.b.c.d:port` pattern (values checked later).
function ipIsV4WithPort(text) {
  const colon = text.indexOf(':');
  if (colon === -1 || text.indexOf(':', colon + 1) !== -1) return false;
  if (ipDigits(text.substring(colon + 1), 1, 5) === -1) return false;
  const parts = text.substring(0, colon).split('.');
  if (parts.length !== 4) return false;
  return parts.every((part) => ipDigits(part, 1, 3) !== -1);
}

function ipHexGroup(text) {
  if (text.length < 1 || text.length > 4) return -1;
  let value = 0;
  const lower = text.toLowerCase();
  for (let i = 0; i < lower.length; i++) {
    const digit = IP_HEX.indexOf(lower.charAt(i));
    if (digit === -1) return -1;
    value = value * 16 + digit;
  }
  return value;
}

function ipHexGroups(parts) {
  const groups = [];
  for (let i = 0; i < parts.length; i++) {
    const value = ipHexGroup(parts[i]);
    if (value === -1) return undefined;
    groups.push(value);
  }
  return groups;
}

// Eight 16-bit groups, or undefined. An IPv4 address may end the text (`::ffff:1.2.3.4`): it
// is rewritten as the two groups it stands for before the groups are read.
function ipv6Groups(text) {
  let body = text;
  const lastColon = text.lastIndexOf(':');
  if (lastColon === -1) return undefined;
  if (text.indexOf('.', lastColon) !== -1) {
    const o = ipv4Octets(text.substring(lastColon + 1));
    if (!o) return undefined;
    body = text.substring(0, lastColon + 1) + ipHex(o[0] * 256 + o[1]) + ':' + ipHex(o[2] * 256 + o[3]);
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  if (halves.length === 1) {
    const all = ipHexGroups(body.split(':'));
    return all && all.length === 8 ? all : undefined;
  }
  const head = halves[0] === '' ? [] : ipHexGroups(halves[0].split(':'));
  const rest = halves[1] === '' ? [] : ipHexGroups(halves[1].split(':'));
  // '::' stands for at least one zero group.
  if (!head || !rest || head.length + rest.length > 7) return undefined;
  const groups = head;
  while (groups.length + rest.length < 8) groups.push(0);
  return groups.concat(rest);
}

// {v4: [4 octets]} or {v6: [8 groups]}, or undefined for anything Python refuses. IPv4-mapped
// IPv6 comes back as the IPv4 it carries.
function parseIp(value) {
  if (getType(value) !== 'string') return undefined;
  let text = ipStrip(value);
  if (text === '' || text.indexOf('%') !== -1) return undefined;
  let port = '';
  if (ipIsV4WithPort(text)) {
    port = text.substring(text.indexOf(':') + 1);
    text = text.substring(0, text.indexOf(':'));
  } else if (text.charAt(0) === '[') {
    const close = text.indexOf(']');
    if (close === -1) return undefined;
    const after = text.substring(close + 1);
    if (after !== '') {
      if (after.charAt(0) !== ':' || ipDigits(after.substring(1), 1, 5) === -1) return undefined;
      port = after.substring(1);
    }
    text = text.substring(1, close);
    for (let i = 0; i < text.length; i++) {
      if ('0123456789abcdefABCDEF:.'.indexOf(text.charAt(i)) === -1) return undefined;
    }
    if (text === '') return undefined;
  }
  if (port !== '') {
    const number = ipDigits(port, 1, 5);
    if (number < 1 || number > 65535) return undefined;
  }
  if (text.indexOf(':') === -1) {
    const octets = ipv4Octets(text);
    return octets ? { v4: octets } : undefined;
  }
  const groups = ipv6Groups(text);
  if (!groups) return undefined;
  if (groups[0] + groups[1] + groups[2] + groups[3] + groups[4] === 0 && groups[5] === 65535) {
    const high = groups[6];
    const low = groups[7];
    return { v4: [(high - (high % 256)) / 256, high % 256, (low - (low % 256)) / 256, low % 256] };
  }
  return { v6: groups };
}

// A 16-bit group in lower-case hex without leading zeros (no radix toString in the sandbox).
function ipHex(value) {
  let out = IP_HEX.charAt(value % 16);
  let rest = (value - (value % 16)) / 16;
  while (rest > 0) {
    out = IP_HEX.charAt(rest % 16) + out;
    rest = (rest - (rest % 16)) / 16;
  }
  return out;
}

// RFC 5952 text as Python writes it: the longest run (2 or more) of zero groups becomes '::'.
function ipv6Text(groups) {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    if (j > i) i = j;
  }
  const hex = groups.map(ipHex);
  if (best === -1) return hex.join(':');
  return hex.slice(0, best).join(':') + '::' + hex.slice(best + bestLength).join(':');
}

// IPv4 keeps /24, IPv6 /48, 6to4 (2002::/16 = 8194, whose /48 is the whole embedded IPv4) /40.
function anonymizeIp(value) {
  const ip = parseIp(value);
  if (!ip) return undefined;
  if (ip.v4) return ip.v4[0] + '.' + ip.v4[1] + '.' + ip.v4[2] + '.0';
  const keep = ip.v6[0] === 8194 ? [ip.v6[0], ip.v6[1], ip.v6[2] - (ip.v6[2] % 256)] : ip.v6.slice(0, 3);
  return ipv6Text(keep.concat([0, 0, 0, 0, 0]));
}

// The address as Python prints it (no port, compressed IPv6), for the 'full' policy.
function normalizeIp(value) {
  const ip = parseIp(value);
  if (!ip) return undefined;
  return ip.v4 ? ip.v4.join('.') : ipv6Text(ip.v6);
}

// The first address of an X-Forwarded-For style list (the Event API contract).
function firstIp(value) {
  if (getType(value) !== 'string') return undefined;
  const ip = ipStrip(value.split(',')[0]);
  return ip === '' ? undefined : ip;
}

/*==============================================================================
  Page URLs without personal data: the sandbox twin of sidecar/urlmin.py

  Both are held to tests/vectors/urls.json. User info is always removed; an anonymised
  destination gets no query and no fragment; otherwise parameters whose value looks like an
  email address or a phone number, or whose name is on the plan's denylist, are dropped
  (utm_* and click ids are exempt from the denylist only). ASCII-only on purpose.
==============================================================================*/

const URL_ALLOW_PARAMS = ['gclid', 'gbraid', 'wbraid', 'fbclid', 'ttclid'];
const URL_DENY_PARAMS = ["address", "auth", "birthday", "card", "dob", "email", "firstname", "fullname", "iban", "lastname", "mail", "mobile", "name", "pass", "password", "phone", "postcode", "pwd", "secret", "ssn", "street", "surname", "tel", "telephone", "token", "zip"];
const URL_HEX = '0123456789abcdefABCDEF';
const URL_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const URL_LOWER = 'abcdefghijklmnopqrstuvwxyz';
const URL_DIGITS = '0123456789';
// Printable ASCII from 0x20; other bytes decode to U+0080 (sidecar/urlmin.py does the same).
const URL_PRINTABLE = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';

function urlLower(text) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const upper = URL_UPPER.indexOf(text.charAt(i));
    out = out + (upper === -1 ? text.charAt(i) : URL_LOWER.charAt(upper));
  }
  return out;
}

// '+' as space, %XX as its character when printable ASCII, else U+0080 (only ASCII is ever
// checked, so no UTF-8 decoder is needed to agree with Python);
// undefined for a broken escape.
function urlDecode(text) {
  const spaced = text.split('+').join(' ');
  let out = '';
  let i = 0;
  while (i < spaced.length) {
    const c = spaced.charAt(i);
    if (c !== '%') {
      out = out + c;
      i++;
      continue;
    }
    const high = URL_HEX.indexOf(spaced.charAt(i + 1));
    const low = URL_HEX.indexOf(spaced.charAt(i + 2));
    if (i + 2 >= spaced.length || high === -1 || low === -1) return undefined;
    const h = high > 15 ? high - 6 : high;
    const l = low > 15 ? low - 6 : low;
    const code = h * 16 + l;
    out = out + (code >= 32 && code < 127 ? URL_PRINTABLE.charAt(code - 32) : '\u0080');
    i += 3;
  }
  return out;
}

function urlLooksLikeEmail(value) {
  const at = value.indexOf('@');
  if (at < 1) return false;
  const domain = value.substring(at + 1);
  for (let j = 1; j < domain.length - 1; j++) {
    if (domain.charAt(j) === '.') return true;
  }
  return false;
}

// 7-15 digits and phone punctuation only, with a leading '+' or '0', or in groups of 9+ digits.
function urlLooksLikePhone(value) {
  let start = 0;
  let end = value.length;
  while (start < end && value.charAt(start) === ' ') start++;
  while (end > start && value.charAt(end - 1) === ' ') end--;
  let text = value.substring(start, end);
  const plus = text.charAt(0) === '+';
  if (plus) text = text.substring(1);
  let digits = 0;
  let separated = false;
  let first = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (URL_DIGITS.indexOf(c) !== -1) {
      if (first === '') first = c;
      digits++;
    } else if (' -.()/'.indexOf(c) !== -1) {
      separated = true;
    } else {
      return false;
    }
  }
  if (digits < 7 || digits > 15) return false;
  return plus || first === '0' || (separated && digits >= 9);
}

function urlWords(name) {
  const words = [];
  let word = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charAt(i);
    if (URL_LOWER.indexOf(c) !== -1 || URL_DIGITS.indexOf(c) !== -1) {
      word = word + c;
    } else {
      if (word !== '') words.push(word);
      word = '';
    }
  }
  if (word !== '') words.push(word);
  return words;
}

function urlKeepPairs(text) {
  return text.split('&').filter((part) => {
    if (part === '') return false;
    const eq = part.indexOf('=');
    const name = urlDecode(eq === -1 ? part : part.substring(0, eq));
    const value = urlDecode(eq === -1 ? '' : part.substring(eq + 1));
    if (name === undefined || value === undefined) return false;
    if (urlLooksLikeEmail(value) || urlLooksLikePhone(value)) return false;
    const lowered = urlLower(name);
    if (URL_ALLOW_PARAMS.indexOf(lowered) !== -1 || lowered.indexOf('utm_') === 0) return true;
    if (URL_DENY_PARAMS.indexOf(lowered) !== -1) return false;
    return !urlWords(lowered).some((word) => URL_DENY_PARAMS.indexOf(word) !== -1);
  });
}

// The URL without user info, and without personal data in its query or fragment (without
// either at all when `anonymized`); undefined for anything but a string.
function minimiseUrl(url, anonymized) {
  if (getType(url) !== 'string') return undefined;
  const hashAt = url.indexOf('#');
  const rest = hashAt === -1 ? url : url.substring(0, hashAt);
  const queryAt = rest.indexOf('?');
  let base = queryAt === -1 ? rest : rest.substring(0, queryAt);
  const start = base.indexOf('//');
  if (start !== -1) {
    const slash = base.indexOf('/', start + 2);
    const authority = slash === -1 ? base.substring(start + 2) : base.substring(start + 2, slash);
    const at = authority.lastIndexOf('@');
    if (at !== -1) base = base.substring(0, start + 2) + base.substring(start + 3 + at);
  }
  if (anonymized) return base;
  let out = base;
  if (queryAt !== -1) {
    const pairs = urlKeepPairs(rest.substring(queryAt + 1));
    if (pairs.length > 0) out = out + '?' + pairs.join('&');
  }
  if (hashAt !== -1) {
    const fragment = url.substring(hashAt + 1);
    if (fragment.indexOf('=') !== -1) {
      const kept = urlKeepPairs(fragment);
      if (kept.length > 0) out = out + '#' + kept.join('&');
    } else {
      const decoded = urlDecode(fragment);
      if (decoded !== undefined && !urlLooksLikeEmail(decoded) && !urlLooksLikePhone(decoded)) {
        out = out + '#' + fragment;
      }
    }
  }
  return out;
}

// A page_location / page_referrer value without personal data; without query and fragment at
// all when this destination gets the event anonymised. (Callers read the key literally: the
// read_event_data permission lists the keys found in the code.)
function pageUrl(value) {
  return minimiseUrl(value, isAnonymized(entry));
}

// The plan gives this kind of destination no PII: no user data is ever sent.
function destinationUserData(entry, rules) {
  return {};
}

// The sidecar already applied the plan's IP policy to its entries; from other clients the
// address is parsed (anything unparseable is never sent) and cut as the tag's policy says.
function clientIp(entry) {
  if (entry) return firstIp(entry.ip);
  if (data.ipPolicy !== 'full' && data.ipPolicy !== 'anonymized') return undefined;
  const ip = firstIp(getEventData('ip_override'));
  return data.ipPolicy === 'anonymized' ? anonymizeIp(ip) : normalizeIp(ip);
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
    page_location: pageUrl(getEventData('page_location')),
    page_referrer: pageUrl(getEventData('page_referrer'))
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


