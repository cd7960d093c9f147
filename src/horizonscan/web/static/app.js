// horizonscan: small progressive enhancements. Every form works without this file; with it,
// curation happens without a page reload, filters apply on change, and long requests show that
// they are running. No inline handlers: the Content-Security-Policy allows scripts from files only.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function rootOf(form) {
    return form.closest("[data-curation-root]") || document.body;
  }

  function applyState(form, state) {
    const root = rootOf(form);
    const field = form.dataset.field;
    if (field === "note") {
      const target = root.querySelector("[data-note-target]");
      if (target) {
        const text = target.querySelector(".note-text");
        if (text) text.textContent = state.note || "";
        target.hidden = !state.note;
      }
      const status = form.querySelector(".status");
      if (status) status.textContent = state.note ? "Saved." : "Note removed.";
      const summary = form.closest("details") && form.closest("details").querySelector("summary");
      if (summary && !summary.closest(".compact")) summary.textContent = state.note ? "Edit note" : "Add note";
      return;
    }
    const on = Boolean(state[field]);
    const button = form.querySelector("button");
    const value = form.querySelector('input[name="value"]');
    if (value) value.value = on ? "0" : "1";
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? button.dataset.on : button.dataset.off;
    }
    const flag = { starred: "is-starred", hidden: "is-hidden", reviewed: "is-reviewed" }[field];
    if (flag && root !== document.body) root.classList.toggle(flag, on);
  }

  document.addEventListener("submit", async function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("js-curate")) return;
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      applyState(form, await response.json());
    } catch (err) {
      const status = form.querySelector(".status");
      if (status) status.textContent = "Not saved: reload the page and try again.";
      else form.submit();
    } finally {
      if (button) button.disabled = false;
    }
  });

  // Filters: apply as soon as a select or date changes.
  const filters = document.querySelector("form.filters");
  if (filters) {
    filters.addEventListener("change", function (event) {
      if (event.target instanceof HTMLSelectElement || event.target.type === "date") filters.submit();
    });
    const box = filters.closest("details");
    if (box && window.matchMedia("(max-width: 820px)").matches && box.dataset.active !== "yes") {
      box.open = false;
    }
  }

  // Forms that take a while (asking the corpus): say so, and block a second submit.
  document.querySelectorAll("button[data-busy]").forEach(function (button) {
    const form = button.form;
    if (!form) return;
    form.addEventListener("submit", function () {
      button.textContent = button.dataset.busy;
      window.setTimeout(function () { button.disabled = true; }, 0);
    });
  });
})();
