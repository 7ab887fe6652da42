
___INFO___

{
  "type": "TAG",
  "id": "cvt_temp_public_id",
  "version": 1,
  "securityGroups": [],
  "displayName": "sgtm-companion GA4 Measurement Protocol",
  "categories": [
    "ANALYTICS"
  ],
  "brand": {
    "id": "brand_dummy",
    "displayName": "sgtm-companion"
  },
  "description": "Sends plan events to GA4 Measurement Protocol: consent enforced first (fail closed), PII hashed by the destination's own rules, never logged.",
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
    "name": "measurementId",
    "displayName": "Measurement ID",
    "simpleValueType": true,
    "valueHint": "G-XXXXXXX",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "apiSecret",
    "displayName": "API secret",
    "simpleValueType": true,
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "SELECT",
    "name": "endpoint",
    "displayName": "Endpoint",
    "macrosInSelect": false,
    "selectItems": [
      {
        "value": "eu",
        "displayValue": "EU (region1.google-analytics.com)"
      },
      {
        "value": "global",
        "displayValue": "Global"
      }
    ],
    "simpleValueType": true,
    "defaultValue": "eu"
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

const encodeUriComponent = require('encodeUriComponent');
const generateRandom = require('generateRandom');
const getContainerVersion = require('getContainerVersion');
const getEventData = require('getEventData');
const getTimestampMillis = require('getTimestampMillis');
const getType = require('getType');
const hasMessageListener = require('hasMessageListener');
const JSON = require('JSON');
const logToConsole = require('logToConsole');
const makeString = require('makeString');
const Math = require('Math');
const Object = require('Object');
const sendHttpRequest = require('sendHttpRequest');
const sendMessage = require('sendMessage');

const LOG_NAME = 'sgtm-companion ga4';
const HOSTS = {"eu": "https://region1.google-analytics.com", "global": "https://www.google-analytics.com"};
const TIMEOUT_MS = 5000;
const SHADOW_MESSAGE = 'sgtm_shadow';
// GA4 Measurement Protocol limits (protocols.md 1.4).
const MAX_PARAMS = 25;
const MAX_VALUE_LENGTH = 100;
const MAX_ITEMS = 200;
const MAX_ITEM_CUSTOM_PARAMS = 10;
const MAX_USER_ID_LENGTH = 256;
const COMMON_PARAMS = ['transaction_id', 'value', 'currency', 'tax', 'shipping', 'coupon', 'page_location', 'page_referrer'];
// The plan's own event params, read by name (each listed in the read_event_data permission).
const EVENT_PARAMS = ["method", "payment_type"];
const GA4_ITEM_KEYS = ['item_id', 'item_name', 'affiliation', 'coupon', 'discount', 'index', 'item_brand', 'item_category', 'item_category2', 'item_category3', 'item_category4', 'item_category5', 'item_list_id', 'item_list_name', 'item_variant', 'location_id', 'price', 'quantity'];

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

const anonymized = isAnonymized(entry);
// Anonymised events get a throwaway client id: nothing joins them to a person or a session.
const clientId = anonymized ? anonymousClientId() : getEventData('client_id');
if (getType(clientId) !== 'string' || clientId === '') {
  // Measurement Protocol drops events without a client_id; retrying cannot fix that.
  log({ Type: 'Message', TraceId: eventId, EventName: mappedName, Message: 'client_id missing' });
  return data.gtmOnFailure();
}
const payload = buildPayload(clientId);
const url = endpoint();
log({
  Type: 'Request',
  TraceId: eventId,
  EventName: mappedName,
  RequestMethod: 'POST',
  RequestUrl: url.split('&api_secret=')[0],
  RequestBody: { events: payload.events, user_data: Object.keys(payload.user_data || {}) }
});
finishHttp(
  sendHttpRequest(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json' }, timeout: TIMEOUT_MS },
    JSON.stringify(payload)
  )
);

/*==============================================================================
  GA4 Measurement Protocol
==============================================================================*/

function endpoint() {
  const host = HOSTS[data.endpoint] || HOSTS.eu;
  const path = data.mode === 'shadow' ? '/debug/mp/collect' : '/mp/collect';
  return (
    host +
    path +
    '?measurement_id=' +
    encodeUriComponent(data.measurementId) +
    '&api_secret=' +
    encodeUriComponent(data.apiSecret)
  );
}

function buildPayload(clientId) {
  const params = { engagement_time_msec: 1 };
  const sessionId = getEventData('ga_session_id');
  if (sessionId && !anonymized) params.session_id = sessionId;
  const values = {
    transaction_id: getEventData('transaction_id'),
    value: getEventData('value'),
    currency: getEventData('currency'),
    tax: getEventData('tax'),
    shipping: getEventData('shipping'),
    coupon: getEventData('coupon'),
    page_location: pageUrl(getEventData('page_location')),
    page_referrer: pageUrl(getEventData('page_referrer'))
  };
  COMMON_PARAMS.forEach((key) => addParam(params, key, values[key]));
  EVENT_PARAMS.forEach((key) => addParam(params, key, getEventData(key)));
  const items = getEventData('items');
  if (getType(items) === 'array') params.items = items.slice(0, MAX_ITEMS).map(ga4Item);
  const payload = {
    client_id: clientId,
    timestamp_micros: eventTimestampMillis() * 1000,
    consent: {
      ad_user_data: adSignal('ad_user_data'),
      ad_personalization: adSignal('ad_personalization')
    },
    events: [{ name: mappedName, params: params }]
  };
  const userId = getEventData('user_id');
  if (getType(userId) === 'string' && userId !== '' && !anonymized) {
    payload.user_id = truncate(userId, MAX_USER_ID_LENGTH);
  }
  const userData = destinationUserData(entry, 'google');
  if (Object.keys(userData).length > 0) payload.user_data = mpUserData(userData);
  const ip = clientIp(entry);
  if (ip) payload.ip_override = ip;
  const userAgent = clientUserAgent(entry);
  if (userAgent) payload.user_agent = userAgent;
  return payload;
}

function anonymousClientId() {
  return generateRandom(1000000000, 2147483647) + '.' + Math.floor(eventTimestampMillis() / 1000);
}

// Keeps the first 25 params, strings cut to GA4's 100 characters; empty values are left out.
function addParam(params, key, value) {
  if (value === undefined || value === null || value === '') return;
  if (params[key] === undefined && Object.keys(params).length >= MAX_PARAMS) return;
  params[key] = truncate(value, MAX_VALUE_LENGTH);
}

function ga4Item(item) {
  const out = {};
  let custom = 0;
  Object.keys(item)
    .sort()
    .forEach((key) => {
      const isStandard = GA4_ITEM_KEYS.indexOf(key) !== -1;
      if (!isStandard && custom >= MAX_ITEM_CUSTOM_PARAMS) return;
      if (!isStandard) custom++;
      out[key] = truncate(item[key], MAX_VALUE_LENGTH);
    });
  return out;
}

// Measurement Protocol takes the repeated fields as arrays (protocols.md 1.9).
function mpUserData(userData) {
  const out = {};
  if (userData.sha256_email_address) out.sha256_email_address = [userData.sha256_email_address];
  if (userData.sha256_phone_number) out.sha256_phone_number = [userData.sha256_phone_number];
  if (userData.address) out.address = [userData.address];
  return out;
}

// A validation message is a finding about the payload, not a failed delivery: the event reached
// its test surface, the message is recorded (shadow mode) and no retry could change it.
// Each of Consent Mode's two ad signals from its own CMP signal, as the sidecar decided it
// (entry.google_consent); an anonymised event has neither; another client's events fall back
// to the ads purpose.
function adSignal(name) {
  if (isAnonymized(entry)) return 'DENIED';
  const decided = entry ? entry.google_consent : undefined;
  const granted = getType(decided) === 'object' ? decided[name] === true : isGranted('ads');
  return granted ? 'GRANTED' : 'DENIED';
}

function isAccepted(result) {
  return true;
}

// The validation endpoint's findings: field, code and description of each (GA4 echoes no values).
function shadowSummary(answer) {
  const messages = getType(answer.validationMessages) === 'array' ? answer.validationMessages : [];
  return {
    validationMessages: messages.slice(0, MAX_SHADOW_ITEMS).map((message) => {
      const m = getType(message) === 'object' ? message : {};
      return {
        fieldPath: shortText(m.fieldPath || ''),
        description: shortText(m.description || ''),
        validationCode: shortText(m.validationCode || '')
      };
    }),
    validationMessageCount: messages.length
  };
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
                "string": "coupon"
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
                "string": "shipping"
              },
              {
                "type": 1,
                "string": "tax"
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
                "string": "user_id"
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
                "string": "https://region1.google-analytics.com/mp/collect*"
              },
              {
                "type": 1,
                "string": "https://region1.google-analytics.com/debug/mp/collect*"
              },
              {
                "type": 1,
                "string": "https://www.google-analytics.com/mp/collect*"
              },
              {
                "type": 1,
                "string": "https://www.google-analytics.com/debug/mp/collect*"
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
- name: '[Consent] Analytics not granted: nothing is sent and the tag succeeds'
  code: |-
    mockData.consentState = { ads: true, analytics: false };
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: '[Consent] From another client, Consent Mode analytics_storage decides'
  code: |-
    fromOtherClient({});
    eventData['x-ga-gcs'] = 'G110';
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    eventData['x-ga-gcs'] = 'G101';
    runCode(mockData);
    assertThat(requests.length).isEqualTo(1);
- name: '[Vectors] Malformed Consent Mode strings grant nothing (tests/vectors/consent.json)'
  code: |-
    fromOtherClient({});
    const malformed = ['X111', 'G1111', 'G1x1', 'g111', 'G121', ' G111'];
    malformed.forEach((gcs) => {
      eventData['x-ga-gcs'] = gcs;
      runCode(mockData);
    });
    assertApi('sendHttpRequest').wasNotCalled();
- name: '[Vectors] IP addresses from another client are cut as sidecar/ipanon.py cuts them (tests/vectors/ip.json)'
  code: |-
    fromOtherClient({});
    mockData.ipPolicy = 'anonymized';
    const cases = [
      ['203.0.113.42:51234', '203.0.113.0'],
      ['[2001:db8:abcd:12:1::1]:443', '2001:db8:abcd::'],
      ['::ffff:c633:6407', '198.51.100.0'],
      ['2002:c633:6407::1', '2002:c633:6400::'],
      ['2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:0:4136::'],
      ['010.1.1.1', undefined],
      ['unknown', undefined]
    ];
    cases.forEach((pair) => {
      eventData.ip_override = pair[0];
      runCode(mockData);
      assertThat(requests[requests.length - 1].body.ip_override).isEqualTo(pair[1]);
    });
- name: '[Vectors] Page URLs lose personal data before they are sent (tests/vectors/urls.json)'
  code: |-
    const url = 'https://shop.example.com/checkout?email=ana%40example.com&utm_source=news&step=2';
    eventData.page_location = url;
    eventData.page_referrer = 'https://ana:secret@shop.example.com/p?a=1';
    runCode(mockData);
    const params = requests[0].body.events[0].params;
    assertThat(params.page_location).isEqualTo('https://shop.example.com/checkout?utm_source=news&step=2');
    assertThat(params.page_referrer).isEqualTo('https://shop.example.com/p?a=1');
    mockData.consentState = { ads: false, analytics: false };
    mockData.destinations.ga4.anonymized = true;
    runCode(mockData);
    assertThat(requests[1].body.events[0].params.page_location).isEqualTo('https://shop.example.com/checkout');
    assertThat(requests[1].body.events[0].params.page_referrer).isEqualTo('https://shop.example.com/p');
- name: '[Request] A batch that did not ask for this destination sends nothing'
  code: |-
    mockData.destinations = { meta: { user_data: {} } };
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: '[Consent] ad_user_data and ad_personalization each follow their own decided signal'
  code: |-
    mockData.consentState = { ads: true, analytics: true };
    mockData.destinations.ga4.google_consent = { ad_user_data: true, ad_personalization: false };
    runCode(mockData);
    mockData.destinations.ga4.google_consent = { ad_user_data: false, ad_personalization: true };
    runCode(mockData);
    // Without the sidecar's decision (another client's event) the ads purpose decides both.
    mockData.destinations.ga4.google_consent = undefined;
    runCode(mockData);
    assertThat(requests.map((request) => request.body.consent)).isEqualTo([
      { ad_user_data: 'GRANTED', ad_personalization: 'DENIED' },
      { ad_user_data: 'DENIED', ad_personalization: 'GRANTED' },
      { ad_user_data: 'GRANTED', ad_personalization: 'GRANTED' }
    ]);
- name: '[Payload] A purchase becomes a Measurement Protocol request to the EU endpoint'
  code: |-
    runCode(mockData);
    assertThat(requests.length).isEqualTo(1);
    assertThat(requests[0].url).isEqualTo('https://region1.google-analytics.com/mp/collect?measurement_id=G-TEST123&api_secret=SECRET');
    assertThat(requests[0].options.timeout).isEqualTo(5000);
    const body = requests[0].body;
    assertThat(body.client_id).isEqualTo('1234567890.1732860000');
    assertThat(body.timestamp_micros).isEqualTo((NOW - 60000) * 1000);
    assertThat(body.consent).isEqualTo({ ad_user_data: 'DENIED', ad_personalization: 'DENIED' });
    assertThat(body.user_id).isEqualTo('cust-42');
    assertThat(body.ip_override).isUndefined();
    assertThat(body.user_data).isUndefined();
    assertThat(body.events).isEqualTo([{
      name: 'purchase',
      params: {
        engagement_time_msec: 1,
        session_id: '1732860000',
        transaction_id: '1001',
        value: 59.9,
        currency: 'EUR',
        page_location: 'https://shop.example.com/checkout',
        payment_type: 'card',
        items: [{ item_category: 'Kitchen', item_id: 'SKU-1', item_name: 'Mug', price: 19.95, quantity: 2 }]
      }
    }]);
    callLater(() => {
      assertApi('gtmOnSuccess').wasCalled();
    });
- name: '[Payload] The global endpoint is selectable'
  code: |-
    mockData.endpoint = 'global';
    runCode(mockData);
    assertThat(requests[0].url.indexOf('https://www.google-analytics.com/mp/collect?')).isEqualTo(0);
- name: '[Consent] An anonymised entry is sent without ids although analytics is denied'
  code: |-
    mockData.consentState = { ads: false, analytics: false };
    mockData.destinations.ga4.anonymized = true;
    mock('generateRandom', 1500000000);
    runCode(mockData);
    const body = requests[0].body;
    assertThat(body.client_id).isEqualTo('1500000000.1732869940');
    assertThat(body.user_id).isUndefined();
    assertThat(body.events[0].params.session_id).isUndefined();
    assertThat(body.events[0].params.transaction_id).isEqualTo('1001');
- name: '[Consent] An anonymised entry denies both ad signals whatever the ads purpose says'
  code: |-
    mockData.consentState = { ads: true, analytics: false };
    mockData.destinations.ga4.anonymized = true;
    runCode(mockData);
    assertThat(requests[0].body.consent).isEqualTo({ ad_user_data: 'DENIED', ad_personalization: 'DENIED' });
- name: '[Consent] Anonymisation waives analytics only, never another purpose'
  code: |-
    mockData.purposes = 'analytics,ads';
    mockData.consentState = { ads: false, analytics: false };
    mockData.destinations.ga4.anonymized = true;
    runCode(mockData);
    assertApi('sendHttpRequest').wasNotCalled();
    assertApi('gtmOnSuccess').wasCalled();
- name: '[Limits] Param values are cut to 100 characters'
  code: |-
    let long = '';
    for (let i = 0; i < 120; i++) long = long + 'x';
    eventData.page_location = long;
    runCode(mockData);
    assertThat(requests[0].body.events[0].params.page_location.length).isEqualTo(100);
- name: '[Hashing] The plan gives GA4 no PII: none is sent even if offered'
  code: |-
    mockData.destinations.ga4.user_data = { sha256_email_address: HASH };
    fromOtherClient({ email_address: 'ana@example.com' });
    runCode(mockData);
    assertThat(requests[0].body.user_data).isUndefined();
- name: '[Shadow] A validation message is recorded for the client and does not fail the tag'
  code: |-
    mockData.mode = 'shadow';
    clientListens();
    answer(200, '{"validationMessages":[{"fieldPath":"events","description":"Event name is reserved.","validationCode":"NAME_RESERVED"}]}');
    runCode(mockData);
    assertThat(requests[0].url.indexOf('https://region1.google-analytics.com/debug/mp/collect?')).isEqualTo(0);
    callLater(() => {
      assertThat(shadowMessages).isEqualTo([{ type: 'sgtm_shadow', message: {
        destination: 'ga4',
        status_code: 200,
        response: {
          validationMessages: [{ fieldPath: 'events', description: 'Event name is reserved.', validationCode: 'NAME_RESERVED' }],
          validationMessageCount: 1
        }
      } }]);
      assertApi('gtmOnSuccess').wasCalled();
      assertApi('gtmOnFailure').wasNotCalled();
    });
- name: '[Shadow] Live mode sends no shadow message'
  code: |-
    clientListens();
    runCode(mockData);
    callLater(() => {
      assertApi('sendMessage').wasNotCalled();
      assertApi('gtmOnSuccess').wasCalled();
    });
- name: '[Shadow] A validation endpoint that does not answer is recorded and fails the tag'
  code: |-
    mockData.mode = 'shadow';
    clientListens();
    mock('sendHttpRequest', () => Promise.create((resolve, reject) => reject({ reason: 'timed_out' })));
    runCode(mockData);
    callLater(() => {
      assertThat(shadowMessages[0].message).isEqualTo({
        destination: 'ga4',
        status_code: 0,
        response: { error: { message: 'request failed: timed_out' } }
      });
      assertApi('gtmOnFailure').wasCalled();
    });
- name: '[Errors] A 500 fails the tag'
  code: |-
    answer(500, '');
    runCode(mockData);
    callLater(() => {
      assertApi('gtmOnFailure').wasCalled();
    });
- name: '[Errors] An event without client_id fails without a request'
  code: |-
    eventData.client_id = undefined;
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
    destinationName: 'ga4',
    purposes: 'analytics',
    eventMap: [{ event: 'purchase', name: 'purchase' }],
    consentState: { ads: false, analytics: true },
    destinations: { ga4: { user_data: {}, ip: null, user_agent: null } },
    piiFields: '',
    defaultCountry: 'ES',
    ipPolicy: 'none',
    sendUserAgent: false,
    logType: 'no',
    measurementId: 'G-TEST123',
    apiSecret: 'SECRET',
    endpoint: 'eu',
    mode: 'live'
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


