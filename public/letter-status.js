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
  localise(document);
  var poll = function () {
    var section = document.getElementById('deliveries');
    if (!section || section.getAttribute('data-final') === 'yes' || !window.fetch) return;
    setTimeout(function () {
      fetch(window.location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' })
        .then(function (r) {
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html) {
            var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('deliveries');
            if (fresh) {
              // Keep open any history the reader expanded.
              var open = Array.prototype.map.call(section.querySelectorAll('details'), function (d) {
                return d.open;
              });
              section.replaceWith(fresh);
              fresh.querySelectorAll('details').forEach(function (d, i) {
                if (open[i]) d.open = true;
              });
              localise(fresh);
            }
          }
          poll();
        })
        .catch(poll);
    }, 4000);
  };
  poll();
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
