
___INFO___

{
  "type": "TAG",
  "id": "cvt_temp_public_id",
  "version": 1,
  "securityGroups": [],
  "displayName": "sgtm-companion Meta Conversions API",
  "categories": [
    "ADVERTISING",
    "CONVERSIONS"
  ],
  "brand": {
    "id": "brand_dummy",
    "displayName": "sgtm-companion"
  },
  "description": "Sends plan events to Meta Conversions API: consent enforced first (fail closed), PII hashed by the destination's own rules, never logged.",
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
    "type": "SELECT",
    "name": "pixelId",
    "displayName": "Pixel ID",
    "macrosInSelect": false,
    "selectItems": [
      {
        "value": "123456789012345",
        "displayValue": "123456789012345"
      }
    ],
    "simpleValueType": true,
    "defaultValue": "123456789012345",
    "help": "Set by the tracking plan; the send_http permission admits exactly these."
  },
  {
    "type": "SELECT",
    "name": "apiVersion",
    "displayName": "Graph API version",
    "macrosInSelect": false,
    "selectItems": [
      {
        "value": "v27.0",
        "displayValue": "v27.0"
      }
    ],
    "simpleValueType": true,
    "defaultValue": "v27.0",
    "help": "Set by the tracking plan; the send_http permission admits exactly these."
  },
  {
    "type": "TEXT",
    "name": "accessToken",
    "displayName": "Access token",
    "simpleValueType": true,
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "SELECT",
    "name": "mode",
    "displayName": "Mode",
    "macrosInSelect": false,
    "selectItems": [
      {
        "value": "live",
        "displayValue": "Live"
      },
      {
        "value": "shadow",
        "displayValue": "Shadow (test surface)"
      }
    ],
    "simpleValueType": true,
    "defaultValue": "live"
  },
  {
    "type": "TEXT",
    "name": "testEventCode",
    "displayName": "Test event code (shadow mode)",
    "simpleValueType": true
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
        "type": "TEXT",
        "name": "piiFields",
        "displayName": "PII fields allowed (comma separated)",
        "simpleValueType": true,
        "defaultValue": ""
      },
      {
        "type": "TEXT",
        "name": "defaultCountry",
        "displayName": "Default country (ISO 3166-1 alpha-2)",
        "simpleValueType": true,
        "defaultValue": ""
      },
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

const createRegex = require('createRegex');
const encodeUriComponent = require('encodeUriComponent');
const getContainerVersion = require('getContainerVersion');
const getEventData = require('getEventData');
const getTimestampMillis = require('getTimestampMillis');
const getType = require('getType');
const hasMessageListener = require('hasMessageListener');
const JSON = require('JSON');
const logToConsole = require('logToConsole');
const makeInteger = require('makeInteger');
const makeNumber = require('makeNumber');
const makeString = require('makeString');
const Math = require('Math');
const Object = require('Object');
const sendHttpRequest = require('sendHttpRequest');
const sendMessage = require('sendMessage');
const sha256Sync = require('sha256Sync');
const testRegex = require('testRegex');

const LOG_NAME = 'sgtm-companion meta_capi';
const GRAPH_URL = 'https://graph.facebook.com/';
const TIMEOUT_MS = 1500;
const SHADOW_MESSAGE = 'sgtm_shadow';
// Meta rejects the whole request when an event is older than 7 days, 62 for physical_store
// (protocols.md 2.2).
const MAX_AGE_SECONDS = 7 * 24 * 3600;
const MAX_STORE_AGE_SECONDS = 62 * 24 * 3600;
// The order's channel (context.channel) in Meta's action_source terms (docs/destinations.md);
// no channel means a browser session, i.e. the website.
const ACTION_SOURCES = { web: 'website', pos: 'physical_store', subscription: 'system_generated', other: 'other' };
const MAX_CONTENTS = 1000;

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

const GOOGLE_FIELDS = {
  sha256_email_address: 'email',
  sha256_phone_number: 'phone',
  sha256_first_name: 'first_name',
  sha256_last_name: 'last_name',
  city: 'city',
  region: 'region',
  postal_code: 'postal_code',
  country: 'country'
};

// Canonical fields from Google's common event data (another client's events).
function commonUserData() {
  const userData = getEventData('user_data');
  if (getType(userData) !== 'object') return {};
  let address = userData.address;
  if (getType(address) === 'array') address = address[0];
  if (getType(address) !== 'object') address = {};
  return {
    email: userData.sha256_email_address || userData.email_address,
    phone: userData.sha256_phone_number || userData.phone_number,
    first_name: address.sha256_first_name || address.first_name,
    last_name: address.sha256_last_name || address.last_name,
    city: address.city,
    region: address.region,
    postal_code: address.postal_code,
    country: address.country
  };
}

// The sidecar's destination-keyed user data back to canonical fields, so values that are not
// yet hashed get this destination's normalisation (hashes pass through untouched).
function canonicalFromEntry(rules, userData) {
  const out = {};
  if (getType(userData) !== 'object') return out;
  if (rules === 'meta') {
    Object.keys(PII_META_KEYS).forEach((field) => {
      const value = userData[PII_META_KEYS[field]];
      out[field] = getType(value) === 'array' ? value[0] : value;
    });
    return out;
  }
  const address = getType(userData.address) === 'array' ? userData.address[0] : userData.address;
  Object.keys(GOOGLE_FIELDS).forEach((key) => {
    const value = userData[key] !== undefined ? userData[key] : address ? address[key] : undefined;
    out[GOOGLE_FIELDS[key]] = getType(value) === 'array' ? value[0] : value;
  });
  return out;
}

