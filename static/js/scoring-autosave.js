// Autosave: the scoring keeps itself while the assessor types; a refusal keeps the text on the page.
(function () {
  "use strict";
  var form = document.getElementById("scoring-form"), status = document.getElementById("autosave-status"), timer = null;
  if (!form || !status || !window.fetch || !window.FormData) { return; }
  function save() {
    var data = new FormData(form);
    fetch(form.dataset.autosaveUrl, {method: "POST", body: data, credentials: "same-origin"}).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (answer) {
      if (answer.ok) { form.elements.version.value = answer.body.version; status.textContent = "Saved."; }
      else { status.textContent = answer.body.message + " " + (answer.body.hint || ""); }
    }).catch(function () { status.textContent = "Could not save just now; your text stays here. Use Save."; });
  }
  form.addEventListener("input", function () { clearTimeout(timer); status.textContent = "Unsaved changes…"; timer = setTimeout(save, 1500); });
})();
