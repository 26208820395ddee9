/* PartnerHub portal behaviour: progressive enhancement only; every page works without it. */
(function () {
  "use strict";

  function copyText(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "✓";
      button.setAttribute("data-state", "copied");
      setTimeout(function () { button.textContent = label; button.removeAttribute("data-state"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else {
      fallback(text);
      done();
    }
  }

  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }

  function toggleDependents() {
    document.querySelectorAll("[data-show-when]").forEach(function (el) {
      var rule = el.getAttribute("data-show-when").split("=");
      var checked = document.querySelector('input[name="' + rule[0] + '"]:checked');
      el.hidden = !(checked && checked.value === rule[1]);
    });
  }

  function pollLive(el) {
    setTimeout(function () {
      fetch(el.getAttribute("data-poll"), { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 404 && el.getAttribute("data-gone")) {
            window.location.assign(el.getAttribute("data-gone"));
            return null;
          }
          return response.ok ? response.text() : "";
        })
        .then(function (html) {
          if (html === null) { return; }
          if (html) { el.innerHTML = html; }
          if (html && el.querySelector("[data-settled]")) {
            window.location.reload();  // the actions depend on the settled status
          } else {
            pollLive(el);
          }
        }, function () { pollLive(el); });
    }, 1000);
  }

  // Set-up pages: a phone-number select offers only the numbers of the chosen location.
  function followLocation(select) {
    var source = document.getElementById(select.getAttribute("data-numbers-for"));
    if (!source) { return; }
    var apply = function () {
      select.querySelectorAll("optgroup[data-location]").forEach(function (group) {
        var match = group.getAttribute("data-location") === source.value;
        group.hidden = !match;
        group.disabled = !match;
      });
      var current = select.options[select.selectedIndex];
      if (current && current.parentNode && current.parentNode.disabled) { select.value = ""; }
    };
    source.addEventListener("change", apply);
    apply();
  }

  // Assign numbers: a number chosen in one row is not offered in the other rows.
  function excludeChosen(form) {
    var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-numbers-for]"));
    var apply = function () {
      selects.forEach(function (select) {
        var taken = {};
        selects.forEach(function (other) {
          if (other !== select && other.value) { taken[other.value] = true; }
        });
        Array.prototype.forEach.call(select.options, function (option) {
          if (option.value) { option.disabled = !!taken[option.value]; }
        });
      });
    };
    selects.forEach(function (select) { select.addEventListener("change", apply); });
    form.querySelectorAll("select[id^='location-']").forEach(function (s) {
      s.addEventListener("change", function () { setTimeout(apply, 0); });
    });
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.querySelector(button.getAttribute("data-copy"));
        if (source) { copyText(source.textContent.trim(), button); }
      });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    document.querySelectorAll('input[type="radio"]').forEach(function (radio) {
      radio.addEventListener("change", toggleDependents);
    });
    toggleDependents();
    var invalid = document.querySelector('[aria-invalid="true"]');
    if (invalid) { invalid.focus(); }
    // Single sign-on hand-offs (sso/): go on to the identity provider without a click.
    var follow = document.querySelector("a[data-autofollow]");
    if (follow) { window.location.assign(follow.href); }
    var autopost = document.querySelector("form[data-autopost]");
    if (autopost) { autopost.submit(); }
    // Customer pages: refresh the live part while the customer is being provisioned.
    document.querySelectorAll("[data-poll]").forEach(function (el) { pollLive(el); });
    document.querySelectorAll("select[data-numbers-for]").forEach(followLocation);
    document.querySelectorAll("form#assign-numbers").forEach(excludeChosen);
  });
})();
