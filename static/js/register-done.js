// LTI Dynamic Registration 1.0 §3.6: tell the platform the registration is finished.
(function () {
  function close() {
    var target = (window.parent && window.parent !== window) ? window.parent : window.opener;
    if (target) { target.postMessage({subject: 'org.imsglobal.lti.close'}, '*'); }
  }
  document.getElementById('close-registration').addEventListener('click', close);
})();
