// Fleet actions on the dashboard: select printers (a checkbox on each card the user may act
// on, or "Select all shown"), then pause, resume, cancel, preheat or cool them down with one
// call (POST api/fleet/actions); each printer's result is shown under the bar.
"use strict";

(() => {
  const { el, api } = fabfleet;
  const board = fabfleet.dashboard;
  const ACTIONS = [
    ["pause", "Pause"], ["resume", "Resume"], ["cancel", "Cancel"], ["cooldown", "Cool down"],
  ];

  let bar = null;
  let all = null;
  let chosen = null;
  let results = null;
  let hotend = null;
  let bed = null;

  function selectable() {
    return board.shownNames().filter((name) => {
      const entry = board.entries.get(name);
      return entry && entry.may_act;
    });
  }

  let said = "";

  // After a snapshot, a filter or a selection change (a printer's own update changes
  // nothing here): the bar's words and buttons, written only when they change.
  function update(kind) {
    if (kind === "printers") return;
    const mayAct = board.order.some((name) => (board.entries.get(name) || {}).may_act);
    bar.hidden = !mayAct;
    for (const name of [...board.selection]) {
      if (!board.entries.has(name)) board.selection.delete(name);
    }
    const shown = selectable();
    const picked = shown.filter((name) => board.selection.has(name)).length;
    all.checked = shown.length > 0 && picked === shown.length;
    all.indeterminate = picked > 0 && picked < shown.length;
    const count = board.selection.size;
    const words = count ? `${board.plural(count, "printer")} selected` : "None selected";
    if (words !== said) {
      said = words;
      chosen.textContent = words;
      for (const button of bar.querySelectorAll("button[data-action]")) button.disabled = !count;
    }
  }

  function degreesOk(text, highest) {
    return /^\d+$/.test(text.trim()) && Number(text) <= highest;
  }

  function showResults(action, answer) {
    const failed = answer.results.filter((r) => !r.ok).length;
    const done = answer.results.length - failed;
    const head = `${board.sentence(action === "cooldown" ? "cool down" : action)}: `
      + `${board.plural(done, "printer")} done` + (failed ? `, ${failed} not` : "");
    results.replaceChildren(el("p", { class: failed ? "error" : "muted" }, head),
      el("ul", { class: "fleet-results" }, answer.results.map((r) => el("li", {
        "data-printer": r.printer, "data-ok": String(r.ok), class: r.ok ? "" : "error",
      }, r.ok ? `${r.printer}: done` : `${r.printer}: ${r.error}`))));
  }

  async function run(action) {
    const printers = board.order.filter((name) => board.selection.has(name));
    if (!printers.length) return;
    if (action === "cancel"
        && !confirm(`Cancel the print on ${printers.join(", ")}? The parts are lost.`)) return;
    const body = { action, printers };
    if (action === "preheat") {
      const wrong = [[hotend, "Hotend", 300, true], [bed, "Bed", 150, false]].find(
        ([input, , highest, required]) => {
          const bad = (required || input.value !== "") && !degreesOk(input.value, highest);
          input.setAttribute("aria-invalid", String(bad));
          return bad;
        });
      if (wrong) {
        results.replaceChildren(el("p", { class: "error" },
          `${wrong[1]} must be a whole number between 0 and ${wrong[2]} °C.`));
        wrong[0].focus();
        return;
      }
      body.hotend = Number(hotend.value);
      if (bed.value !== "") body.bed = Number(bed.value);
    }
    results.replaceChildren(el("p", { class: "muted" }, "Sending…"));
    try {
      showResults(action, await api("POST", "api/fleet/actions", body));
    } catch (error) {
      results.replaceChildren(el("p", { class: "error" }, error.message));
    }
  }

  function build(root, toolbar) {
    all = el("input", {
      type: "checkbox", class: "select-all", id: "fleet-select-all",
      onchange: (event) => {
        const on = event.target.checked; // read once: each select() redraws this box
        for (const name of selectable()) board.select(name, on);
      },
    });
    chosen = el("span", { class: "fleet-chosen muted", "aria-live": "polite" });
    hotend = el("input", { type: "number", id: "fleet-hotend", min: "0", max: "300", value: "210",
                           inputmode: "numeric" });
    bed = el("input", { type: "number", id: "fleet-bed", min: "0", max: "150", value: "60",
                        inputmode: "numeric" });
    const preheat = el("form", { class: "fleet-preheat", novalidate: true,
      onsubmit: (event) => { event.preventDefault(); run("preheat"); } },
      el("label", { for: "fleet-hotend" }, "Hotend °C"), hotend,
      el("label", { for: "fleet-bed" }, "Bed °C"), bed,
      el("button", { type: "submit", "data-action": "preheat" }, "Preheat"));
    results = el("div", { class: "fleet-action-results", role: "status" });
    bar = el("div", { class: "fleet-actions", role: "group", "aria-label": "Fleet actions",
                      hidden: true },
      el("span", { class: "fleet-select-all" }, all,
         el("label", { for: "fleet-select-all" }, "Select all shown")),
      chosen,
      ACTIONS.map(([action, label]) => el("button", {
        type: "button", "data-action": action, class: action === "cancel" ? "danger" : "",
        onclick: () => run(action),
      }, label)),
      preheat);
    toolbar.after(bar, results);
    board.listen(update);
    update();
  }

  board.extend(build);
})();
