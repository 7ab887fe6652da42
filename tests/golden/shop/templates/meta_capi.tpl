
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
    "type": "TEXT",
    "name": "pixelId",
    "displayName": "Pixel ID",
    "simpleValueType": true,
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "apiVersion",
    "displayName": "Graph API version",
    "simpleValueType": true,
    "defaultValue": "v21.0",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
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

const encodeUriComponent = require('encodeUriComponent');
const getContainerVersion = require('getContainerVersion');
const getEventData = require('getEventData');
const getTimestampMillis = require('getTimestampMillis');
const getType = require('getType');
const JSON = require('JSON');
const logToConsole = require('logToConsole');
const makeInteger = require('makeInteger');
const makeNumber = require('makeNumber');
const makeString = require('makeString');
const Math = require('Math');
const Object = require('Object');
const sendHttpRequest = require('sendHttpRequest');
const sha256Sync = require('sha256Sync');

const LOG_NAME = 'sgtm-companion meta_capi';
const GRAPH_URL = 'https://graph.facebook.com/';
const TIMEOUT_MS = 1500;
// Meta rejects the whole request when an event is older than 7 days (protocols.md 2.2).
const MAX_AGE_SECONDS = 7 * 24 * 3600;
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
      data.gtmOnFailure();
    }
  );
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
const PII_PHONE_REGIONS = 'AC:247:00:;AD:376:00:;AE:971:00:0;AF:93:00:0;AG:1:011:*;AI:1:011:*;AL:355:00:0;AM:374:00:0;AO:244:00:;AR:54:00:*;AS:1:011:*;AT:43:00:0;AU:61:*:*;AW:297:00:;AX:358:*:0;AZ:994:00:0;BA:387:00:0;BB:1:011:*;BD:880:00:0;BE:32:00:0;BF:226:00:;BG:359:00:0;BH:973:00:;BI:257:00:;BJ:229:00:;BL:590:00:0;BM:1:011:*;BN:673:00:;BO:591:*:*;BQ:599:00:;BR:55:*:*;BS:1:011:*;BT:975:00:;BW:267:00:;BY:375:810:*;BZ:501:00:;CA:1:011:1;CC:61:*:*;CD:243:00:0;CF:236:00:;CG:242:00:;CH:41:00:0;CI:225:00:;CK:682:00:;CL:56:*:;CM:237:00:;CN:86:*:*;CO:57:*:*;CR:506:00:*;CU:53:119:0;CV:238:0:;CW:599:00:;CX:61:*:*;CY:357:00:;CZ:420:00:;DE:49:00:0;DJ:253:00:;DK:45:00:;DM:1:011:*;DO:1:011:1;DZ:213:00:0;EC:593:00:0;EE:372:00:;EG:20:00:0;EH:212:00:0;ER:291:00:0;ES:34:00:;ET:251:00:0;FI:358:*:0;FJ:679:*:;FK:500:00:;FM:691:00:;FO:298:00:*;FR:33:00:0;GA:241:00:*;GB:44:00:0|180020;GD:1:011:*;GE:995:00:0;GF:594:00:0;GG:44:00:*;GH:233:00:0;GI:350:00:;GL:299:00:;GM:220:00:;GN:224:00:;GP:590:00:0;GQ:240:00:;GR:30:00:;GT:502:00:;GU:1:011:*;GW:245:00:;GY:592:001:;HK:852:*:;HN:504:00:;HR:385:00:0;HT:509:00:;HU:36:00:06;ID:62:008|009:0;IE:353:00:0;IL:972:*:0;IM:44:00:*;IN:91:00:0;IO:246:00:;IQ:964:00:0;IR:98:00:0;IS:354:*:;IT:39:00:;JE:44:00:*;JM:1:011:1;JO:962:00:0;JP:81:010:*;KE:254:000:0;KG:996:00:0;KH:855:*:0;KI:686:00:0;KM:269:00:;KN:1:011:*;KP:850:00|99:0;KR:82:*:*;KW:965:00:;KY:1:011:*;KZ:7:810:8;LA:856:00:0;LB:961:00:0;LC:1:011:*;LI:423:00:*;LK:94:00:0;LR:231:00:0;LS:266:00:;LT:370:00:0|8;LU:352:00:*;LV:371:00:;LY:218:00:0;MA:212:00:0;MC:377:00:0;MD:373:00:0;ME:382:00:0;MF:590:00:0;MG:261:00:*;MH:692:011:1;MK:389:00:0;ML:223:00:;MM:95:00:0;MN:976:001:0;MO:853:00:;MP:1:011:*;MQ:596:00:0;MR:222:00:;MS:1:011:*;MT:356:00:;MU:230:*:;MV:960:*:;MW:265:00:0;MX:52:00|09:;MY:60:00:0;MZ:258:00:;NA:264:00:0;NC:687:00:;NE:227:00:;NF:672:00:*;NG:234:009:0;NI:505:00:;NL:31:00:0;NO:47:00:;NP:977:00:0;NR:674:00:;NU:683:00:;NZ:64:*:0;OM:968:00:;PA:507:00:;PE:51:*:0;PF:689:00:;PG:675:*:;PH:63:00:0;PK:92:00:0;PL:48:00:;PM:508:00:0;PR:1:011:1;PS:970:00:0;PT:351:00:;PW:680:011|012:;PY:595:00:0;QA:974:00:;RE:262:00:0;RO:40:00:0;RS:381:00:0;RU:7:810:8;RW:250:00:0;SA:966:00:0;SB:677:00|01:;SC:248:*:;SD:249:00:0;SE:46:00:0;SG:65:*:;SH:290:00:;SI:386:*:0;SJ:47:00:;SK:421:00:0;SL:232:00:0;SM:378:00:*;SN:221:00:;SO:252:00:0;SR:597:00:;SS:211:00:0;ST:239:00:;SV:503:00:;SX:1:011:*;SY:963:00:0;SZ:268:00:;TA:290:00:;TC:1:011:*;TD:235:00|16:;TG:228:00:;TH:66:*:0;TJ:992:810:;TK:690:00:;TL:670:00:;TM:993:810:8;TN:216:00:;TO:676:00:;TR:90:00:0;TT:1:011:*;TV:688:00:;TW:886:*:0;TZ:255:000|005|006:0;UA:380:00:0;UG:256:000|005|007:0;US:1:011:1;UY:598:*:0;UZ:998:00:;VA:39:00:;VC:1:011:*;VE:58:00:0;VG:1:011:*;VI:1:011:*;VN:84:00:0;VU:678:00:;WF:681:00:;WS:685:0:;XK:383:00:0;YE:967:00:0;YT:262:00:0;ZA:27:00:0;ZM:260:00:0;ZW:263:00:0';
const PII_CALLING_CODE_LENGTHS = '1:10;7:10,14;20:8,9,10;27:5,6,7,8,9,10;30:10,11,12;31:5,6,7,8,9,10,11;32:8,9;33:9;34:9;36:8,9;39:6,7,8,9,10,11,12;40:6,9;41:9,12;43:4,5,6,7,8,9,10,11,12,13;44:7,9,10;45:8;46:6,7,8,9,10,12;47:5,8;48:6,7,8,9,10;49:4,5,6,7,8,9,10,11,12,13,14,15;51:8,9;52:10;53:6,7,8,10;54:10,11;55:8,9,10,11;56:9,10,11;57:8,10,11;58:10;60:8,9,10;61:5,6,7,8,9,10,12;62:7,8,9,10,11,12,13,14,15,16,17;63:6,8,9,10,11,12,13;64:5,6,7,8,9,10;65:8,10,11;66:8,9,10,13;81:8,9,10,11,12,13,14,15,16,17;82:5,6,8,9,10,11,12,13,14;84:7,8,9,10;86:7,8,9,10,11,12;90:7,10,12,13;91:8,9,10,11,12,13;92:8,9,10,11,12;93:9;94:9;95:6,7,8,9,10;98:4,5,6,7,10;211:9;212:9;213:8,9;216:8;218:9;220:7,9;221:9;222:8;223:8;224:8,9;225:10;226:8;227:8;228:8;229:10;230:7,8,10;231:7,8,9;232:8;233:8,9;234:10,11,12,13,14;235:8;236:8;237:8,9;238:7;239:7;240:9;241:7,8;242:9;243:7,8,9,10;244:9;245:7,9;246:7;247:5,6;248:7;249:9;250:8,9;251:9;252:6,7,8,9;253:8;254:7,8,9,10;255:9;256:9;257:8;258:8,9;260:9;261:9;262:9;263:7,9,10;264:8,9;265:7,9;266:8;267:7,8,10;268:8,9;269:7;290:4,5;291:7;297:7;298:6;299:6;350:8;351:9;352:4,5,6,7,8,9,10,11;353:7,8,9,10;354:7,9;355:6,7,8,9;356:8;357:8;358:5,6,7,8,9,10,11,12;359:6,7,8,9,12;370:8;371:8;372:7,8,10;373:8;374:8;375:6,7,8,9,10,11;376:6,8,9;377:8,9;378:8,10;380:9,10;381:6,7,8,9,10,11,12;382:8,9;383:8,9,10,11,12;385:7,8,9;386:5,6,7,8;387:8,9;389:8;420:9,10,11,12;421:6,7,9;423:7,9;500:5;501:7,11;502:8,11;503:7,8,11;504:8,11;505:8;506:8,10;507:7,8,10,11;508:6,9;509:8;590:9;591:8,9;592:7;593:8,9,10,11;594:9;595:6,7,8,9,10,11;596:9;597:6,7;598:4,5,6,7,8,9,10,11,12,13;599:7,8;670:7,8;672:6;673:7;674:7;675:7,8;676:5,7;677:5,7;678:5,7;679:7,11;680:7;681:6,9;682:5;683:4,7;685:5,6,7,10;686:5,8;687:6;688:5,6,7;689:6,8,9;690:4,5,6,7;691:7;692:7;800:8;808:8;850:8,10;852:5,6,7,8,9,11;853:7,8;855:8,9,10;856:8,9,10;870:9,12;878:12;880:6,7,8,9,10;881:9,10;882:7,8,9,10,11,12;883:8,9,10,11,12;886:7,8,9,10,11;888:11;960:7,10;961:7,8;962:8,9;963:8,9;964:8,9,10;965:7,8;966:9,10;967:7,8,9;968:7,8,9;970:8,9,10;971:5,6,7,8,9,10,11,12;972:7,8,9,10,11,12;973:8;974:7,8,9,11;975:7,8;976:8,9,10;977:8,10,11;979:9;992:9;993:8;994:9;995:9;996:9,10;998:9';
const PII_SPACES = ' \t\n\r\f\u000b\u001c\u001d\u001e\u001f\u0085\u00a0\u1680\u2028\u2029\u202f\u205f\u3000';
const PII_LATIN1_SYMBOLS = '\u00a1\u00a2\u00a3\u00a4\u00a5\u00a6\u00a7\u00a8\u00a9\u00ab\u00ac\u00ae\u00af\u00b0\u00b1\u00b4\u00b6\u00b7\u00b8\u00bb\u00bf\u00d7\u00f7';
const PII_ASCII_SYMBOLS = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const PII_PHONE_PUNCTUATION = '-.()/~[]\u00ad\u200b\u2060\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff0f\uff08\uff09\uff3b\uff3d\u2053\u223c\uff5e';