// This destination's user data, in its own keys, hashed by its own rules; only the fields the
// plan allows it. Raw PII never leaves: unhashable values are dropped.
function destinationUserData(entry, rules) {
  const canonical = entry ? canonicalFromEntry(rules, entry.user_data) : commonUserData();
  return piiPrepare(rules, canonical, splitList(data.piiFields), data.defaultCountry || '').fields;
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
  HTTP completion (shared by the tags that call an HTTP API)
==============================================================================*/

// Ends the tag after an HTTP answer: 2xx succeeds, anything else (or no answer) fails.
function finishHttp(request) {
  return request.then(
    (result) => {
      log({
        Type: 'Response',
        TraceId: eventId,
        EventName: mappedName,
        ResponseStatusCode: result.statusCode
      });
      reportShadow(result.statusCode, result.body);
      if (result.statusCode >= 200 && result.statusCode < 300 && isAccepted(result)) {
        data.gtmOnSuccess();
      } else {
        data.gtmOnFailure();
      }
    },
    (error) => {
      log({
        Type: 'Message',
        TraceId: eventId,
        EventName: mappedName,
        Message: 'request failed: ' + (error && error.reason ? error.reason : 'unknown')
      });
      reportShadow(0, undefined, error && error.reason ? error.reason : 'unknown');
      data.gtmOnFailure();
    }
  );
}

/*==============================================================================
  Shadow mode: the test surface's answer goes back to the client, which records it
==============================================================================*/

// At most this many findings, each text cut to MAX_SHADOW_TEXT: the summary travels in every
// batch answer and lands in the ledger.
const MAX_SHADOW_ITEMS = 10;
const MAX_SHADOW_TEXT = 300;

// Sends a bounded summary of the answer (never the request, never user data) to the client's
// listener; status 0 with the reason when no answer came. Outside shadow mode, or with no client
// listening, nothing is sent.
function reportShadow(statusCode, body, failedReason) {
  if (data.mode !== 'shadow' || !hasMessageListener(SHADOW_MESSAGE)) return;
  const answer = JSON.parse(body || '');
  sendMessage(SHADOW_MESSAGE, {
    destination: data.destinationName,
    status_code: statusCode,
    response: failedReason
      ? { error: { message: 'request failed: ' + shortText(failedReason) } }
      : shadowSummary(getType(answer) === 'object' ? answer : {})
  });
}

function shortText(value) {
  return truncate(makeString(value), MAX_SHADOW_TEXT);
}

/*==============================================================================
  PII normalisation and hashing (the sandbox twin of sidecar/pii.py)

  Both are held to tests/vectors/pii_vectors.json. Where the sandbox cannot do what the
  Python side does (Unicode NFC composition, phone prefixes that need a real regex) the value
  is dropped with reason 'sandbox_unsupported': never sent with a different hash.
==============================================================================*/

const PII_FIELDS = ['email', 'phone', 'first_name', 'last_name', 'city', 'region', 'postal_code', 'country', 'external_id'];
const PII_META_KEYS = {
  email: 'em',
  phone: 'ph',
  first_name: 'fn',
  last_name: 'ln',
  city: 'ct',
  region: 'st',
  postal_code: 'zp',
  country: 'country',
  external_id: 'external_id'
};
const PII_GOOGLE_KEYS = {
  email: 'sha256_email_address',
  phone: 'sha256_phone_number',
  first_name: 'address.sha256_first_name',
  last_name: 'address.sha256_last_name',
  city: 'address.city',
  region: 'address.region',
  postal_code: 'address.postal_code',
  country: 'address.country'
};
const PII_GOOGLE_RAW = { city: true, region: true, postal_code: true, country: true };
const PII_ISO_COUNTRIES = ' AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW ';
// phonenumbers metadata: region -> [calling code, IDD prefixes, national prefixes, possible
// lengths, local-only lengths, national number pattern]; '*' = a prefix rule the sandbox cannot
// follow. Non-geographic calling codes are keyed 'X<code>'.
const PII_PHONE_REGIONS = {"AC":["247","00","",[5,6],[],"(?:[01589]\\d|[2-467])\\d{4}"],"AD":["376","00","",[6,8,9],[],"(?:1|6\\d)\\d{7}|[135-9]\\d{5}"],"AE":["971","00","0",[5,6,7,8,9,10,11,12],[],"(?:[4-7]\\d|9[0-689])\\d{7}|800\\d{2,9}|[2-4679]\\d{7}"],"AF":["93","00","0",[9],[7],"[2-7]\\d{8}"],"AL":["355","00","0",[6,7,8,9],[5],"(?:700\\d\\d|900)\\d{3}|8\\d{5,7}|(?:[2-5]|6\\d)\\d{7}"],"AM":["374","00","0",[8],[5,6],"(?:[1-489]\\d|55|60|77)\\d{6}"],"AO":["244","00","",[9],[],"[29]\\d{8}"],"AR":["54","00","*",[10,11],[6,7,8],"(?:11|[89]\\d\\d)\\d{8}|[2368]\\d{9}"],"AT":["43","00","0",[4,5,6,7,8,9,10,11,12,13],[3],"1\\d{3,12}|2\\d{6,12}|43(?:(?:0\\d|5[02-9])\\d{3,9}|2\\d{4,5}|[3467]\\d{4}|8\\d{4,6}|9\\d{4,7})|5\\d{4,12}|8\\d{7,12}|9\\d{8,12}|(?:[367]\\d|4[0-24-9])\\d{4,11}"],"AU":["61","*","*",[5,6,7,8,9,10,12],[],"1(?:[0-79]\\d{7}(?:\\d(?:\\d{2})?)?|8[0-24-9]\\d{7})|[2-478]\\d{8}|1\\d{4,7}"],"AW":["297","00","",[7],[],"(?:[25-79]\\d\\d|800)\\d{4}"],"AZ":["994","00","0",[9],[7],"365\\d{6}|(?:[124579]\\d|60|88)\\d{7}"],"BA":["387","00","0",[8,9],[6],"6\\d{8}|(?:[35689]\\d|49|70)\\d{6}"],"BD":["880","00","0",[6,7,8,9,10],[],"[1-469]\\d{9}|8[0-79]\\d{7,8}|[2-79]\\d{8}|[2-9]\\d{7}|[3-9]\\d{6}|[57-9]\\d{5}"],"BE":["32","00","0",[8,9],[],"4\\d{8}|[1-9]\\d{7}"],"BF":["226","00","",[8],[],"[024-7]\\d{7}"],"BG":["359","00","0",[6,7,8,9,12],[4,5],"00800\\d{7}|[2-7]\\d{6,7}|[89]\\d{6,8}|2\\d{5}"],"BH":["973","00","",[8],[],"[136-9]\\d{7}"],"BI":["257","00","",[8],[],"(?:[267]\\d|31)\\d{6}"],"BJ":["229","00","",[10],[],"01\\d{8}"],"BN":["673","00","",[7],[],"[2-578]\\d{6}"],"BO":["591","*","*",[8,9],[7],"(?:[2-7]\\d\\d|8001)\\d{5}"],"BR":["55","*","*",[8,9,10,11],[],"[1-467]\\d{9,10}|55[0-46-9]\\d{8}|[34]\\d{7}|55\\d{7,8}|(?:5[0-46-9]|[89]\\d)\\d{7,9}"],"BT":["975","00","",[7,8],[6],"[178]\\d{7}|[2-8]\\d{6}"],"BW":["267","00","",[7,8,10],[],"90\\d{5}|(?:0800|[2-6]|(?:7|800)\\d)\\d{6}"],"BY":["375","810","*",[6,7,8,9,10,11],[5],"(?:[12]\\d|33|44|902)\\d{7}|8(?:0[0-79]\\d{5,7}|[1-7]\\d{9})|8(?:1[0-489]|[5-79]\\d)\\d{7}|8[1-79]\\d{6,7}|8[0-79]\\d{5}|8\\d{5}"],"BZ":["501","00","",[7,11],[],"(?:0800\\d|[2-8])\\d{6}"],"CD":["243","00","0",[7,8,9,10],[],"(?:(?:[189]|5\\d)\\d|2)\\d{7}|[1-68]\\d{6}"],"CF":["236","00","",[8],[],"8776\\d{4}|(?:[27]\\d|61)\\d{6}"],"CG":["242","00","",[9],[],"222\\d{6}|(?:0\\d|80)\\d{7}"],"CH":["41","00","0",[9,12],[],"8\\d{11}|[2-9]\\d{8}"],"CI":["225","00","",[10],[],"[02]\\d{9}"],"CK":["682","00","",[5],[],"[2-578]\\d{4}"],"CL":["56","*","",[9,10,11],[],"12300\\d{6}|6\\d{9,10}|[2-9]\\d{8}"],"CM":["237","00","",[8,9],[],"[26]\\d{8}|88\\d{6,7}"],"CN":["86","*","*",[7,8,9,10,11,12],[5,6],"(?:(?:1[03-689]|2\\d)\\d\\d|6)\\d{8}|1\\d{10}|[126]\\d{6}(?:\\d(?:\\d{2})?)?|86\\d{5,6}|(?:[3-579]\\d|8[0-57-9])\\d{5,9}"],"CO":["57","*","*",[8,10,11],[4,7],"(?:46|60\\d\\d)\\d{6}|(?:1\\d|[39])\\d{9}"],"CR":["506","00","*",[8,10],[],"(?:8\\d|90)\\d{8}|(?:[24-8]\\d{3}|3005)\\d{4}"],"CU":["53","119","0",[6,7,8,10],[4,5],"(?:[2-7]|8\\d\\d)\\d{7}|[2-47]\\d{6}|[34]\\d{5}"],"CV":["238","0","",[7],[],"(?:[2-59]\\d\\d|800)\\d{4}"],"CW":["599","00","",[7,8],[],"(?:[34]1|60|(?:7|9\\d)\\d)\\d{5}"],"CY":["357","00","",[8],[],"(?:[279]\\d|[58]0)\\d{6}"],"CZ":["420","00","",[9,10,11,12],[],"(?:[2-578]\\d|60)\\d{7}|9\\d{8,11}"],"DE":["49","00","0",[4,5,6,7,8,9,10,11,12,13,14,15],[2,3],"[2579]\\d{5,14}|49(?:[34]0|69|8\\d)\\d\\d?|49(?:37|49|60|7[089]|9\\d)\\d{1,3}|49(?:2[024-9]|3[2-689]|7[1-7])\\d{1,8}|(?:1|[368]\\d|4[0-8])\\d{3,13}|49(?:[015]\\d|2[13]|31|[46][1-8])\\d{1,9}"],"DJ":["253","00","",[8],[],"(?:2\\d|77)\\d{6}"],"DK":["45","00","",[8],[],"[2-9]\\d{7}"],"DZ":["213","00","0",[8,9],[],"(?:[1-4]|[5-79]\\d|80)\\d{7}"],"EC":["593","00","0",[8,9,10,11],[7],"1\\d{9,10}|(?:[2-7]|9\\d)\\d{7}"],"EE":["372","00","",[7,8,10],[],"8\\d{9}|[4578]\\d{7}|(?:[3-8]\\d|90)\\d{5}"],"EG":["20","00","0",[8,9,10],[6,7],"[189]\\d{8,9}|[24-6]\\d{8}|[135]\\d{7}"],"ER":["291","00","0",[7],[6],"[178]\\d{6}"],"ES":["34","00","",[9],[],"400\\d{6}|(?:51|[6-9]\\d)\\d{7}"],"ET":["251","00","0",[9],[7],"(?:11|[2-57-9]\\d)\\d{7}"],"FI":["358","*","0",[5,6,7,8,9,10,11,12],[],"[1-35689]\\d{4}|7\\d{10,11}|(?:[124-7]\\d|3[0-46-9])\\d{8}|[1-9]\\d{5,8}"],"FJ":["679","*","",[7,11],[],"45\\d{5}|(?:0800\\d|[235-9])\\d{6}"],"FK":["500","00","",[5],[],"[2-7]\\d{4}"],"FM":["691","00","",[7],[],"(?:[39]\\d\\d|820)\\d{4}"],"FO":["298","00","*",[6],[],"[2-9]\\d{5}"],"FR":["33","00","0",[9],[],"[1-9]\\d{8}"],"GA":["241","00","*",[7,8],[],"(?:[067]\\d|11)\\d{6}|[2-7]\\d{6}"],"GB":["44","00","0|180020",[7,9,10],[4,5,6,8],"[1-357-9]\\d{9}|[18]\\d{8}|8\\d{6}"],"GE":["995","00","0",[9],[6,7],"(?:[3-57]\\d\\d|800)\\d{6}"],"GF":["594","00","0",[9],[],"(?:694\\d|7093)\\d{5}|(?:59|[89]\\d)\\d{7}"],"GH":["233","00","0",[8,9],[7],"[235]\\d{8}|800\\d{5,6}"],"GI":["350","00","",[8],[],"(?:[25]\\d|60)\\d{6}"],"GL":["299","00","",[6],[],"(?:19|[2-689]\\d|70)\\d{4}"],"GM":["220","00","",[7,9],[],"[48]\\d{8}|[2-9]\\d{6}"],"GN":["224","00","",[8,9],[],"722\\d{6}|(?:3|6\\d)\\d{7}"],"GP":["590","00","0",[9],[],"7090\\d{5}|(?:[56]9|[89]\\d)\\d{7}"],"GQ":["240","00","",[9],[],"222\\d{6}|(?:3\\d|55|[89]0)\\d{7}"],"GR":["30","00","",[10,11,12],[],"5005000\\d{3}|8\\d{9,11}|(?:[269]\\d|70)\\d{8}"],"GT":["502","00","",[8,11],[],"80\\d{6}|(?:1\\d{3}|[2-7])\\d{7}"],"GW":["245","00","",[7,9],[],"[49]\\d{8}|4\\d{6}"],"GY":["592","001","",[7],[],"(?:[2-8]\\d{3}|9008)\\d{3}"],"HK":["852","*","",[5,6,7,8,9,11],[],"8[0-46-9]\\d{6,7}|9\\d{4,7}|(?:[2-7]|9\\d{3})\\d{7}"],"HN":["504","00","",[8,11],[],"8\\d{10}|[237-9]\\d{7}"],"HR":["385","00","0",[7,8,9],[6],"[2-69]\\d{8}|80\\d{5,7}|[1-79]\\d{7}|6\\d{6}"],"HT":["509","00","",[8],[],"[2-589]\\d{7}"],"HU":["36","00","06",[8,9],[6,7],"[235-7]\\d{8}|[1-9]\\d{7}"],"ID":["62","008|009","0",[7,8,9,10,11,12,13,14,15,16,17],[5,6],"00[1-9]\\d{9,14}|(?:[1-36]|8\\d{5})\\d{6}|00\\d{9}|[1-9]\\d{8,10}|[2-9]\\d{7}"],"IE":["353","00","0",[7,8,9,10],[5,6],"(?:1\\d|[2569])\\d{6,8}|4\\d{6,9}|7\\d{8}|8\\d{8,9}"],"IL":["972","*","0",[7,8,9,10,11,12],[],"1\\d{6}(?:\\d{3,5})?|[57]\\d{8}|[1-489]\\d{7}"],"IN":["91","00","0",[8,9,10,11,12,13],[6,7],"(?:000800|[2-9]\\d\\d)\\d{7}|1\\d{7,12}"],"IO":["246","00","",[7],[],"3\\d{6}"],"IQ":["964","00","0",[8,9,10],[6,7],"(?:1|7\\d\\d)\\d{7}|[2-6]\\d{7,8}"],"IR":["98","00","0",[4,5,6,7,10],[8],"[1-9]\\d{9}|(?:[1-8]\\d\\d|9)\\d{3,4}"],"IS":["354","*","",[7,9],[],"(?:38\\d|[4-9])\\d{6}"],"IT":["39","00","",[6,7,8,9,10,11,12],[],"0\\d{5,11}|1\\d{8,10}|3(?:[0-8]\\d{7,10}|9\\d{7,8})|(?:43|55|70)\\d{8}|8\\d{5}(?:\\d{2,4})?"],"JO":["962","00","0",[8,9],[],"(?:(?:[2689]|7\\d)\\d|32|427|53)\\d{6}"],"JP":["81","010","*",[8,9,10,11,12,13,14,15,16,17],[],"00[1-9]\\d{6,14}|[25-9]\\d{9}|(?:00|[1-9]\\d\\d)\\d{6}"],"KE":["254","000","0",[7,8,9,10],[],"(?:[17]\\d\\d|900)\\d{6}|(?:2|80)0\\d{6,7}|[4-6]\\d{6,8}"],"KG":["996","00","0",[9,10],[5,6],"8\\d{9}|[235-9]\\d{8}"],"KH":["855","*","0",[8,9,10],[6,7],"1\\d{9}|[1-9]\\d{7,8}"],"KI":["686","00","0",[5,8],[],"(?:[37]\\d|6[0-79])\\d{6}|(?:[2-48]\\d|50)\\d{3}"],"KM":["269","00","",[7],[4],"[3478]\\d{6}"],"KP":["850","00|99","0",[8,10],[6,7],"85\\d{6}|(?:19\\d|[2-7])\\d{7}"],"KR":["82","*","*",[5,6,8,9,10,11,12,13,14],[3,4,7],"00[1-9]\\d{8,11}|(?:[12]|5\\d{3})\\d{7}|[13-6]\\d{9}|(?:[1-6]\\d|80)\\d{7}|[3-6]\\d{4,5}|(?:00|7)0\\d{8}"],"KW":["965","00","",[7,8],[],"18\\d{5}|(?:[2569]\\d|41)\\d{6}"],"LA":["856","00","0",[8,9,10],[6],"(?:2\\d|3)\\d{8}|(?:[235-8]\\d|41)\\d{6}"],"LB":["961","00","0",[7,8],[],"[27-9]\\d{7}|[13-9]\\d{6}"],"LI":["423","00","*",[7,9],[],"[68]\\d{8}|(?:[2378]\\d|90)\\d{5}"],"LK":["94","00","0",[9],[7],"[1-9]\\d{8}"],"LR":["231","00","0",[7,8,9],[],"(?:[2457]\\d|33|88)\\d{7}|(?:2\\d|[4-6])\\d{6}"],"LS":["266","00","",[8],[],"(?:[256]\\d\\d|800)\\d{5}"],"LT":["370","00","0|8",[8],[],"(?:[3469]\\d|52|[78]0)\\d{6}"],"LU":["352","00","*",[4,5,6,7,8,9,10,11],[],"35[013-9]\\d{4,8}|6\\d{8}|35\\d{2,4}|(?:[2457-9]\\d|3[0-46-9])\\d{2,9}"],"LV":["371","00","",[8],[],"(?:[268]\\d|78|90)\\d{6}"],"LY":["218","00","0",[9],[7],"[2-9]\\d{8}"],"MA":["212","00","0",[9],[],"[5-8]\\d{8}"],"MC":["377","00","0",[8,9],[],"(?:[3489]|[67]\\d)\\d{7}"],"MD":["373","00","0",[8],[],"(?:[235-7]\\d|[89]0)\\d{6}"],"ME":["382","00","0",[8,9],[6],"(?:20|[3-79]\\d)\\d{6}|80\\d{6,7}"],"MG":["261","00","*",[9],[7],"[23]\\d{8}"],"MH":["692","011","1",[7],[],"329\\d{4}|(?:[256]\\d|45)\\d{5}"],"MK":["389","00","0",[8],[6,7],"[2-578]\\d{7}"],"ML":["223","00","",[8],[],"[24-9]\\d{7}"],"MM":["95","00","0",[6,7,8,9,10],[5],"1\\d{5,7}|95\\d{6}|(?:[4-7]|9[0-46-9])\\d{6,8}|(?:2|8\\d)\\d{5,8}"],"MN":["976","001","0",[8,9,10],[4,5,6],"[12]\\d{7,9}|[5-9]\\d{7}"],"MO":["853","00","",[7,8],[],"0800\\d{3}|(?:28|[68]\\d)\\d{6}"],"MQ":["596","00","0",[9],[],"7091\\d{5}|(?:[56]9|[89]\\d)\\d{7}"],"MR":["222","00","",[8],[],"(?:[2-4]\\d\\d|800)\\d{5}"],"MT":["356","00","",[8],[],"3550\\d{4}|(?:[2579]\\d\\d|800)\\d{5}"],"MU":["230","*","",[7,8,10],[],"(?:[57]|8\\d\\d)\\d{7}|[2-468]\\d{6}"],"MV":["960","*","",[7,10],[],"(?:800|9[0-57-9]\\d)\\d{7}|[34679]\\d{6}"],"MW":["265","00","0",[7,9],[],"(?:[1289]\\d|31|77)\\d{7}|1\\d{6}"],"MX":["52","00|09","",[10],[7,8],"[2-9]\\d{9}"],"MY":["60","00","0",[8,9,10],[6,7],"1\\d{8,9}|(?:3\\d|[4-9])\\d{7}"],"MZ":["258","00","",[8,9],[],"(?:2|8\\d)\\d{7}"],"NA":["264","00","0",[8,9],[],"[68]\\d{7,8}"],"NC":["687","00","",[6],[],"(?:050|[2-57-9]\\d\\d)\\d{3}"],"NE":["227","00","",[8],[],"[027-9]\\d{7}"],"NF":["672","00","*",[6],[5],"[13]\\d{5}"],"NG":["234","009","0",[10,11,12,13,14],[6,7],"(?:20|9\\d)\\d{8}|[78]\\d{9,13}"],"NI":["505","00","",[8],[],"(?:1800|[25-8]\\d{3})\\d{4}"],"NL":["31","00","0",[5,6,7,8,9,10,11],[],"(?:[124-7]\\d\\d|3(?:[02-9]\\d|1[0-8]))\\d{6}|8\\d{6,9}|9\\d{6,10}|1\\d{4,5}"],"NO":["47","00","",[5,8],[],"(?:0|[2-9]\\d{3})\\d{4}"],"NP":["977","00","0",[8,10,11],[6,7],"(?:1\\d|9)\\d{9}|[1-9]\\d{7}"],"NR":["674","00","",[7],[],"(?:222|444|(?:55|8\\d)\\d|666|777|999)\\d{4}"],"NU":["683","00","",[4,7],[],"(?:[4-7]|888\\d)\\d{3}"],"NZ":["64","*","0",[5,6,7,8,9,10],[],"[1289]\\d{9}|50\\d{5}(?:\\d{2,3})?|[27-9]\\d{7,8}|(?:[34]\\d|6[0-35-9])\\d{6}|8\\d{4,6}"],"OM":["968","00","",[7,8,9],[],"(?:1505|[279]\\d{3}|500)\\d{4}|800\\d{5,6}"],"PA":["507","00","",[7,8,10,11],[],"(?:00800|8\\d{3})\\d{6}|[68]\\d{7}|[1-57-9]\\d{6}"],"PE":["51","*","0",[8,9],[6,7],"(?:[14-8]|9\\d)\\d{7}"],"PF":["689","00","",[6,8,9],[],"4\\d{5}(?:\\d{2})?|8\\d{7,8}"],"PG":["675","*","",[7,8],[],"(?:180|[78]\\d{3})\\d{4}|(?:[2-589]\\d|64)\\d{5}"],"PH":["63","00","0",[6,8,9,10,11,12,13],[4,5,7],"(?:[2-7]|9\\d)\\d{8}|2\\d{5}|(?:1800|8)\\d{7,9}"],"PK":["92","00","0",[8,9,10,11,12],[5,6,7],"122\\d{6}|[24-8]\\d{10,11}|9(?:[013-9]\\d{8,10}|2(?:[01]\\d\\d|2(?:[06-8]\\d|1[01]))\\d{7})|(?:[2-8]\\d{3}|92(?:[0-7]\\d|8[1-9]))\\d{6}|[24-9]\\d{8}|[89]\\d{7}"],"PL":["48","00","",[6,7,8,9,10],[],"(?:6|8\\d\\d)\\d{7}|[1-9]\\d{6}(?:\\d{2})?|[26]\\d{5}"],"PM":["508","00","0",[6,9],[],"[78]\\d{8}|[2-9]\\d{5}"],"PS":["970","00","0",[8,9,10],[7],"[2489]2\\d{6}|(?:1\\d|5)\\d{8}"],"PT":["351","00","",[9],[],"1693\\d{5}|(?:[26-9]\\d|30)\\d{7}"],"PW":["680","011|012","",[7],[],"(?:[24-8]\\d\\d|345|900)\\d{4}"],"PY":["595","00","0",[6,7,8,9,10,11],[5],"[36-8]\\d{5,8}|4\\d{6,8}|59\\d{6}|9\\d{5,10}|(?:2\\d|5[0-8])\\d{6,7}"],"QA":["974","00","",[7,8,9,11],[],"800\\d{4}|(?:2|800)\\d{6}|(?:0080|[3-7])\\d{7}"],"RE":["262","00","0",[9],[],"709\\d{6}|(?:26|[689]\\d)\\d{7}"],"RO":["40","00","0",[6,9],[],"(?:[2378]\\d|90)\\d{7}|[23]\\d{5}"],"RS":["381","00","0",[6,7,8,9,10,11,12],[4,5],"38[02-9]\\d{6,9}|6\\d{7,9}|90\\d{4,8}|38\\d{5,6}|(?:7\\d\\d|800)\\d{3,9}|(?:[12]\\d|3[0-79])\\d{5,10}"],"RU":["7","810","8",[10,14],[7],"8\\d{13}|[347-9]\\d{9}"],"RW":["250","00","0",[8,9],[],"(?:06|[27]\\d\\d|[89]00)\\d{6}"],"SA":["966","00","0",[9,10],[7],"(?:[15]\\d|800|92)\\d{7}"],"SB":["677","00|01","",[5,7],[],"[6-9]\\d{6}|[1-6]\\d{4}"],"SC":["248","*","",[7],[],"(?:[2489]\\d|64)\\d{5}"],"SD":["249","00","0",[9],[],"[19]\\d{8}"],"SE":["46","00","0",[6,7,8,9,10,12],[],"(?:[26]\\d\\d|9)\\d{9}|[1-9]\\d{8}|[1-689]\\d{7}|[1-4689]\\d{6}|2\\d{5}"],"SG":["65","*","",[8,10,11],[],"(?:(?:1\\d|8)\\d\\d|7000)\\d{7}|[3689]\\d{7}"],"SH":["290","00","",[4,5],[],"(?:[2569]\\d|8)\\d{3}"],"SI":["386","*","0",[5,6,7,8],[],"[1-7]\\d{7}|8\\d{4,7}|90\\d{4,6}"],"SK":["421","00","0",[6,7,9],[],"[2-689]\\d{8}|[2-59]\\d{6}|[2-5]\\d{5}"],"SL":["232","00","0",[8],[6],"(?:[237-9]\\d|66)\\d{6}"],"SM":["378","00","*",[8,10],[6],"(?:0549|[5-7]\\d)\\d{6}"],"SN":["221","00","",[9],[],"(?:[378]\\d|93)\\d{7}"],"SO":["252","00","0",[6,7,8,9],[],"[346-9]\\d{8}|[12679]\\d{7}|[1-5]\\d{6}|[1348]\\d{5}"],"SR":["597","00","",[6,7],[],"(?:[2-5]|[6-9]\\d)\\d{5}"],"SS":["211","00","0",[9],[],"[19]\\d{8}"],"ST":["239","00","",[7],[],"(?:22|9\\d)\\d{5}"],"SV":["503","00","",[7,8,11],[],"[25-7]\\d{7}|(?:80\\d|900)\\d{4}(?:\\d{4})?"],"SY":["963","00","0",[8,9],[6,7],"[1-359]\\d{8}|[1-5]\\d{7}"],"SZ":["268","00","",[8,9],[],"0800\\d{4}|(?:[237]\\d|900)\\d{6}"],"TD":["235","00|16","",[8],[],"(?:22|[3689]\\d|77)\\d{6}"],"TG":["228","00","",[8],[],"[279]\\d{7}"],"TH":["66","*","0",[8,9,10,13],[],"(?:001800|[2-57]|[689]\\d)\\d{7}|1\\d{7,9}"],"TJ":["992","810","",[9],[3,5,6,7],"(?:[0-57-9]\\d|66)\\d{7}"],"TK":["690","00","",[4,5,6,7],[],"[2-47]\\d{3,6}"],"TL":["670","00","",[7,8],[],"7\\d{7}|(?:[2-47]\\d|[89]0)\\d{5}"],"TM":["993","810","8",[8],[],"[1-7]\\d{7}"],"TN":["216","00","",[8],[],"[2-57-9]\\d{7}"],"TO":["676","00","",[5,7],[],"(?:0800|(?:[5-8]\\d\\d|999)\\d)\\d{3}|[2-8]\\d{4}"],"TR":["90","00","0",[7,10,12,13],[],"4\\d{6}|8\\d{11,12}|(?:[2-58]\\d\\d|900)\\d{7}"],"TV":["688","00","",[5,6,7],[],"(?:2|7\\d\\d|90)\\d{4}"],"TW":["886","*","0",[7,8,9,10,11],[],"[2-689]\\d{8}|7\\d{9,10}|[2-8]\\d{7}|2\\d{6}"],"TZ":["255","000|005|006","0",[9],[],"(?:[25-8]\\d|41|90)\\d{7}"],"UA":["380","00","0",[9,10],[5,6,7],"[89]\\d{9}|[3-9]\\d{8}"],"UG":["256","000|005|007","0",[9],[5,6,7],"800\\d{6}|(?:[29]0|[347]\\d)\\d{7}"],"US":["1","011","1",[10],[7],"[2-9]\\d{9}|3\\d{6}"],"UY":["598","*","0",[4,5,6,7,8,9,10,11,12,13],[],"0004\\d{2,9}|[1249]\\d{7}|2\\d{3,4}|(?:[49]\\d|80)\\d{5}"],"UZ":["998","00","",[9],[],"(?:20|33|[5-9]\\d)\\d{7}"],"VE":["58","00","0",[10],[7],"[68]00\\d{7}|(?:[24]\\d|[59]0)\\d{8}"],"VN":["84","00","0",[7,8,9,10],[],"[12]\\d{9}|[135-9]\\d{8}|[16]\\d{6,7}|7\\d{6}"],"VU":["678","00","",[5,7],[],"[57-9]\\d{6}|(?:[238]\\d|48)\\d{3}"],"WF":["681","00","",[6,9],[],"(?:40|72|8\\d{4})\\d{4}|[89]\\d{5}"],"WS":["685","0","",[5,6,7,10],[],"(?:[2-6]|8\\d{5})\\d{4}|[78]\\d{6}|[68]\\d{5}"],"XK":["383","00","0",[8,9,10,11,12],[],"2\\d{7,8}|3\\d{7,11}|(?:4\\d\\d|[89]00)\\d{5}"],"YE":["967","00","0",[7,8,9],[6],"(?:1|7\\d)\\d{7}|[1-7]\\d{6}"],"ZA":["27","00","0",[5,6,7,8,9,10],[],"[1-79]\\d{8}|8\\d{4,9}"],"ZM":["260","00","0",[9],[6],"800\\d{6}|(?:21|[579]\\d|63)\\d{7}"],"ZW":["263","00","0",[7,9,10],[6],"8\\d{6}(?:\\d{3})?|[235-8]\\d{8}"],"X800":["800","","",[8],[],"(?:00|[1-9]\\d)\\d{6}"],"X808":["808","","",[8],[],"[1-9]\\d{7}"],"X870":["870","","",[9,12],[],"7\\d{11}|[235-7]\\d{8}"],"X878":["878","","",[12],[],"10\\d{10}"],"X881":["881","","",[9,10],[],"6\\d{9}|[0-36-9]\\d{8}"],"X882":["882","","",[7,8,9,10,11,12],[],"[13]\\d{6}(?:\\d{2,5})?|[19]\\d{7}|(?:[25]\\d\\d|4)\\d{7}(?:\\d{2})?"],"X883":["883","","",[8,9,10,11,12],[],"(?:[1-4]\\d|51)\\d{6,10}"],"X888":["888","","",[11],[],"\\d{11}"],"X979":["979","","",[9],[8],"[1359]\\d{8}"]};
// Calling code -> the region whose lengths decide whether a number is possible.
const PII_CALLING_CODES = {"1":"US","7":"RU","20":"EG","27":"ZA","30":"GR","31":"NL","32":"BE","33":"FR","34":"ES","36":"HU","39":"IT","40":"RO","41":"CH","43":"AT","44":"GB","45":"DK","46":"SE","47":"NO","48":"PL","49":"DE","51":"PE","52":"MX","53":"CU","54":"AR","55":"BR","56":"CL","57":"CO","58":"VE","60":"MY","61":"AU","62":"ID","63":"PH","64":"NZ","65":"SG","66":"TH","81":"JP","82":"KR","84":"VN","86":"CN","90":"TR","91":"IN","92":"PK","93":"AF","94":"LK","95":"MM","98":"IR","211":"SS","212":"MA","213":"DZ","216":"TN","218":"LY","220":"GM","221":"SN","222":"MR","223":"ML","224":"GN","225":"CI","226":"BF","227":"NE","228":"TG","229":"BJ","230":"MU","231":"LR","232":"SL","233":"GH","234":"NG","235":"TD","236":"CF","237":"CM","238":"CV","239":"ST","240":"GQ","241":"GA","242":"CG","243":"CD","244":"AO","245":"GW","246":"IO","247":"AC","248":"SC","249":"SD","250":"RW","251":"ET","252":"SO","253":"DJ","254":"KE","255":"TZ","256":"UG","257":"BI","258":"MZ","260":"ZM","261":"MG","262":"RE","263":"ZW","264":"NA","265":"MW","266":"LS","267":"BW","268":"SZ","269":"KM","290":"SH","291":"ER","297":"AW","298":"FO","299":"GL","350":"GI","351":"PT","352":"LU","353":"IE","354":"IS","355":"AL","356":"MT","357":"CY","358":"FI","359":"BG","370":"LT","371":"LV","372":"EE","373":"MD","374":"AM","375":"BY","376":"AD","377":"MC","378":"SM","380":"UA","381":"RS","382":"ME","383":"XK","385":"HR","386":"SI","387":"BA","389":"MK","420":"CZ","421":"SK","423":"LI","500":"FK","501":"BZ","502":"GT","503":"SV","504":"HN","505":"NI","506":"CR","507":"PA","508":"PM","509":"HT","590":"GP","591":"BO","592":"GY","593":"EC","594":"GF","595":"PY","596":"MQ","597":"SR","598":"UY","599":"CW","670":"TL","672":"NF","673":"BN","674":"NR","675":"PG","676":"TO","677":"SB","678":"VU","679":"FJ","680":"PW","681":"WF","682":"CK","683":"NU","685":"WS","686":"KI","687":"NC","688":"TV","689":"PF","690":"TK","691":"FM","692":"MH","800":"X800","808":"X808","850":"KP","852":"HK","853":"MO","855":"KH","856":"LA","870":"X870","878":"X878","880":"BD","881":"X881","882":"X882","883":"X883","886":"TW","888":"X888","960":"MV","961":"LB","962":"JO","963":"SY","964":"IQ","965":"KW","966":"SA","967":"YE","968":"OM","970":"PS","971":"AE","972":"IL","973":"BH","974":"QA","975":"BT","976":"MN","977":"NP","979":"X979","992":"TJ","993":"TM","994":"AZ","995":"GE","996":"KG","998":"UZ"};
// Python's Unicode categories over the blocks the sandbox handles: [first, last, class] runs,
// class Z space, L letter, N number, S punctuation or symbol, X never touched (NFC would change
// it, or it is a mark, control or format character). Characters outside the runs are X.
const PII_CHAR_CLASSES = [["\u0000","\b","X"],["\t","\r","Z"],["\u000e","\u001b","X"],["\u001c"," ","Z"],["!","/","S"],["0","9","N"],[":","@","S"],["A","Z","L"],["[","`","S"],["a","z","L"],["{","~","S"],["\u007f","\u0084","X"],["\u0085","\u0085","Z"],["\u0086","\u009f","X"],["\u00a0","\u00a0","Z"],["\u00a1","\u00a9","S"],["\u00aa","\u00aa","L"],["\u00ab","\u00ac","S"],["\u00ad","\u00ad","X"],["\u00ae","\u00b1","S"],["\u00b2","\u00b3","N"],["\u00b4","\u00b4","S"],["\u00b5","\u00b5","L"],["\u00b6","\u00b8","S"],["\u00b9","\u00b9","N"],["\u00ba","\u00ba","L"],["\u00bb","\u00bb","S"],["\u00bc","\u00be","N"],["\u00bf","\u00bf","S"],["\u00c0","\u00d6","L"],["\u00d7","\u00d7","S"],["\u00d8","\u00f6","L"],["\u00f7","\u00f7","S"],["\u00f8","\u024f","L"],["\u0370","\u0373","L"],["\u0374","\u0374","X"],["\u0375","\u0375","S"],["\u0376","\u0377","L"],["\u0378","\u0379","X"],["\u037a","\u037d","L"],["\u037e","\u037e","X"],["\u037f","\u037f","L"],["\u0380","\u0383","X"],["\u0384","\u0385","S"],["\u0386","\u0386","L"],["\u0387","\u0387","X"],["\u0388","\u038a","L"],["\u038b","\u038b","X"],["\u038c","\u038c","L"],["\u038d","\u038d","X"],["\u038e","\u03a1","L"],["\u03a2","\u03a2","X"],["\u03a3","\u03f5","L"],["\u03f6","\u03f6","S"],["\u03f7","\u0481","L"],["\u0482","\u0482","S"],["\u0483","\u0489","X"],["\u048a","\u052f","L"],["\u0590","\u05bd","X"],["\u05be","\u05be","S"],["\u05bf","\u05bf","X"],["\u05c0","\u05c0","S"],["\u05c1","\u05c2","X"],["\u05c3","\u05c3","S"],["\u05c4","\u05c5","X"],["\u05c6","\u05c6","S"],["\u05c7","\u05cf","X"],["\u05d0","\u05ea","L"],["\u05eb","\u05ee","X"],["\u05ef","\u05f2","L"],["\u05f3","\u05f4","S"],["\u05f5","\u0605","X"],["\u0606","\u060f","S"],["\u0610","\u061a","X"],["\u061b","\u061b","S"],["\u061c","\u061c","X"],["\u061d","\u061f","S"],["\u0620","\u064a","L"],["\u064b","\u065f","X"],["\u0660","\u0669","N"],["\u066a","\u066d","S"],["\u066e","\u066f","L"],["\u0670","\u0670","X"],["\u0671","\u06d3","L"],["\u06d4","\u06d4","S"],["\u06d5","\u06d5","L"],["\u06d6","\u06dd","X"],["\u06de","\u06de","S"],["\u06df","\u06e4","X"],["\u06e5","\u06e6","L"],["\u06e7","\u06e8","X"],["\u06e9","\u06e9","S"],["\u06ea","\u06ed","X"],["\u06ee","\u06ef","L"],["\u06f0","\u06f9","N"],["\u06fa","\u06fc","L"],["\u06fd","\u06fe","S"],["\u06ff","\u06ff","L"],["\u1e00","\u1eff","L"],["\u2000","\u2001","X"],["\u2002","\u200a","Z"],["\u200b","\u200f","X"],["\u2010","\u2027","S"],["\u2028","\u2029","Z"],["\u202a","\u202e","X"],["\u202f","\u202f","Z"],["\u2030","\u205e","S"],["\u205f","\u205f","Z"],["\u2060","\u206f","X"],["\u20a0","\u20c0","S"],["\u20c1","\u20cf","X"],["\u3000","\u3000","Z"],["\u3001","\u3004","S"],["\u3005","\u3006","L"],["\u3007","\u3007","N"],["\u3008","\u3020","S"],["\u3021","\u3029","N"],["\u302a","\u302f","X"],["\u3030","\u3030","S"],["\u3031","\u3035","L"],["\u3036","\u3037","S"],["\u3038","\u303a","N"],["\u303b","\u303c","L"],["\u303d","\u303f","S"],["\u3040","\u3040","X"],["\u3041","\u3096","L"],["\u3097","\u309a","X"],["\u309b","\u309c","S"],["\u309d","\u309f","L"],["\u30a0","\u30a0","S"],["\u30a1","\u30fa","L"],["\u30fb","\u30fb","S"],["\u30fc","\u30ff","L"],["\u4e00","\u9fff","L"],["\uac00","\ud7a3","L"],["\uff00","\uff00","X"],["\uff01","\uff0f","S"],["\uff10","\uff19","N"],["\uff1a","\uff20","S"],["\uff21","\uff3a","L"],["\uff3b","\uff40","S"],["\uff41","\uff5a","L"],["\uff5b","\uff65","S"],["\uff66","\uffbe","L"],["\uffbf","\uffc1","X"],["\uffc2","\uffc7","L"],["\uffc8","\uffc9","X"],["\uffca","\uffcf","L"],["\uffd0","\uffd1","X"],["\uffd2","\uffd7","L"],["\uffd8","\uffd9","X"],["\uffda","\uffdc","L"],["\uffdd","\uffdf","X"],["\uffe0","\uffe6","S"],["\uffe7","\uffe7","X"],["\uffe8","\uffee","S"],["\uffef","\uffef","X"]];
const PII_PHONE_PUNCTUATION = '-.()/~[]\u00ad\u200b\u2060\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff0f\uff08\uff09\uff3b\uff3d\u2053\u223c\uff5e';

function piiDrop(reason) {
  return { dropped: reason };
}

function piiCharClass(c) {
  for (let i = 0; i < PII_CHAR_CLASSES.length; i++) {
    const run = PII_CHAR_CLASSES[i];
    if (c < run[0]) return 'X';
    if (c <= run[1]) return run[2];
  }
  return 'X';
}

function piiIsSpace(c) {
  return piiCharClass(c) === 'Z';
}

// True when a character is one the sandbox cannot handle the way Python does (NFC composition
// first of all): the value is dropped, never hashed differently.
function piiNeedsNfc(text) {
  for (let i = 0; i < text.length; i++) {
    if (piiCharClass(text.charAt(i)) === 'X') return true;
  }
  return false;
}

function piiStrip(text) {
  let start = 0;
  let end = text.length;
  while (start < end && piiIsSpace(text.charAt(start))) start++;
  while (end > start && piiIsSpace(text.charAt(end - 1))) end--;
  return text.substring(start, end);
}

function piiWords(text) {
  const words = [];
  let word = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (piiIsSpace(c)) {
      if (word !== '') words.push(word);
      word = '';
    } else {
      word = word + c;
    }
  }
  if (word !== '') words.push(word);
  return words;
}

