// The printer's page: one WebSocket for live state, plain fetch() for actions.
// Every URL is relative to the page, so it works standalone and under the
// proxy's /printers/<name>/ prefix alike.
"use strict";

const $ = (id) => document.getElementById(id);
const api = (path) => new URL(path, document.baseURI).toString();
const BUSY = new Set(["printing", "pausing", "paused", "cancelling"]);
let current = null; // the last state message
let chart = null;

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// Behind the hub, the session's CSRF token (the fabfleet_csrf cookie) goes with
// every request that changes something; standalone there is no such cookie.
function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === "fabfleet_csrf") return decodeURIComponent(value.join("="));
  }
  return null;
}

// Not logged in (the hub's gate said 401): to the hub's login page at the site
// root (before this page's /printers/<name>/), and back here afterwards.
function toLogin() {
  const base = new URL(document.baseURI);
  const prefix = base.pathname.match(/^(.*?\/)printers\/[^/]+\//);
  const login = new URL(`${prefix ? prefix[1] : "/"}login`, base.origin);
  login.searchParams.set("next", window.location.pathname + window.location.search);
  window.location.assign(login.toString());
}

// A request to the print server; on any failure the page says why and the
// result is null (a button press never leaves an unhandled error behind).
async function call(method, path, body) {
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

// A refused action stays in view for a while; the printer's own error as long as it lasts.
function showError(message, seconds = 8) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  box.dataset.until = String(Date.now() + seconds * 1000);
}

function confirmFirst(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
  });
}

// ---- state ----------------------------------------------------------------

function render(state) {
  current = state;
  document.title = `${state.name} – ${state.state}`;
  $("name").textContent = state.name;
  const badge = $("state");
  badge.textContent = state.state;
  badge.dataset.state = state.state;
  if (state.error) showError(state.error, 0);
  else if (Date.now() > Number($("error").dataset.until || 0)) showError("", 0);

  $("notice").hidden = !state.notice;
  $("notice").textContent = state.notice || "";

  $("bed").hidden = state.state !== "bed not cleared";
  const prompt = state.prompt;
  $("prompt").hidden = !prompt;
  if (prompt) {
    $("prompt-text").textContent = prompt.text;
    const choices = $("prompt-choices");
    if (choices.dataset.for !== JSON.stringify(prompt)) {
      choices.dataset.for = JSON.stringify(prompt);
      choices.replaceChildren(...prompt.choices.map((choice, index) => {
        const button = document.createElement("button");
        button.textContent = choice;
        button.onclick = () => call("POST", "api/v1/prompt", { choice: index });
        return button;
      }));
    }
  }

  const job = state.job;
  const last = state.last_job;
  const warnings = (job && job.warnings) || [];
  const list = $("job-warnings");
  list.hidden = warnings.length === 0;
  if (list.dataset.count !== String(warnings.length)) {
    list.dataset.count = String(warnings.length);
    list.replaceChildren(...warnings.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
  }
  if (job) {
    $("job-file").textContent = job.file;
    const percent = (job.progress || 0) * 100;
    $("progress-bar").style.width = `${percent}%`;
    $("progress").setAttribute("aria-valuenow", percent.toFixed(0));
    $("percent").textContent = `${percent.toFixed(1)} %`;
    $("elapsed").textContent = clock(job.elapsed);
    $("remaining").textContent = clock(job.remaining);
  } else {
    $("job-file").textContent = last ? `Last: ${last.file} (${last.outcome || "running"})` : "No job";
    const done = last && last.outcome === "completed";
    $("progress-bar").style.width = done ? "100%" : "0";
    $("progress").setAttribute("aria-valuenow", done ? "100" : "0");
    $("percent").textContent = done ? "100 %" : "–";
    $("elapsed").textContent = last && last.duration != null ? clock(last.duration) : "–";
    $("remaining").textContent = "–";
  }
  $("pause").hidden = state.state !== "printing";
  $("resume").hidden = state.state !== "paused";
  $("cancel").hidden = !["printing", "pausing", "paused"].includes(state.state);

  const rows = Object.entries(state.heaters || {}).map(([name, reading]) => {
    const row = document.createElement("tr");
    const label = name === "B" ? "Bed" : name.startsWith("T") ? `Hotend ${name.slice(1)}` : name;
    const actual = reading.actual == null ? "–" : reading.actual.toFixed(1);
    const target = reading.target ? ` / ${reading.target.toFixed(0)}` : "";
    row.innerHTML = `<td></td><td>${actual}${target} °C</td>`;
    row.firstChild.textContent = label;
    return row;
  });
  $("heaters").replaceChildren(...rows);
  chart.add(Date.now() / 1000, state.heaters);

  const busy = BUSY.has(state.state);
  document.querySelectorAll("[data-jog], [data-home], #motors-off, #extrude button")
    .forEach((button) => { button.disabled = busy || !state.connected; });
  document.querySelectorAll(".print-file")
    .forEach((button) => { button.disabled = state.state !== "ready"; });

  const camera = $("camera");
  if (state.camera_url && camera.dataset.src !== state.camera_url) {
    camera.dataset.src = state.camera_url;
    camera.src = state.camera_url;
  }
  $("camera-panel").hidden = !state.camera_url;
}

function appendLog(lines) {
  const terminal = $("terminal");
  const atBottom = terminal.scrollTop + terminal.clientHeight >= terminal.scrollHeight - 4;
  for (const [, direction, text] of lines) {
    const line = document.createElement("div");
    line.textContent = `${direction} ${text}`;
    if (direction === ">") line.className = "sent";
    terminal.appendChild(line);
  }
  while (terminal.childElementCount > 500) terminal.firstChild.remove();
  if (atBottom) terminal.scrollTop = terminal.scrollHeight;
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
    if (message.type === "state") {
      const wasBusy = current && BUSY.has(current.state);
      render(message);
      if (wasBusy && !BUSY.has(message.state)) loadHistory();
    } else if (message.type === "log") {
      appendLog(message.lines);
    } else if (message.type === "file") {
      loadFiles();
    }
  };
  socket.onclose = () => {
    $("link").textContent = "reconnecting…";
    $("link").classList.remove("live");
    setTimeout(connect, 1000);
  };
}

