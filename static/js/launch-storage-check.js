// LTI Client Side postMessages (lti.get_data): the state stored at login must come back from the platform.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("launch-storage-check").textContent);
  var target = config.storage_target, origin = config.platform_origin, state = config.state;
  var frame = target === "_parent" ? window.parent : (window.parent.frames[target] || window.parent);
  var id = "state-" + Math.random().toString(36).slice(2), settled = false;
  function giveUp() {
    if (settled) return;
    settled = true;
    document.getElementById("status").hidden = true;
    document.getElementById("fallback").hidden = false;
  }
  window.addEventListener("message", function (event) {
    if (origin !== "*" && event.origin !== origin) return;
    var data = event.data || {};
    if (settled || data.subject !== "lti.get_data.response" || data.message_id !== id) return;
    if (data.value === state) { settled = true; document.getElementById("verified").submit(); }
    else { giveUp(); }
  });
  if (frame === window) { giveUp(); return; }  // not inside a platform page: nothing to ask
  frame.postMessage({ subject: "lti.get_data", message_id: id, key: "lti_state_" + state }, origin);
  setTimeout(giveUp, 4000);  // a platform that never answers must not leave the person waiting forever
})();
