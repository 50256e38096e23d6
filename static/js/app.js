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

// Library: scenario order (views/library/scenarios.templ). The entries of
// a scenario's list (draggable [data-scenario-entry]) can be dragged with
// the mouse; the row under the pointer shows where the dragged one will
// land. On drop the list's hidden reorder form (named by the list's
// data-scenario-order) gets every entry id in the new order and is
// submitted, which htmx posts with the list's version and swaps. Without
// this script, or from the keyboard, the up/down buttons do the same.
(function () {
  "use strict";

  var dragged = null;
  var marked = null;

  function unmark() {
    if (marked) marked.classList.remove("is-drop-before", "is-drop-after");
    marked = null;
  }
  function rowAt(e) {
    var row = e.target.closest && e.target.closest("[data-scenario-entry]");
    return row && dragged && row.parentNode === dragged.parentNode ? row : null;
  }
  function below(row, e) {
    var r = row.getBoundingClientRect();
    return e.clientY > r.top + r.height / 2;
  }

  document.addEventListener("dragstart", function (e) {
    var row = e.target.closest && e.target.closest("[data-scenario-entry]");
    if (!row) return;
    dragged = row;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", row.getAttribute("data-scenario-entry"));
    row.classList.add("is-dragging");
  });
  document.addEventListener("dragover", function (e) {
    var row = rowAt(e);
    if (!row) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    unmark();
    if (row === dragged) return;
    marked = row;
    row.classList.add(below(row, e) ? "is-drop-after" : "is-drop-before");
  });
  document.addEventListener("drop", function (e) {
    var row = rowAt(e);
    if (!row) return;
    e.preventDefault();
    var list = dragged.parentNode;
    if (row !== dragged) list.insertBefore(dragged, below(row, e) ? row.nextSibling : row);
    var form = document.getElementById(list.getAttribute("data-scenario-order"));
    if (!form) return;
    var before = [];
    form.querySelectorAll('input[name="entry"]').forEach(function (input) {
      before.push(input.value);
      input.remove();
    });
    var after = [];
    list.querySelectorAll("[data-scenario-entry]").forEach(function (entry) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "entry";
      input.value = entry.getAttribute("data-scenario-entry");
      after.push(input.value);
      form.appendChild(input);
    });
    if (after.join() !== before.join()) form.requestSubmit();
  });
  document.addEventListener("dragend", function () {
    unmark();
    if (dragged) dragged.classList.remove("is-dragging");
    dragged = null;
  });
})();

