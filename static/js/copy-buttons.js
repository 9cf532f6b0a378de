/* "Copy" buttons: shown only when scripts run; without them the fields above are read-only text to select. */
(function () {
  "use strict";
  function copyBySelection(field) {
    field.focus();
    field.select();
    try { return document.execCommand("copy"); } catch (error) { return false; }
  }
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var feedback = button.parentNode.querySelector(".copy-feedback");
    var label = button.textContent;
    var timer = null;
    button.hidden = false;
    function tell(copied) {
      if (copied) {
        button.textContent = "Copied";
        feedback.textContent = "Copied to the clipboard.";
        button.focus();
        clearTimeout(timer);
        timer = setTimeout(function () { button.textContent = label; feedback.textContent = ""; }, 4000);
      } else {
        feedback.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
      }
    }
    button.addEventListener("click", function () {
      if (copyBySelection(field)) { tell(true); return; }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(function () { tell(true); }, function () {
          field.focus(); field.select(); tell(false);
        });
      } else {
        tell(false);
      }
    });
  });
})();
