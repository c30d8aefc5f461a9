// Tuning a print while it runs: speed (M220) and flow (M221) in percent, Z
// babysteps (M290); and one-click preheating from the printer's material presets.
import { $, call } from "./core.js";

// When the print server names no materials of its own.
export const BUILT_IN_PRESETS = [
  { name: "PLA", hotend: 210, bed: 60 },
  { name: "PETG", hotend: 240, bed: 80 },
  { name: "ABS", hotend: 250, bed: 100 },
];

function millimetres(value) {
  return `${value > 0 ? "+" : ""}${value.toFixed(2)} mm`;
}

function showOverrides(overrides) {
  if (!overrides) return;
  // A field the user is typing in is left alone.
  for (const [id, value] of [["feed-percent", overrides.feed_percent], ["flow-percent", overrides.flow_percent]]) {
    const input = $(id);
    if (document.activeElement !== input && input.dataset.shown !== String(value)) {
      input.value = value;
      input.dataset.shown = String(value);
    }
  }
  $("babystep-total").textContent = millimetres(overrides.babystep_z_mm);
}

async function setOverride(field, input) {
  const value = Number(input.value);
  const done = await call("POST", "api/v1/printer/overrides", { [field]: value });
  if (done) showOverrides(done.overrides);
}

let presetsShown = "";

function showPresets(presets) {
  const list = presets && presets.length ? presets : BUILT_IN_PRESETS;
  const key = JSON.stringify(list);
  if (key === presetsShown) return;
  presetsShown = key;
  $("presets").replaceChildren(...list.map((preset) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "preset";
    button.textContent = `${preset.name} ${preset.hotend}/${preset.bed} °C`;
    button.title = `Preheat for ${preset.name}: hotend ${preset.hotend} °C, bed ${preset.bed} °C`;
    button.onclick = () => {
      $("hotend-target").value = preset.hotend;
      $("bed-target").value = preset.bed;
      call("POST", "api/v1/control/temperature", { hotend: preset.hotend, bed: preset.bed });
    };
    return button;
  }));
}

export function renderTune(state) {
  showOverrides(state.overrides);
  showPresets(state.presets);
  const off = !state.connected;
  document.querySelectorAll("#tune-panel button, #tune-panel input, .preset")
    .forEach((control) => { control.disabled = off; });
}

export function wireTune() {
  $("feed-form").onsubmit = (event) => {
    event.preventDefault();
    setOverride("feed_percent", $("feed-percent"));
  };
  $("flow-form").onsubmit = (event) => {
    event.preventDefault();
    setOverride("flow_percent", $("flow-percent"));
  };
  document.querySelectorAll("[data-babystep]").forEach((button) => {
    button.onclick = async () => {
      const done = await call("POST", "api/v1/printer/babystep", { z_mm: Number(button.dataset.babystep) });
      if (done) showOverrides(done.overrides);
    };
  });
  showPresets(null);
}
