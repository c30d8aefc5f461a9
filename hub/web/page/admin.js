// The Users and Audit sections (admins) and API keys (everyone): list, add, change, remove.
"use strict";

(() => {
  const { api, el, field, tableBox } = fabfleet;

  function names(text) {
    return text.split(",").map((s) => s.trim()).filter(Boolean);
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "never";
  }

  function grantsText(user) {
    if (user.role === "admin") return "every printer (admin)";
    const parts = [];
    for (const p of user.grants.printers) parts.push(p === "*" ? "every printer" : p);
    for (const g of user.grants.groups) parts.push("group " + g);
    return parts.join(", ") || "none";
  }

  // A line under a form: what went wrong, or what was done.
  function status() {
    const line = el("p", { class: "status", role: "status" });
    return {
      line,
      fail(error) { line.className = "status error"; line.textContent = error.message || String(error); },
      done(text) { line.className = "status muted"; line.textContent = text; },
      clear() { line.textContent = ""; },
    };
  }

  // --- Users ------------------------------------------------------------------

  function usersSection(body, me) {
    if (me.role !== "admin") {
      fabfleet.adminsOnly(body, "Users", "Only admins can manage users.");
      return null;
    }
    const note = status();
    const rows = el("tbody");
    const name = el("input", { name: "name", required: true, autocomplete: "off" });
    const password = el("input", {
      name: "password", type: "password", placeholder: "10+ characters",
      required: true, autocomplete: "new-password",
    });
    const role = el("select", { name: "role" },
      el("option", { value: "viewer" }, "Viewer"),
      el("option", { value: "operator" }, "Operator"),
      el("option", { value: "admin" }, "Admin"));
    const printers = el("input", { name: "printers", placeholder: "mk3, mini (* = every printer)" });
    const groups = el("input", { name: "groups", placeholder: "lab" });
    const form = el("form", { class: "card admin-form", id: "add-user" },
      el("h3", {}, "Add a user"), field("Name", name), field("Password", password), field("Role", role),
      field("Printers", printers), field("Groups", groups),
      el("button", { class: "primary", type: "submit" }, "Add user"), note.line);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const made = await api("POST", "api/users", {
          name: name.value.trim(), password: password.value, role: role.value,
          grants: { printers: names(printers.value), groups: names(groups.value) },
        });
        form.reset();
        note.done(`Added ${made.name} (${made.role}).`);
        await load();
      } catch (error) {
        note.fail(error);
      }
    });

    function row(user) {
      const choose = el("select", { "aria-label": `role of ${user.name}` },
        ...["viewer", "operator", "admin"].map((r) => el("option", { value: r, selected: r === user.role },
          r.charAt(0).toUpperCase() + r.slice(1))));
      const printerBox = el("input", { value: user.grants.printers.join(", "), placeholder: "printers", "aria-label": `printers of ${user.name}` });
      const groupBox = el("input", { value: user.grants.groups.join(", "), placeholder: "groups", "aria-label": `groups of ${user.name}` });
      const change = async (what, patch) => {
        try {
          await api("PATCH", `api/users/${encodeURIComponent(user.name)}`, patch);
          note.done(`${what} for ${user.name}.`);
        } catch (error) {
          note.fail(error);
        }
        await load();
      };
      choose.addEventListener("change", () => change("Role changed", { role: choose.value }));
      return el("tr", { "data-user": user.name },
        el("td", {}, user.name, user.disabled ? el("span", { class: "muted" }, " (disabled)") : null),
        el("td", {}, choose),
        el("td", { class: "grants" }, grantsText(user)),
        el("td", { class: "actions" },
          printerBox, groupBox,
          el("button", { type: "button", onclick: () => change("Grants saved", {
            grants: { printers: names(printerBox.value), groups: names(groupBox.value) } }) }, "Save grants"),
          el("button", { type: "button", onclick: () => {
            const fresh = prompt(`New password for ${user.name} (10+ characters):`);
            if (fresh) change("Password set", { password: fresh });
          } }, "Set password"),
          el("button", { type: "button", onclick: () => change(user.disabled ? "Enabled" : "Disabled",
            { disabled: !user.disabled }) }, user.disabled ? "Enable" : "Disable"),
          el("button", { type: "button", class: "danger", onclick: async () => {
            if (!confirm(`Remove ${user.name}? Their sessions and API keys end.`)) return;
            try {
              await api("DELETE", `api/users/${encodeURIComponent(user.name)}`);
              note.done(`Removed ${user.name}.`);
            } catch (error) {
              note.fail(error);
            }
            await load();
          } }, "Remove")));
    }

    async function load() {
      try {
        const { users } = await api("GET", "api/users");
        rows.replaceChildren(...users.map(row));
      } catch (error) {
        note.fail(error);
      }
    }

    body.append(el("h2", {}, "Users"),
      tableBox("Users", el("table", { id: "users-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Role"), el("th", {}, "Grants"),
          el("th", {}, el("span", { class: "visually-hidden" }, "Changes")))),
        rows)),
      form);
    return load;
  }

  // --- Audit ------------------------------------------------------------------

  // One entry: the hub's sentence, and the raw fields behind a disclosure.
  function auditRow(e) {
    const raw = [["User", e.user], ["Action", e.action], ["Printer", e.printer || "–"], ["Detail", e.detail || "–"]];
    if (e.outcome) raw.push(["Outcome", e.outcome + (e.status ? ` (${e.status})` : "")]);
    return el("tr", { "data-entry": String(e.id) },
      el("td", { class: "audit-time" }, when(e.time)),
      el("td", {}, el("span", { class: "audit-summary" }, e.summary || `${e.user}: ${e.action}`),
        el("details", { class: "audit-raw" }, el("summary", {}, "Details"),
          el("dl", {}, ...raw.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])))));
  }

  const PAGE = 100;

  function auditSection(body, me) {
    if (me.role !== "admin") {
      fabfleet.adminsOnly(body, "Audit log", "Only admins can read the audit log.");
      return null;
    }
    const note = status();
    const filters = {
      user: el("input", { name: "user" }),
      printer: el("input", { name: "printer" }),
      action: el("input", { name: "action", placeholder: "e.g. cancel" }),
      since: el("input", { name: "since", type: "datetime-local" }),
      until: el("input", { name: "until", type: "datetime-local" }),
    };
    const LABELS = { user: "User", printer: "Printer", action: "Action", since: "Since", until: "Until" };
    const rows = el("tbody");
    const csv = el("a", { href: "api/audit.csv", download: "" }, "Download CSV");
    const older = el("button", { type: "button" }, "Older");
    const newer = el("button", { type: "button" }, "Newer");
    const shown = el("span", { class: "muted" });
    let offset = 0;

    function query() {
      const q = new URLSearchParams();
      for (const [key, input] of Object.entries(filters)) {
        const value = input.value.trim();
        if (!value) continue;
        // datetime-local is the browser's local time; the hub takes UTC ISO 8601.
        q.set(key, input.type === "datetime-local" ? new Date(value).toISOString() : value);
      }
      return q;
    }

    async function load() {
      const q = query();
      csv.href = "api/audit.csv" + (q.toString() ? "?" + q : "");
      q.set("limit", PAGE);
      q.set("offset", offset);
      try {
        const { entries, total } = await api("GET", "api/audit?" + q);
        rows.replaceChildren(...entries.map(auditRow));
        if (!entries.length) rows.append(el("tr", {}, el("td", { colspan: 2, class: "muted" }, "Nothing recorded.")));
        shown.textContent = total ? `${offset + 1}–${offset + entries.length} of ${total}` : "";
        older.disabled = offset + entries.length >= total;
        newer.disabled = offset === 0;
        note.clear();
      } catch (error) {
        note.fail(error);
      }
    }

    const form = el("form", { class: "filters" },
      ...Object.entries(filters).map(([key, input]) => field(LABELS[key], input)),
      el("button", { type: "submit", class: "primary" }, "Filter"), csv);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      offset = 0;
      load();
    });
    older.addEventListener("click", () => { offset += PAGE; load(); });
    newer.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
    body.append(el("h2", {}, "Audit log"), form, note.line,
      tableBox("Audit log entries", el("table", { id: "audit-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "Time"), el("th", {}, "What happened"))),
        rows)),
      el("p", {}, newer, " ", older, " ", shown));
    return load;
  }

  // --- API keys ---------------------------------------------------------------

  // Apps asking for a key through a printer (OctoPrint's application keys workflow).
  function appRequestsBox() {
    const note = status();
    const list = el("ul", { id: "app-key-requests", class: "app-requests" });
    const box = el("div", { class: "card", id: "app-key-box", "aria-labelledby": "app-key-title" },
      el("h3", { id: "app-key-title" }, "Apps asking for a key"),
      el("p", { class: "muted" },
        "An app (Home Assistant, a slicer) asked a printer for a key. Approve only what you started: "
        + "the key acts on that printer only, with the named user's rights."),
      list, note.line);

    async function decide(request, verb) {
      try {
        await api("POST", `api/app-key-requests/${request.id}/${verb}`);
        note.done(verb === "approve" ? `Approved: ${request.sentence}.` : `Denied: ${request.sentence}.`);
      } catch (error) {
        note.fail(error);
      }
      await load();
    }

    async function load() {
      try {
        const { requests } = await api("GET", "api/app-key-requests");
        list.replaceChildren(...requests.map((r) => el("li", { "data-request": r.id },
          el("span", { class: "sentence" }, r.sentence), " ",
          el("button", { type: "button", class: "primary", onclick: () => decide(r, "approve") },
            "Approve"), " ",
          el("button", { type: "button", class: "danger", onclick: () => decide(r, "deny") }, "Deny"))));
        if (!requests.length) list.append(el("li", { class: "muted" }, "No app is asking."));
      } catch (error) {
        note.fail(error);
      }
    }
    return { box, load };
  }

  function keysSection(body) {
    const note = status();
    const asking = appRequestsBox();
    const rows = el("tbody");
    const name = el("input", { name: "key-name", placeholder: "e.g. PrusaSlicer", required: true });
    const secret = el("div", { class: "card new-key", hidden: true });
    const form = el("form", { id: "add-key", class: "inline-form" }, field("What the key is for", name),
      el("button", { type: "submit", class: "primary" }, "Create key"));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const made = await api("POST", "api/keys", { name: name.value.trim() });
        form.reset();
        secret.replaceChildren(
          el("p", {}, `Key "${made.name}": copy it now, it is not shown again.`),
          el("code", { class: "key" }, made.key));
        secret.hidden = false;
        note.clear();
        await load();
      } catch (error) {
        note.fail(error);
      }
    });

    async function load() {
      try {
        const { keys } = await api("GET", "api/keys");
        rows.replaceChildren(...keys.map((k) => el("tr", { "data-key": k.id },
          el("td", {}, k.name), el("td", {}, el("code", {}, k.prefix + "…")),
          el("td", {}, k.printer ? `${k.app || "an app"}, printer ${k.printer} only` : "everything you may do"),
          el("td", {}, when(k.created)), el("td", {}, when(k.last_used)),
          el("td", {}, el("button", { type: "button", class: "danger", onclick: async () => {
            if (!confirm(`Revoke the key "${k.name}"? Whatever uses it stops working.`)) return;
            try {
              await api("DELETE", `api/keys/${k.id}`);
              note.done(`Revoked "${k.name}".`);
            } catch (error) {
              note.fail(error);
            }
            await load();
          } }, "Revoke")))));
        if (!keys.length) rows.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No keys yet.")));
      } catch (error) {
        note.fail(error);
      }
      await asking.load();
    }

    // One's own password, here with the other things that are one's own.
    const passwordNote = status();
    const old = el("input", { name: "old-password", type: "password",
      autocomplete: "current-password", required: true });
    const fresh = el("input", { name: "new-password", type: "password", placeholder: "10+ characters",
      autocomplete: "new-password", required: true });
    const again = el("input", { name: "again-password", type: "password",
      autocomplete: "new-password", required: true });
    const passwordForm = el("form", { id: "own-password", class: "card admin-form" },
      el("h3", {}, "Your password"), field("Current password", old), field("New password", fresh),
      field("New password again", again),
      el("button", { type: "submit" }, "Change password"), passwordNote.line);
    passwordForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (fresh.value !== again.value) {
        passwordNote.fail(new Error("the new passwords do not match"));
        return;
      }
      try {
        await api("POST", "api/me/password", { old: old.value, new: fresh.value });
        passwordForm.reset();
        passwordNote.done("Password changed; your other sessions have ended.");
      } catch (error) {
        passwordNote.fail(error);
      }
    });

    body.append(el("h2", {}, "API keys"),
      el("p", { class: "muted" },
        "For slicers and scripts: send the key as X-Api-Key (as to OctoPrint). It acts as you, with your rights."),
      asking.box, form, note.line, secret,
      tableBox("Your API keys", el("table", { id: "keys-table" },
        el("thead", {}, el("tr", {}, ...["Name", "Key", "For", "Created", "Last used"].map((h) => el("th", {}, h)),
          el("th", {}, el("span", { class: "visually-hidden" }, "Revoke")))),
        rows)),
      passwordForm);
    return load;
  }

  // Each section loads when first shown, and again on each visit.
  function register(name, build) {
    let load = null;
    fabfleet.section(name, {
      start(body, me) { load = build(body, me) || null; },
      shown() { if (load) load(); },
    });
  }

  register("users", usersSection);
  register("audit", auditSection);
  register("keys", keysSection);
})();
