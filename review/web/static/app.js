// occ-insights review workspace: keyboard navigation and small layout touches. No inline scripts (CSP).
(function () {
  "use strict";

  function applyWidths(root) {
    root.querySelectorAll(".bar[data-width]").forEach(function (el) { el.style.width = el.dataset.width + "%"; });
    root.querySelectorAll(".spark[data-height]").forEach(function (el) {
      el.style.height = Math.max(2, Math.round(Number(el.dataset.height) / 5)) + "px";
    });
  }

  function editable(target) {
    return target && (target.tagName === "INPUT" && !["checkbox", "radio"].includes(target.type) ||
      target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
  }

  // CSRF header for htmx requests that change state (forms also carry the token as a field).
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.dataset.csrf;
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });
  document.addEventListener("htmx:afterSwap", function (event) { applyWidths(event.target); });
  // Inside [data-swap-errors] (the Accounts page) a refused change answers with the item as it now is and why
  // (409 conflict, 422 invalid, 503 file not writable): show that instead of dropping the answer.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var source = event.detail.elt || event.target;
    if ([409, 422, 503].includes(status) && source && source.closest && source.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Gap board: j / k move the selection, Enter opens it.
  function boardKeys(event) {
    var rows = Array.from(document.querySelectorAll("tr.gap-row"));
    if (!rows.length || editable(event.target)) { return; }
    var current = rows.findIndex(function (row) { return row.classList.contains("selected"); });
    if (event.key === "j" || event.key === "k") {
      var next = current < 0 ? 0 : current + (event.key === "j" ? 1 : -1);
      next = Math.max(0, Math.min(rows.length - 1, next));
      rows.forEach(function (row) { row.classList.remove("selected"); });
      rows[next].classList.add("selected");
      rows[next].focus();
      event.preventDefault();
    } else if (event.key === "Enter" && current >= 0) {
      window.location.href = rows[current].dataset.href;
      event.preventDefault();
    }
  }

  // Annotation: 1-9 pick a label of the active task, arrows / Tab move between tasks, Enter submits, S skips.
  function annotationKeys(event) {
    var form = document.getElementById("annotation-form");
    if (!form || (editable(event.target) && event.target.type !== "checkbox" && event.target.type !== "radio")) { return; }
    var tasks = Array.from(form.querySelectorAll("fieldset.task"));
    var active = tasks.findIndex(function (t) { return t.classList.contains("active"); });
    function activate(i) {
      tasks.forEach(function (t) { t.classList.remove("active"); });
      tasks[i].classList.add("active");
    }
    if (/^[1-9]$/.test(event.key)) {
      var inputs = tasks[active].querySelectorAll("input");
      var input = inputs[Number(event.key) - 1];
      if (input) {
        if (input.type === "radio") {
          input.checked = true;
          if (active < tasks.length - 1) { activate(active + 1); }
        } else { input.checked = !input.checked; }
      }
      event.preventDefault();
    } else if (event.key === "ArrowDown" || (event.key === "Tab" && !event.shiftKey)) {
      activate(Math.min(tasks.length - 1, active + 1)); event.preventDefault();
    } else if (event.key === "ArrowUp" || (event.key === "Tab" && event.shiftKey)) {
      activate(Math.max(0, active - 1)); event.preventDefault();
    } else if (event.key === "Enter") {
      form.requestSubmit(document.getElementById("submit-annotation")); event.preventDefault();
    } else if (event.key === "s" || event.key === "S") {
      form.requestSubmit(document.getElementById("skip-annotation")); event.preventDefault();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    applyWidths(document);
    document.querySelectorAll("fieldset.task").forEach(function (fieldset, index, all) {
      fieldset.addEventListener("click", function () {
        all.forEach(function (t) { t.classList.remove("active"); });
        fieldset.classList.add("active");
      });
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (document.getElementById("annotation-form")) { annotationKeys(event); } else { boardKeys(event); }
  });
}());
