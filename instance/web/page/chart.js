// A small temperature chart on a canvas: an hour of 1 Hz samples for a few
// series, redrawn at most once per animation frame. No library: a Raspberry Pi
// must keep up, so samples live in plain arrays and old ones are dropped.
"use strict";

class TemperatureChart {
  constructor(canvas, windowSeconds = 3600) {
    this.canvas = canvas;
    this.window = windowSeconds;
    this.series = new Map(); // name -> {times: [], values: []}
    this.colors = ["#d9480f", "#1f6feb", "#f59f00", "#2b8a3e", "#862e9c", "#495057"];
    this.pending = false;
    this.draws = 0;
    window.addEventListener("resize", () => this.schedule());
  }

  // Replace everything with a series set from GET api/v1/temperatures.
  load(data) {
    this.series.clear();
    for (const [name, values] of Object.entries(data.series || {})) {
      this.series.set(name, { times: data.times.slice(), values: values.slice() });
    }
    this.schedule();
  }

  // One sample per heater: {"T0": {actual, target}, ...} at unix time `time`.
  add(time, heaters) {
    for (const [heater, reading] of Object.entries(heaters || {})) {
      for (const kind of ["actual", "target"]) {
        const name = `${heater}.${kind}`;
        let line = this.series.get(name);
        if (!line) {
          line = { times: [], values: [] };
          this.series.set(name, line);
        }
        const last = line.times.length ? line.times[line.times.length - 1] : -Infinity;
        if (time - last < 0.5) continue; // one sample a second is enough
        line.times.push(time);
        line.values.push(reading[kind]);
      }
    }
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const now = Date.now() / 1000;
    let oldest = now;
    for (const line of this.series.values()) {
      if (line.times.length && line.times[0] < oldest) oldest = line.times[0];
    }
    // Show what there is: from 5 minutes up to the whole window.
    const span = Math.min(this.window, Math.max(300, now - oldest));
    const start = now - span;
    let top = 50;
    for (const line of this.series.values()) {
      // Drop what fell out of the window, so memory stays bounded.
      let cut = 0;
      while (cut < line.times.length && line.times[cut] < now - this.window) cut++;
      if (cut) {
        line.times.splice(0, cut);
        line.values.splice(0, cut);
      }
      for (const v of line.values) if (v !== null && v > top) top = v;
    }
    top = Math.ceil(top / 50) * 50;
    const left = 34, bottom = height - 18;
    g.strokeStyle = "#e3e6eb";
    g.fillStyle = "#5b6578";
    g.font = "11px system-ui, sans-serif";
    g.lineWidth = 1;
    for (let t = 0; t <= top; t += 50) {
      const y = bottom - (t / top) * (bottom - 6);
      g.beginPath(); g.moveTo(left, y); g.lineTo(width, y); g.stroke();
      g.fillText(String(t), 2, y + 4);
    }
    g.fillText(`-${Math.round(span / 60)} min`, left, height - 4);
    g.fillText("now", width - 26, height - 4);
    let index = 0;
    const legend = [];
    for (const [name, line] of this.series) {
      const color = this.colors[Math.floor(index / 2) % this.colors.length];
      index++;
      g.strokeStyle = color;
      g.lineWidth = name.endsWith(".target") ? 1 : 2;
      g.setLineDash(name.endsWith(".target") ? [4, 3] : []);
      g.beginPath();
      let started = false;
      for (let i = 0; i < line.times.length; i++) {
        const value = line.values[i];
        if (value === null || value === undefined) { started = false; continue; }
        const x = left + ((line.times[i] - start) / span) * (width - left);
        const y = bottom - (value / top) * (bottom - 6);
        if (started) g.lineTo(x, y); else g.moveTo(x, y);
        started = true;
      }
      g.stroke();
      if (!name.endsWith(".target")) legend.push([name.split(".")[0], color]);
    }
    g.setLineDash([]);
    let x = left + 6;
    for (const [label, color] of legend) {
      g.fillStyle = color;
      g.fillRect(x, 6, 10, 10);
      g.fillStyle = "#1d2330";
      g.fillText(label, x + 14, 15);
      x += 44;
    }
    this.draws++;
    canvas.dataset.draws = String(this.draws);
    canvas.dataset.samples = String(
      Array.from(this.series.values()).reduce((n, line) => n + line.values.length, 0));
  }
}

window.TemperatureChart = TemperatureChart;
