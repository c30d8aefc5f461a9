// The terminal: what went to the printer (>) and came back (<), with the
// temperature reports and plain "ok"s hidden unless asked for, and a view that
// follows new lines until the user scrolls up to read.
import { $, call, perFrame } from "./core.js";

const KEPT = 1000;
// "T:210.0 /210.0 B:60.0 /60.0 @:0", with or without a leading "ok", and the polls.
const TEMPERATURE = /(^|\s)T\d*:\s*-?[\d.]+\s*\/\s*-?[\d.]+|^M105\b|^M155\b/;
// "ok", "ok N12 P15 B3" (ADVANCED_OK), "ok 12" (Repetier): an acknowledgement and nothing else.
const PLAIN_OK = /^ok(\s+(N\d+|P\d+|B\d+|\d+))*\s*$/;
const pending = [];

export function kindOf(text) {
  if (TEMPERATURE.test(text)) return "temperature";
  if (PLAIN_OK.test(text)) return "ok";
  return "";
}

function atBottom(terminal) {
  return terminal.scrollTop + terminal.clientHeight >= terminal.scrollHeight - 4;
}

const flush = perFrame(() => {
  const terminal = $("terminal");
  const lines = pending.splice(0);
  const fragment = document.createDocumentFragment();
  for (const [direction, text] of lines) {
    const line = document.createElement("div");
    line.textContent = `${direction} ${text}`;
    const kind = kindOf(text);
    if (kind) line.dataset.kind = kind;
    if (direction === ">") line.className = "sent";
    fragment.appendChild(line);
  }
  terminal.appendChild(fragment);
  let extra = terminal.childElementCount - KEPT;
  while (extra-- > 0) terminal.firstChild.remove();
  if ($("autoscroll").checked) terminal.scrollTop = terminal.scrollHeight;
});

// ``lines``: [direction, text] pairs.
export function appendLog(lines) {
  pending.push(...lines);
  flush();
}

export function wireTerminal() {
  const terminal = $("terminal");
  const filter = (box, name) => {
    box.onchange = () => {
      terminal.classList.toggle(name, box.checked);
      if ($("autoscroll").checked) terminal.scrollTop = terminal.scrollHeight;
    };
  };
  filter($("hide-temperatures"), "hide-temperature");
  filter($("hide-ok"), "hide-ok");
  // Scrolling up to read stops the following; back at the bottom, it follows again.
  terminal.addEventListener("scroll", () => { $("autoscroll").checked = atBottom(terminal); },
    { passive: true });
  $("autoscroll").onchange = () => {
    if ($("autoscroll").checked) terminal.scrollTop = terminal.scrollHeight;
  };
  $("send").onsubmit = (event) => {
    event.preventDefault();
    const command = $("command").value.trim();
    if (!command) return;
    call("POST", "api/v1/terminal", { command }).then((done) => {
      if (done) $("command").value = "";
    });
  };
  call("GET", "api/v1/terminal?limit=500").then((data) => {
    if (data) appendLog(data.lines.map((line) => [line.direction, line.text]));
  });
}
