// Status page enhancements: times in the reader's own time zone, and the delivery list refreshed
// in place until every letter has reached a final state. Without this script, "Refresh" reloads.
(function () {
  'use strict';
  var localise = function (root) {
    var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    root.querySelectorAll('time[datetime*="T"]').forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) t.textContent = fmt.format(d);
    });
  };
  // The list as the server last sent it (before times were localised), to tell whether anything changed.
  var initial = document.getElementById('deliveries');
  var lastHtml = initial ? initial.outerHTML : '';
  localise(document);
  var QUICK = 4000;
  var SLOW = 60000;
  // Polls quickly at first and after each change, then less often while nothing changes (a paced letter
  // may wait for days). The list is replaced only when it changed and the reader is not inside it, so
  // keyboard focus and a screen reader's place are kept.
  var poll = function (delay) {
    var section = document.getElementById('deliveries');
    if (!section || section.getAttribute('data-final') === 'yes' || !window.fetch) return;
    setTimeout(function () {
      fetch(window.location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' })
        .then(function (r) {
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          var fresh = html ? new DOMParser().parseFromString(html, 'text/html').getElementById('deliveries') : null;
          if (!fresh || fresh.outerHTML === lastHtml) return poll(Math.min(SLOW, delay * 1.5));
          if (section.contains(document.activeElement)) return poll(QUICK);
          lastHtml = fresh.outerHTML;
          // Keep open any history the reader expanded.
          var open = Array.prototype.map.call(section.querySelectorAll('details'), function (d) {
            return d.open;
          });
          section.replaceWith(fresh);
          fresh.querySelectorAll('details').forEach(function (d, i) {
            if (open[i]) d.open = true;
          });
          localise(fresh);
          poll(QUICK);
        })
        .catch(function () {
          poll(Math.min(SLOW, delay * 1.5));
        });
    }, delay);
  };
  poll(QUICK);
})();

// "Copy the link" on the thank-you page (the button stays hidden without JavaScript).
(function () {
  'use strict';
  document.querySelectorAll('[data-copy]').forEach(function (button) {
    var target = document.querySelector(button.getAttribute('data-copy'));
    var done = button.parentNode.querySelector('.copy-done');
    if (!target || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(target.href || target.textContent).then(
        function () {
          if (done) done.textContent = button.getAttribute('data-copied') || '';
        },
        function () {
          target.focus();
        },
      );
    });
  });
})();
