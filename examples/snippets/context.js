/*
 * sgtm-companion: post the browser's identity and consent to the sidecar at checkout, so the
 * order webhook can join them (docs/webhooks.md, "The identity join").
 * Generated from the tracking plan acme-home 1.0.0; do not edit by hand,
 * re-run: sgtm snippet PLAN -o FILE --endpoint URL
 *
 *   sgtmContext.post(cartOrCheckoutToken, browserToken)   -> Promise of the sidecar's answer
 *   sgtmContext.collect()                                 -> the object that would be posted
 *   sgtmContext.attributes()                              -> the same ids as cart attributes
 */
(function (window, document) {
  'use strict';
  var ENDPOINT = "https://sgtm.acme-home.example";
  var GA_SESSION_COOKIE = "_ga_ACME12345";
  var CMP_COOKIE = "euconsent-v2";
  var PURPOSES = ["ads", "analytics", "functional"];

  function cookie(name) {
    if (!name) return '';
    var parts = (document.cookie || '').split(';');
    for (var i = 0; i < parts.length; i++) {
      var pair = parts[i].replace(/^\s+/, '');
      if (pair.indexOf(name + '=') === 0) {
        try {
          return decodeURIComponent(pair.substring(name.length + 1));
        } catch (e) {
          return pair.substring(name.length + 1);
        }
      }
    }
    return '';
  }

  function param(name) {
    var match = new RegExp('[?&]' + name + '=([^&#]*)').exec(window.location.search || '');
    return match ? decodeURIComponent(match[1].replace(/\+/g, ' ')) : '';
  }

  // _ga = GA1.1.<random>.<first visit>: the client id is the last two fields.
  function clientId() {
    var parts = cookie('_ga').split('.');
    return parts.length >= 4 ? parts[parts.length - 2] + '.' + parts[parts.length - 1] : '';
  }

  // _ga_<stream> = GS1.1.<session id>.<n>... or GS2.1.s<session id>$o<n>$...
  function sessionId() {
    var parts = cookie(GA_SESSION_COOKIE).split('.');
    if (parts.length < 3) return '';
    var field = parts[2];
    if (parts[0] === 'GS2') field = field.split('$')[0].replace(/^s/, '');
    return /^[0-9]+$/.test(field) ? field : '';
  }

  // Meta's documented fbc format, built from fbclid when the pixel has not set _fbc.
  function fbc() {
    var value = cookie('_fbc');
    if (value) return value;
    var clickId = param('fbclid');
    return clickId ? 'fb.1.' + new Date().getTime() + '.' + clickId : '';
  }

  // _gcl_aw = GCL.<time>.<gclid>, written by the Google tag's conversion linker.
  function gclid() {
    var fromUrl = param('gclid');
    if (fromUrl) return fromUrl;
    var parts = cookie('_gcl_aw').split('.');
    return parts.length >= 3 ? parts.slice(2).join('.') : '';
  }

  // Consent Mode state: the last default/update for each signal in the dataLayer, else the
  // Google tag's own record of it.
  function consentMode() {
    var state = {};
    var layer = window.dataLayer || [];
    for (var i = 0; i < layer.length; i++) {
      var entry = layer[i];
      if (entry && entry[0] === 'consent' && (entry[1] === 'default' || entry[1] === 'update') &&
          entry[2] && typeof entry[2] === 'object') {
        for (var key in entry[2]) {
          if (Object.prototype.hasOwnProperty.call(entry[2], key)) state[key] = entry[2][key];
        }
      }
    }
    var ics = window.google_tag_data && window.google_tag_data.ics && window.google_tag_data.ics.entries;
    if (ics) {
      for (var name in ics) {
        if (state[name] === undefined && ics[name]) {
          var value = ics[name].update !== undefined ? ics[name].update : ics[name]['default'];
          if (value !== undefined) state[name] = value ? 'granted' : 'denied';
        }
      }
    }
    return state;
  }

  function granted(state, names) {
    for (var i = 0; i < names.length; i++) {
      if (state[names[i]] !== 'granted') return false;
    }
    return names.length > 0;
  }

  // Purpose -> the Consent Mode signals that must all be granted (docs/privacy.md). A purpose
  // with no signal is left out: the sidecar treats it as not given (fail closed).
  var SIGNALS = {
    analytics: ['analytics_storage'],
    ads: ['ad_storage', 'ad_user_data'],
    functional: ['functionality_storage']
  };

  function consent() {
    var state = consentMode();
    var out = {};
    var known = false;
    for (var i = 0; i < PURPOSES.length; i++) {
      var signals = SIGNALS[PURPOSES[i]];
      if (!signals) continue;
      for (var j = 0; j < signals.length; j++) if (state[signals[j]]) known = true;
      out[PURPOSES[i]] = granted(state, signals);
    }
    return { purposes: known ? out : null, state: state };
  }

  function gcs(state) {
    function bit(name) {
      return state[name] === 'granted' ? '1' : state[name] === 'denied' ? '0' : '-';
    }
    return state.ad_storage || state.analytics_storage ? 'G1' + bit('ad_storage') + bit('analytics_storage') : '';
  }

  // Identifiers are read only for purposes granted at this moment: the GA ids for analytics,
  // Meta's and Google's click ids for ads. Without a CMP state nothing identifying is read.
  function collect() {
    var found = consent();
    var purposes = found.purposes || {};
    var analytics = purposes.analytics === true;
    var ads = purposes.ads === true;
    var body = {
      client_id: analytics ? clientId() : '',
      session_id: analytics ? sessionId() : '',
      fbp: ads ? cookie('_fbp') : '',
      fbc: ads ? fbc() : '',
      gclid: ads ? gclid() : '',
      gpc: window.navigator && window.navigator.globalPrivacyControl === true ? '1' : '',
      gcs: gcs(found.state),
      tcf: cookie(CMP_COOKIE),
      page_location: String(window.location.href || '').slice(0, 2048),
      page_referrer: String(document.referrer || '').slice(0, 2048),
      language: (window.navigator && window.navigator.language) || ''
    };
    if (found.purposes) body.consent = found.purposes;
    for (var key in body) {
      if (body[key] === '') delete body[key];
    }
    return body;
  }

  function post(token, browserToken) {
    var body = collect();
    body.token = String(token || '');
    return window.fetch(ENDPOINT + '/v1/context', {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      keepalive: true,
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + browserToken },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json();
    });
  }

  // The same ids as cart attributes / order meta: the join's fallback when the context
  // was not posted or has expired. Underscored names stay hidden at Shopify's checkout.
  function attributes() {
    var body = collect();
    var out = {};
    var names = ['client_id', 'session_id', 'fbp', 'fbc', 'gclid', 'gcs'];
    for (var i = 0; i < names.length; i++) {
      if (body[names[i]]) out['_sgtm_' + names[i]] = body[names[i]];
    }
    if (body.consent) {
      var list = [];
      for (var purpose in body.consent) if (body.consent[purpose]) list.push(purpose);
      out._sgtm_consent = list.join(',');
    }
    return out;
  }

  window.sgtmContext = { collect: collect, post: post, attributes: attributes };
})(window, document);
