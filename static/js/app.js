// Violet's own few lines of JavaScript. Pages work without it; it only adds
// dismissable toasts. No inline handlers: the CSP
// forbids them, so behaviour is attached here by delegation.
(function () {
  "use strict";

  // Toasts close on click and on their own after a while.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-dismiss]");
    if (btn) btn.closest(".toast").remove();
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var region = e.detail.target;
    if (region && region.id === "toasts" && region.lastElementChild) {
      var toast = region.lastElementChild;
      setTimeout(function () { toast.remove(); }, 8000);
    }
  });
})();
