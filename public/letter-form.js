// Campaign page enhancements. The form works without this script; with it, the signature follows
// the name and country fields, a counter shows the letter's length against its limit, and the
// letter count refreshes itself.
(function () {
  'use strict';
  var form = document.querySelector('.letter-form');
  if (form) {
    var first = form.querySelector('#firstName');
    var last = form.querySelector('#lastName');
    var country = form.querySelector('#country');
    var signName = form.querySelector('[data-sign="name"]');
    var signCountry = form.querySelector('[data-sign="country"]');
    var updateSignature = function () {
      var name = [first.value.trim(), last.value.trim()].filter(Boolean).join(' ');
      signName.textContent = name || '[your name]';
      var opt = country.options[country.selectedIndex];
      signCountry.textContent = country.value && opt ? opt.text : '[your country]';
    };
    [first, last].forEach(function (el) { el.addEventListener('input', updateSignature); });
    country.addEventListener('change', updateSignature);

    var body = form.querySelector('#body');
    var counter = form.querySelector('#body-count');
    var max = Number(body.getAttribute('data-max'));
    var fmt = new Intl.NumberFormat();
    var lastBand = -1;
    var updateCounter = function () {
      var used = body.value.replace(/\r\n?/g, '\n').length;
      var left = max - used;
      counter.textContent = fmt.format(used) + ' of ' + fmt.format(max) + ' characters' + (left < 0 ? ': ' + fmt.format(-left) + ' too many' : '');
      counter.classList.toggle('over', left < 0);
      // Announce to screen readers only when crossing 90% and 100%, not on every key.
      var band = left < 0 ? 2 : used > max * 0.9 ? 1 : 0;
      counter.setAttribute('aria-live', band !== lastBand && lastBand !== -1 ? 'polite' : 'off');
      lastBand = band;
    };
    body.addEventListener('input', updateCounter);
    updateCounter();
    updateSignature();

    // The preview: the email exactly as the chosen recipient will receive it, following the form.
    var preview = document.getElementById('preview');
    if (preview) {
      var pick = preview.querySelector('#preview-target');
      var subject = form.querySelector('#subject');
      var show = function (name, value) {
        var el = preview.querySelector('[data-preview="' + name + '"]');
        if (el) el.textContent = value;
      };
      var updatePreview = function () {
        var opt = pick.options[pick.selectedIndex];
        var writer = signName.textContent;
        var from = signCountry.textContent;
        var text = body.value.replace(/\r\n?/g, '\n').replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim();
        show('to', opt.getAttribute('data-to'));
        show('from', writer + ' via ' + preview.getAttribute('data-sender'));
        show('subject', subject.value);
        show('text', opt.getAttribute('data-salutation') + ',\n\n' + text + '\n\n' + preview.getAttribute('data-closing') + '\n' + writer + '\n' + from);
        show('footer', preview.getAttribute('data-footer').split('{writer}').join(writer).split('{country}').join(from));
      };
      [first, last, subject, body].forEach(function (el) { el.addEventListener('input', updatePreview); });
      [country, pick].forEach(function (el) { el.addEventListener('change', updatePreview); });
      // Ticking a recipient shows the letter as they will get it.
      form.querySelectorAll('input[name="recipients"]').forEach(function (box) {
        box.addEventListener('change', function () {
          if (box.checked) { pick.value = box.value; updatePreview(); }
        });
      });
      updatePreview();
    }

    var summary = document.getElementById('error-summary');
    if (summary) summary.focus();
  }

  var tally = document.querySelector('[data-stats-url]');
  if (tally && window.fetch) {
    var url = tally.getAttribute('data-stats-url');
    var nf = new Intl.NumberFormat();
    var refresh = function () {
      if (document.hidden) return;
      fetch(url, { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          var letters = tally.querySelector('[data-stat="letters"]');
          var sent = tally.querySelector('[data-stat="sent"]');
          var bar = tally.querySelector('progress');
          var label = tally.querySelector('[data-stat-label="letters"]');
          if (letters) letters.textContent = nf.format(s.letters);
          if (label) label.textContent = s.letters === 1 ? 'letter' : 'letters';
          if (sent) sent.textContent = nf.format(s.sent);
          if (bar) bar.value = Math.min(s.letters, s.goal);
        })
        .catch(function () { /* keep the last numbers */ });
    };
    setInterval(refresh, 15000);
  }
})();
