// Forms that carry a message on to the next site (an LTI launch, a deep linking response) post themselves;
// without scripts their "Continue" button does it.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form[data-auto-submit]"), function (form) {
    HTMLFormElement.prototype.submit.call(form);
  });
})();
