// Keyward dashboard: the dialog, copy buttons, toasts and the tenant switcher.
// No inline script anywhere (the CSP forbids it); everything hangs off data attributes.
(function () {
  "use strict";

  // With JavaScript, things that need it (Copy buttons) show; without it they stay hidden.
  document.documentElement.classList.add("js");

  function dialog() { return document.getElementById("dialog"); }

  // The element that opened the dialog gets focus back when it closes.
  var opener = null;

  function focusables(root) {
    return Array.prototype.filter.call(
      root.querySelectorAll("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (e) { return !e.disabled && !e.hidden && e.type !== "hidden" && e.offsetParent !== null; });
  }

  // Focus the first field in error, else what the dialog's content asks for (the Copy
  // button of a new key), else its first field or button.
  function focusDialog() {
    var d = dialog();
    if (!d) return;
    // A form shown again beside its errors: the first field in error (issue 31 point 7).
    var invalid = focusables(d).filter(function (e) { return e.getAttribute("aria-invalid") === "true"; })[0];
    var target = invalid || d.querySelector("[data-autofocus]") || focusables(d)[0];
    if (target) target.focus();
  }

  function openDialog() {
    var d = dialog();
    if (!d) return;
    if (!d.open && typeof d.showModal === "function") {
      if (!opener) opener = document.activeElement;
      d.showModal();
    }
    focusDialog();
  }

  // Closing takes the content with it in the same task: the close event comes a task
  // later, and until then a shown key would stay in the page, hidden but readable.
  function closeDialog() {
    var d = dialog();
    if (!d || !d.open) return;
    d.close();
    clearDialogBody();
  }

  function clearDialogBody() {
    var body = document.getElementById("dialog-body");
    if (body) body.innerHTML = "";
  }

  // After the dialog: back to its opener, or, when that is gone (a deleted row), to the
  // page's first action or heading, so focus is never lost on <body>.
  function restoreFocus() {
    var back = opener;
    opener = null;
    if (back && back.isConnected && back !== document.body) { back.focus(); return; }
    focusFallback();
  }

  function focusFallback() {
    var main = document.getElementById("main");
    if (!main) return;
    var fallback = main.querySelector("[data-action^='create'], h1");
    if (fallback) {
      if (fallback.tagName === "H1") fallback.setAttribute("tabindex", "-1");
      fallback.focus();
    }
  }

  var SHOWN_ONCE = "Close the dialog? The key will not be shown again.";

  // However the dialog closes (button, Escape), its content goes: a shown key must not
  // linger in the page.
  function clearDialogOnClose() {
    var d = dialog();
    if (!d) return;
    d.addEventListener("close", function () {
      // The close event comes a task after the dialog closed: by then a swap may have
      // opened it again with new content (a slow page, a quick keyboard), which stays.
      if (d.open) return;
      clearDialogBody();
      // Lists refresh after the dialog closes; focus once they have.
      setTimeout(function () { if (!d.open) restoreFocus(); }, 0);
    });
    // Escape asks first while a shown-once key is on screen.
    d.addEventListener("cancel", function (event) {
      // Escape closes through closeDialog too, so the content goes at once.
      event.preventDefault();
      if (d.querySelector("[data-shown-once]") && !window.confirm(SHOWN_ONCE)) return;
      closeDialog();
    });
    // Tab and Shift+Tab cycle inside the dialog.
    d.addEventListener("keydown", function (event) {
      if (event.key !== "Tab") return;
      var items = focusables(d);
      if (!items.length) return;
      var first = items[0], last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    });
  }

  // Show or hide the date field of a create-key form with its expiration choice.
  function syncExpiration(root) {
    (root || document).querySelectorAll("select[data-shows-when-date]").forEach(function (select) {
      var target = document.querySelector(select.getAttribute("data-shows-when-date"));
      if (!target) return;
      target.hidden = select.value !== "date";
      // A hidden date is not sent, so it cannot contradict the chosen expiration.
      target.querySelectorAll("input").forEach(function (i) { i.disabled = target.hidden; });
      var form = select.form;
      var warning = form && form.querySelector("[data-shows-when-never]");
      if (warning) warning.hidden = select.value !== "never";
    });
  }

  // Content swapped into the dialog opens it.
  document.addEventListener("htmx:after:swap", function (event) {
    var target = event.detail && event.detail.ctx && event.detail.ctx.target;
    if (target && target.id === "dialog-body") openDialog();
    syncExpiration();
    // A swap that removed the focused element (the row of a deleted key) leaves focus
    // on <body>: put it somewhere useful.
    var d = dialog();
    if ((!d || !d.open) && (!document.activeElement || document.activeElement === document.body)) focusFallback();
  });

  // A form that asks for it closes the dialog once its request succeeded.
  document.addEventListener("htmx:after:request", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var source = ctx && ctx.sourceElement;
    var form = source && source.closest ? source.closest("form") : null;
    var ok = ctx && ctx.response && ctx.response.status < 400;
    if (ok && form && form.hasAttribute("data-close-dialog-on-success")) closeDialog();
    if (ctx && ctx.response && ctx.response.status === 401 && form && form.closest("#dialog")) keepDraft(form);
  });

  // A dialog's form sent after the session ended comes back, filled in, once its person
  // has signed in again and is back on the page (GitHub keeps a form through signing in
  // again). Only what was typed in visible fields is kept — never hidden fields (the CSRF
  // token, nonces), passwords or read-only values (keys, links) — in this tab's
  // sessionStorage, which signing out clears, until the dialog is open again.
  var DRAFT = "keyward:dialog-draft";
  var DRAFT_LIFETIME_MS = 60 * 60 * 1000;
  var dialogSource = null;
  var pendingDraft = null;

  function typedFields(form, withDisabled) {
    return Array.prototype.filter.call(form.elements, function (e) {
      return e.name && (withDisabled || !e.disabled) && !e.readOnly && !e.hasAttribute("data-secret") &&
        ["hidden", "password", "file", "submit", "button", "reset"].indexOf(e.type) < 0;
    });
  }

  function keepDraft(form) {
    if (!dialogSource || !form.id) return;
    var fields = typedFields(form).map(function (e) {
      return [e.name, e.value, e.type === "checkbox" || e.type === "radio" ? e.checked : null];
    });
    try {
      sessionStorage.setItem(DRAFT, JSON.stringify({
        page: location.pathname + location.search, dialog: dialogSource, form: form.id,
        fields: fields, at: Date.now(),
      }));
    } catch (e) { /* storage full or refused: nothing is kept */ }
  }

  function resumeDraft() {
    var draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null"); } catch (e) { draft = null; }
    if (!draft) return;
    if (!(Date.now() - draft.at < DRAFT_LIFETIME_MS)) { sessionStorage.removeItem(DRAFT); return; }
    if (draft.page !== location.pathname + location.search) return;
    var openerLink = Array.prototype.find.call(document.querySelectorAll("[hx-get]"), function (e) {
      return e.getAttribute("hx-get") === draft.dialog;
    });
    if (!openerLink) return;
    pendingDraft = draft;
    openerLink.focus();
    openerLink.click();
  }

  function refill(form, draft) {
    var byName = {};
    typedFields(form, true).forEach(function (e) { (byName[e.name] = byName[e.name] || []).push(e); });
    draft.fields.forEach(function (f) {
      (byName[f[0]] || []).forEach(function (e) {
        if (f[2] === null) { if (e.type !== "checkbox" && e.type !== "radio") e.value = f[1]; }
        else if (e.value === f[1]) e.checked = f[2];
      });
    });
    var note = document.createElement("p");
    note.id = "dialog-restored";
    note.className = "restored-note";
    note.setAttribute("role", "status");
    note.textContent = "Your session ended before this was sent. What you typed is back: check it and send it again.";
    form.insertBefore(note, form.firstChild);
    syncExpiration(form);
  }

  document.addEventListener("htmx:after:swap", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var target = ctx && ctx.target;
    if (!target || target.id !== "dialog-body") return;
    var source = ctx.sourceElement;
    if (source && source.getAttribute && source.getAttribute("hx-get")) dialogSource = source.getAttribute("hx-get");
    if (!pendingDraft) return;
    var form = document.getElementById(pendingDraft.form);
    if (form && form.closest("#dialog")) {
      refill(form, pendingDraft);
      sessionStorage.removeItem(DRAFT);
    }
    pendingDraft = null;
  });

  // A dialog's Done that loads a page (the invitation link's, so the pending list shows
  // it) gives focus back to the dialog's opener on the page it loads, as closing the
  // dialog does (issue 31 point 11).
  var FOCUS_AFTER_LOAD = "keyward:focus-after-load";

  function focusAfterLoad() {
    var id = null;
    try {
      id = sessionStorage.getItem(FOCUS_AFTER_LOAD);
      sessionStorage.removeItem(FOCUS_AFTER_LOAD);
    } catch (e) { id = null; }
    var target = id && document.getElementById(id);
    if (target) target.focus();
  }

  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target : event.target.parentElement;
    if (!el) return;
    var reload = el.closest("[data-loads-page]");
    if (reload && reload.closest("#dialog") && opener && opener.id) {
      try { sessionStorage.setItem(FOCUS_AFTER_LOAD, opener.id); } catch (e) { /* focus stays where the page puts it */ }
    }
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
    focusAfterLoad();
    // After htmx has wired the page up.
    setTimeout(resumeDraft, 0);
    // Flashes stay until dismissed or the next page (as GitHub's), so nothing moves under
    // the pointer; one added to a page scrolled down (an htmx error) is scrolled to.
    var toasts = document.getElementById("toasts");
    if (toasts) {
      new MutationObserver(function (changes) {
        changes.forEach(function (c) {
          c.addedNodes.forEach(function (n) {
            if (n.nodeType === 1 && n.getBoundingClientRect().top < 0) n.scrollIntoView({ block: "nearest" });
          });
        });
      }).observe(toasts, { childList: true });
    }
  });
})();