// Live updates (handlers/events.go). <body data-live> names the page's
// event stream; EventSource reconnects by itself and sends the last id it
// got, so the server replays what was missed. Events carry ids only: what
// changed is fetched again through the ordinary pages, which check
// permissions again. Bursts are gathered for a moment and fetched once.
(function () {
  "use strict";

  var url = document.body && document.body.getAttribute("data-live");
  if (!url || !window.EventSource || !window.htmx) return;
  var match = /[?&]mission=([0-9a-f-]+)/.exec(url);
  var missionBase = match ? "/missions/" + match[1] : null;
  var pending = {};    // test id → "self" | "other"
  var whole = false;   // the whole list must be fetched again
  var missed = false;  // too much was missed to replay (reset)
  var timer = null;

  function get(path, target, extra) {
    // Each fetch is sourced on its own target: htmx queues requests per
    // source element (the body when none is given) and keeps only the last
    // one waiting, so the bell, the list and the figures would drop each
    // other.
    var ctx = { source: target, target: target, swap: "outerHTML" };
    if (extra) ctx.select = extra;
    htmx.ajax("GET", path, ctx);
  }
  function flush() {
    timer = null;
    var ids = Object.keys(pending);
    var list = document.getElementById("mission-tests");
    if (list) {
      var here = location.pathname + location.search;
      var full = whole || ids.length > 3 || ids.some(function (id) {
        return !document.getElementById("test-" + id);
      });
      if (full) {
        get(here, "#mission-tests");
      } else {
        ids.forEach(function (id) { get(here, "#test-" + id, "#test-" + id); });
      }
      if (missionBase && document.getElementById("mission-figures")) {
        get(missionBase + "/figures", "#mission-figures");
      }
    }
    var notice = document.querySelector("[data-live-test]");
    if (notice && (pending[notice.getAttribute("data-live-test")] === "other" || missed)) {
      notice.hidden = false;
    }
    pending = {};
    whole = false;
    missed = false;
  }
  function later() {
    if (!timer) timer = setTimeout(flush, 150);
  }
  function data(e) {
    try { return JSON.parse(e.data || "{}"); } catch (err) { return {}; }
  }

  var es = null;
  function open() {
    if (es) return;
    es = new EventSource(url);
    es.addEventListener("bell", function () {
      if (document.getElementById("bell")) get("/notifications/bell", "#bell");
    });
    es.addEventListener("test", function (e) {
      var d = data(e);
      if (!d.test) return;
      if (pending[d.test] !== "other") pending[d.test] = d.self ? "self" : "other";
      later();
    });
    ["plan", "mission", "members", "reset"].forEach(function (name) {
      es.addEventListener(name, function (e) {
        // A page's own plan or status change already shows; others' do not.
        if (name !== "reset" && data(e).self) return;
        whole = true;
        missed = missed || name === "reset";
        later();
      });
    });
    es.addEventListener("gone", function () {
      close();
      location.reload();
    });
  }
  function close() {
    if (es) es.close();
    es = null;
  }
  // The stream opens once the page has loaded, so that it never competes
  // with the page's own requests, and closes when the page goes (or into
  // the back/forward cache, from which it reopens and replays since the
  // page was rendered).
  if (document.readyState === "complete") {
    open();
  } else {
    window.addEventListener("load", open);
  }
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", function (e) { if (e.persisted) open(); });
})();

// Evidence upload (views/missiontest/evidence.templ). The form
// [data-evidence-upload] posts its files through htmx (multipart); this
// block only adds what a plain file input lacks:
// - files dropped on [data-evidence-drop] become the input's files;
// - one caption field per chosen file (named "caption", in the files'
//   order, labelled with data-caption-label and the file's name) replaces
//   the single caption field;
// - the <progress data-evidence-progress> follows htmx:xhr:progress while
//   the files are sent.
(function () {
  "use strict";

  function captions(input) {
    var form = input.closest("[data-evidence-upload]");
    var box = form && form.querySelector("[data-evidence-captions]");
    if (!box || !input.files || input.files.length === 0) return;
    var label = box.getAttribute("data-caption-label") || "";
    var kept = Array.prototype.map.call(box.querySelectorAll("input[name=caption]"), function (el) { return el.value; });
    box.textContent = "";
    Array.prototype.forEach.call(input.files, function (file, i) {
      var field = document.createElement("div");
      field.className = "field";
      var id = "evidence-caption-" + i;
      var l = document.createElement("label");
      l.htmlFor = id;
      l.textContent = label + " " + file.name;
      var c = document.createElement("input");
      c.type = "text";
      c.id = id;
      c.name = "caption";
      c.maxLength = 500;
      c.value = kept[i] || "";
      c.setAttribute("data-testid", "evidence-caption-input");
      field.appendChild(l);
      field.appendChild(c);
      box.appendChild(field);
    });
  }

  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-evidence-files]")) captions(e.target);
  });
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (e) {
      var zone = e.target.closest && e.target.closest("[data-evidence-drop]");
      if (!zone) return;
      e.preventDefault();
      zone.classList.add("is-dragover");
    });
  });
  document.addEventListener("dragleave", function (e) {
    var zone = e.target.closest && e.target.closest("[data-evidence-drop]");
    if (zone) zone.classList.remove("is-dragover");
  });
  document.addEventListener("drop", function (e) {
    var zone = e.target.closest && e.target.closest("[data-evidence-drop]");
    if (!zone) return;
    e.preventDefault();
    zone.classList.remove("is-dragover");
    var input = zone.querySelector("[data-evidence-files]");
    if (!input || !e.dataTransfer || e.dataTransfer.files.length === 0) return;
    input.files = e.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = e.target.closest && e.target.closest("[data-evidence-upload]");
    var bar = form && form.querySelector("[data-evidence-progress]");
    if (!bar || !e.detail.lengthComputable || !e.detail.total) return;
    bar.hidden = false;
    bar.value = Math.round((e.detail.loaded / e.detail.total) * 100);
  });
})();

