// The printer's page: one WebSocket for live state, plain fetch() for actions.
// Every URL is relative to the page, so it works standalone and under the
// proxy's /printers/<name>/ prefix alike. State messages are drawn at most once
// a frame (the newest wins); the parts live in modules of their own.
import {
  $, BUSY, NOTHING, call, clock, confirmAction, hubPrefix, perFrame, printBlocked, shared,
  showError, stateLabel,
} from "./core.js";
import { wireFarm } from "./farm.js";
import { loadFiles, wireFiles } from "./files.js";
import { loadHistory, updateAgain, wireHistory } from "./history.js";
import { loadRights, lockActs } from "./rights.js";
import { appendLog, wireTerminal } from "./terminal.js";
import { renderTune, wireTune } from "./tune.js";

let chart = null;
let latest = null; // the newest state message, not drawn yet

const BED_TEXT = {
  finished: "The print finished. Take it off the bed, then confirm the bed is clear.",
  failed: "The last print failed; what is left of it may still be on the bed. Clear it, then confirm.",
};
const BED_DEFAULT = "The last print may still be on the bed. Remove it, then confirm.";

// "Finishes at 14:32" (another day: "Finishes at Tue 09:05").
function finishTime(remaining) {
  if (remaining === null || remaining === undefined) return NOTHING;
  const end = new Date(Date.now() + remaining * 1000);
  const time = end.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const sameDay = end.toDateString() === new Date().toDateString();
  return sameDay ? time : `${end.toLocaleDateString([], { weekday: "short" })} ${time}`;
}

// "12 / 80 · Z 2.40 mm" from what the print server knows of the layers.
function layerText(job) {
  const parts = [];
  if (job.layer != null) parts.push(job.layer_count != null ? `${job.layer} / ${job.layer_count}` : `${job.layer}`);
  if (job.z != null) parts.push(`Z ${Number(job.z).toFixed(2)} mm`);
  return parts.length ? parts.join(" · ") : NOTHING;
}

function renderPrompt(prompt) {
  $("prompt").hidden = !prompt;
  if (!prompt) return;
  $("prompt-text").textContent = prompt.text;
  const choices = $("prompt-choices");
  if (choices.dataset.for === JSON.stringify(prompt)) return;
  choices.dataset.for = JSON.stringify(prompt);
  choices.replaceChildren(...prompt.choices.map((choice, index) => {
    const button = document.createElement("button");
    button.textContent = choice;
    button.onclick = () => call("POST", "api/v1/prompt", { choice: index });
    return button;
  }));
}

