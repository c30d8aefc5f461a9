// Who may press what. A user who may watch this printer but not act on it (a
// viewer, or an operator not granted it: the hub's gate says so, GET api/v1/me
// repeats it) finds every control that acts disabled, the reason shown once near
// the top and as each control's title, and no upload box. The print server
// refuses such requests anyway; this only spares the user a useless press.
import { $, call, shared } from "./core.js";

export const WATCH_ONLY = "You may watch this printer, not act on it.";

// Every control that changes something on the printer or its files. Watching
// (preview, terminal filters, file search and sort, history filter, CSV) stays.
const ACTS = [
  "#job-panel button", // pause, resume, cancel, bed is clear, the firmware's prompt
  "#tune-panel button", "#tune-panel input", // speed, flow, babysteps
  "[data-jog]", "[data-home]", "#motors-off", "#cool-down",
  "#presets button", "#preheat button", "#preheat input",
  "#extrude button", "#extrude input", "#fan button", "#fan input",
  "#send button", "#command", // the terminal's Send
  "#files button", "#upload", // print and delete a file, upload one
  "#history .print-again",
].join(", ");

// Whether the user may only watch (false until the print server has said so).
export function watchOnly() {
  return shared.mayAct === false;
}

// Disable every acting control for a watcher; the parts of the page call this
// after they (re)draw or re-enable their controls.
export function lockActs() {
  if (!watchOnly()) return;
  for (const control of document.querySelectorAll(ACTS)) {
    control.disabled = true;
    control.title = WATCH_ONLY;
    control.setAttribute("aria-describedby", "watch-only");
  }
}

// Ask once who the user is to this printer; ``changed`` redraws what depends on it.
export async function loadRights(changed) {
  const me = await call("GET", "api/v1/me");
  shared.mayAct = !me || me.may_act !== false;
  const note = $("watch-only");
  note.textContent = WATCH_ONLY;
  note.hidden = shared.mayAct;
  $("drop").hidden = !shared.mayAct;
  changed();
}