// Unsaved changes (views/missiontest). A form marked data-unsaved holds
// text that only its own submission saves ("kept" when it shows refused
// input the server sent back, unsaved though untouched since). While one
// differs from what it was rendered with:
// - leaving the page asks first (beforeunload), unless it is that form
//   being submitted the plain way;
// - an htmx request that would swap it away without sending it (the test
//   page swaps its whole work block after every action) asks first, with
//   the question in data-unsaved-confirm; declined, nothing is sent and
//   the text stays. A form's own request sends its text: the server
//   saves it or sends it back.
(function () {
  "use strict";

  function defaultIndex(select) {
    var def = 0;
    Array.prototype.forEach.call(select.options, function (o, i) { if (o.defaultSelected) def = i; });
    return def;
  }
  function changed(form) {
    if (form.getAttribute("data-unsaved") === "kept") return true;
    return Array.prototype.some.call(form.elements, function (el) {
      switch (el.type) {
        case "checkbox":
        case "radio":
          return el.checked !== el.defaultChecked;
        case "select-one":
          return el.selectedIndex !== defaultIndex(el);
        case "select-multiple":
          return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
        case "hidden":
        case "file":
        case "submit":
        case "button":
        case "reset":
          return false;
        default:
          return typeof el.defaultValue === "string" && el.value !== el.defaultValue;
      }
    });
  }
  // unsaved lists the changed forms in (or being) region, except sent.
  function unsaved(region, sent) {
    var forms = Array.prototype.slice.call(region.querySelectorAll("form[data-unsaved]"));
    if (region.matches && region.matches("form[data-unsaved]")) forms.push(region);
    return forms.filter(function (f) { return f !== sent && changed(f); });
  }
  // violetUnsaved reports whether the page holds unsaved text (for tests
  // and for whoever needs to know before replacing the page).
  window.violetUnsaved = function () { return unsaved(document, null).length > 0; };

  var submitting = null;
  document.addEventListener("submit", function (e) {
    // htmx prevents the default of the submissions it sends itself.
    submitting = e.defaultPrevented ? null : e.target;
  });
  window.addEventListener("beforeunload", function (e) {
    if (unsaved(document, submitting).length === 0) return;
    e.preventDefault();
    e.returnValue = ""; // older browsers
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    var target = e.detail.target;
    if (!elt || !target) return;
    var sent = elt.form || (elt.closest && elt.closest("form"));
    if (unsaved(target, sent).length === 0) return;
    var holder = target.closest("[data-unsaved-confirm]") || document.querySelector("[data-unsaved-confirm]");
    var question = holder ? holder.getAttribute("data-unsaved-confirm") : "";
    if (!window.confirm(question)) e.preventDefault();
  });
})();

// Time zone (issue 18): a sign-in or an invitation form carries the
// browser's IANA zone in its hidden input[data-browser-zone], so that a
// new account starts in the zone its owner lives in. Filled when the form
// is sent (a delegated listener, so forms swapped in later count too);
// the server checks the name and keeps a zone already chosen.
(function () {
  "use strict";
  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (err) {
      return "";
    }
  }
  function fill(root) {
    var inputs = root.querySelectorAll ? root.querySelectorAll("input[data-browser-zone]") : [];
    for (var i = 0; i < inputs.length; i++) {
      if (!inputs[i].value) inputs[i].value = browserZone();
    }
  }
  document.addEventListener("submit", function (e) { fill(e.target); }, true);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { fill(document); });
  } else {
    fill(document);
  }
})();