function piiIsHex64(text) {
  if (text.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = text.charAt(i);
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

// Lower-case and remove symbols (and numbers when asked); words joined by `joiner`.
// Returns undefined when a character cannot be classified in the sandbox.
function piiLetters(text, dropDigits, joiner) {
  let kept = '';
  const lowered = text.toLowerCase();
  for (let i = 0; i < lowered.length; i++) {
    const c = lowered.charAt(i);
    const kind = piiCharClass(c);
    if (kind === 'X') return undefined;
    if (kind === 'S' || (kind === 'N' && dropDigits)) continue;
    kept = kept + c;
  }
  return piiWords(kept).join(joiner);
}

function piiAllDigits(text) {
  for (let i = 0; i < text.length; i++) {
    if (!(text.charAt(i) >= '0' && text.charAt(i) <= '9')) return false;
  }
  return true;
}

function piiEmail(text, google) {
  if (google) text = piiWords(text).join('');
  text = text.toLowerCase();
  for (let i = 0; i < text.length; i++) {
    if (piiIsSpace(text.charAt(i))) return piiDrop('invalid_email');
  }
  const at = text.indexOf('@');
  if (at < 1 || text.indexOf('@', at + 1) !== -1) return piiDrop('invalid_email');
  let local = text.substring(0, at);
  const domain = text.substring(at + 1);
  let dotted = false;
  for (let j = 1; j < domain.length - 1; j++) {
    if (domain.charAt(j) === '.') dotted = true;
  }
  if (!dotted) return piiDrop('invalid_email');
  if (google && (domain === 'gmail.com' || domain === 'googlemail.com')) {
    // Gmail ignores dots in the local part; Google documents no '+tag' rule.
    local = local.split('.').join('');
    if (local === '') return piiDrop('invalid_email');
  }
  return local + '@' + domain;
}

function piiPhoneRegion(key) {
  const row = getType(key) === 'string' && key.length <= 4 ? PII_PHONE_REGIONS[key] : undefined;
  return getType(row) === 'array' ? row : undefined;
}

function piiMainRegion(callingCode) {
  const key = PII_CALLING_CODES[callingCode];
  return getType(key) === 'string' ? piiPhoneRegion(key) : undefined;
}

// phonenumbers' _test_number_length against one region's lengths.
function piiLengthCheck(digits, row) {
  const lengths = row[3];
  const n = digits.length;
  if (row[4].indexOf(n) !== -1) return 'local_only';
  if (lengths.length === 0 || lengths[0] > n) return 'too_short';
  if (lengths[lengths.length - 1] < n) return 'too_long';
  return lengths.indexOf(n) !== -1 ? 'possible' : 'invalid';
}

// Whether the digits are a national number of the region (its general pattern, whole string).
function piiViable(digits, row) {
  const regex = createRegex('^(?:' + row[5] + ')$');
  return !!regex && testRegex(regex, digits);
}

function piiMatchPrefix(digits, alternatives) {
  if (!alternatives) return '';
  const options = alternatives.split('|');
  for (let i = 0; i < options.length; i++) {
    if (options[i] !== '' && digits.indexOf(options[i]) === 0) return options[i];
  }
  return '';
}

// phonenumbers' _maybe_strip_national_prefix_carrier_code: undefined when the region's rule
// needs a regex with a transform.
function piiStripNational(digits, row) {
  if (digits === '' || row[2] === '') return digits;
  if (row[2] === '*') return undefined;
  const prefix = piiMatchPrefix(digits, row[2]);
  if (prefix === '') return digits;
  const rest = digits.substring(prefix.length);
  if (piiViable(digits, row) && !piiViable(rest, row)) return digits;
  return rest;
}

function piiSplitCallingCode(digits) {
  if (digits.charAt(0) === '0') return undefined;
  for (let n = 1; n <= 3 && n <= digits.length; n++) {
    const code = digits.substring(0, n);
    if (piiMainRegion(code)) return [code, digits.substring(n)];
  }
  return undefined;
}

// phonenumbers' _maybe_extract_country_code: {cc, nsn} (cc '' for a national number), or
// 'invalid_country_code', 'too_short' or 'sandbox'.
function piiExtract(digits, plus, home) {
  let full = digits;
  let international = plus;
  if (!plus && home) {
    if (home[1] === '*') return 'sandbox';
    const idd = piiMatchPrefix(digits, home[1]);
    // phonenumbers does not read a prefix as IDD when a 0 follows it.
    if (idd !== '' && digits.charAt(idd.length) !== '0') {
      full = digits.substring(idd.length);
      international = true;
    }
  }
  if (international) {
    if (full.length <= 2) return 'too_short';
    const split = piiSplitCallingCode(full);
    if (!split) return 'invalid_country_code';
    return { cc: split[0], nsn: split[1] };
  }
  if (!home) return { cc: '', nsn: full };
  const code = home[0];
  if (full.indexOf(code) === 0) {
    // Written with the home calling code but no '+': keep it as such when that reads better.
    const potential = piiStripNational(full.substring(code.length), home);
    if (potential === undefined) return 'sandbox';
    if ((!piiViable(full, home) && piiViable(potential, home)) || piiLengthCheck(full, home) === 'too_long') {
      return { cc: code, nsn: potential };
    }
  }
  return { cc: '', nsn: full };
}

// E.164 ('+' and digits) or a drop, following phonenumbers.parse and is_possible_number.
function piiE164(text, region) {
  if (text.length > 250) return piiDrop('unparseable_phone');
  let digits = '';
  let plus = false;
  let letters = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c >= '0' && c <= '9') {
      digits = digits + c;
    } else if ((c === '+' || c === '\uff0b') && digits === '') {
      plus = true;
    } else if (piiCharClass(c) === 'N') {
      // A digit of another script: phonenumbers reads it, the sandbox does not.
      return piiDrop('sandbox_unsupported');
    } else if (!piiIsSpace(c) && PII_PHONE_PUNCTUATION.indexOf(c) === -1) {
      letters = true;
    }
  }
  if (letters) return piiDrop(digits.length < 3 ? 'unparseable_phone' : 'sandbox_unsupported');
  if (digits.length < 2 || (digits.length === 2 && piiStrip(text) !== digits)) {
    return piiDrop('unparseable_phone');
  }
  const home = region ? piiPhoneRegion(region) : undefined;
  // Tags carry metadata for the main region of each calling code and the plan's own country.
  const missing = !home && !!region && PII_ISO_COUNTRIES.indexOf(' ' + region + ' ') !== -1;
  if (!plus && !home) return piiDrop(missing ? 'sandbox_unsupported' : 'unparseable_phone');
  let parsed = piiExtract(digits, plus, home);
  if (parsed === 'invalid_country_code' && plus && missing) return piiDrop('sandbox_unsupported');
  if (parsed === 'invalid_country_code' && plus) {
    // phonenumbers retries without the '+', and then insists on a calling code.
    parsed = piiExtract(digits, false, home);
    if (getType(parsed) === 'object' && parsed.cc === '') parsed = 'invalid_country_code';
  }
  if (parsed === 'sandbox') return piiDrop('sandbox_unsupported');
  if (getType(parsed) !== 'object') return piiDrop('unparseable_phone');
  const code = parsed.cc !== '' ? parsed.cc : home[0];
  const row = parsed.cc !== '' ? piiMainRegion(code) : home;
  let nsn = parsed.nsn;
  if (nsn.length < 2) return piiDrop('unparseable_phone');
  if (row) {
    const stripped = piiStripNational(nsn, row);
    if (stripped === undefined) return piiDrop('sandbox_unsupported');
    const check = piiLengthCheck(stripped, row);
    if (check === 'possible' || check === 'too_long') nsn = stripped;
  }
  if (nsn.length < 2 || nsn.length > 17) return piiDrop('unparseable_phone');
  const main = piiMainRegion(code);
  if (!main || piiLengthCheck(nsn, main) !== 'possible') return piiDrop('invalid_phone');
  return '+' + code + nsn;
}

