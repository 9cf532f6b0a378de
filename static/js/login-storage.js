// LTI Client Side postMessages (lti.put_data): keep state and nonce in the platform's storage frame,
// so the launch can be checked even where the browser drops the state cookie.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("login-storage").textContent);
  var authUrl = config.auth_url, target = config.storage_target, origin = config.platform_origin;
  var frame = target === "_parent" ? window.parent : (window.parent.frames[target] || window.parent);
  var pending = { state: config.state, nonce: config.nonce };
  var waiting = 0, done = false;
  function go() { if (!done) { done = true; window.location.replace(authUrl); } }
  window.addEventListener("message", function (event) {
    if (origin !== "*" && event.origin !== origin) return;
    var data = event.data || {};
    if (data.subject === "lti.put_data.response" && --waiting <= 0) go();
  });
  Object.keys(pending).forEach(function (key) {
    waiting++;
    frame.postMessage({ subject: "lti.put_data", message_id: key + "-" + Math.random().toString(36).slice(2),
                        key: "lti_" + key + "_" + pending.state, value: pending[key] }, origin);
  });
  setTimeout(go, 2000);  // a platform that does not answer still gets the cookie-based login
})();