// The smaller items of the working day (issue 18).
// 1. The evidence lightbox (views/missiontest/evidence.templ): a thumbnail
//    (a[data-lightbox-open], a link to the image, which works without
//    JavaScript) opens its section's dialog[data-lightbox-dialog] on the
//    image with its name and caption; ← → and the buttons move among the
//    section's images; Escape, the close button or a click on the
//    backdrop close it, and focus goes back to the thumbnail that opened
//    it. Listeners are delegated: htmx swaps the section whole.
// 2. Tick all / tick none per technique of the Navigator import preview
//    (views/missionpage/navigator_import.templ): the buttons are hidden
//    until this code shows them, since they need it.
(function () {
  "use strict";
  var state = null; // {dialog, links, index, opener} while a lightbox is open

  function show(i) {
    var n = state.links.length;
    state.index = (i + n) % n;
    var a = state.links[state.index], d = state.dialog;
    var img = d.querySelector("[data-lightbox-img]");
    img.src = a.getAttribute("href");
    img.alt = a.getAttribute("data-lightbox-name") || "";
    d.querySelector("[data-lightbox-name]").textContent = a.getAttribute("data-lightbox-name") || "";
    d.querySelector("[data-lightbox-caption]").textContent = a.getAttribute("data-lightbox-caption") || "";
    d.querySelector("[data-lightbox-count]").textContent = n > 1
      ? (d.getAttribute("data-position") || "{n}/{total}").replace("{n}", String(state.index + 1)).replace("{total}", String(n))
      : "";
    d.setAttribute("data-index", String(state.index));
    var prev = d.querySelector("[data-lightbox-prev]"), next = d.querySelector("[data-lightbox-next]");
    if (prev) prev.hidden = n < 2;
    if (next) next.hidden = n < 2;
  }

  function open(a) {
    var section = a.closest("section") || document;
    var dialog = section.querySelector("dialog[data-lightbox-dialog]");
    if (!dialog || typeof dialog.showModal !== "function") return false;
    var links = Array.prototype.slice.call(section.querySelectorAll("a[data-lightbox-open]"));
    state = { dialog: dialog, links: links, index: 0, opener: a };
    show(links.indexOf(a));
    dialog.showModal();
    var close = dialog.querySelector("[data-lightbox-close]");
    if (close) close.focus();
    return true;
  }

  document.addEventListener("click", function (e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    var a = e.target.closest && e.target.closest("a[data-lightbox-open]");
    if (a) {
      if (open(a)) e.preventDefault();
      return;
    }
    if (!state) return;
    var d = state.dialog;
    if (e.target === d) { d.close(); return; } // the backdrop
    if (e.target.closest("[data-lightbox-close]")) d.close();
    else if (e.target.closest("[data-lightbox-prev]")) show(state.index - 1);
    else if (e.target.closest("[data-lightbox-next]")) show(state.index + 1);
  });

  document.addEventListener("keydown", function (e) {
    // A live update may have swapped the evidence (and its dialog) out
    // while it was open: the arrows then belong to the page again.
    if (!state || !state.dialog.open || !document.contains(state.dialog)) { state = null; return; }
    if (e.key === "ArrowLeft") { e.preventDefault(); show(state.index - 1); }
    if (e.key === "ArrowRight") { e.preventDefault(); show(state.index + 1); }
  });

  // "close" does not bubble: listened to while it goes down (capture).
  // Escape closes the dialog natively and ends here too. The event comes
  // a task after the closing: a thumbnail clicked in between has opened
  // the dialog again, and that late event must not forget it.
  document.addEventListener("close", function (e) {
    if (!state || e.target !== state.dialog || state.dialog.open) return;
    var opener = state.opener;
    state = null;
    if (opener && document.contains(opener)) opener.focus();
  }, true);

  function showTickButtons(root) {
    var groups = root.querySelectorAll ? root.querySelectorAll("[data-tick-buttons]") : [];
    for (var i = 0; i < groups.length; i++) groups[i].hidden = false;
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-tick]");
    if (!b) return;
    var group = b.closest("[data-tick-group]");
    if (!group) return;
    var on = b.getAttribute("data-tick") === "all";
    var boxes = group.querySelectorAll('input[type="checkbox"]');
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].checked !== on) {
        boxes[i].checked = on;
        boxes[i].dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
  });
  document.addEventListener("htmx:load", function (e) { showTickButtons(e.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { showTickButtons(document); });
  } else {
    showTickButtons(document);
  }
})();