function piiCountry(text) {
  const code = text.toUpperCase();
  if (code.length !== 2 || PII_ISO_COUNTRIES.indexOf(' ' + code + ' ') === -1) {
    return piiDrop('invalid_country');
  }
  return code;
}

function piiRule(rules, field, text, region, country) {
  if (rules === 'meta') {
    if (field === 'email') return piiEmail(text, false);
    if (field === 'phone') {
      const e164 = piiE164(text, region);
      return getType(e164) === 'string' ? e164.substring(1) : e164;
    }
    if (field === 'first_name' || field === 'last_name') return piiLetters(text, false, '');
    if (field === 'city' || field === 'region') return piiLetters(text, true, '');
    if (field === 'postal_code') {
      const code = piiWords(text.toLowerCase()).join('').split('-').join('');
      for (let i = 0; i < code.length; i++) {
        const c = code.charAt(i);
        if (piiCharClass(c) === 'N' && !(c >= '0' && c <= '9')) return undefined;
      }
      if ((country || region) === 'US' && piiAllDigits(code) && (code.length === 5 || code.length === 9)) {
        return code.substring(0, 5);
      }
      return code;
    }
    if (field === 'country') {
      const iso = piiCountry(text);
      return getType(iso) === 'string' ? iso.toLowerCase() : iso;
    }
    return piiWords(text.toLowerCase()).join('');
  }
  if (field === 'email') return piiEmail(text, true);
  if (field === 'phone') return piiE164(text, region);
  if (field === 'postal_code') return piiStrip(text.split('.').join('').split('~').join(''));
  if (field === 'country') return piiCountry(text);
  return piiLetters(text, true, ' ');
}

