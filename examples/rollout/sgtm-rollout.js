/*
 * sgtm-companion rollout split, browser side.
 *
 * The sidecar sends a destination's events for the users whose bucket is below the plan's
 * rollout percentage (sidecar/rollout.py). The browser tag for that destination must fire for
 * exactly the other users, so both sides compute the same bucket from the same client_id:
 *
 *   key    = UTF-8 bytes of destination + ":" + clientId
 *   h      = FNV-1a 32-bit over key, then murmur3 fmix32
 *   bucket = h % 100;  the server sends when bucket < percent
 *
 * Plain ES5 plus Math.imul, synchronous, no dependencies: it runs in a GTM web Custom HTML tag
 * or Custom JavaScript variable. Keep it byte-for-byte in step with sidecar/rollout.py; the
 * parity test (tests/ops/test_rollout_split.py) runs this file in QuickJS against the Python.
 */
var sgtmRollout = (function () {
  'use strict';

  function utf8Bytes(str) {
    var out = [];
    for (var i = 0; i < str.length; i++) {
      var c = str.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
        var next = str.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        }
      }
      // A lone surrogate falls through as a 3-byte sequence, as Python's "surrogatepass" does.
      if (c < 0x80) {
        out.push(c);
      } else if (c < 0x800) {
        out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
      } else if (c < 0x10000) {
        out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
      } else {
        out.push(
          0xf0 | (c >> 18),
          0x80 | ((c >> 12) & 0x3f),
          0x80 | ((c >> 6) & 0x3f),
          0x80 | (c & 0x3f)
        );
      }
    }
    return out;
  }

  function bucket(clientId, destination) {
    var bytes = utf8Bytes(String(destination) + ':' + String(clientId));
    var h = 0x811c9dc5;
    for (var i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
    return (h >>> 0) % 100;
  }

  // True when the server sends for this user, i.e. the browser tag must NOT fire.
  function serverSends(clientId, destination, percent) {
    return bucket(clientId, destination) < percent;
  }

  // True when the browser tag should fire: the user is outside the server-side rollout.
  function browserFires(clientId, destination, percent) {
    return !serverSends(clientId, destination, percent);
  }

  return { bucket: bucket, serverSends: serverSends, browserFires: browserFires };
})();