// Bulk selection on the mission overview (views/missionpage, issue 18):
// the header checkbox input[data-bulk-all] ticks or clears every
// input[data-bulk-item] of the list; the bulk bar form[data-bulk-bar]
// shows only while something is ticked, counts the selection in
// [data-bulk-count], and shows the fields of the chosen action
// ([data-bulk-for]). Delegated listeners, so lists swapped in by htmx work
// too; native checkboxes, so the keyboard works. Without JS the bar and
// all its fields stay visible.
(function () {
  "use strict";
  function refresh() {
    var bar = document.querySelector("form[data-bulk-bar]");
    var items = document.querySelectorAll("input[data-bulk-item]");
    var n = 0;
    for (var i = 0; i < items.length; i++) {
      if (items[i].checked) n++;
    }
    var all = document.querySelector("input[data-bulk-all]");
    if (all) {
      all.checked = items.length > 0 && n === items.length;
      all.indeterminate = n > 0 && n < items.length;
    }
    if (!bar) return;
    bar.hidden = n === 0;
    var count = bar.querySelector("[data-bulk-count]");
    if (count) count.textContent = String(n);
    var action = bar.querySelector("select[data-bulk-action]");
    var fields = bar.querySelectorAll("[data-bulk-for]");
    for (var j = 0; j < fields.length; j++) {
      fields[j].hidden = !!action && fields[j].getAttribute("data-bulk-for") !== action.value;
    }
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t || !t.matches) return;
    if (t.matches("input[data-bulk-all]")) {
      var items = document.querySelectorAll("input[data-bulk-item]");
      for (var i = 0; i < items.length; i++) items[i].checked = t.checked;
      refresh();
    } else if (t.matches("input[data-bulk-item], select[data-bulk-action]")) {
      refresh();
    }
  });
  document.addEventListener("htmx:afterSettle", refresh);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();

// Outcomes per tool (views/missiontest/outcomes.templ, issue 20). Saving
// one tool's outcome swaps only its row, so that what is typed in the
// other rows stays, and, out of band, the overall result, which carries
// the test's version before and after the save (data-saved-from/-to). The
// work block's other forms take the new version only when they were at
// the one the save found: then the save was the test's only change since
// they were shown. Otherwise they keep theirs, and their next save is
// refused as made on an older version (409 with what is saved), rather
// than overwriting someone else's change unseen.
(function () {
  "use strict";
  document.addEventListener("htmx:afterSettle", function () {
    var overall = document.getElementById("mission-test-overall");
    var work = document.getElementById("mission-test-work");
    if (!overall || !work || !overall.hasAttribute("data-saved-to")) return;
    var from = overall.getAttribute("data-saved-from"), to = overall.getAttribute("data-saved-to");
    overall.removeAttribute("data-saved-from");
    overall.removeAttribute("data-saved-to");
    if (from === to || work.getAttribute("data-version") !== from) return;
    work.setAttribute("data-version", to);
    var inputs = work.querySelectorAll('input[type="hidden"][name="version"]');
    for (var i = 0; i < inputs.length; i++) inputs[i].value = to;
  });
})();