// One canonical field by one rule set: {value, sha256} (sha256 undefined when the
// destination takes the value raw) or {dropped: reason}.
function piiNormalize(rules, field, value, region, country) {
  if (PII_FIELDS.indexOf(field) === -1) return piiDrop('unknown_field');
  if (rules === 'google' && !PII_GOOGLE_KEYS[field]) return piiDrop('unsupported');
  if (getType(value) !== 'string') return piiDrop('not_a_string');
  if (piiNeedsNfc(value)) return piiDrop('sandbox_unsupported');
  const text = piiStrip(value);
  if (text === '') return piiDrop('empty');
  const hashed = !(rules === 'google' && PII_GOOGLE_RAW[field]);
  if (piiIsHex64(text)) {
    if (!hashed) return piiDrop('prehashed_not_accepted');
    // Already hashed upstream: pass through, never hash twice.
    return { value: text.toLowerCase(), sha256: text.toLowerCase() };
  }
  const normalized = piiRule(rules, field, text, region ? region.toUpperCase() : '', country);
  if (normalized === undefined) return piiDrop('sandbox_unsupported');
  if (getType(normalized) === 'object') return normalized;
  if (normalized === '') return piiDrop('empty');
  return {
    value: normalized,
    sha256: hashed ? sha256Sync(normalized, { outputEncoding: 'hex' }) : undefined
  };
}

