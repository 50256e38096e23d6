// Violet's own few lines of JavaScript. Pages work without it; it only adds
// dismissable toasts and copy buttons. No inline handlers: the CSP
// forbids them, so behaviour is attached here by delegation.
(function () {
  "use strict";

  // Toasts close on click and on their own after a while.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-dismiss]");
    if (btn) btn.closest(".toast").remove();
  });
  // A button with data-copy="<selector>" copies that field's value (an
  // invitation link) and says so with its data-copied label. Where the
  // clipboard API is missing (plain http) or refused, the older copy
  // command is tried; failing that, the text stays selected for Ctrl+C.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var field = document.querySelector(btn.getAttribute("data-copy"));
    if (!field) return;
    field.focus();
    field.select();
    var done = function () {
      if (btn.hasAttribute("data-copied")) btn.textContent = btn.getAttribute("data-copied");
    };
    var fallback = function () {
      try {
        if (document.execCommand("copy")) done();
      } catch (err) { /* the text stays selected */ }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, fallback);
    } else {
      fallback();
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var region = e.detail.target;
    if (region && region.id === "toasts" && region.lastElementChild) {
      var toast = region.lastElementChild;
      setTimeout(function () { toast.remove(); }, 8000);
    }
  });
})();

// ATT&CK matrix, search, picker (views/attack). "/" focuses the search box
// marked data-search, unless the user is already typing somewhere. In a
// picker, a ticked search result moves into the picker's selection, so the
// next search (which replaces the results) keeps it; without this script
// the ticked box still submits with the form.
(function () {
  "use strict";

  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    var box = document.querySelector("[data-search]");
    if (!box) return;
    e.preventDefault();
    box.focus();
    box.select();
  });
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (box.type !== "checkbox" || !box.checked || !box.closest("[data-picker-results]")) return;
    var picker = box.closest("[data-picker]");
    var selected = picker && picker.querySelector("[data-picker-selected]");
    if (!selected) return;
    selected.appendChild(box.closest("li"));
    box.focus();
  });
})();
