// Leave the frame: the whole window goes to the link marked `data-navigate-top` (it also works as a plain link).
(function () {
  "use strict";
  var link = document.querySelector("a[data-navigate-top]");
  if (link) { window.top.location.href = link.href; }
})();
