// What every part of the printer's page shares: element lookup, URLs relative to
// the page (standalone and under the proxy's /printers/<name>/ prefix alike),
// requests that report their refusals, the confirmation dialog, and formatting.

export const $ = (id) => document.getElementById(id);
export const api = (path) => new URL(path, document.baseURI).toString();
export const BUSY = new Set(["printing", "pausing", "paused", "cancelling"]);
export const NOTHING = "–";

// What the parts of the page read: the last state message, the stored files, and
// whether the user may act on this printer (null until known; rights.js).
export const shared = { state: null, files: new Map(), mayAct: null };

// "bed not cleared" -> "Bed not cleared": state names are shown in sentence case.
export function stateLabel(state) {
  return state ? state[0].toUpperCase() + state.slice(1) : "";
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined) return NOTHING;
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// The path before /printers/<name>/ when the page is behind the hub, else null.
export function hubPrefix() {
  const match = new URL(document.baseURI).pathname.match(/^(.*?\/)printers\/[^/]+\//);
  return match ? match[1] : null;
}

// Behind the hub, the session's CSRF token (the fabfleet_csrf cookie) goes with
// every request that changes something; standalone there is no such cookie.
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === "fabfleet_csrf") return decodeURIComponent(value.join("="));
  }
  return null;
}

// Not logged in (the hub's gate said 401): to the hub's login page at the site
// root (before this page's /printers/<name>/), and back here afterwards.
export function toLogin() {
  const login = new URL(`${hubPrefix() || "/"}login`, window.location.origin);
  login.searchParams.set("next", window.location.pathname + window.location.search);
  window.location.assign(login.toString());
}

// A refused action stays in view for a while; the printer's own error as long as it lasts.
export function showError(message, seconds = 8) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  box.dataset.until = String(Date.now() + seconds * 1000);
}

// A request to the print server; on any failure the page says why and the
// result is null (a button press never leaves an unhandled error behind).
export async function call(method, path, body) {
  const options = { method, headers: {} };
  const token = csrfToken();
  if (method !== "GET" && token) options.headers["X-CSRF-Token"] = token;
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(api(path), options);
  } catch {
    showError("The print server does not answer; retrying…");
    return null;
  }
  if (response.status === 401) {
    toLogin();
    return null;
  }
  let data = null;
  try { data = await response.json(); } catch { /* no body */ }
  if (!response.ok) {
    showError((data && data.error) || `${response.status} ${response.statusText}`);
    return null;
  }
  return data === null ? {} : data;
}

// Ask before acting. Each choice names its action ("Don't print" / "Print");
// Escape is always the safe choice, and a destructive action (red) starts with
// the focus on the safe one, so a stray Enter destroys nothing.
export function confirmAction({ text, yes, no, danger = false }) {
  const dialog = $("confirm");
  const keep = $("confirm-no"), act = $("confirm-yes");
  $("confirm-text").textContent = text;
  keep.textContent = no;
  act.textContent = yes;
  act.className = danger ? "danger" : "primary";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    (danger ? keep : act).focus();
  });
}

// Why a print cannot start now, or "" when it can.
export function printBlocked(state) {
  if (!state) return "Waiting for the printer…";
  if (BUSY.has(state.state)) return `The printer is ${state.state}.`;
  if (!state.connected) return "The printer is not connected: no print can start.";
  if (!state.bed_clear) return "Confirm the bed is clear first.";
  if (state.state !== "ready") return `The printer is ${state.state}.`;
  return "";
}

// Print a stored file after asking; the printer's name in the question. A start the
// hub's dispatch check holds shows what holds it (showHeld).
export async function printFile(name) {
  const printer = shared.state ? shared.state.name : "this printer";
  // A printer with a camera: the job's timelapse, ticked as the printer's default.
  const timelapse = shared.state && shared.state.timelapse;
  const choice = $("confirm-timelapse");
  choice.hidden = !timelapse;
  if (timelapse) $("confirm-timelapse-on").checked = timelapse.default;
  const yes = await confirmAction({ text: `Print ${name} on ${printer}?`, yes: "Print", no: "Don't print" });
  choice.hidden = true;
  if (yes) await startPrint(name, timelapse ? $("confirm-timelapse-on").checked : undefined);
}

async function startPrint(name, timelapse) {
  const body = timelapse === undefined ? { file: name } : { file: name, timelapse };
  const options = { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) };
  const token = csrfToken();
  if (token) options.headers["X-CSRF-Token"] = token;
  let response;
  try {
    response = await fetch(api("api/v1/job"), options);
  } catch {
    showError("The print server does not answer; retrying…");
    return;
  }
  if (response.status === 401) { toLogin(); return; }
  let data = null;
  try { data = await response.json(); } catch { /* no body */ }
  if (response.ok) { $("held").hidden = true; return; }
  if (data && Array.isArray(data.held)) { await showHeld(name, data.error, data.held); return; }
  showError((data && data.error) || `${response.status} ${response.statusText}`);
}

// Whether the logged-in user is an admin of the hub (only they may override an item).
async function hubAdmin() {
  const prefix = hubPrefix();
  if (prefix === null) return false;
  try {
    const response = await fetch(new URL(`${prefix}api/me`, window.location.origin));
    return response.ok && (await response.json()).role === "admin";
  } catch {
    return false;
  }
}

// What holds a start, item by item; an admin may let one item pass for this file, then
// print again (the hub audits the override).
export async function showHeld(name, message, items) {
  const box = $("held"), list = $("held-items");
  $("held-text").textContent = `${name} did not start: the dispatch check holds it.`;
  $("held-close").onclick = () => { box.hidden = true; };
  const admin = await hubAdmin();
  list.replaceChildren();
  const shown = items.length ? items : [{ item: "hub", text: message, overridable: false }];
  for (const held of shown) {
    const row = document.createElement("li");
    row.dataset.item = held.item;
    row.append(document.createTextNode(held.text));
    if (admin && held.overridable) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `Override ${held.item} and print`;
      button.onclick = () => override(name, held.item);
      row.append(" ", button);
    }
    list.append(row);
  }
  box.hidden = false;
}

async function override(name, item) {
  const printer = shared.state ? shared.state.name : null;
  const prefix = hubPrefix();
  if (!printer || prefix === null) return;
  const url = new URL(`${prefix}api/printers/${encodeURIComponent(printer)}/dispatch-override`,
    window.location.origin);
  const headers = { "Content-Type": "application/json" };
  const token = csrfToken();
  if (token) headers["X-CSRF-Token"] = token;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ item, file: name }) });
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch { /* no body */ }
    showError((data && data.error) || `${response.status} ${response.statusText}`);
    return;
  }
  await startPrint(name);
}

// Run ``write`` at the next frame at most once, however often it is asked for:
// DOM writes are batched per frame, not done per WebSocket message.
export function perFrame(write) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      write();
    });
  };
}
