// The stored files: thumbnails (lazy), the analysis in one line, search and
// sort (remembered in this browser), print and delete, and the upload box.
import {
  $, api, call, clock, confirmAction, csrfToken, printFile, shared, size, toLogin,
} from "./core.js";

const REMEMBERED = "fabfleet.printer-page.files";
let onFilesChanged = () => {};

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

function printTime(file) {
  const result = file.analysis && file.analysis.result;
  return result && result.estimated_time_s != null ? result.estimated_time_s : Infinity;
}

const ORDER = {
  name: (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: "base" }),
  date: (a, b) => b.modified - a.modified,
  size: (a, b) => b.size - a.size,
  time: (a, b) => printTime(a) - printTime(b) || ORDER.name(a, b),
};

// The largest thumbnail the slicer embedded, or null.
function thumbnailOf(file) {
  const result = file.analysis && file.analysis.result;
  const thumbnails = (result && result.thumbnails) || [];
  let best = null;
  for (const thumbnail of thumbnails) {
    if (!best || thumbnail.width * thumbnail.height > best.width * best.height) best = thumbnail;
  }
  return best;
}

function thumbnail(file) {
  const best = thumbnailOf(file);
  if (!best) {
    const placeholder = document.createElement("span");
    placeholder.className = "thumb placeholder";
    placeholder.setAttribute("aria-hidden", "true");
    return placeholder;
  }
  const image = document.createElement("img");
  image.className = "thumb";
  image.alt = "";
  image.loading = "lazy";
  image.width = image.height = 56;
  image.src = api(`api/v1/files/${encodeURIComponent(file.name)}/thumbnails/${best.index}`);
  return image;
}

function item(file) {
  const entry = document.createElement("li");
  entry.dataset.name = file.name;
  const meta = document.createElement("div");
  meta.className = "meta";
  const name = document.createElement("strong");
  name.textContent = file.name;
  name.title = file.name;
  const details = document.createElement("small");
  details.textContent = describe(file);
  meta.append(name, details);
  const print = document.createElement("button");
  print.textContent = "Print";
  print.className = "print-file";
  print.setAttribute("aria-label", `Print ${file.name}`);
  print.setAttribute("aria-describedby", "print-note");
  print.onclick = () => printFile(file.name);
  const remove = document.createElement("button");
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${file.name}`);
  remove.onclick = async () => {
    const question = { text: `Delete ${file.name}? It cannot be undone.`, yes: "Delete", no: "Keep file", danger: true };
    if (await confirmAction(question)) {
      if (await call("DELETE", `api/v1/files/${encodeURIComponent(file.name)}`)) loadFiles();
    }
  };
  entry.append(thumbnail(file), meta, print, remove);
  return entry;
}

// One list item per file, kept while the file is unchanged: a redraw (an
// analysis finishing, a search) moves the nodes instead of rebuilding them, so
// thumbnails are not fetched again and nothing under the pointer is replaced.
const items = new Map(); // name -> {key, node}

function itemFor(file) {
  const best = thumbnailOf(file);
  const key = JSON.stringify([file.size, file.modified, describe(file), best && best.index]);
  const kept = items.get(file.name);
  if (kept && kept.key === key) return kept.node;
  const node = item(file);
  items.set(file.name, { key, node });
  return node;
}

function renderFiles() {
  for (const name of items.keys()) if (!shared.files.has(name)) items.delete(name);
  const filter = $("file-filter").value.trim().toLowerCase();
  const order = ORDER[$("file-sort").value] || ORDER.name;
  const files = [...shared.files.values()]
    .filter((file) => !filter || file.name.toLowerCase().includes(filter))
    .sort(order);
  $("files").replaceChildren(...files.map(itemFor));
  $("files-empty").hidden = files.length > 0 || shared.files.size === 0;
  onFilesChanged();
}

export async function loadFiles() {
  const data = await call("GET", "api/v1/files");
  if (!data) return;
  shared.files = new Map(data.files.map((file) => [file.name, file]));
  renderFiles();
}

function upload(file) {
  if (shared.mayAct === false) return; // a watcher has no upload box; nor a drop
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

function remember() {
  const choice = { filter: $("file-filter").value, sort: $("file-sort").value };
  try { localStorage.setItem(REMEMBERED, JSON.stringify(choice)); } catch { /* private mode */ }
}

function recall() {
  let choice = {};
  try { choice = JSON.parse(localStorage.getItem(REMEMBERED) || "{}") || {}; } catch { /* none */ }
  if (typeof choice.filter === "string") $("file-filter").value = choice.filter;
  if (choice.sort in ORDER) $("file-sort").value = choice.sort;
}

// ``changed`` runs after every redraw of the list (the print buttons follow the state).
export function wireFiles(changed) {
  onFilesChanged = changed;
  recall();
  $("file-filter").oninput = () => { remember(); renderFiles(); };
  $("file-sort").onchange = () => { remember(); renderFiles(); };
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
  loadFiles();
}
