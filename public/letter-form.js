// Campaign page enhancements. The form works without this script; with it, the recipients follow
// the chosen country, the letter's language can be switched in place, the signature and the
// per-recipient previews follow the form, a counter shows the letter's length, and the letter
// count refreshes itself.
(function () {
  'use strict';
  var form = document.querySelector('.letter-form');
  if (form) {
    var settings = JSON.parse(form.getAttribute('data-settings'));
    var counterText = JSON.parse(form.getAttribute('data-counter'));
    var first = form.querySelector('#firstName');
    var last = form.querySelector('#lastName');
    var country = form.querySelector('#country');
    var subject = form.querySelector('#subject');
    var body = form.querySelector('#body');
    var langSelect = form.querySelector('#letterLanguage');
    var langInput = form.querySelector('[name="letterLanguage"]');
    var signName = form.querySelector('[data-sign="name"]');
    var signCountry = form.querySelector('[data-sign="country"]');
    var signClosing = form.querySelector('[data-sign="closing"]');
    var note = form.querySelector('.letter-note');
    var fill = function (template, values) {
      return template.replace(/\{(\w+)\}/g, function (m, k) {
        return Object.prototype.hasOwnProperty.call(values, k) ? values[k] : m;
      });
    };
    form.querySelectorAll('.no-js-only').forEach(function (el) {
      el.hidden = true;
    });

    var letterLang = function () {
      return langInput ? langInput.value : document.documentElement.lang;
    };
    var current = function () {
      return settings[letterLang()] || settings[Object.keys(settings)[0]];
    };
    var regionName = function (code, lang) {
      try {
        return new Intl.DisplayNames([lang], { type: 'region' }).of(code);
      } catch (e) {
        return country.options[country.selectedIndex].text;
      }
    };
    var writer = function () {
      return [first.value.trim(), last.value.trim()].filter(Boolean).join(' ') || current().yourName;
    };
    var from = function () {
      return country.value ? regionName(country.value, letterLang()) : current().yourCountry;
    };

    // Recipients: the officials, plus the embassy in the supporter's country when there is one.
    var yourList = form.querySelector('[data-list="your-country"]');
    var otherList = form.querySelector('[data-list="others"]');
    var touched = false;
    form.querySelectorAll('input[name="recipients"]').forEach(function (box) {
      box.addEventListener('change', function () {
        touched = true;
        updatePreviews();
      });
    });
    var routeCountry = function () {
      if (!yourList || !otherList) return;
      var code = country.value;
      Array.prototype.slice.call(yourList.children).forEach(function (li) {
        otherList.appendChild(li);
        if (!touched) li.querySelector('input').checked = false;
      });
      var mine = Array.prototype.filter.call(otherList.children, function (li) {
        return li.getAttribute('data-country') === code;
      });
      mine.forEach(function (li) {
        yourList.appendChild(li);
        if (!touched) li.querySelector('input').checked = true;
      });
      form.querySelector('.your-embassy').hidden = mine.length === 0;
      var none = form.querySelector('[data-when="no-embassy"]');
      none.hidden = !code || mine.length > 0;
      if (code) none.textContent = fill(form.getAttribute('data-no-embassy'), { country: country.options[country.selectedIndex].text });
      form.querySelector('[data-when="no-country"]').hidden = !!code;
    };

    var updateSignature = function () {
      signName.textContent = writer();
      signCountry.textContent = from();
      signClosing.textContent = current().closing;
    };

    // The preview: each chosen recipient with the salutation their copy opens with, then the shared letter.
    var preview = document.getElementById('preview');
    var list = form.querySelector('[data-preview-list]');
    var none = form.querySelector('[data-preview-none]');
    var tpl = document.getElementById('preview-template');
    var template = tpl ? tpl.content.querySelector('li') : null;
    var updatePreviews = function () {
      if (!list || !template) return;
      var s = current();
      var lang = letterLang();
      var text = body.value
        .replace(/\r\n?/g, '\n')
        .replace(/[ \t]+$/gm, '')
        .replace(/\n{3,}/g, '\n\n')
        .trim();
      var who = writer();
      var where = from();
      var show = function (name, value) {
        var el = preview.querySelector('[data-preview="' + name + '"]');
        if (el) {
          el.textContent = value;
          el.setAttribute('lang', lang);
        }
      };
      var chosen = Array.prototype.filter.call(form.querySelectorAll('input[name="recipients"]'), function (b) {
        return b.checked;
      });
      none.hidden = chosen.length > 0;
      list.textContent = '';
      chosen.forEach(function (box) {
        var item = template.cloneNode(true);
        var salutations = JSON.parse(box.getAttribute('data-salutations'));
        item.setAttribute('data-target', box.value);
        item.querySelector('[data-preview="to"]').textContent = box.getAttribute('data-to');
        var q = item.querySelector('[data-preview="salutation"]');
        q.textContent = (salutations[lang] || '') + s.salutationEnd;
        q.setAttribute('lang', lang);
        list.appendChild(item);
      });
      show('from', fill(s.from, { writer: who }));
      show('subject', subject.value);
      show('text', text + '\n\n' + s.closing + '\n' + who + '\n' + where);
      show('footer', fill(s.footer, { writer: who, country: where }));
    };

    // The letter's language: swap in the prefilled letter of that language unless the supporter edited it.
    var prefilled = { edited: form.getAttribute('data-prefilled') !== 'yes' };
    [subject, body].forEach(function (el) {
      el.addEventListener('input', function () {
        prefilled.edited = true;
      });
    });
    if (langSelect) {
      langSelect.addEventListener('change', function () {
        var lang = langSelect.value;
        [subject, body].forEach(function (el) {
          el.setAttribute('lang', lang);
        });
        if (prefilled.edited || !window.fetch) {
          if (prefilled.edited && note) note.textContent = note.getAttribute('data-kept') || '';
          refresh();
          return;
        }
        fetch(form.getAttribute('data-letter-url') + encodeURIComponent(lang) + '.json', { headers: { Accept: 'application/json' } })
          .then(function (r) {
            return r.ok ? r.json() : null;
          })
          .then(function (letter) {
            if (letter && !prefilled.edited) {
              subject.value = letter.subject;
              body.value = letter.body;
              if (note) note.textContent = '';
            }
            refresh();
          })
          .catch(refresh);
      });
    }

    var max = Number(body.getAttribute('data-max'));
    var counter = form.querySelector('#body-count');
    var fmt = new Intl.NumberFormat(document.documentElement.lang);
    var lastBand = -1;
    var updateCounter = function () {
      var used = body.value.replace(/\r\n?/g, '\n').length;
      var left = max - used;
      counter.textContent = fill(left < 0 ? counterText.over : counterText.normal, { used: fmt.format(used), max: fmt.format(max), over: fmt.format(-left) });
      counter.classList.toggle('over', left < 0);
      // Announce to screen readers only when crossing 90% and 100%, not on every key.
      var band = left < 0 ? 2 : used > max * 0.9 ? 1 : 0;
      counter.setAttribute('aria-live', band !== lastBand && lastBand !== -1 ? 'polite' : 'off');
      lastBand = band;
    };

    var refresh = function () {
      updateSignature();
      updatePreviews();
      updateCounter();
    };
    [first, last, subject, body].forEach(function (el) {
      el.addEventListener('input', refresh);
    });
    country.addEventListener('change', function () {
      routeCountry();
      refresh();
    });
    refresh();

    var summary = document.getElementById('error-summary');
    if (summary) summary.focus();
  }

  var tally = document.querySelector('[data-stats-url]');
  if (tally && window.fetch) {
    var url = tally.getAttribute('data-stats-url');
    var nf = new Intl.NumberFormat(document.documentElement.lang);
    var refreshTally = function () {
      if (document.hidden) return;
      fetch(url, { headers: { Accept: 'application/json' } })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (s) {
          if (!s) return;
          var letters = tally.querySelector('[data-stat="letters"]');
          var sent = tally.querySelector('[data-stat="sent"]');
          var bar = tally.querySelector('progress');
          if (letters) letters.textContent = nf.format(s.letters);
          if (sent) sent.textContent = nf.format(s.sent);
          if (bar) bar.value = Math.min(s.letters, s.goal);
        })
        .catch(function () {
          /* keep the last numbers */
        });
    };
    setInterval(refreshTally, 15000);
  }
})();
