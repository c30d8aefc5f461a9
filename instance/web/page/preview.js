// The toolpath preview: one layer of a file at a time on a <canvas>, seen from
// above, the layers below it faint; while a job prints it follows the current
// layer and shows the part of it done so far in its own colour.
//
// It knows the page only through the "printer-state" event page.js dispatches
// with every state message. The packed format it reads is described in
// docs/printer-page.md ("Toolpath preview").
"use strict";

(() => {
  const HEADER = 32, LAYER = 24, MAGIC = "FFTP", VERSION = 1;
  const COLOURS = {
    below: "#c5ccd6", layer: "#1f6feb", done: "#d9480f", travel: "#8a93a3", todo: "#8fb4f5",
  };
  const BELOW_LAYERS = 150, NEAR_LAYERS = 10;
  const PRINTING = new Set(["printing", "pausing", "paused", "cancelling"]);
  const $ = (id) => document.getElementById(id);

  let canvas, context, slider, status, label, chooser;
  let chosen = ""; // the file picked in the box, "" to show what the printer does
  let latest = null; // the last state message
  let toolpath = null; // the parsed preview of `file`
  let file = null, jobId = null, loading = null;
  let layer = 0; // 0-based index of the layer shown
  let job = null; // the running job of the last state message, if it prints `file`
  let follow = true;
  let below = null, belowUpTo = 0; // offscreen canvas holding layers [0, belowUpTo) faint
  let frame = 0, draws = 0, fresh = false, fetchedAt = 0;
  // Zoom (1: the part fits) and pan (device pixels); the view the faint layers were drawn in.
  let zoom = 1, panX = 0, panY = 0, belowView = "", drag = null;
  const paths = new Map(); // layer index → {extrude, travel} Path2D in file units

  function parse(buffer) {
    const view = new DataView(buffer);
    const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
    if (magic !== MAGIC || view.getUint16(4, true) !== VERSION) {
      throw new Error("the preview is in a format this page does not know");
    }
    const every = view.getUint16(6, true), count = view.getUint32(8, true);
    const bounds = [16, 20, 24, 28].map((at) => view.getInt32(at, true));
    const layers = [];
    let at = HEADER + count * LAYER;
    for (let i = 0; i < count; i++) {
      const base = HEADER + i * LAYER;
      const points = view.getUint32(base + 20, true);
      const checks = Math.ceil(points / every);
      layers.push({
        offset: view.getFloat64(base, true),
        z: view.getInt32(base + 8, true) / 1000,
        x: view.getInt32(base + 12, true),
        y: view.getInt32(base + 16, true),
        steps: new Int16Array(buffer, at, points * 2),
        checkpoints: new Uint32Array(buffer, at + points * 4, checks),
      });
      at += points * 4 + checks * 4;
    }
    return { every, bounds, layers };
  }

  // One Path2D for the extrusions of a layer (up to `upto` points), one for its travels.
  function build(index, upto) {
    const entry = toolpath.layers[index];
    const extrude = new Path2D(), travel = new Path2D();
    let x = entry.x, y = entry.y, pen = false;
    const steps = entry.steps, end = Math.min(upto, steps.length / 2) * 2;
    extrude.moveTo(x, y);
    travel.moveTo(x, y);
    for (let i = 0; i < end; i += 2) {
      const sx = steps[i], nx = x + (sx >> 1), ny = y + steps[i + 1];
      if (sx & 1) {
        if (!pen) extrude.moveTo(x, y);
        extrude.lineTo(nx, ny);
        pen = true;
      } else {
        travel.moveTo(x, y);
        travel.lineTo(nx, ny);
        pen = false;
      }
      x = nx; y = ny;
    }
    return { extrude, travel };
  }

  function layerPaths(index) {
    let found = paths.get(index);
    if (!found) {
      found = build(index, Infinity);
      paths.set(index, found);
    }
    return found;
  }

  // How many of the layer's points are done once `bytes` of the file are acknowledged.
  function pointsDone(index, bytes) {
    const entry = toolpath.layers[index], every = toolpath.every;
    const total = entry.steps.length / 2, relative = bytes - entry.offset;
    const checks = entry.checkpoints;
    let k = -1;
    while (k + 1 < checks.length && checks[k + 1] < relative) k++;
    if (k < 0) return 0;
    const next = toolpath.layers[index + 1];
    const after = k + 1 < checks.length ? checks[k + 1] : (next ? next.offset - entry.offset : relative + 1);
    const share = (relative - checks[k]) / Math.max(1, after - checks[k]);
    return Math.min(total, k * every + 1 + Math.floor(share * Math.min(every, total - k * every)));
  }

  // The 1-based layer under way once `bytes` are acknowledged (0: before the first).
  function layerAt(bytes) {
    let low = 0, high = toolpath.layers.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (toolpath.layers[middle].offset < bytes) low = middle + 1; else high = middle;
    }
    return low;
  }

  function transform(target) {
    const [minX, minY, maxX, maxY] = toolpath.bounds;
    const width = Math.max(1, maxX - minX), height = Math.max(1, maxY - minY);
    const margin = 12 * (window.devicePixelRatio || 1);
    const scale = Math.min((target.width - 2 * margin) / width, (target.height - 2 * margin) / height);
    const left = (target.width - width * scale) / 2, top = (target.height - height * scale) / 2;
    const cx = target.width / 2, cy = target.height / 2;
    const x = cx + (left - minX * scale - cx) * zoom + panX, y = cy + (top + maxY * scale - cy) * zoom + panY;
    // Printer Y points away from the operator: up on the screen.
    return { scale: scale * zoom, matrix: [scale * zoom, 0, 0, -scale * zoom, x, y] };
  }

  function stroke(target, path, colour, widthPx, view) {
    target.setTransform(...view.matrix);
    target.strokeStyle = colour;
    target.lineWidth = widthPx / view.scale;
    target.stroke(path);
  }

  // The faint layers below, kept on a canvas of their own: going up a layer (as a print does)
  // adds one layer to it. Drawn afresh, far down a tall file, only every few layers are drawn
  // (seen from above they cover one another), and each of the last few.
  function fillBelow(view, upto) {
    let stride = 1;
    const seen = `${zoom} ${panX} ${panY}`;
    if (!below || below.width !== canvas.width || below.height !== canvas.height || upto < belowUpTo
        || seen !== belowView) {
      belowView = seen;
      below = below || document.createElement("canvas");
      below.width = canvas.width;
      below.height = canvas.height;
      belowUpTo = 0;
      stride = Math.max(1, Math.floor(upto / BELOW_LAYERS));
    }
    const target = below.getContext("2d");
    target.lineJoin = "round";
    for (; belowUpTo < upto; belowUpTo++) {
      if (belowUpTo % stride && belowUpTo < upto - NEAR_LAYERS) continue;
      stroke(target, layerPaths(belowUpTo).extrude, COLOURS.below, 1.5, view);
    }
  }

  function draw() {
    frame = 0;
    if (!toolpath) {
      // Nothing (yet) to show: no picture of another file stays behind.
      context.setTransform(1, 0, 0, 1, 0, 0);
      context.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const started = performance.now();
    const dpr = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * dpr), height = Math.round(canvas.clientHeight * dpr);
    if (!width || !height) return; // not laid out (yet): a 0-sized canvas cannot be drawn from
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (toolpath.layers.length) {
      const view = transform(canvas);
      if (drag && below) {
        // While dragging, the faint layers move as a picture; drawn afresh when let go.
        context.drawImage(below, panX - drag.belowX, panY - drag.belowY);
      } else {
        fillBelow(view, layer);
        context.drawImage(below, 0, 0);
      }
      context.lineJoin = "round";
      const lineWidth = 2 * dpr;
      if ($("preview-travel").checked) stroke(context, layerPaths(layer).travel, COLOURS.travel, dpr, view);
      if (job && job.layer - 1 === layer) {
        stroke(context, layerPaths(layer).extrude, COLOURS.todo, lineWidth, view);
        stroke(context, build(layer, job.points).extrude, COLOURS.done, lineWidth, view);
      } else {
        const colour = job && layer < job.layer - 1 ? COLOURS.done : COLOURS.layer;
        stroke(context, layerPaths(layer).extrude, colour, lineWidth, view);
      }
    }
    draws += 1;
    const took = performance.now() - started;
    canvas.dataset.draws = String(draws);
    canvas.dataset.drawMs = took.toFixed(2);
    if (fresh) {
      // For bench/preview.py: the first draw of a newly loaded file, and request to pixels.
      fresh = false;
      canvas.dataset.firstDrawMs = took.toFixed(2);
      canvas.dataset.loadToDrawMs = (performance.now() - fetchedAt).toFixed(2);
    }
  }

  // Zoom by `factor` keeping the point at (x, y) (device pixels) where it is.
  function zoomBy(factor, x = canvas.width / 2, y = canvas.height / 2) {
    const next = Math.max(1, Math.min(40, zoom * factor));
    const cx = canvas.width / 2, cy = canvas.height / 2;
    panX = x - cx - (next / zoom) * (x - cx - panX);
    panY = y - cy - (next / zoom) * (y - cy - panY);
    zoom = next;
    if (zoom === 1) panX = panY = 0;
    redraw();
  }

  function wireView() {
    const dpr = () => window.devicePixelRatio || 1;
    $("preview-zoom-in").addEventListener("click", () => zoomBy(1.5));
    $("preview-zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
    $("preview-fit").addEventListener("click", () => { zoom = 1; panX = panY = 0; redraw(); });
    canvas.addEventListener("wheel", (event) => {
      if (!toolpath || (zoom === 1 && event.deltaY > 0)) return; // nothing to zoom out: the page scrolls
      event.preventDefault();
      const box = canvas.getBoundingClientRect();
      zoomBy(event.deltaY < 0 ? 1.25 : 0.8, (event.clientX - box.left) * dpr(), (event.clientY - box.top) * dpr());
    }, { passive: false });
    canvas.addEventListener("pointerdown", (event) => {
      if (zoom === 1 || event.pointerType !== "mouse") return;
      drag = { x: event.clientX, y: event.clientY, panX, panY, belowX: panX, belowY: panY };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag) return;
      panX = drag.panX + (event.clientX - drag.x) * dpr();
      panY = drag.panY + (event.clientY - drag.y) * dpr();
      redraw();
    });
    const release = () => { if (drag) { drag = null; redraw(); } };
    canvas.addEventListener("pointerup", release);
    canvas.addEventListener("pointercancel", release);
  }

  function redraw() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function describe() {
    const count = toolpath ? toolpath.layers.length : 0;
    const controls = [slider, $("preview-down"), $("preview-up")];
    controls.forEach((control) => { control.disabled = count === 0; });
    if (!count) {
      label.textContent = "No layers";
      canvas.setAttribute("aria-label", "Toolpath preview: nothing to show");
      return;
    }
    const z = toolpath.layers[layer].z.toFixed(2);
    let text = `Layer ${layer + 1} of ${count} · Z ${z} mm`;
    if (job && job.layer > 0) text += job.layer - 1 === layer ? " · printing" : ` · printing layer ${job.layer}`;
    label.textContent = text;
    slider.setAttribute("aria-valuetext", `Layer ${layer + 1} of ${count}, Z ${z} mm`);
    canvas.setAttribute("aria-label", `Toolpath of ${file}, layer ${layer + 1} of ${count}, seen from above`);
    canvas.dataset.layer = String(layer + 1);
  }

  function show(index, byUser) {
    if (!toolpath || !toolpath.layers.length) return;
    layer = Math.max(0, Math.min(toolpath.layers.length - 1, index));
    slider.value = String(layer + 1);
    if (byUser && job && follow) setFollow(false);
    describe();
    redraw();
  }

  function setFollow(on) {
    follow = on;
    $("preview-follow").checked = on;
  }

  async function load(name) {
    file = name;
    toolpath = null;
    paths.clear();
    below = null;
    belowUpTo = 0;
    zoom = 1;
    panX = panY = 0;
    canvas.dataset.file = name || "";
    $("preview-file").textContent = name || "No file selected";
    describe();
    redraw();
    if (!name) {
      status.textContent = "Select a file to see its layers.";
      return;
    }
    status.textContent = "Loading the preview…";
    fetchedAt = performance.now();
    const request = (loading = fetch(new URL(`api/v1/files/${encodeURIComponent(name)}/toolpath`, document.baseURI)));
    let parsed = null, message = "";
    try {
      const answer = await request;
      if (answer.ok) parsed = parse(await answer.arrayBuffer());
      else message = ((await answer.json().catch(() => ({}))).error) || `the server answered ${answer.status}`;
    } catch (error) {
      message = error.message;
    }
    if (loading !== request) return; // another file was chosen meanwhile
    if (!parsed) {
      status.textContent = `No preview: ${message}`;
      return;
    }
    toolpath = parsed;
    fresh = true;
    status.textContent = parsed.layers.length ? "" : "This file has no moves to show.";
    slider.max = String(Math.max(1, parsed.layers.length));
    follow = $("preview-follow").checked;
    place(true);
  }

  // Where the running job is in the shown file; the layer shown follows it unless the user moved away.
  function place(jump) {
    if (!toolpath || !toolpath.layers.length) return show(0, false);
    if (job) {
      const at = job.layer || layerAt(job.bytes);
      job.layer = at;
      job.points = at > 0 ? pointsDone(at - 1, job.bytes) : 0;
      if (follow && at > 0) return show(at - 1, false);
      describe();
      return redraw();
    }
    if (jump) show(toolpath.layers.length - 1, false);
  }

  function applyState(state) {
    latest = state;
    const running = state.job && PRINTING.has(state.state) ? state.job : null;
    const automatic = running ? running.file : (state.selected_file || (state.last_job && state.last_job.file) || null);
    const name = chosen || automatic;
    const followed = job !== null;
    job = running && running.file === name ? { bytes: running.bytes_done, layer: running.layer || 0 } : null;
    const newJob = running ? running.id : null;
    if (name !== file || (newJob !== null && newJob !== jobId)) {
      jobId = newJob;
      load(name);
      return;
    }
    jobId = newJob;
    place(false);
    if (followed && !job) {
      // The job ended: the layer stays, in the colours of a file at rest.
      describe();
      redraw();
    }
  }

  // The stored files as the box's choices, after "what the printer does".
  async function listFiles() {
    let names = [];
    try {
      const answer = await fetch(new URL("api/v1/files", document.baseURI));
      if (answer.ok) names = (await answer.json()).files.map((entry) => entry.name);
    } catch (error) {
      return; // the list stays as it was; the page shows the connection's state
    }
    const keep = chooser.value;
    const options = [new Option("The printer's file", "")];
    names.forEach((name) => options.push(new Option(name, name)));
    chooser.replaceChildren(...options);
    chooser.value = names.includes(keep) ? keep : "";
    if (chosen && !names.includes(chosen)) choose("");
  }

  function choose(name) {
    chosen = name;
    if (latest) applyState(latest);
    else load(name || null);
  }

  function wire() {
    canvas = $("preview");
    if (!canvas) return;
    context = canvas.getContext("2d");
    slider = $("preview-layer");
    status = $("preview-status");
    label = $("preview-layer-text");
    slider.addEventListener("input", () => show(Number(slider.value) - 1, true));
    $("preview-down").addEventListener("click", () => show(layer - 1, true));
    $("preview-up").addEventListener("click", () => show(layer + 1, true));
    $("preview-travel").addEventListener("change", redraw);
    $("preview-follow").addEventListener("change", (event) => {
      follow = event.target.checked;
      place(false);
    });
    chooser = $("preview-choose");
    chooser.addEventListener("focus", listFiles);
    chooser.addEventListener("change", () => choose(chooser.value));
    listFiles();
    new ResizeObserver(redraw).observe(canvas);
    wireView();
    document.addEventListener("printer-state", (event) => applyState(event.detail));
    describe();
    status.textContent = "Select a file to see its layers.";
  }

  document.addEventListener("DOMContentLoaded", wire);
})();