// ---- files ----------------------------------------------------------------

function describe(file) {
  const analysis = file.analysis || {};
  const result = analysis.result;
  const parts = [size(file.size)];
  if (analysis.status === "pending") parts.push("analysing…");
  if (analysis.status === "failed") parts.push(`analysis failed: ${analysis.error}`);
  if (result) {
    if (result.estimated_time_s != null) parts.push(clock(result.estimated_time_s));
    if (result.filament) {
      const grams = result.filament.weight_g != null ? `, ${result.filament.weight_g.toFixed(1)} g` : "";
      parts.push(`${(result.filament.length_mm / 1000).toFixed(2)} m${grams}`);
    }
    if (result.layers) parts.push(`${result.layers.count} layers`);
  }
  return parts.join(" · ");
}

async function loadFiles() {
  const data = await call("GET", "api/v1/files");
  if (!data) return;
  const items = data.files.map((file) => {
    const item = document.createElement("li");
    item.dataset.name = file.name;
    const result = file.analysis && file.analysis.result;
    if (result && result.thumbnails && result.thumbnails.length) {
      const image = document.createElement("img");
      image.alt = "";
      image.src = api(`api/v1/files/${encodeURIComponent(file.name)}/thumbnails/${result.thumbnails.length - 1}`);
      item.appendChild(image);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.innerHTML = "<strong></strong><small></small>";
    meta.querySelector("strong").textContent = file.name;
    meta.querySelector("small").textContent = describe(file);
    item.appendChild(meta);
    const print = document.createElement("button");
    print.textContent = "Print";
    print.className = "print-file";
    print.disabled = !current || current.state !== "ready";
    print.onclick = async () => {
      if (await confirmFirst(`Print ${file.name} now?`)) {
        await call("POST", "api/v1/job", { file: file.name });
      }
    };
    const remove = document.createElement("button");
    remove.textContent = "Delete";
    remove.onclick = async () => {
      if (await confirmFirst(`Delete ${file.name}?`)) {
        if (await call("DELETE", `api/v1/files/${encodeURIComponent(file.name)}`)) loadFiles();
      }
    };
    item.append(print, remove);
    return item;
  });
  $("files").replaceChildren(...items);
}

function upload(file) {
  const status = $("upload-status");
  const form = new FormData();
  form.append("file", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", api("api/v1/files"));
  const token = csrfToken();
  if (token) request.setRequestHeader("X-CSRF-Token", token);
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) {
      status.textContent = `Uploading ${file.name}: ${Math.round((event.loaded / event.total) * 100)} %`;
    }
  };
  request.onload = () => {
    let data = {};
    try { data = JSON.parse(request.responseText); } catch { /* empty */ }
    if (request.status === 401) {
      toLogin();
    } else if (request.status === 201) {
      status.textContent = `Uploaded ${data.file.name}`;
      loadFiles();
    } else {
      status.textContent = `Upload refused: ${data.error || request.status}`;
    }
  };
  request.onerror = () => { status.textContent = "Upload failed: the server did not answer"; };
  request.send(form);
}

