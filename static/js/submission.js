/* The submission page: autosave (2 s after typing stops), safe navigation between the forms, and uploads with a
   progress bar. Everything works without it: the forms post normally. */
(function () {
  "use strict";
  var form = document.getElementById("attempt-form");
  if (!form || form.getAttribute("data-editable") !== "1" || !window.fetch || !window.FormData) { return; }
  var DELAY = 2000;
  // Without JavaScript the upload's fields and the Remove buttons belong to this form (they carry the text typed
  // since the last save); with it they belong to their own forms (data-script-form), which keep the text by saving
  // it first, and whose file is sent with a progress bar.
  Array.prototype.forEach.call(document.querySelectorAll("[data-script-form]"), function (field) {
    var target = field.getAttribute("data-script-form");
    if (document.getElementById(target)) { field.setAttribute("form", target); }
  });
  var statusEl = document.getElementById("autosave-status");
  var versionInput = form.querySelector("input[name=version]");
  // The launch reference is read at each request: the page renews it (static/js/session.js rewrites the input).
  function ltik() { return form.querySelector("input[name=ltik]").value; }
  var timer = null, inFlight = null, dirty = false, stopped = false, leaving = false, uploading = false;
  var staleAt = null;    // the version a refused ("stale") autosave was based on
  var refusal = null;    // why the latest save was refused: "stale", "expired", "closed", "invalid", "network"

  function say(text, kind) {
    statusEl.textContent = text;
    statusEl.className = "autosave" + (kind ? " " + kind : "");
  }
  // The server writes the time (in the term's zone, named), so every page and message shows one zone.
  function timeLabel(data) { return data.saved_label || data.saved_at || ""; }
  function refuse(message, stop, why) {
    dirty = true;
    stopped = stopped || stop;
    refusal = why;
    say("Not saved — " + message + " Your text is still on this page; copy it before you leave.", "bad");
  }

  // session.js (pages of a session not bound to the browser) renews a reference about to expire; else nothing to do
  function freshReference() { return window.ltiSession ? window.ltiSession.fresh() : Promise.resolve(); }

  function save() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (inFlight) { return inFlight.then(save); }
    if (stopped || !dirty) { return Promise.resolve(); }
    dirty = false;
    refusal = null;
    say("Saving…", "");
    var body = new FormData(form);
    var sentVersion = Number(versionInput.value);
    inFlight = freshReference().then(function () {
      return fetch(form.getAttribute("data-autosave-url"), {
        // same-origin: the session cookie of a browser-bound launch (lti_browser, partitioned) goes along
        method: "POST", body: body, credentials: "same-origin",
        headers: {"X-Launch-Token": ltik(), "Accept": "application/json"}
      });
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) {
          versionInput.value = data.version;
          say("Saved at " + timeLabel(data), "ok");
        } else if (data.error === "stale") {
          staleAt = sentVersion;
          refuse((data.message || "this page is out of date.") + " Use “Save changes” to compare and keep your text.",
                 true, "stale");
        } else if (response.status === 401 || response.status === 403) {
          refuse((data.message || "your session has expired.") + " Open the activity again from your course.",
                 true, "expired");
        } else {
          refuse(data.message || "the tool refused the change.", response.status === 409,
                 response.status === 409 ? "closed" : "invalid");
        }
        // The text stays in its fields: nothing here ever empties them (`data.values` is what was sent).
      });
    }, function () {
      refuse("the connection failed. It will be tried again when you type.", false, "network");
    }).then(function () { inFlight = null; });
    return inFlight;
  }

  function changed(event) {
    if (event.target.form !== form || stopped) { return; }
    dirty = true;
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(save, DELAY);
    say("Unsaved changes…", "");
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);

  // Save changes / Submit: wait for an autosave in flight, so the form posts the version it produced.
  function waitForUpload(event) {
    if (!uploading) { return false; }
    event.preventDefault();
    say("A file is still uploading: wait until it has finished.", "bad");
    return true;
  }
  form.addEventListener("submit", function (event) {
    if (waitForUpload(event)) { return; }
    if (timer) { clearTimeout(timer); timer = null; }
    if (inFlight) {
      event.preventDefault();
      var submitter = event.submitter;
      inFlight.then(function () { leaving = true; form.requestSubmit ? form.requestSubmit(submitter) : form.submit(); });
      return;
    }
    leaving = true;
  });

  window.addEventListener("beforeunload", function (event) {
    if (!leaving && (dirty || inFlight || uploading)) { event.preventDefault(); event.returnValue = ""; }
  });

  // An artifact change of this page (an upload) moved the attempt's version on. Take the new version only when
  // that change was the only one since this page's version (new = mine + 1): then the saved text is still the
  // text this page was based on. Otherwise keep the old one, so that the next save is refused and compared.
  function settled() {
    return inFlight ? inFlight.then(settled) : Promise.resolve();
  }
  function adoptVersion(version) {
    if (typeof version !== "number" || version !== Number(versionInput.value) + 1) { return false; }
    versionInput.value = version;
    if (stopped && refusal === "stale" && staleAt === version - 1) {
      stopped = false; staleAt = null; refusal = null; dirty = true;  // refused only because of our own upload
    }
    return true;
  }

  // This page's address with the current launch reference (the one it was rendered with may have been renewed).
  function pageUrl(params, fragment) {
    var url = new URL(form.getAttribute("data-page-url"), window.location.href);
    url.searchParams.set("ltik", ltik());
    Object.keys(params).forEach(function (name) { url.searchParams.set(name, params[name]); });
    url.hash = fragment;
    return url.href;
  }

  // The same address but for its #fragment would only scroll (after an earlier upload, it is): load it again.
  function reloadAt(url) {
    var target = new URL(url, window.location.href);
    if (target.href.split("#")[0] === window.location.href.split("#")[0]) {
      window.location.hash = target.hash;
      window.location.reload();
    } else {
      window.location.assign(target.href);
    }
  }

  // After an upload: wait for an autosave on its way, save what was typed since, and only then reload the page.
  // A save that is refused goes to the page that hands the text back (the main form, posted), never lost.
  function keepTextThenReload(url, statusEl, fileName) {
    statusEl.textContent = "Uploaded " + fileName + ". Saving your text…";
    save().then(function () {
      if (!dirty) {
        leaving = true;
        reloadAt(url);
      } else if (refusal === "network") {
        statusEl.textContent = "Uploaded " + fileName + ", but your latest text is not saved yet: the connection " +
          "failed. Keep this page open and use “Save changes”.";
        statusEl.className = "hint error";
      } else {
        statusEl.textContent = "Uploaded " + fileName + ". Your text could not be saved; it is shown on the next page.";
        leaving = true;
        HTMLFormElement.prototype.submit.call(form);  // action "save": the tool answers with the text kept
      }
    });
  }

  // The artifact forms reload the page: keep the text first.
  function keepTextThen(subform, go) {
    save().then(function () {
      if (dirty && !window.confirm("Your latest text could not be saved. Continue anyway?")) { return; }
      leaving = true;
      go();
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-flush-first]"), function (subform) {
    subform.addEventListener("submit", function (event) {
      if (waitForUpload(event)) { return; }
      if (subform.id === "upload-form" && uploadWithProgress(subform, event)) { return; }
      var question = subform.getAttribute("data-confirm");
      if (question && !window.confirm(question)) { event.preventDefault(); return; }
      event.preventDefault();
      keepTextThen(subform, function () { HTMLFormElement.prototype.submit.call(subform); });
    });
  });

  // Uploads send the file itself as the body, so the progress bar can follow it (XMLHttpRequest upload events).
  function uploadWithProgress(subform, event) {
    var input = document.getElementById("artifact-file");
    var title = document.getElementById("upload-title");
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    if (!window.XMLHttpRequest || !input || !input.files || !input.files.length) { return false; }
    event.preventDefault();
    var file = input.files[0];
    var attemptId = subform.querySelector("input[name=attempt_id]").value;
    keepTextThen(subform, function () { freshReference().then(function () {
      leaving = false;
      uploading = true;
      var url = subform.getAttribute("data-raw-url") + "?attempt_id=" + encodeURIComponent(attemptId) +
        "&title=" + encodeURIComponent(title.value || "");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-Launch-Token", ltik());
      xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.setRequestHeader("Accept", "application/json");
      bar.hidden = false; bar.value = 0;
      status.textContent = "Uploading " + file.name + "…";
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round(e.loaded * 100 / e.total);
          status.textContent = "Uploading " + file.name + ": " + bar.value + "%";
        }
      };
      xhr.upload.onload = function () {
        bar.value = 100;
        status.textContent = "Checking " + file.name + "…";
      };
      xhr.onload = function () {
        var data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = {}; }
        uploading = false;
        if (xhr.status >= 200 && xhr.status < 300 && !data.error) {
          bar.value = 100;
          status.textContent = "Uploaded " + file.name + ". Saving your text…";
          settled().then(function () {  // an autosave on its way first: its answer may carry a version too
            adoptVersion(data.version);
            keepTextThenReload(pageUrl({notice: "artifact-added"}, "part-artifacts"), status, file.name);
          });
        } else {
          bar.hidden = true;
          status.textContent = "Not uploaded — " + (data.message || ("the tool answered " + xhr.status + "."));
          status.className = "hint error";
        }
      };
      xhr.onerror = function () {
        uploading = false;
        bar.hidden = true;
        status.textContent = "Not uploaded — the connection failed. Please try again.";
        status.className = "hint error";
      };
      xhr.send(file);
    }); });
    return true;
  }
})();
