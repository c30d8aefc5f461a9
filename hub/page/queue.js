// The fleet queue: submit a G-code file (copies, target, priority, tags), watch the
// entries go to printers, reorder, cancel and requeue them. API: docs/hub.md.
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
  let allowed = [];

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
    if (entry.bed_waiting && entry.printer) {
      found.push(button("Bed clear", `Confirm ${entry.printer}'s bed is clear: it takes the next job`,
        () => act("POST", `api/printers/${encodeURIComponent(entry.printer)}/bed-clear`)));
    }
    return found;
  }

  function row(entry) {
    const file = entry.file;
    const facts = [file.material, file.nozzle ? `${file.nozzle} mm` : null,
      minutes(file.estimated_seconds)].filter(Boolean).join(" · ");
    return el("tr", { "data-entry": String(entry.id), "data-state": entry.state },
      el("td", {}, el("div", {}, file.name), facts ? el("div", { class: "muted" }, facts) : null),
      el("td", {}, `${entry.copy}/${entry.copies}`),
      el("td", {}, entry.target, entry.tags.length ? el("div", { class: "muted" }, entry.tags.join(", ")) : null),
      el("td", {}, String(entry.priority)),
      el("td", {}, el("span", { class: `queue-state queue-${entry.state}` }, entry.state)),
      el("td", { "data-printer": entry.printer || "" }, entry.printer || "–"),
      el("td", {}, entry.submitted_by, el("div", { class: "muted" }, when(entry.submitted_at))),
      el("td", { class: "queue-reason" }, entry.reason || ""),
      el("td", { class: "queue-actions" }, buttons(entry)));
  }

  function render(data) {
    allowed = data.targets;
    const select = form.elements.target;
    const chosen = select.value;
    if (select.options.length !== allowed.length) {
      select.replaceChildren(...allowed.map((t) => el("option", { value: t }, t)));
      if (allowed.includes(chosen)) select.value = chosen;
    }
    form.hidden = me.role === "viewer" || allowed.length === 0;
    const rows = data.entries.map(row);
    table.querySelector("tbody").replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: "9", class: "muted" }, "The queue is empty."))]));
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
    body.replaceChildren(el("h2", {}, "Queue"), form, message,
      el("div", { class: "queue-scroll" }, table));
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