// Canonical user data ({email: ..., phone: ...}) to one destination's keys: Meta em/ph/...
// or Google sha256_* with an address object. Fields not in `allowed` never leave.
function piiPrepare(rules, userData, allowed, region) {
  const fields = {};
  const address = {};
  const dropped = {};
  let addressUsed = false;
  const countryRaw = getType(userData.country) === 'string' ? piiStrip(userData.country).toUpperCase() : '';
  const country = PII_ISO_COUNTRIES.indexOf(' ' + countryRaw + ' ') !== -1 && countryRaw.length === 2 ? countryRaw : '';
  for (let i = 0; i < PII_FIELDS.length; i++) {
    const field = PII_FIELDS[i];
    if (userData[field] === undefined || userData[field] === null) continue;
    if (allowed.indexOf(field) === -1) {
      dropped[field] = 'not_allowed';
      continue;
    }
    const result = piiNormalize(rules, field, userData[field], region, country || region);
    if (result.dropped) {
      dropped[field] = result.dropped;
      continue;
    }
    const sent = result.sha256 !== undefined ? result.sha256 : result.value;
    if (rules === 'meta') {
      fields[PII_META_KEYS[field]] = sent;
    } else if (PII_GOOGLE_KEYS[field].indexOf('address.') === 0) {
      address[PII_GOOGLE_KEYS[field].substring(8)] = sent;
      addressUsed = true;
    } else {
      fields[PII_GOOGLE_KEYS[field]] = sent;
    }
  }
  const keys = Object.keys(userData).sort();
  for (let k = 0; k < keys.length; k++) {
    if (PII_FIELDS.indexOf(keys[k]) === -1) dropped[keys[k]] = 'unknown_field';
  }
  if (addressUsed) fields.address = address;
  return { fields: fields, dropped: dropped };
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

const serverEvent = buildEvent();
const maxAge = serverEvent.action_source === 'physical_store' ? MAX_STORE_AGE_SECONDS : MAX_AGE_SECONDS;
if (Math.floor(getTimestampMillis() / 1000) - serverEvent.event_time > maxAge) {
  log({ Type: 'Message', TraceId: eventId, EventName: mappedName, Message: 'too old: Meta would reject it' });
  return data.gtmOnFailure();
}
const payload = { data: [serverEvent] };
if (data.mode === 'shadow' && data.testEventCode) payload.test_event_code = data.testEventCode;
const url = GRAPH_URL + data.apiVersion + '/' + encodeUriComponent(data.pixelId) + '/events';
log({
  Type: 'Request',
  TraceId: eventId,
  EventName: mappedName,
  RequestMethod: 'POST',
  RequestUrl: url,
  RequestBody: { event_name: serverEvent.event_name, user_data: Object.keys(serverEvent.user_data), custom_data: serverEvent.custom_data }
});
finishHttp(
  sendHttpRequest(
    url + '?access_token=' + encodeUriComponent(data.accessToken),
    { method: 'POST', headers: { 'content-type': 'application/json' }, timeout: TIMEOUT_MS },
    JSON.stringify(payload)
  )
);

/*==============================================================================
  Meta Conversions API
==============================================================================*/

function actionSource() {
  const signals = getEventData('x-sgtm-context') || {};
  if (getType(signals.channel) !== 'string') return 'website';
  return ACTION_SOURCES[signals.channel] || 'other';
}

function buildEvent() {
  const pageLocation = pageUrl(getEventData('page_location'));
  const serverEvent = {
    event_name: mappedName,
    event_time: Math.floor(eventTimestampMillis() / 1000),
    // Same event_id as the browser pixel's eventID: Meta keeps one of the two (2.8).
    event_id: makeString(eventId),
    action_source: actionSource(),
    user_data: metaUserData()
  };
  // The page of the joined browser session; only a website event has one.
  if (pageLocation && serverEvent.action_source === 'website') {
    serverEvent.event_source_url = pageLocation;
  }
  // Limited Data Use where the visitor's region asks for it (the sidecar's regional rule).
  const processing = entry ? entry.data_processing_options : undefined;
  if (getType(processing) === 'object' && getType(processing.options) === 'array') {
    serverEvent.data_processing_options = processing.options;
    serverEvent.data_processing_options_country = processing.country;
    serverEvent.data_processing_options_state = processing.state;
  }
  const customData = metaCustomData();
  if (Object.keys(customData).length > 0) serverEvent.custom_data = customData;
  return serverEvent;
}

function metaUserData() {
  const hashed = destinationUserData(entry, 'meta');
  const out = {};
  Object.keys(hashed)
    .sort()
    .forEach((key) => {
      out[key] = [hashed[key]];
    });
  const ip = clientIp(entry);
  if (ip) out.client_ip_address = ip;
  const userAgent = clientUserAgent(entry);
  if (userAgent) out.client_user_agent = userAgent;
  const signals = getEventData('x-sgtm-context') || {};
  if (getType(signals.fbp) === 'string') out.fbp = signals.fbp;
  if (getType(signals.fbc) === 'string') out.fbc = signals.fbc;
  return out;
}

function metaCustomData() {
  const out = {};
  const value = getEventData('value');
  const currency = getEventData('currency');
  if (getType(value) === 'number') out.value = value;
  if (getType(currency) === 'string') out.currency = currency.toLowerCase();
  const transactionId = getEventData('transaction_id');
  if (transactionId) out.order_id = makeString(transactionId);
  const items = getEventData('items');
  if (getType(items) === 'array' && items.length > 0) {
    const contents = items.slice(0, MAX_CONTENTS).map((item) => {
      const content = { id: makeString(item.item_id), quantity: makeInteger(item.quantity || 1) };
      if (item.price !== undefined) content.item_price = makeNumber(item.price);
      return content;
    });
    out.contents = contents;
    out.content_ids = contents.map((content) => content.id);
    out.content_type = 'product';
    out.num_items = contents.reduce((sum, content) => sum + content.quantity, 0);
  }
  return out;
}

function isAccepted(result) {
  return true;
}

// Meta's answer: events_received, messages and fbtrace_id, or the error's message and codes.
function shadowSummary(answer) {
  const out = {};
  if (getType(answer.error) === 'object') {
    const error = answer.error;
    out.error = { message: shortText(error.message || '') };
    if (getType(error.code) === 'number') out.error.code = error.code;
    if (getType(error.error_subcode) === 'number') out.error.error_subcode = error.error_subcode;
    if (getType(error.fbtrace_id) === 'string') out.fbtrace_id = shortText(error.fbtrace_id);
    return out;
  }
  if (getType(answer.events_received) === 'number') out.events_received = answer.events_received;
  if (getType(answer.messages) === 'array') {
    out.messages = answer.messages
      .slice(0, MAX_SHADOW_ITEMS)
      .map((message) => shortText(getType(message) === 'string' ? message : JSON.stringify(message)));
  }
  if (getType(answer.fbtrace_id) === 'string') out.fbtrace_id = shortText(answer.fbtrace_id);
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
                "string": "ip_override"
              },
              {
                "type": 1,
                "string": "items"
              },
              {
                "type": 1,
                "string": "page_location"
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
                "string": "user_data"
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
                "string": "x-sgtm-context"
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
        "publicId": "send_http",
        "versionId": "1"
      },
      "param": [
        {
          "key": "allowedUrls",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "urls",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 1,
                "string": "https://graph.facebook.com/v27.0/123456789012345/events*"
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
                    "string": "send"
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
- name: '[Consent] Ads not granted: nothing is sent and the tag succeeds'
  code: |-
    mockData.consentState = { ads: false, analytics: true };
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: '[Consent] No consent map and no Consent Mode string fails closed'
  code: |-
    fromOtherClient({ email_address: 'ana@example.com' });
    eventData['x-ga-gcs'] = undefined;
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: '[Request] A batch that did not ask for this destination sends nothing'
  code: |-
    mockData.destinations = { ga4: { user_data: {} } };
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: '[Payload] A purchase becomes a Conversions API server event'
  code: |-
    runCode(mockData);
    assertThat(requests.length).isEqualTo(1);
    assertThat(requests[0].url).isEqualTo('https://graph.facebook.com/v27.0/123456789012345/events?access_token=TOKEN');
    assertThat(requests[0].options.timeout).isEqualTo(1500);
    const sent = requests[0].body.data[0];
    assertThat(sent.event_name).isEqualTo('Purchase');
    assertThat(sent.event_id).isEqualTo('ord-1001-purchase');
    assertThat(sent.event_time).isEqualTo(1732869940);
    assertThat(sent.action_source).isEqualTo('website');
    assertThat(sent.event_source_url).isEqualTo('https://shop.example.com/checkout');
    assertThat(sent.user_data).isEqualTo({
      em: [HASH],
      client_ip_address: '203.0.113.7',
      client_user_agent: 'Mozilla/5.0',
      fbp: 'fb.1.1732860000.123'
    });
    assertThat(sent.custom_data).isEqualTo({
      value: 59.9,
      currency: 'eur',
      order_id: '1001',
      contents: [{ id: 'SKU-1', quantity: 2, item_price: 19.95 }],
      content_ids: ['SKU-1'],
      content_type: 'product',
      num_items: 2
    });
    assertThat(requests[0].body.test_event_code).isUndefined();
    callLater(() => {
      assertApi('gtmOnSuccess').wasCalled();
      assertApi('gtmOnFailure').wasNotCalled();
    });
- name: '[Vectors] event_source_url loses personal data (tests/vectors/urls.json)'
  code: |-
    eventData.page_location = 'https://ana:secret@shop.example.com/checkout?email=ana%40example.com&fbclid=IwAR&c=%2B34%20612%20345%20678#ana@example.com';
    runCode(mockData);
    assertThat(requests[0].body.data[0].event_source_url).isEqualTo('https://shop.example.com/checkout?fbclid=IwAR');
- name: '[Region] Limited Data Use from the sidecar''s regional rule is passed on'
  code: |-
    mockData.destinations.meta.data_processing_options = { options: ['LDU'], country: 0, state: 0 };
    runCode(mockData);
    const sent = requests[0].body.data[0];
    assertThat(sent.data_processing_options).isEqualTo(['LDU']);
    assertThat(sent.data_processing_options_country).isEqualTo(0);
    assertThat(sent.data_processing_options_state).isEqualTo(0);
- name: '[Payload] action_source follows the order channel, never system_generated for a web order'
  code: |-
    ['web', 'pos', 'subscription', 'other', 'kiosk'].forEach((channel) => {
      eventData['x-sgtm-context'] = { channel: channel };
      runCode(mockData);
    });
    eventData.page_location = undefined;
    eventData['x-sgtm-context'] = { channel: 'web' };
    runCode(mockData);
    const sent = requests.map((request) => request.body.data[0]);
    assertThat(sent.map((event) => event.action_source)).isEqualTo(['website', 'physical_store', 'system_generated', 'other', 'other', 'website']);
    assertThat(sent.map((event) => event.event_source_url)).isEqualTo(['https://shop.example.com/checkout', undefined, undefined, undefined, undefined, undefined]);
- name: '[Errors] A store sale may be 62 days old, a web event only 7'
  code: |-
    eventData['x-sgtm-timestamp'] = NOW - 30 * 24 * 3600 * 1000;
    eventData['x-sgtm-context'] = { channel: 'pos' };
    runCode(mockData);
    assertThat(requests[0].body.data[0].action_source).isEqualTo('physical_store');
    eventData['x-sgtm-timestamp'] = NOW - 63 * 24 * 3600 * 1000;
    runCode(mockData);
    assertThat(requests.length).isEqualTo(1);
    assertApi('gtmOnFailure').wasCalled();
- name: '[Hashing] Raw PII from another client is normalised and hashed by Meta rules'
  code: |-
    fromOtherClient({ email_address: 'John_Smith@gmail.com', phone_number: '+1 (650) 555-1212', address: { city: 'Menlo Park' } });
    runCode(mockData);
    const sent = requests[0].body.data[0];
    assertThat(sent.user_data.em).isEqualTo(['62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f']);
    assertThat(sent.user_data.ph).isEqualTo(['e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176']);
    assertThat(sent.user_data.ct).isUndefined();
    assertThat(sent.user_data.client_ip_address).isUndefined();
- name: '[Hashing] Values that are already SHA-256 are never hashed twice'
  code: |-
    mockData.destinations.meta.user_data = { em: HASH.toUpperCase() };
    runCode(mockData);
    assertThat(requests[0].body.data[0].user_data.em).isEqualTo([HASH]);
- name: '[Shadow] Shadow mode sends the test event code and records the answer for the client'
  code: |-
    mockData.mode = 'shadow';
    mockData.testEventCode = 'TEST123';
    clientListens();
    answer(200, '{"events_received":1,"messages":[],"fbtrace_id":"AbCdEf"}');
    runCode(mockData);
    assertThat(requests[0].body.test_event_code).isEqualTo('TEST123');
    callLater(() => {
      assertApi('sendMessage').wasCalledWith('sgtm_shadow', {
        destination: 'meta',
        status_code: 200,
        response: { events_received: 1, messages: [], fbtrace_id: 'AbCdEf' }
      });
      assertApi('gtmOnSuccess').wasCalled();
    });
- name: '[Shadow] A rejected test event records the error and fails the tag'
  code: |-
    mockData.mode = 'shadow';
    mockData.testEventCode = 'TEST123';
    clientListens();
    answer(400, '{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"fbtrace_id":"XyZ"}}');
    runCode(mockData);
    callLater(() => {
      assertThat(shadowMessages[0].message.response).isEqualTo({
        error: { message: 'Invalid parameter', code: 100, error_subcode: 2804003 },
        fbtrace_id: 'XyZ'
      });
      assertApi('gtmOnFailure').wasCalled();
    });
- name: '[Shadow] Without a listening client the answer is not sent anywhere'
  code: |-
    mockData.mode = 'shadow';
    mockData.testEventCode = 'TEST123';
    runCode(mockData);
    callLater(() => {
      assertApi('sendMessage').wasNotCalled();
      assertApi('gtmOnSuccess').wasCalled();
    });
- name: '[Errors] A 400 from Meta fails the tag'
  code: |-
    answer(400, '{"error":{"message":"Invalid parameter","code":100}}');
    runCode(mockData);
    callLater(() => {
      assertApi('gtmOnFailure').wasCalled();
      assertApi('gtmOnSuccess').wasNotCalled();
    });
- name: '[Errors] A timeout fails the tag'
  code: |-
    mock('sendHttpRequest', () => Promise.create((resolve, reject) => reject({ reason: 'timed_out' })));
    runCode(mockData);
    callLater(() => {
      assertApi('gtmOnFailure').wasCalled();
    });
- name: '[Errors] An event older than 7 days is not sent'
  code: |-
    eventData['x-sgtm-timestamp'] = NOW - 8 * 24 * 3600 * 1000;
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnFailure').wasCalled();
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
  const mockData = {
    destinationName: 'meta',
    purposes: 'ads',
    eventMap: [{ event: 'purchase', name: 'Purchase' }],
    consentState: { ads: true, analytics: false },
    destinations: { meta: { user_data: { em: HASH }, ip: '203.0.113.7', user_agent: 'Mozilla/5.0' } },
    piiFields: 'email,phone',
    defaultCountry: 'US',
    ipPolicy: 'none',
    sendUserAgent: false,
    logType: 'no',
    pixelId: '123456789012345',
    apiVersion: 'v27.0',
    accessToken: 'TOKEN',
    mode: 'live',
    testEventCode: ''
  };
  // A client listening for shadow reports (the sgtm-companion client does).
  let shadowMessages = [];
  function clientListens() {
    mock('hasMessageListener', (type) => type === 'sgtm_shadow');
    mock('sendMessage', (type, message) => shadowMessages.push({ type: type, message: message }));
  }


___NOTES___

Generated by sgtm-companion from tracking plan acme-home 1.0.0.
Do not edit here: change the plan and run `sgtm generate` again.


