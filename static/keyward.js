// Keyward dashboard: the dialog, copy buttons, toasts and the tenant switcher.
// No inline script anywhere (the CSP forbids it); everything hangs off data attributes.
(function () {
  "use strict";

  function dialog() { return document.getElementById("dialog"); }

  function openDialog() {
    var d = dialog();
    if (d && !d.open && typeof d.showModal === "function") d.showModal();
  }

  function closeDialog() {
    var d = dialog();
    if (d && d.open) d.close();
  }

  // However the dialog closes (button, Escape), its content goes: a shown key must not
  // linger in the page.
  function clearDialogOnClose() {
    var d = dialog();
    if (!d) return;
    d.addEventListener("close", function () {
      var body = document.getElementById("dialog-body");
      if (body) body.innerHTML = "";
    });
  }

  // Show or hide the date field of a create-key form with its expiration choice.
  function syncExpiration(root) {
    (root || document).querySelectorAll("select[data-shows-when-date]").forEach(function (select) {
      var target = document.querySelector(select.getAttribute("data-shows-when-date"));
      if (target) target.hidden = select.value !== "date";
    });
  }

  // Content swapped into the dialog opens it.
  document.addEventListener("htmx:after:swap", function (event) {
    var target = event.detail && event.detail.ctx && event.detail.ctx.target;
    if (target && target.id === "dialog-body") openDialog();
    syncExpiration();
  });

  // A form that asks for it closes the dialog once its request succeeded.
  document.addEventListener("htmx:after:request", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var source = ctx && ctx.sourceElement;
    var form = source && source.closest ? source.closest("form") : null;
    var ok = ctx && ctx.response && ctx.response.status < 400;
    if (ok && form && form.hasAttribute("data-close-dialog-on-success")) closeDialog();
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target : event.target.parentElement;
    if (!el) return;
    var closer = el.closest("[data-close-dialog]");
    if (closer && closer.closest("#dialog")) {
      event.preventDefault();
      closeDialog();
      return;
    }
    var copy = el.closest("[data-copy]");
    if (copy) {
      var input = document.querySelector(copy.getAttribute("data-copy"));
      if (!input) return;
      var done = function () { copy.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
      } else {
        input.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
      }
      return;
    }
    var dismiss = el.closest("[data-dismiss-toast]");
    if (dismiss) {
      var toast = dismiss.closest(".toast");
      if (toast) toast.remove();
    }
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) el.form.requestSubmit();
    if (el.matches && el.matches("select[data-shows-when-date]")) syncExpiration();
  });

  document.addEventListener("DOMContentLoaded", function () {
    clearDialogOnClose();
    document.querySelectorAll("[data-autosubmit-button]").forEach(function (b) { b.hidden = true; });
    syncExpiration();
    // Success toasts fade after a while; errors stay until dismissed.
    setInterval(function () {
      document.querySelectorAll('.toast[data-toast="success"]').forEach(function (t) {
        var age = Number(t.getAttribute("data-age") || 0) + 1;
        if (age > 8) t.remove(); else t.setAttribute("data-age", String(age));
      });
    }, 1000);
  });
})();
