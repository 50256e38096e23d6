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
