// Power on the dashboard: each printer card with a power device shows its power state, the
// off-guard's word ("waiting: hotend 87 °C, off below 50 °C"), and, for users who may act on
// the printer, a button that switches it on or off (POST api/printers/<name>/power). A
// refusal (409: printing, heating, hot, state unknown) is shown on the card. The states come
// from GET api/power, asked every few seconds while the dashboard is shown.
"use strict";

(() => {
  const { el, api } = fabfleet;
  const board = fabfleet.dashboard;
  const EVERY = 5000; // ms between looks at api/power
  const WORD = { on: "On", off: "Off", unknown: "Unknown" };

  let root = null;
  let devices = new Map(); // printer name -> its api/power entry
  const busy = new Set(); // printers with a switch request under way
  const notices = new Map(); // printer name -> the last refusal, until the next look

  function block(card) {
    let found = card.querySelector(".printer-power");
    if (!found) {
      const name = card.dataset.printer;
      const id = `power-${name}`;
      found = el("div", { class: "printer-power" },
        el("p", { class: "power-line" },
          el("span", { class: "muted" }, "Power "),
          el("span", { class: "power-state", id }),
          el("span", { class: "power-guard muted" })),
        el("div", { class: "power-actions" }),
        el("p", { class: "power-notice error", role: "alert" }));
      const body = card.querySelector(".printer-body");
      body.insertBefore(found, body.querySelector(".printer-message"));
    }
    return found;
  }

  function draw(name) {
    const card = root && root.querySelector(`article.printer-card[data-printer="${CSS.escape(name)}"]`);
    if (!card) return;
    const device = devices.get(name);
    if (!device) {
      const old = card.querySelector(".printer-power");
      if (old) old.remove();
      return;
    }
    const part = block(card);
    const state = part.querySelector(".power-state");
    const word = WORD[device.state] || device.state;
    if (state.textContent !== word) state.textContent = word;
    state.dataset.power = device.state;
    state.title = device.reason || "";
    const guard = part.querySelector(".power-guard");
    const said = device.guard ? ` · ${device.guard}` : "";
    if (guard.textContent !== said) guard.textContent = said;
    const actions = part.querySelector(".power-actions");
    const wanted = device.may_act ? (device.on ? "off" : "on") : "";
    if (actions.dataset.wanted !== wanted) {
      actions.dataset.wanted = wanted;
      actions.replaceChildren();
      if (wanted) {
        actions.append(el("button", {
          type: "button", class: `power-switch power-${wanted}`,
          "aria-describedby": `power-${name}`,
          onclick: () => switchPower(name, wanted === "on"),
        }, wanted === "on" ? "Switch on" : "Switch off"));
      }
    }
    const button = actions.querySelector("button");
    if (button) button.disabled = busy.has(name);
    const notice = part.querySelector(".power-notice");
    const refusal = notices.get(name) || "";
    if (notice.textContent !== refusal) notice.textContent = refusal;
  }

  function drawAll() {
    for (const name of board.order) draw(name);
  }

  async function look() {
    if (!root || root.hidden || document.visibilityState !== "visible") return;
    // A plain fetch: a lost session is the live stream's to notice (it goes to the login).
    try {
      const answer = await fetch("api/power", { credentials: "same-origin" });
      if (!answer.ok) return; // the next look tries again; the cards keep what they showed
      const found = await answer.json();
      devices = new Map(found.printers.map((device) => [device.name, device]));
    } catch (error) {
      return;
    }
    drawAll();
  }

  async function switchPower(name, on) {
    busy.add(name);
    notices.delete(name);
    draw(name);
    try {
      const device = await api("POST", `api/printers/${encodeURIComponent(name)}/power`, { on });
      devices.set(name, device);
    } catch (error) {
      notices.set(name, error.message);
    } finally {
      busy.delete(name);
      draw(name);
    }
  }

  board.extend((body) => {
    root = body;
    look();
    setInterval(look, EVERY);
    document.addEventListener("visibilitychange", look);
  });
  // A snapshot may have made new cards: give them their power block again.
  board.listen((kind) => { if (kind === "snapshot") drawAll(); });
})();