function renderWarnings(job) {
  const warnings = (job && job.warnings) || [];
  const list = $("job-warnings");
  list.hidden = warnings.length === 0;
  if (list.dataset.count === String(warnings.length)) return;
  list.dataset.count = String(warnings.length);
  list.replaceChildren(...warnings.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
}

function renderJob(state) {
  const job = state.job;
  const last = state.last_job;
  if (job) {
    $("job-file").textContent = job.file;
    const percent = (job.progress || 0) * 100;
    $("progress-bar").style.width = `${percent}%`;
    $("progress").setAttribute("aria-valuenow", percent.toFixed(0));
    $("percent").textContent = `${percent.toFixed(1)} %`;
    $("elapsed").textContent = clock(job.elapsed);
    $("remaining").textContent = clock(job.remaining);
    $("finish").textContent = finishTime(job.remaining);
    $("layer").textContent = layerText(job);
  } else {
    $("job-file").textContent = last ? `Last: ${last.file} (${last.outcome || "running"})` : "No job";
    const done = last && last.outcome === "completed";
    $("progress-bar").style.width = done ? "100%" : "0";
    $("progress").setAttribute("aria-valuenow", done ? "100" : "0");
    $("percent").textContent = done ? "100 %" : NOTHING;
    $("elapsed").textContent = last && last.duration != null ? clock(last.duration) : NOTHING;
    $("remaining").textContent = NOTHING;
    $("finish").textContent = NOTHING;
    $("layer").textContent = NOTHING;
  }
  $("pause").hidden = state.state !== "printing";
  $("resume").hidden = state.state !== "paused";
  $("cancel").hidden = !["printing", "pausing", "paused"].includes(state.state);
}

function renderHeaters(state) {
  const rows = Object.entries(state.heaters || {}).map(([name, reading]) => {
    const row = document.createElement("tr");
    const label = name === "B" ? "Bed" : name.startsWith("T") ? `Hotend ${name.slice(1)}` : name;
    const actual = reading.actual == null ? NOTHING : reading.actual.toFixed(1);
    const target = reading.target ? ` / ${reading.target.toFixed(0)}` : "";
    const head = document.createElement("td");
    const value = document.createElement("td");
    head.textContent = label;
    value.textContent = `${actual}${target} °C`;
    row.append(head, value);
    return row;
  });
  $("heaters").replaceChildren(...rows);
}

// Print buttons say why they are disabled; so does "Print again". Last, a
// watcher's acting controls are disabled whatever the printer's state.
function updatePrintButtons() {
  const blocked = printBlocked(shared.state);
  const note = $("print-note");
  note.textContent = blocked;
  note.hidden = !blocked || shared.files.size === 0;
  document.querySelectorAll(".print-file").forEach((button) => {
    button.disabled = Boolean(blocked);
    button.title = blocked;
  });
  updateAgain();
  lockActs();
}

function render() {
  const state = latest;
  if (!state) return;
  latest = null;
  shared.state = state;
  const label = stateLabel(state.state);
  document.title = `${state.name} – ${label}`;
  $("name").textContent = state.name;
  const badge = $("state");
  if (badge.dataset.state !== state.state || badge.textContent !== label) {
    badge.textContent = label;
    badge.dataset.state = state.state;
  }
  if (state.error) showError(state.error, 0);
  else if (Date.now() > Number($("error").dataset.until || 0)) showError("", 0);
  $("notice").hidden = !state.notice;
  $("notice").textContent = state.notice || "";

  // After any job (finished, failed, cancelled) until someone confirms the bed.
  const bedWaits = !BUSY.has(state.state) && state.bed_clear === false;
  $("bed").hidden = !bedWaits;
  if (bedWaits) $("bed-text").textContent = BED_TEXT[state.state] || BED_DEFAULT;

  renderPrompt(state.prompt);
  renderWarnings(state.job);
  renderJob(state);
  renderHeaters(state);
  renderTune(state);

  const busy = BUSY.has(state.state);
  document.querySelectorAll("[data-jog], [data-home], #motors-off, #extrude button")
    .forEach((button) => { button.disabled = busy || !state.connected; });
  updatePrintButtons();

  const camera = $("camera");
  if (state.camera_url && camera.dataset.src !== state.camera_url) {
    camera.dataset.src = state.camera_url;
    camera.src = state.camera_url;
  }
  $("camera-panel").hidden = !state.camera_url;
}

const draw = perFrame(render);

function received(state) {
  const wasBusy = shared.state && BUSY.has(shared.state.state);
  latest = state;
  // The chart keeps every sample; its own drawing is throttled.
  chart.add(Date.now() / 1000, state.heaters);
  draw();
  // Other parts of the page (the toolpath preview) may follow the state too.
  document.dispatchEvent(new CustomEvent("printer-state", { detail: state }));
  if (wasBusy && !BUSY.has(state.state)) {
    shared.state = state;
    loadHistory();
  }
}

function connect() {
  const url = new URL("api/v1/events", document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.onopen = () => {
    $("link").textContent = "live";
    $("link").classList.add("live");
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "state") received(message);
    else if (message.type === "log") appendLog(message.lines.map(([, direction, text]) => [direction, text]));
    else if (message.type === "file") loadFiles();
  };
  socket.onclose = () => {
    $("link").textContent = "reconnecting…";
    $("link").classList.remove("live");
    setTimeout(connect, 1000);
  };
}

function wire() {
  chart = new window.TemperatureChart($("chart"));
  // Behind the hub (/printers/<name>/), a way back to the fleet.
  const prefix = hubPrefix();
  if (prefix !== null) {
    $("fleet-link").href = prefix;
    $("fleet-link").hidden = false;
  }
  $("pause").onclick = () => call("POST", "api/v1/job/pause");
  $("resume").onclick = () => call("POST", "api/v1/job/resume");
  $("cancel").onclick = async () => {
    const file = shared.state && shared.state.job ? shared.state.job.file : "this print";
    const question = { text: `Cancel ${file}? It cannot be resumed.`, yes: "Cancel print", no: "Keep printing", danger: true };
    if (await confirmAction(question)) await call("POST", "api/v1/job/cancel");
  };
  $("bed-clear").onclick = () => call("POST", "api/v1/bed/clear");
  document.querySelectorAll("[data-jog]").forEach((button) => {
    button.onclick = () => {
      const [axis, sign] = [button.dataset.jog[0], button.dataset.jog[1]];
      const step = Number($("step").value) * (sign === "+" ? 1 : -1);
      call("POST", "api/v1/control/jog", { [axis]: step });
    };
  });
  document.querySelectorAll("[data-home]").forEach((button) => {
    button.onclick = () => call("POST", "api/v1/control/home", { axes: button.dataset.home });
  });
  $("motors-off").onclick = () => call("POST", "api/v1/control/motors-off");
  $("cool-down").onclick = () => call("POST", "api/v1/control/cool-down");
  $("preheat").onsubmit = (event) => {
    event.preventDefault();
    call("POST", "api/v1/control/temperature",
      { hotend: Number($("hotend-target").value), bed: Number($("bed-target").value) });
  };
  $("extrude").onsubmit = (event) => {
    event.preventDefault();
    call("POST", "api/v1/control/extrude", { length: Number($("extrude-length").value) });
  };
  $("fan").onsubmit = (event) => {
    event.preventDefault();
    call("POST", "api/v1/control/fan", { percent: Number($("fan-percent").value) });
  };
  wireTune();
  wireFarm();
  wireTerminal();
  wireFiles(updatePrintButtons);
  wireHistory();
  loadRights(updatePrintButtons);
  call("GET", "api/v1/temperatures").then((data) => { if (data) chart.load(data); });
  connect();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
else wire();
