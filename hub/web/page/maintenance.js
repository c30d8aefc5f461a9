// The maintenance page: per printer its counters, its service tasks (state in words and
// colour) with "Mark done" for those who may act, and its service log (docs/maintenance.md).
"use strict";

(() => {
  const list = document.getElementById("maintenance-printers");
  const status = document.getElementById("maintenance-status");
  const STATES = { ok: "OK", due: "Due", overdue: "Overdue", unknown: "Unknown" };

  // The page's helpers: the API call with CSRF (a 401 goes to the login), elements, tables.
  const { api, el, tableBox } = fabfleet;

  function hours(seconds) {
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(seconds < 36000 ? 1 : 0)} h`;
  }

  // Millimetres as mm, m or km, whichever reads best.
  function length(mm) {
    if (mm < 1000) return `${Math.round(mm)} mm`;
    if (mm < 1e6) return `${(mm / 1000).toFixed(1)} m`;
    return `${(mm / 1e6).toFixed(2)} km`;
  }

  function when(unix) {
    return new Date(unix * 1000).toLocaleString();
  }

  function counters(printer) {
    const c = printer.counters;
    if (!c) {
      return el("p", { class: "muted" }, printer.error
        ? `Counters not read: ${printer.error}` : "Counters not read yet.");
    }
    const jobs = Object.entries(c.jobs).filter(([, n]) => n).map(([o, n]) => `${n} ${o}`).join(", ");
    const heaters = Object.entries(c.heater_on_seconds).map(([h, s]) => `${h} ${hours(s)}`).join(", ");
    const rows = [
      ["Print time", hours(c.print_seconds)],
      ["Filament", length(c.filament_mm)],
      ["Jobs", jobs || "none"],
      ["Travel", length(c.move_mm)],
      ["Heaters on", heaters || "none"],
      ["Read", when(c.at) + (printer.error ? ` (now unreachable: ${printer.error})` : "")],
    ];
    return el("dl", { class: "service-counters" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function doneForm(printer, task) {
    const note = el("input", { type: "text", name: "note", maxlength: "1000",
      "aria-label": `Note for ${task.task} on ${printer.name} (optional)`, placeholder: "Note (optional)" });
    const button = el("button", { type: "submit", class: "primary" }, "Mark done");
    button.setAttribute("aria-label", `Mark ${task.task} done on ${printer.name}`);
    return el("form", { class: "service-done", onsubmit: async (event) => {
      event.preventDefault();
      button.disabled = true;
      status.textContent = `Marking ${task.task} done on ${printer.name}…`;
      status.className = "status";
      try {
        const url = `api/printers/${encodeURIComponent(printer.name)}/maintenance/${encodeURIComponent(task.task)}/done`;
        await api("POST", url, note.value.trim() ? { note: note.value.trim() } : {});
        status.textContent = `${task.task} marked done on ${printer.name}.`;
        status.className = "status ok";
        await load();
      } catch (error) {
        status.textContent = `${task.task} on ${printer.name} was not marked done: ${error.message}`;
        status.className = "status bad";
        button.disabled = false;
      }
    } }, note, button);
  }

  function tasks(printer) {
    if (!printer.tasks.length) return el("p", { class: "muted" }, "No service tasks for this printer.");
    const head = el("tr", {}, el("th", { scope: "col" }, "Task"), el("th", { scope: "col" }, "State"),
      el("th", { scope: "col" }, "Use"), printer.may_act ? el("th", { scope: "col" }, "Done") : null);
    const rows = printer.tasks.map((task) => el("tr", { "data-task": task.task },
      el("td", {}, task.guide ? el("a", { href: task.guide, rel: "noopener" }, task.task) : task.task),
      el("td", {}, el("span", { class: `service-state ${task.state}` }, STATES[task.state] || task.state)),
      el("td", {}, task.sentence),
      printer.may_act ? el("td", {}, doneForm(printer, task)) : null));
    const table = el("table", { class: "service-tasks" },
      el("caption", { class: "visually-hidden" }, `Service tasks of ${printer.name}`),
      el("thead", {}, head), el("tbody", {}, rows));
    return tableBox(`Service tasks of ${printer.name}`, table);
  }

  function serviceLog(printer) {
    const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    const details = el("details", { class: "service-log" }, el("summary", {}, "Service log"), body);
    details.addEventListener("toggle", async () => {
      if (!details.open) return;
      try {
        const data = await api("GET", `api/printers/${encodeURIComponent(printer.name)}/maintenance/log`);
        if (!data.log.length) {
          body.replaceChildren(el("p", { class: "muted" }, "Nothing marked done yet."));
          return;
        }
        const rows = data.log.map((done) => el("tr", {}, el("td", {}, when(done.done_at)),
          el("td", {}, done.task), el("td", {}, done.done_by), el("td", {}, done.note || "")));
        body.replaceChildren(tableBox(`Service log of ${printer.name}`, el("table", {},
          el("thead", {}, el("tr", {}, ["When", "Task", "By", "Note"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows))));
      } catch (error) {
        body.replaceChildren(el("p", { class: "error" }, `The log could not be read: ${error.message}`));
      }
    });
    return details;
  }

  async function load() {
    const data = await api("GET", "api/maintenance");
    if (!data.printers.length) {
      list.replaceChildren(el("p", { class: "card" }, "No printers you may watch."));
      return;
    }
    list.replaceChildren(...data.printers.map((printer) => {
      const id = `printer-${printer.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      return el("section", { class: "card service-printer", "aria-labelledby": id, "data-printer": printer.name },
        el("h2", { id }, printer.name), counters(printer), tasks(printer), serviceLog(printer));
    }));
  }

  load().catch((error) => {
    status.textContent = `The maintenance list could not be read: ${error.message}`;
    status.className = "status bad";
  });
})();
