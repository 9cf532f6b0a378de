// The fallback page of a launch whose state cookie did not come back (templates/lti/new_window.html).
// Storage Access API: where the browser has it and this page is framed by the course page, ask for the tool's
// cookies there, then go back through the LMS (the launch's return URL) so that it launches the tool again under
// a fresh message hint — never a replay of the old login, whose hint the LMS may accept once only (Moodle).
(function () {
  "use strict";
  var box = document.getElementById("storage-access");
  if (!box || window.top === window || typeof document.requestStorageAccess !== "function") return;
  var button = document.getElementById("storage-access-button");
  var status = document.getElementById("storage-access-status");
  var courseUrl = box.getAttribute("data-course-url");

  function offer() { box.hidden = false; }
  if (typeof document.hasStorageAccess === "function") {
    // Access already granted and the cookie still lost: asking again cannot help, the new window can.
    document.hasStorageAccess().then(function (has) { if (!has) offer(); }, offer);
  } else {
    offer();
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    status.textContent = "Asking your browser…";
    document.requestStorageAccess().then(function () {
      status.textContent = "Allowed. Opening the activity again…";
      window.location.assign(courseUrl);
    }, function () {
      button.disabled = false;
      // Browsers grant it only to sites the person has opened in a window of their own before.
      status.textContent = "Your browser did not allow it. Open your course in a new window instead.";
    });
  });
})();