// ---- history --------------------------------------------------------------

function outcomeText(job) {
  if (!job.outcome) return "running";
  const reason = job.reason || "";
  return reason && !reason.startsWith(job.outcome) ? `${job.outcome}: ${reason}` : job.outcome;
}

async function loadHistory() {
  const outcome = $("history-outcome").value;
  const query = outcome ? `?outcome=${encodeURIComponent(outcome)}&limit=50` : "?limit=50";
  $("history-csv").href = api(`api/v1/history.csv${outcome ? `?outcome=${outcome}` : ""}`);
  const data = await call("GET", `api/v1/history${query}`);
  if (!data) return;
  const rows = data.jobs.map((job) => {
    const row = document.createElement("tr");
    const started = new Date(job.started_at * 1000).toLocaleString();
    const cells = [job.file, job.started_by, started, clock(job.duration),
      outcomeText(job)];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    row.title = job.reason || "";
    return row;
  });
  $("history").replaceChildren(...rows);
}

// ---- wiring ---------------------------------------------------------------

function wire() {
  chart = new window.TemperatureChart($("chart"));
  $("pause").onclick = () => call("POST", "api/v1/job/pause");
  $("resume").onclick = () => call("POST", "api/v1/job/resume");
  $("cancel").onclick = async () => {
    if (await confirmFirst("Cancel this print? It cannot be resumed.")) {
      await call("POST", "api/v1/job/cancel");
    }
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
  $("send").onsubmit = (event) => {
    event.preventDefault();
    const command = $("command").value.trim();
    if (!command) return;
    call("POST", "api/v1/terminal", { command }).then((done) => {
      if (done) $("command").value = "";
    });
  };
  $("history-outcome").onchange = loadHistory;

  const drop = $("drop");
  const input = $("upload");
  input.onchange = () => { if (input.files.length) upload(input.files[0]); input.value = ""; };
  drop.onkeydown = (event) => { if (event.key === "Enter" || event.key === " ") input.click(); };
  drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) upload(event.dataTransfer.files[0]);
  };

  call("GET", "api/v1/temperatures").then((data) => { if (data) chart.load(data); });
  call("GET", "api/v1/terminal?limit=200").then((data) => {
    if (data) appendLog(data.lines.map((line) => [line.time, line.direction, line.text]));
  });
  loadFiles();
  loadHistory();
  connect();
}

document.addEventListener("DOMContentLoaded", wire);
