// Notification targets (admins): webhooks and ntfy topics told when a print
// finishes, fails or a bed needs clearing. API: docs/hub.md.
"use strict";

(() => {
  const { api, el, field, tableBox } = fabfleet;
  const KINDS = { webhook: "Webhook", ntfy: "ntfy topic" };
  const EVENTS = { finished: "Print finished", failed: "Print failed", bed_clear_needed: "Bed needs clearing" };
  let body = null;
  let admin = false;

  function when(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleString() : "";
  }

  function say(text, bad) {
    const status = body.querySelector(".notify-status");
    status.textContent = text;
    status.className = "notify-status " + (bad ? "error" : "muted");
  }

  function lastDelivery(last) {
    if (!last.status) return el("span", { class: "muted" }, "Nothing sent yet");
    const what = EVENTS[last.event] || (last.event === "test" ? "Test" : last.event);
    if (last.status === "delivered") {
      return el("span", { class: "notify-ok" }, `${what}: delivered at ${when(last.time)}`);
    }
    return el("span", { class: "error" }, `${what}: not delivered at ${when(last.time)}: ${last.error}`);
  }

  function row(target) {
    const test = el("button", { type: "button", onclick: async () => {
      test.disabled = true;
      say(`Sending a test to ${target.name}…`);
      try {
        await api("POST", `api/notifications/${target.id}/test`);
        say(`The test reached ${target.name}.`);
      } catch (error) {
        say(error.message, true);
      }
      await refresh();
    } }, "Test");
    const remove = el("button", { type: "button", onclick: async () => {
      if (!confirm(`Remove ${target.name}?`)) return;
      try {
        await api("DELETE", `api/notifications/${target.id}`);
        say(`${target.name} removed.`);
      } catch (error) {
        say(error.message, true);
      }
      await refresh();
    } }, "Remove");
    return el("tr", { "data-target": String(target.id) },
      el("td", {}, target.name), el("td", {}, KINDS[target.kind] || target.kind),
      el("td", { class: "notify-url" }, target.url),
      el("td", {}, target.events.map((e) => EVENTS[e] || e).join(", ")),
      el("td", { class: "notify-last" }, lastDelivery(target.last)),
      el("td", {}, test, " ", remove));
  }

  async function refresh() {
    if (!admin) return;
    try {
      const data = await api("GET", "api/notifications");
      const tbody = body.querySelector(".notify-targets tbody");
      tbody.replaceChildren(...(data.targets.length ? data.targets.map(row)
        : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No targets yet."))]));
    } catch (error) {
      say(error.message, true);
    }
  }

  function addForm() {
    const kind = el("select", { name: "kind" }, el("option", { value: "webhook" }, "Webhook (JSON)"),
      el("option", { value: "ntfy" }, "ntfy topic"));
    const url = el("input", { name: "url", type: "url", required: true,
      placeholder: "https://example.org/hook" });
    const name = el("input", { name: "name", placeholder: "optional" });
    const boxes = Object.entries(EVENTS).map(([value, label]) =>
      el("label", {}, el("input", { type: "checkbox", name: "events", value, checked: true }), " ", label));
    const form = el("form", { class: "card notify-add admin-form" },
      el("h3", {}, "Add a target"), field("Kind", kind), field("Address (URL)", url), field("Name", name),
      el("fieldset", { class: "notify-events" }, el("legend", {}, "Tell it when"), ...boxes),
      el("button", { type: "submit", class: "primary" }, "Add"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const events = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      try {
        const added = await api("POST", "api/notifications",
          { kind: kind.value, url: url.value.trim(), name: name.value.trim(), events });
        say(`${added.name} added.`);
        url.value = "";
        name.value = "";
      } catch (error) {
        say(error.message, true);
      }
      await refresh();
    });
    return form;
  }

  fabfleet.section("notifications", {
    start(section, me) {
      body = section;
      admin = me.role === "admin";
      if (!admin) {
        fabfleet.adminsOnly(section, "Notifications", "Only admins can manage notifications.");
        return;
      }
      section.replaceChildren(el("h2", {}, "Notifications"),
        el("p", { class: "muted" }, "Each target hears once per job: the first of its events that applies."),
        tableBox("Notification targets", el("table", { class: "notify-targets" },
          el("thead", {}, el("tr", {}, ["Name", "Kind", "URL", "Events", "Last delivery"]
            .map((h) => el("th", {}, h)), el("th", {}, el("span", { class: "visually-hidden" }, "Test or remove")))),
          el("tbody", {}))),
        el("p", { class: "notify-status muted", role: "status" }),
        addForm());
    },
    shown() {
      refresh();
    },
  });
})();
