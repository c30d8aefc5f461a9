// The printer's own history: one row per job (a card on a phone), the outcome
// never cut, and "Print again" while the file is still stored.
import { $, api, call, clock, printBlocked, printFile, shared } from "./core.js";
import { lockActs } from "./rights.js";

const COLUMNS = ["File", "By", "Started", "Duration", "Outcome"];

function cell(label, text, className = "") {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function outcomeCell(job) {
  const td = cell("Outcome", "", "outcome");
  const word = document.createElement("span");
  word.className = "outcome-word";
  word.dataset.outcome = job.outcome || "running";
  word.textContent = job.outcome || "running";
  td.appendChild(word);
  const reason = job.reason || "";
  if (reason && !reason.startsWith(job.outcome || "")) {
    const why = document.createElement("small");
    why.textContent = reason;
    td.appendChild(why);
  }
  if (job.timelapse) td.appendChild(timelapseNote(job));
  return td;
}

// The job's timelapse: a link to the video once it is made, else its state; the
// record's notes (camera gone, video deleted) in words under it (docs/timelapse.md).
function timelapseNote(job) {
  const note = document.createElement("small");
  note.className = "timelapse";
  const { state, video, notes } = job.timelapse;
  if (state === "ready" && video) {
    const link = document.createElement("a");
    link.href = api(`api/v1/history/${job.id}/timelapse.mp4`);
    link.textContent = `Timelapse (${video.frames} frames, ${clock(video.duration_s)})`;
    link.setAttribute("aria-label", `Timelapse of ${job.file}`);
    note.appendChild(link);
  } else {
    note.textContent = `Timelapse: ${state}`;
  }
  if (notes && notes.length) note.append(` · ${notes.join("; ")}`);
  return note;
}

function againCell(job) {
  const td = cell("", "", "again");
  const button = document.createElement("button");
  button.className = "print-again";
  button.textContent = "Print again";
  button.dataset.file = job.file;
  button.setAttribute("aria-label", `Print ${job.file} again`);
  button.onclick = () => printFile(job.file);
  td.appendChild(button);
  return td;
}

export async function loadHistory() {
  const outcome = $("history-outcome").value;
  const query = outcome ? `?outcome=${encodeURIComponent(outcome)}&limit=50` : "?limit=50";
  $("history-csv").href = api(`api/v1/history.csv${outcome ? `?outcome=${outcome}` : ""}`);
  const data = await call("GET", `api/v1/history${query}`);
  if (!data) return;
  const rows = data.jobs.map((job) => {
    const row = document.createElement("tr");
    const started = new Date(job.started_at * 1000).toLocaleString();
    const file = cell(COLUMNS[0], job.file, "file");
    file.title = job.file;
    row.append(file, cell(COLUMNS[1], job.started_by || "–"), cell(COLUMNS[2], started, "started"),
      cell(COLUMNS[3], clock(job.duration), "duration"), outcomeCell(job), againCell(job));
    return row;
  });
  $("history").replaceChildren(...rows);
  updateAgain();
  lockActs();
}

// "Print again" follows the printer (ready, bed clear) and the files (still stored?).
export function updateAgain() {
  const blocked = printBlocked(shared.state);
  for (const button of document.querySelectorAll(".print-again")) {
    const stored = shared.files.has(button.dataset.file);
    const reason = stored ? blocked : `${button.dataset.file} is no longer stored.`;
    button.disabled = Boolean(reason);
    button.title = reason || "";
    let note = button.nextElementSibling;
    if (!stored && !note) {
      note = document.createElement("small");
      note.className = "gone";
      note.textContent = "File deleted";
      button.after(note);
    } else if (stored && note) {
      note.remove();
    }
  }
}

export function wireHistory() {
  $("history-outcome").onchange = loadHistory;
  loadHistory();
}
