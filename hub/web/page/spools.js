// Spools on the dashboard's cards (docs/spools.md): the spool loaded in each printer as
// Spoolman last said (api/spools/loaded), a warning when it runs low, Spoolman's errors,
// and, for those who may act on the printer, a picker of Spoolman's spools (api/spools) to
// load another one (PUT api/printers/<name>/spools/<tool>). Nothing shows without Spoolman.
"use strict";

(() => {
  const { el, api } = fabfleet;
  const REFRESH = 15000; // ms between looks at the loaded spools
  let state = null; // the last api/spools/loaded answer
  const drawn = new Map(); // printer -> what its part shows (JSON), so unchanged parts stay

  function grams(value) {
    return value === null || value === undefined ? "unknown" : `${Math.round(value)} g`;
  }

  function card(name) {
    return document.querySelector(`.printer-card[data-printer="${CSS.escape(name)}"]`);
  }

  function partOf(holder) {
    let part = holder.querySelector(".printer-spool");
    if (!part) {
      part = el("div", { class: "printer-spool" });
      const body = holder.querySelector(".printer-body");
      body.insertBefore(part, body.querySelector(".printer-actions"));
    }
    return part;
  }

  function spoolLines(view) {
    const lines = [];
    if (!view.spools.length) {
      lines.push(el("p", { class: "spool-line muted" }, "No spool loaded"));
    }
    for (const spool of view.spools) {
      const tool = view.spools.length > 1 || spool.tool ? `T${spool.tool} ` : "";
      lines.push(el("p", { class: "spool-line", "data-tool": String(spool.tool) },
        el("span", { class: "muted" }, `${tool}Spool `),
        el("span", { class: "spool-name" }, spool.name),
        el("span", { class: "spool-left" }, ` · ${grams(spool.remaining_g)} left`)));
      if (spool.low) {
        lines.push(el("p", { class: "spool-low", role: "status" },
          `Low spool: ${grams(spool.remaining_g)} left (warning below ${state.low_grams} g)`));
      }
      if (spool.error) lines.push(el("p", { class: "spool-error error" }, spool.error));
    }
    for (const problem of view.problems) lines.push(el("p", { class: "spool-error error" }, problem));
    return lines;
  }

  async function fillPicker(select, current) {
    select.replaceChildren(el("option", { value: "" }, "Loading Spoolman's spools…"));
    select.disabled = true;
    try {
      const found = await api("GET", "api/spools");
      select.replaceChildren(el("option", { value: "" }, "None (unload)"),
        ...found.spools.map((spool) => el("option", { value: String(spool.id) },
          [spool.name, spool.material, `${grams(spool.remaining_g)} left`]
            .filter(Boolean).join(" · "))));
      select.value = current ? String(current) : "";
      select.disabled = false;
    } catch (error) {
      select.replaceChildren(el("option", { value: "" }, "Spoolman's spools are not available"));
      throw error;
    }
  }

  function picker(name, view, notice) {
    const current = view.spools.find((spool) => spool.tool === 0);
    const select = el("select", { class: "spool-choice", id: `spool-choice-${name}` });
    const load = el("button", { type: "button", class: "spool-load" }, "Load spool");
    const box = el("details", { class: "spool-change" },
      el("summary", {}, "Change spool"),
      el("div", { class: "spool-form" },
        el("label", { for: `spool-choice-${name}` }, `Spool in ${name}`), select, load));
    box.addEventListener("toggle", () => {
      if (!box.open) return;
      notice.textContent = "";
      fillPicker(select, current && current.spool_id).catch((error) => {
        notice.textContent = error.message;
      });
    });
    load.addEventListener("click", async () => {
      load.disabled = true;
      notice.textContent = "";
      try {
        const chosen = select.value ? Number(select.value) : null;
        await api("PUT", `api/printers/${encodeURIComponent(name)}/spools/0`, { spool_id: chosen });
        box.open = false;
        await refresh();
      } catch (error) {
        notice.textContent = error.message;
      } finally {
        load.disabled = false;
      }
    });
    return box;
  }

  function draw() {
    const views = state && state.enabled ? state.printers : [];
    const names = new Set(views.map((view) => view.printer));
    for (const part of document.querySelectorAll(".printer-spool")) {
      const holder = part.closest(".printer-card");
      if (!holder || !names.has(holder.dataset.printer)) {
        part.remove();
        if (holder) drawn.delete(holder.dataset.printer);
      }
    }
    for (const view of views) {
      const holder = card(view.printer);
      if (!holder) continue;
      const entry = fabfleet.dashboard.entries.get(view.printer);
      const mayAct = Boolean(entry && entry.may_act);
      const fresh = !holder.querySelector(".printer-spool");
      const part = partOf(holder);
      const key = JSON.stringify([view, mayAct, state.down, state.low_grams]);
      const open = part.querySelector(".spool-change[open]");
      if (!fresh && (drawn.get(view.printer) === key || open)) continue;
      drawn.set(view.printer, key);
      const notice = el("p", { class: "spool-notice error", role: "alert" });
      const down = state.down ? [el("p", { class: "spool-error error" }, state.down)] : [];
      part.replaceChildren(...spoolLines(view), ...down,
                           ...(mayAct ? [picker(view.printer, view, notice)] : []), notice);
    }
  }

  async function refresh() {
    try {
      state = await api("GET", "api/spools/loaded");
    } catch (error) {
      return; // the dashboard's own stream says when the hub is gone
    }
    draw();
  }

  fabfleet.dashboard.extend(() => {
    fabfleet.dashboard.listen((kind) => {
      if (kind === "snapshot") {
        if (state) draw();
        refresh();
      }
    });
    setInterval(() => {
      if (document.visibilityState === "visible") refresh();
    }, REFRESH);
  });
})();
