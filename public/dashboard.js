// Dashboard enhancement: the numbers, chart and tables refresh themselves every few seconds. Without
// this script the page shows the numbers as of its loading; reloading refreshes them.
(function () {
  'use strict';
  var live = document.getElementById('live');
  if (!live || !window.fetch) return;
  var url = live.getAttribute('data-live-url');
  var busy = false;
  var refresh = function () {
    // Do not replace the forms while the campaigner is typing in one of them.
    if (busy || document.hidden || live.contains(document.activeElement)) return;
    busy = true;
    fetch(url, { headers: { Accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        // The login ended (the request was sent to the login page): reload, and the page asks for it.
        if (r.redirected) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html) {
          var open = Array.prototype.map.call(live.querySelectorAll('details'), function (d) { return d.open; });
          live.innerHTML = html;
          live.querySelectorAll('details').forEach(function (d, i) { if (open[i]) d.open = true; });
        }
      })
      .catch(function () { /* keep the last numbers */ })
      .then(function () { busy = false; });
  };
  setInterval(refresh, 5000);
})();