function piiDrop(reason) {
  return { dropped: reason };
}

function piiIsSpace(c) {
  return PII_SPACES.indexOf(c) !== -1 || (c >= '\u2000' && c <= '\u200a');
}

// Characters Unicode NFC would change: combining marks, Hangul jamo, compatibility
// ideographs and the three letter-like singletons. The sandbox cannot compose them.
function piiNeedsNfc(text) {
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (
      (c >= '\u0300' && c <= '\u036f') ||
      (c >= '\u1100' && c <= '\u11ff') ||
      (c >= '\u1ab0' && c <= '\u1aff') ||
      (c >= '\u1dc0' && c <= '\u1dff') ||
      (c >= '\u20d0' && c <= '\u20ff') ||
      (c >= '\ufe20' && c <= '\ufe2f') ||
      (c >= '\uf900' && c <= '\ufaff') ||
      c === '\u2126' ||
      c === '\u212a' ||
      c === '\u212b'
    ) {
      return true;
    }
  }
  return false;
}

// 'space', 'digit', 'symbol' (Unicode P or S), 'letter', or 'other' (anything the sandbox
// cannot classify: the caller drops the value rather than guess).
function piiCharClass(c) {
  if (piiIsSpace(c)) return 'space';
  if (c >= '0' && c <= '9') return 'digit';
  if (PII_ASCII_SYMBOLS.indexOf(c) !== -1 || PII_LATIN1_SYMBOLS.indexOf(c) !== -1) return 'symbol';
  if ((c >= '\u2010' && c <= '\u2027') || (c >= '\u2030' && c <= '\u205e')) return 'symbol';
  if (c >= '\u20a0' && c <= '\u20bf') return 'symbol';
  if (c === '\u30a0' || c === '\u30fb') return 'symbol';
  if (c >= '\u3001' && c <= '\u3003') return 'symbol';
  if (c.toLowerCase() !== c.toUpperCase()) return 'letter';
  if ((c >= '\u3040' && c <= '\u30ff') || (c >= '\u3400' && c <= '\u9fff')) return 'letter';
  if (c >= '\uac00' && c <= '\ud7a3') return 'letter';
  return 'other';
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

// Lower-case and remove symbols (and digits when asked); words joined by `joiner`.
// Returns undefined when a character cannot be classified in the sandbox.
function piiLetters(text, dropDigits, joiner) {
  let kept = '';
  const lowered = text.toLowerCase();
  for (let i = 0; i < lowered.length; i++) {
    const c = lowered.charAt(i);
    const kind = piiCharClass(c);
    if (kind === 'other') return undefined;
    if (kind === 'symbol' || (kind === 'digit' && dropDigits)) continue;
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

function piiTableLookup(table, key) {
  const rows = table.split(';');
  for (let i = 0; i < rows.length; i++) {
    const parts = rows[i].split(':');
    if (parts[0] === key) return parts;
  }
  return undefined;
}

function piiPossibleLengths(callingCode) {
  const row = piiTableLookup(PII_CALLING_CODE_LENGTHS, callingCode);
  if (!row) return undefined;
  return row[1].split(',').map(makeInteger);
}

function piiLengthFits(callingCode, digits) {
  const lengths = piiPossibleLengths(callingCode);
  return !!lengths && lengths.indexOf(digits.length) !== -1;
}

function piiMatchPrefix(digits, alternatives) {
  if (!alternatives) return '';
  const options = alternatives.split('|');
  for (let i = 0; i < options.length; i++) {
    if (options[i] !== '' && digits.indexOf(options[i]) === 0) return options[i];
  }
  return '';
}

function piiSplitCallingCode(digits) {
  if (digits.charAt(0) === '0') return undefined;
  for (let n = 1; n <= 3 && n < digits.length; n++) {
    const code = digits.substring(0, n);
    if (piiPossibleLengths(code)) return [code, digits.substring(n)];
  }
  return undefined;
}

// E.164 ('+' and digits) or a drop, following what phonenumbers.parse accepts.
function piiE164(text, region) {
  let digits = '';
  let plus = false;
  let letters = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c >= '0' && c <= '9') {
      digits = digits + c;
    } else if ((c === '+' || c === '\uff0b') && digits === '') {
      plus = true;
    } else if (!piiIsSpace(c) && PII_PHONE_PUNCTUATION.indexOf(c) === -1) {
      letters = true;
    }
  }
  if (letters) return piiDrop(digits.length < 3 ? 'unparseable_phone' : 'sandbox_unsupported');
  if (digits.length < 2) return piiDrop('unparseable_phone');
  let split;
  if (plus) {
    split = piiSplitCallingCode(digits);
  } else {
    const info = region ? piiTableLookup(PII_PHONE_REGIONS, region) : undefined;
    if (!info) return piiDrop('unparseable_phone');
    if (info[2] === '*') return piiDrop('sandbox_unsupported');
    const idd = piiMatchPrefix(digits, info[2]);
    // phonenumbers does not read a prefix as IDD when a 0 follows it.
    if (idd !== '' && digits.charAt(idd.length) !== '0') {
      split = piiSplitCallingCode(digits.substring(idd.length));
    } else {
      if (info[3] === '*') return piiDrop('sandbox_unsupported');
      let national = digits;
      const trunk = piiMatchPrefix(digits, info[3]);
      if (trunk !== '') {
        const stripped = digits.substring(trunk.length);
        const lengths = piiPossibleLengths(info[1]) || [];
        if (lengths.indexOf(stripped.length) !== -1 || stripped.length > lengths[lengths.length - 1]) {
          national = stripped;
        }
      }
      split = [info[1], national];
    }
  }
  if (!split) return piiDrop('unparseable_phone');
  if (split[1].length < 2 || split[1].length > 17) return piiDrop('unparseable_phone');
  if (!piiLengthFits(split[0], split[1])) return piiDrop('invalid_phone');
  return '+' + split[0] + split[1];
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
if (Math.floor(getTimestampMillis() / 1000) - serverEvent.event_time > MAX_AGE_SECONDS) {
  log({ Type: 'Message', TraceId: eventId, EventName: mappedName, Message: 'older than 7 days: Meta would reject it' });
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

function buildEvent() {
  const pageLocation = getEventData('page_location');
  const serverEvent = {
    event_name: mappedName,
    event_time: Math.floor(eventTimestampMillis() / 1000),
    // Same event_id as the browser pixel's eventID: Meta keeps one of the two (2.8).
    event_id: makeString(eventId),
    action_source: pageLocation ? 'website' : 'system_generated',
    user_data: metaUserData()
  };
  if (pageLocation) serverEvent.event_source_url = pageLocation;
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
                "string": "https://graph.facebook.com/v21.0/123456789012345/events*"
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
    assertThat(requests[0].url).isEqualTo('https://graph.facebook.com/v21.0/123456789012345/events?access_token=TOKEN');
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
- name: '[Shadow] Shadow mode sends the test event code'
  code: |-
    mockData.mode = 'shadow';
    mockData.testEventCode = 'TEST123';
    runCode(mockData);
    assertThat(requests[0].body.test_event_code).isEqualTo('TEST123');
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
    apiVersion: 'v21.0',
    accessToken: 'TOKEN',
    mode: 'live',
    testEventCode: ''
  };


___NOTES___

Generated by sgtm-companion from tracking plan acme-home 1.0.0.
Do not edit here: change the plan and run `sgtm generate` again.


