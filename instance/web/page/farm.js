// Power, spool and service tasks of this printer, as the hub knows them (only behind the
// hub; a print server alone shows nothing here). Read every 15 s from the hub's API at the
// site's root: GET /api/power, /api/printers/<name>/spools, /api/maintenance; the power
// switch posts to /api/printers/<name>/power (the hub checks rights and audits it).

import { $, csrfToken, hubPrefix, shared, showError } from "./core.js";

const EVERY_MS = 15000;

function hubUrl(path) {
  return new URL(`${hubPrefix()}${path}`, window.location.origin);
}

async function hubGet(path) {
  try {
    const response = await fetch(hubUrl(path), { headers: { Accept: "application/json" } });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

function line(className, text) {
  const found = document.createElement("p");
  found.className = className;
  found.textContent = text;
  return found;
}

function powerPart(name, power) {
  const box = document.createElement("div");
  box.className = "farm-power";
  const word = power.known ? (power.on ? "on" : "off") : "unknown";
  box.append(line("farm-line", `Power: ${word}${power.known ? "" : ` (${power.reason})`}`));
  if (power.guard) box.append(line("farm-note", power.guard));
  if (power.may_act) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "farm-power-switch";
    const next = !(power.known && power.on);
    button.textContent = next ? "Switch on" : "Switch off";
    button.onclick = () => switchPower(name, next);
    box.append(button);
  }
  return box;
}

function spoolPart(data) {
  const box = document.createElement("div");
  box.className = "farm-spool";
  const loaded = (data.spools || []).filter((s) => s.tool === 0);
  if (!loaded.length) {
    box.append(line("farm-line", "Spool: none loaded"));
    return box;
  }
  const spool = loaded[0];
  const left = spool.remaining_g === null ? "amount left unknown" : `${Math.round(spool.remaining_g)} g left`;
  box.append(line("farm-line", `Spool: ${spool.name}, ${left}`));
  if (spool.error) box.append(line("farm-warning", `Spoolman: ${spool.error}`));
  else if (spool.low) box.append(line("farm-warning", `Low spool: ${left}; change it before a long print.`));
  return box;
}

function tasksPart(printer) {
  const box = document.createElement("div");
  box.className = "farm-tasks";
  const pressing = (printer.tasks || []).filter((t) => t.state === "due" || t.state === "overdue");
  if (!pressing.length) {
    if ((printer.tasks || []).length) box.append(line("farm-line", "Service: nothing due"));
    return box;
  }
  for (const task of pressing) {
    box.append(line(task.state === "overdue" ? "farm-warning" : "farm-line",
      `${task.state === "overdue" ? "Overdue" : "Due"}: ${task.sentence}`));
  }
  const link = document.createElement("a");
  link.href = hubUrl("maintenance").toString();
  link.textContent = "Service tasks";
  box.append(link);
  return box;
}

async function switchPower(name, on) {
  const headers = { "Content-Type": "application/json" };
  const token = csrfToken();
  if (token) headers["X-CSRF-Token"] = token;
  try {
    const response = await fetch(hubUrl(`api/printers/${encodeURIComponent(name)}/power`),
      { method: "POST", headers, body: JSON.stringify({ on }) });
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch { /* no body */ }
      showError((data && data.error) || `${response.status} ${response.statusText}`);
    }
  } catch {
    showError("The hub does not answer.");
  }
  refresh();
}

export async function refresh() {
  const panel = $("farm-panel");
  const name = shared.state ? shared.state.name : null;
  if (!panel || hubPrefix() === null || !name) return;
  const [power, spools, service] = await Promise.all([
    hubGet("api/power"),
    hubGet(`api/printers/${encodeURIComponent(name)}/spools`),
    hubGet("api/maintenance"),
  ]);
  const parts = [];
  const device = power && (power.printers || []).find((p) => p.name === name);
  if (device) parts.push(powerPart(name, device));
  if (spools && spools.enabled) parts.push(spoolPart(spools));
  const printer = service && (service.printers || []).find((p) => p.name === name);
  if (printer && (printer.tasks || []).length) parts.push(tasksPart(printer));
  $("farm-body").replaceChildren(...parts);
  panel.hidden = parts.length === 0;
}

export function wireFarm() {
  if (hubPrefix() === null) return;
  // As soon as the first state names the printer, then every EVERY_MS.
  const first = setInterval(() => {
    if (!shared.state) return;
    clearInterval(first);
    refresh();
    setInterval(refresh, EVERY_MS);
  }, 250);
}
