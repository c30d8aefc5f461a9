// The fleet's job history: filters, the jobs (a page at a time), statistics per
// printer and per user, and the same selection as CSV. API: docs/hub.md.
"use strict";

(() => {
  const { api, el, field, tableBox } = fabfleet;
  const PAGE = 50;
  const OUTCOMES = ["completed", "cancelled", "failed", "interrupted"];
  const sentence = (word) => word.charAt(0).toUpperCase() + word.slice(1);
  let body = null;
  let offset = 0;
  let fields = null;

  // A date input (local midnight) as Unix seconds; `nextDay` for an inclusive "until".
  function dayStart(value, nextDay) {
    if (!value) return "";
    const day = new Date(value + "T00:00:00");
    if (nextDay) day.setDate(day.getDate() + 1);
    return String(Math.floor(day.getTime() / 1000));
  }

  function query(withPage) {
    const q = new URLSearchParams();
    const put = (name, value) => { if (value) q.set(name, value); };
    put("printer", fields.printer.value.trim());
    put("user", fields.user.value.trim());
    put("outcome", fields.outcome.value);
    put("file", fields.file.value.trim());
    put("since", dayStart(fields.since.value, false));
    put("until", dayStart(fields.until.value, true));
    if (withPage) { q.set("limit", String(PAGE)); q.set("offset", String(offset)); }
    return q;
  }

  function when(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleString() : "";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? `${h} h ${String(m).padStart(2, "0")} min` : m ? `${m} min ${r} s` : `${r} s`;
  }

  function metres(mm) {
    return mm === null || mm === undefined ? "" : (mm / 1000).toFixed(2) + " m";
  }

  function rate(value) {
    return value === null || value === undefined ? "–" : Math.round(value * 100) + " %";
  }

  function jobsTable(data) {
    const rows = data.jobs.map((job) => el("tr", { "data-outcome": job.outcome },
      el("td", {}, job.printer, job.removed ? el("span", { class: "muted" }, " (removed)") : null),
      el("td", {}, job.file),
      el("td", {}, job.started_by || "–"),
      el("td", {}, when(job.started_at)),
      el("td", {}, duration(job.duration)),
      el("td", { class: job.outcome === "failed" || job.outcome === "interrupted" ? "error" : "" },
        sentence(job.outcome),
        job.reason ? el("div", { class: "muted" }, job.reason) : null,
        job.timelapse ? el("div", {}, el("a", { href: job.timelapse,
          "aria-label": `Timelapse of ${job.file} on ${job.printer}` }, "Timelapse")) : null),
      el("td", {}, metres(job.filament_mm))));
    const table = el("table", { class: "history-jobs" },
      el("thead", {}, el("tr", {}, ["Printer", "File", "Started by", "Started", "Duration",
        "Outcome", "Filament"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: "7", class: "muted" },
        "No jobs match."))));
    const last = Math.min(data.offset + data.jobs.length, data.total);
    const pager = el("p", {},
      el("button", { type: "button", disabled: offset === 0,
        onclick: () => { offset = Math.max(0, offset - PAGE); refresh(); } }, "Newer"), " ",
      el("span", { class: "muted" }, data.total ? `${data.offset + 1}–${last} of ${data.total}` : ""), " ",
      el("button", { type: "button", disabled: last >= data.total,
        onclick: () => { offset += PAGE; refresh(); } }, "Older"));
    return [tableBox("Jobs", table), pager];
  }

  function statsTable(title, key, rows, total) {
    const line = (name, s, strong) => el("tr", strong ? { class: "total" } : {},
      el(strong ? "th" : "td", {}, name),
      el("td", {}, String(s.jobs)), el("td", {}, String(s.completed)),
      el("td", {}, String(s.failed)), el("td", {}, String(s.cancelled)),
      el("td", {}, String(s.interrupted)), el("td", {}, rate(s.success_rate)),
      el("td", {}, duration(s.print_hours * 3600) || "0 s"), el("td", {}, s.filament_m.toFixed(2) + " m"));
    return el("div", { class: "card history-stats" }, el("h3", {}, title),
      tableBox(title, el("table", { "data-stats": key },
        el("thead", {}, el("tr", {}, [key === "printer" ? "Printer" : "User", "Jobs", "Completed",
          "Failed", "Cancelled", "Interrupted", "Success", "Print time", "Filament"]
          .map((h) => el("th", {}, h)))),
        el("tbody", {}, rows.map((r) => line(key === "printer" ? r.printer : (r.user || "–"), r, false)),
          line("All", total, true)))));
  }

  async function refresh() {
    const out = body.querySelector(".history-out");
    const status = body.querySelector(".history-status");
    const csv = body.querySelector(".history-csv");
    csv.href = "api/history.csv?" + query(false).toString();
    status.textContent = "Loading…";
    status.className = "history-status muted";
    try {
      const [jobs, stats] = await Promise.all([
        api("GET", "api/history?" + query(true).toString()),
        api("GET", "api/stats?" + query(false).toString()),
      ]);
      const problems = jobs.sources.filter((s) => s.error)
        .map((s) => el("div", { class: "muted" }, `${s.printer}: history not reachable (${s.error}); archived jobs shown`));
      out.replaceChildren(...problems, ...jobsTable(jobs),
        el("div", { class: "history-stat-grid",
          style: "display:grid;grid-template-columns:minmax(0,1fr);gap:1rem;margin-top:1rem" },
          statsTable("Per printer", "printer", stats.printers, stats.total),
          statsTable("Per user", "user", stats.users, stats.total)));
      status.textContent = "";
      for (const [list, names] of [["history-printers", stats.printers.map((p) => p.printer)],
        ["history-users", stats.users.map((u) => u.user).filter(Boolean)]]) {
        const datalist = body.querySelector("#" + list);
        if (datalist.children.length < names.length) {
          datalist.replaceChildren(...names.map((n) => el("option", { value: n })));
        }
      }
    } catch (error) {
      status.textContent = error.message;
      status.className = "history-status error";
    }
  }

  fabfleet.section("history", {
    start(section) {
      body = section;
      fields = {
        printer: el("input", { name: "printer", list: "history-printers", placeholder: "Every printer", size: "14" }),
        user: el("input", { name: "user", list: "history-users", placeholder: "Everyone", size: "12" }),
        outcome: el("select", { name: "outcome" }, el("option", { value: "" }, "Any outcome"),
          OUTCOMES.map((o) => el("option", { value: o }, sentence(o)))),
        file: el("input", { name: "file", placeholder: "Part of the name", size: "16" }),
        since: el("input", { name: "since", type: "date" }),
        until: el("input", { name: "until", type: "date" }),
      };
      const form = el("form", { class: "history-filters card" },
        field("Printer", fields.printer), field("User", fields.user),
        field("Outcome", fields.outcome), field("File", fields.file),
        field("From", fields.since), field("To", fields.until),
        el("button", { type: "submit", class: "primary" }, "Show"), " ",
        el("a", { class: "history-csv", href: "api/history.csv", download: "fleet-history.csv" }, "Export CSV"),
        el("datalist", { id: "history-printers" }), el("datalist", { id: "history-users" }));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        offset = 0;
        refresh();
      });
      section.replaceChildren(el("h2", {}, "History"), form,
        el("p", { class: "history-status muted" }), el("div", { class: "history-out" }));
    },
    shown() {
      if (body) refresh();
    },
  });
})();
