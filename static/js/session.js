/* Keeps the page's launch reference (ltik) fresh where the browser keeps no cookie for the tool.
 *
 * Such a reference lasts only a few minutes (a copied link soon becomes useless). The page carries a session
 * token in <meta name="lti-session"> (never in a URL); this script exchanges it for a fresh reference every few
 * minutes, when the page becomes visible again, and before following a link or sending a form whose reference
 * is about to expire, then writes the new reference into the page's links, forms and address.
 * Other scripts read `input[name=ltik]` at each request, or listen for the `lti:ltik` event on document.
 */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="lti-session"]');
  if (!meta || !window.fetch || !window.URL) { return; }
  var sessionToken = meta.getAttribute("content");
  var renewUrl = meta.getAttribute("data-renew-url");
  var lifetime = (Number(meta.getAttribute("data-reference-max-age")) || 600) * 1000;
  var MARGIN = Math.min(60000, lifetime / 4);    // renew before following a link this close to its expiry
  var issuedAt = Date.now();                       // the page's references were signed as it was rendered
  var pending = null;
  var ended = false;

  function age() { return Date.now() - issuedAt; }

  function withReference(href, ltik) {
    var url = new URL(href, window.location.href);
    if (url.origin !== window.location.origin || !url.searchParams.has("ltik")) { return null; }
    url.searchParams.set("ltik", ltik);
    return url.href;
  }

  function rewrite(ltik) {
    Array.prototype.forEach.call(document.querySelectorAll("input[name=ltik]"), function (input) {
      input.value = ltik;
    });
    Array.prototype.forEach.call(document.querySelectorAll("a[href*='ltik=']"), function (link) {
      var href = withReference(link.getAttribute("href"), ltik);
      if (href) { link.setAttribute("href", href); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("form[action*='ltik=']"), function (form) {
      var action = withReference(form.getAttribute("action"), ltik);
      if (action) { form.setAttribute("action", action); }
    });
    var here = withReference(window.location.href, ltik);
    if (here && window.history && window.history.replaceState) {
      window.history.replaceState(window.history.state, "", here);  // a reload keeps working too
    }
    document.dispatchEvent(new CustomEvent("lti:ltik", {detail: {ltik: ltik}}));
  }

  function end(message) {
    ended = true;
    window.clearInterval(timer);
    if (document.getElementById("lti-session-ended")) { return; }
    var notice = document.createElement("div");
    notice.id = "lti-session-ended";
    notice.className = "alert";
    notice.setAttribute("role", "alert");
    notice.textContent = (message || "Your session with the tool has ended.") +
      " Open the activity again from your course; anything you saved is kept.";
    var main = document.querySelector("main") || document.body;
    main.insertBefore(notice, main.firstChild);
  }

  function renew() {
    if (ended) { return Promise.reject(new Error("session ended")); }
    if (pending) { return pending; }
    pending = fetch(renewUrl, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"X-Launch-Session": sessionToken, "Accept": "application/json"}
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok && data.ltik) {
          issuedAt = Date.now();
          lifetime = (Number(data.expires_in) || lifetime / 1000) * 1000;
          rewrite(data.ltik);
          return data.ltik;
        }
        if (response.status === 401 || response.status === 403) { end(data.message); }
        throw new Error("renewal refused: " + response.status);
      });
    });
    pending.then(done, done);
    return pending;
  }
  function done() { pending = null; }

  function renewIfOlderThan(limit) {
    if (!ended && age() > limit) { renew().catch(function () {}); }
  }

  var timer = window.setInterval(function () { renewIfOlderThan(lifetime / 2); }, Math.min(30000, lifetime / 4));
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { renewIfOlderThan(lifetime / 4); }
  });
  window.addEventListener("focus", function () { renewIfOlderThan(lifetime / 4); });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { renewIfOlderThan(0); }  // back from the browser's page cache: its links may be stale
  });

  function isStale() { return age() > lifetime - MARGIN; }

  // For the page's own requests (autosave, uploads): a fresh reference first when this one is about to expire —
  // after the computer slept, say, when no timer or visibility event had the chance to renew it.
  window.ltiSession = {
    fresh: function () { return ended || !isStale() ? Promise.resolve() : renew().catch(function () {}); }
  };

  // A link followed (or a form sent) with a stale reference: renew first, then go on with the fresh one.
  document.addEventListener("click", function (event) {
    if (ended || !isStale() || event.defaultPrevented || event.button !== 0 ||
        event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) { return; }
    var link = event.target.closest ? event.target.closest("a[href*='ltik=']") : null;
    if (!link || (link.target && link.target !== "_self") || link.hasAttribute("download")) { return; }
    if (!withReference(link.getAttribute("href"), "x")) { return; }
    event.preventDefault();
    renew().then(function () { window.location.assign(link.href); },
                 function () { if (!ended) { window.location.assign(link.href); } });
  }, true);

  var resubmitting = null;
  window.addEventListener("submit", function (event) {
    var form = event.target;
    if (form === resubmitting) { resubmitting = null; return; }
    if (ended || !isStale() || !form.querySelector("input[name=ltik]")) { return; }
    event.preventDefault();
    event.stopImmediatePropagation();  // the page's own submit handlers run on the resubmission
    var submitter = event.submitter;
    function send() {  // refused or not: the tool's answer to the form (an expired page gives the text back)
      resubmitting = form;
      if (form.requestSubmit) { form.requestSubmit(submitter || undefined); } else { form.submit(); }
    }
    renew().then(send, send);
  }, true);
})();
