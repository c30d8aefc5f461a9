// The fleet queue: submit a G-code file (copies, target, priority, tags), watch the
// entries go to printers, reorder, cancel and requeue them; why each waiting entry waits and
// why each printer takes no work (waiting_reasons, printers). API: docs/hub.md.
"use strict";

(() => {
  const { api, el } = fabfleet;
  const REFRESH_MS = 2000;
  const OPEN = ["queued", "sent", "printing"];
  let body = null;
  let me = null;
  let timer = null;
  let form = null;
  let table = null;
  let message = null;
  let printersTable = null;
  let allowed = [];

  function sentence(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
  }

  // "printer:demo-1" → "demo-1", "group:lab" → "group lab", "fleet" → "any printer";
  // required tags: "any printer tagged pla".
  function targetText(target, tags) {
    const tagged = tags && tags.length ? ` tagged ${tags.join(", ")}` : "";
    if (target === "fleet") return `any printer${tagged}`;
    const [kind, ...rest] = target.split(":");
    const name = rest.join(":");
    if (kind === "group") return `group ${name}${tagged ? ` (printers${tagged})` : ""}`;
    return `${name}${tagged ? ` (${tagged.trim()})` : ""}`;
  }

  function bedClearButton(printer) {
    return el("button", {
      type: "button", class: "primary", "data-action": "bed clear", "data-printer": printer,
      title: `Confirm ${printer}'s bed is clear: it takes the next job`,
      onclick: () => act("POST", `api/printers/${encodeURIComponent(printer)}/bed-clear`),
    }, `Bed clear on ${printer}`);
  }

  // The dispatch check's item an admin may let pass for one entry, by reason code.
  const OVERRIDE = { heating_budget: "heat", power: "power", spool: "spool",
    maintenance: "maintenance", no_printer_fits: "profile" };

  function overrideButton(entry, code) {
    const item = OVERRIDE[code];
    if (!item || me.role !== "admin" || (entry.overrides || {})[item]) return [];
    return [el("button", {
      type: "button", "data-action": "override", "data-item": item,
      title: `Let the ${item} check pass for this entry only (recorded in the audit log)`,
      onclick: () => act("POST", `api/queue/${entry.id}/override`, { item }),
    }, `Override ${item}`)];
  }

  // Why a waiting entry waits: the summary, then the printers' reasons grouped by kind; a
  // bed-clear button for each printer whose bed waits, where the user may act on it; for an
  // admin, an override button on each item of the dispatch check that may be overridden.
  function why(entry) {
    const reasons = entry.waiting_reasons || [];
    if (entry.state !== "queued" || !reasons.length) return entry.reason || "";
    const lines = reasons.filter((r) => !r.printer).map((r) => el("li", { "data-code": r.code },
      r.text, " ", ...overrideButton(entry, r.code)));
    const given = Object.entries(entry.overrides || {});
    if (given.length) {
      lines.push(el("li", { "data-code": "overridden" },
        `Overridden: ${given.map(([item, by]) => `${item} by ${by}`).join(", ")}`));
    }
    const byCode = new Map();
    for (const r of reasons.filter((found) => found.printer)) {
      if (!byCode.has(r.code)) byCode.set(r.code, []);
      byCode.get(r.code).push(r);
    }
    for (const [code, found] of byCode) {
      if (code === "bed_not_clear") {
        lines.push(el("li", { "data-code": code },
          `Bed not confirmed clear: ${found.map((r) => r.printer).join(", ")}`,
          el("span", { class: "queue-bed-buttons" },
             found.filter((r) => r.may_act).map((r) => bedClearButton(r.printer)))));
      } else {
        lines.push(el("li", { "data-code": code }, found.map((r) => r.text).join("; "), " ",
          ...overrideButton(entry, code)));
      }
    }
    return el("ul", { class: "queue-why" }, lines);
  }

  function when(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";
  }

  function minutes(seconds) {
    if (!seconds) return "";
    const m = Math.round(seconds / 60);
    return m >= 60 ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min` : `${m} min`;
  }

  function say(text, isError) {
    message.replaceChildren();
    if (!text) return;
    const lines = Array.isArray(text) ? text : [text];
    message.className = isError ? "queue-message error" : "queue-message muted";
    message.append(el("div", {}, lines[0]));
    if (lines.length > 1) message.append(el("ul", {}, lines.slice(1).map((l) => el("li", {}, l))));
  }

  async function act(method, url, bodyJson) {
    try {
      await api(method, url, bodyJson);
      say("");
    } catch (error) {
      say(error.message, true);
    }
    refresh();
  }

  function buttons(entry) {
    const mayAct = me.role === "admin" || (me.role === "operator" && allowed.includes(entry.target));
    if (!mayAct) return [];
    const id = entry.id;
    const found = [];
    const button = (label, title, onclick) => el("button", { type: "button", title, onclick,
      "data-action": label.toLowerCase() }, label);
    if (entry.state === "queued") {
      found.push(button("Top", "First in the queue",
        () => act("PATCH", `api/queue/${id}`, { position: "top" })));
      found.push(button("Up", "One place up",
        () => act("PATCH", `api/queue/${id}`, { position: "up" })));
      found.push(button("Down", "One place down",
        () => act("PATCH", `api/queue/${id}`, { position: "down" })));
    }
    if (OPEN.includes(entry.state) || entry.state === "failed" || entry.state === "interrupted") {
      found.push(button("Cancel", entry.state === "queued" ? "Take it out of the queue"
        : entry.state === "printing" || entry.state === "sent" ? "Cancel the print on its printer"
          : "Take it out of the list", () => {
        if (entry.state === "queued" || confirm(`Cancel ${entry.file.name} on ${entry.printer || "its printer"}?`)) {
          act("DELETE", `api/queue/${id}`);
        }
      }));
    }
    if (entry.state === "failed" || entry.state === "interrupted") {
      found.push(button("Requeue", "Put it back in the queue (clear the bed first)",
        () => act("POST", `api/queue/${id}/requeue`)));
    }
    return found;
  }

  function rowButtons(entry) {
    const found = buttons(entry);
    // The bed of the printer this print ended on waits for a person: only one who may act on it.
    if (entry.bed_waiting && entry.printer && entry.printer_may_act) {
      found.push(bedClearButton(entry.printer));
    }
    return found;
  }

  function row(entry) {
    const file = entry.file;
    const facts = [file.material, file.nozzle ? `${file.nozzle} mm` : null,
      minutes(file.estimated_seconds)].filter(Boolean).join(" · ");
    const cell = (label, attributes, ...content) => el("td", { "data-label": label, ...attributes },
                                                      ...content);
    return el("tr", { "data-entry": String(entry.id), "data-state": entry.state },
      cell("File", {}, el("div", {}, file.name), facts ? el("div", { class: "muted" }, facts) : null),
      cell("Copy", {}, `${entry.copy}/${entry.copies}`),
      cell("Target", { class: "queue-target", "data-target": entry.target },
           targetText(entry.target, entry.tags)),
      cell("Priority", {}, String(entry.priority)),
      cell("State", {}, el("span", { class: `queue-state queue-${entry.state}` }, sentence(entry.state))),
      cell("Printer", { "data-printer": entry.printer || "" }, entry.printer || "–"),
      cell("Submitted by", {}, entry.submitted_by, el("div", { class: "muted" }, when(entry.submitted_at))),
      cell("Why", { class: "queue-reason" }, why(entry)),
      cell("", { class: "queue-actions" }, rowButtons(entry)));
  }

  function printerRow(printer) {
    return el("tr", { "data-printer": printer.name, "data-code": printer.code },
      el("td", {}, printer.name),
      el("td", {}, sentence(printer.state)),
      el("td", { class: printer.taking_work ? "" : "queue-reason" }, printer.reason,
         printer.code === "bed_not_clear" && printer.may_act ? [" ", bedClearButton(printer.name)] : null));
  }

  function render(data) {
    allowed = data.targets;
    const select = form.elements.target;
    const chosen = select.value;
    if (select.options.length !== allowed.length) {
      select.replaceChildren(...allowed.map((t) => el("option", { value: t },
        t.startsWith("printer:") ? targetText(t) : sentence(targetText(t)))));
      if (allowed.includes(chosen)) select.value = chosen;
    }
    form.hidden = me.role === "viewer" || allowed.length === 0;
    const rows = data.entries.map(row);
    table.querySelector("tbody").replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: "9", class: "muted" }, "The queue is empty."))]));
    const printers = (data.printers || []).map(printerRow);
    printersTable.querySelector("tbody").replaceChildren(...(printers.length ? printers
      : [el("tr", {}, el("td", { colspan: "3", class: "muted" }, "No printers to show."))]));
  }

  async function refresh() {
    try {
      render(await api("GET", "api/queue"));
    } catch (error) {
      say(error.message, true);
    }
  }

  async function submit(event) {
    event.preventDefault();
    const data = new FormData(form);
    const file = form.elements.file.files[0];
    if (!file) {
      say("Choose a G-code file first.", true);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(`Uploading ${file.name}…`);
    try {
      const headers = { "X-CSRF-Token": fabfleet.cookie("fabfleet_csrf") };
      const answer = await fetch("api/queue", { method: "POST", body: data, headers,
        credentials: "same-origin" });
      const result = await answer.json();
      if (!answer.ok) {
        say([result.error, ...(result.reasons || [])], true);
      } else {
        say(`Queued ${result.entries.length} × ${file.name}.`);
        form.elements.file.value = "";
      }
    } catch (error) {
      say(error.message, true);
    } finally {
      button.disabled = false;
    }
    refresh();
  }

  function build() {
    form = el("form", { class: "card queue-form", hidden: true },
      el("label", {}, "G-code file ", el("input", { type: "file", name: "file", accept: ".gcode,.gco,.g", required: true })),
      el("label", {}, "Copies ", el("input", { type: "number", name: "copies", min: "1", max: "100", value: "1" })),
      el("label", {}, "Printers ", el("select", { name: "target" })),
      el("label", {}, "Priority ", el("input", { type: "number", name: "priority", min: "-1000", max: "1000", value: "0" })),
      el("label", {}, "Needs tags ", el("input", { type: "text", name: "tags", placeholder: "enclosure, …" })),
      el("button", { type: "submit", class: "primary" }, "Queue"));
    form.addEventListener("submit", submit);
    message = el("div", { class: "queue-message", role: "status" });
    table = el("table", { class: "queue-table" },
      el("thead", {}, el("tr", {}, ["File", "Copy", "Target", "Priority", "State", "Printer",
        "Submitted by", "Why", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}));
    printersTable = el("table", { class: "queue-printers" },
      el("caption", { class: "muted" }, "Whether each printer takes work, and why not"),
      el("thead", {}, el("tr", {}, ["Printer", "State", "Taking work?"].map((h) => el("th", {}, h)))),
      el("tbody", {}));
    body.replaceChildren(el("h2", {}, "Queue"), form, message,
      el("div", { class: "queue-scroll" }, table),
      el("h3", {}, "Printers"),
      el("div", { class: "queue-scroll" }, printersTable));
  }

  fabfleet.section("queue", {
    start(section, who) {
      body = section;
      me = who;
      build();
    },
    shown() {
      refresh();
      if (timer === null) {
        timer = setInterval(() => {
          if (body.hidden) {
            clearInterval(timer);
            timer = null;
          } else {
            refresh();
          }
        }, REFRESH_MS);
      }
    },
  });
})();