// Expected rules per tool (views/expectedrules, issue 20): the template
// form's rows of (tool, rule name). Without this script the form shows
// the saved rows and one empty row, and a row emptied is dropped on save;
// with it, "Add a rule" appends a copy of the <template> row and each
// row's "Remove" takes it away (the buttons stay hidden until then).
(function () {
  "use strict";
  function reveal() {
    var buttons = document.querySelectorAll("[data-expected-rules] [data-expected-add], [data-expected-rows] [data-expected-remove]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t || !t.closest) return;
    var box = t.closest("[data-expected-rules]");
    if (!box) return;
    var rows = box.querySelector("[data-expected-rows]");
    var tpl = box.querySelector("template[data-expected-template]");
    if (!rows || !tpl) return;
    if (t.closest("[data-expected-add]")) {
      var row = tpl.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      reveal();
      var select = row.querySelector("select");
      if (select) select.focus();
    } else if (t.closest("[data-expected-remove]")) {
      var gone = t.closest("[data-expected-row]");
      if (gone) gone.remove();
      if (!rows.querySelector("[data-expected-row]")) {
        rows.appendChild(tpl.content.firstElementChild.cloneNode(true));
        reveal();
      }
    }
  });
  document.addEventListener("htmx:afterSettle", reveal);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();

// Single sign-on sign-out (views/auth/sso.templ): after Violet's session
// ended, go on to the identity provider's end-session link at once. A
// script, because a redirect from the sign-out form to another site is
// stopped by CSP's form-action 'self'; the link stays for browsers
// without script.
(function () {
  function follow() {
    var a = document.querySelector("a[data-follow]");
    if (a) window.location.assign(a.href);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", follow);
  } else {
    follow();
  }
})();

// Passkeys (internal/passkey; views/auth/login.templ, secondfactor.templ,
// views/account/security.templ). Each ceremony is two requests: the
// server's options (POST to data-begin, or to the add form's action with
// its fields: the password asked again), then the browser's answer (JSON
// in the form field "credential") to data-finish; the answer says where to go next. Binary fields
// travel as base64url (WebAuthn's JSON form). The requests are same-origin
// fetches: the browser sends Sec-Fetch-Site, which the server's
// cross-origin check reads, so no token is needed. Errors go to the
// block's live region. Without passkeys in the browser the blocks stay
// hidden.
(function () {
  function toBuffer(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toBase64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }
  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toBase64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) out.response.userHandle = toBase64url(r.userHandle);
    }
    return out;
  }
  function post(url, body, type) {
    var headers = { "Accept": "application/json" };
    if (type) headers["Content-Type"] = type;
    return fetch(url, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (data) {
          if (!res.ok) {
            var err = new Error(data.error || res.statusText);
            err.redirect = data.redirect;
            throw err;
          }
          return data;
        });
      });
  }
  function withNext(url, next) {
    return next ? url + "?next=" + encodeURIComponent(next) : url;
  }
  function run(el, status, begin) {
    var kind = el.getAttribute("data-passkey");
    status.textContent = "";
    begin().then(function (options) {
      return kind === "register"
        ? navigator.credentials.create(creationOptions(options))
        : navigator.credentials.get(requestOptions(options));
    }).then(function (cred) {
      var finish = withNext(el.getAttribute("data-finish"), kind === "register" ? "" : el.getAttribute("data-next"));
      // Sent as a form field: the server takes no JSON bodies (its text
      // check at the edge reads forms only).
      var body = new URLSearchParams();
      body.set("credential", JSON.stringify(credentialJSON(cred)));
      return post(finish, body, "application/x-www-form-urlencoded");
    }).then(function (data) {
      window.location.assign(data.redirect || el.getAttribute("data-next") || "/");
    }).catch(function (err) {
      if (err && err.redirect) { window.location.assign(err.redirect); return; }
      status.textContent = (err && err.message) || String(err);
    });
  }
  function setup() {
    var supported = !!window.PublicKeyCredential && !!navigator.credentials;
    document.querySelectorAll("[data-passkey]").forEach(function (el) {
      if (el.dataset.passkeyReady) return;
      el.dataset.passkeyReady = "1";
      var block = el.closest("[data-passkey-block]") || el;
      if (!supported) {
        var note = block.parentNode && block.parentNode.querySelector("[data-passkey-unsupported]");
        if (note) note.hidden = false;
        return;
      }
      block.hidden = false;
      var status = block.querySelector("[data-passkey-status]");
      if (el.tagName === "FORM") {
        el.addEventListener("submit", function (e) {
          e.preventDefault();
          run(el, status, function () {
            return post(el.action, new URLSearchParams(new FormData(el)), "application/x-www-form-urlencoded");
          });
        });
      } else {
        el.addEventListener("click", function () {
          run(el, status, function () { return post(el.getAttribute("data-begin"), null, null); });
        });
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();

// Confirmation of a plain form (views/admin/signin: deleting a sign-in
// provider): a form with data-confirm asks its question before it is
// sent; declined, nothing is sent.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var q = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) e.preventDefault();
  }, true);
})();
