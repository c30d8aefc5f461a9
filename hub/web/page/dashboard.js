// The dashboard: one card per printer, kept live by one WebSocket for the whole
// fleet (api/fleet/events: a "snapshot", then "printer" messages). Changes are
// applied in one requestAnimationFrame batch, so a hundred busy printers cost
// one layout a frame at most. Other scripts (fleet-actions.js, camera-wall.js) extend
// it through fabfleet.dashboard: the entries, the selection, and a place in its toolbar.
"use strict";

(() => {
  const { el, api } = fabfleet;
  const SNAPSHOT_EVERY = 10000; // ms between camera pictures
  const RETRY_FIRST = 1000;
  const RETRY_MAX = 10000;
  const STATE_KIND = {
    ready: "ok",
    printing: "busy", pausing: "busy", cancelling: "busy", connecting: "off",
    paused: "warn", finished: "warn", "bed not cleared": "warn",
    failed: "bad",
    offline: "off", unreachable: "off",
  };
  const STATE_CHOICES = ["ready", "printing", "paused", "bed not cleared", "finished", "failed",
                         "offline", "unreachable"];
  const BUSY = ["printing", "pausing", "paused", "cancelling"];
  const OUTCOME_TEXT = { completed: "Completed", cancelled: "Cancelled", failed: "Failed",
                         interrupted: "Interrupted" };

  let root = null;
  let grid = null;
  let summary = null;
  let live = null;
  const filters = { text: "", state: "", group: "", tag: "" };
  const entries = new Map(); // name -> latest entry
  const cards = new Map(); // name -> {card, parts}
  const pending = new Map(); // name -> entry not yet drawn
  let frame = 0;
  let socket = null;
  let retry = RETRY_FIRST;
  let order = [];
  const selection = new Set(); // names of the selected cards
  const listeners = []; // fn(kind) after "snapshot", "printers" and "selection" changes
  const extensions = []; // fn(root, toolbar) once the dashboard is built
  const deferred = new Map(); // thumbnail look-ups waiting for the dashboard to be shown

  // --- formatting -----------------------------------------------------------

  function degrees(value) {
    return value === null || value === undefined ? "–" : `${Math.round(value)}`;
  }

  function heaterText(heater) {
    if (!heater) return "–";
    const target = heater.target ? ` / ${degrees(heater.target)}` : "";
    return `${degrees(heater.actual)}${target} °C`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m) return `${m} min`;
    return `${s} s`;
  }

  function eta(remaining) {
    if (remaining === null || remaining === undefined) return "";
    const done = new Date(Date.now() + remaining * 1000);
    const clock = done.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return `ETA ${clock} (${duration(remaining)} left)`;
  }

  function stateLabel(entry) {
    if (!entry.online) return "unreachable";
    return entry.state;
  }

  // "bed not cleared" → "Bed not cleared": one spelling on cards, filters and the queue.
  function sentence(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
  }

  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }

  // An idle printer whose bed nobody confirmed clear yet: finished, failed, bed not cleared.
  function bedWaits(entry) {
    const status = entry.status || {};
    return entry.online && status.bed_clear === false && !BUSY.includes(entry.state);
  }

  function lastJobText(entry) {
    const last = entry.status && entry.status.last_job;
    if (!last || !last.outcome) return "";
    const outcome = OUTCOME_TEXT[last.outcome] || sentence(last.outcome);
    const took = last.duration === null || last.duration === undefined ? "" : ` · ${duration(last.duration)}`;
    return `${outcome}${took}`;
  }

  function tell(kind) {
    for (const listener of listeners) listener(kind);
  }

  // --- cards ----------------------------------------------------------------

  function makeCard(entry) {
    const parts = {
      name: el("a", { class: "printer-name", href: entry.path }, entry.name),
      state: el("span", { class: "state-badge" }),
      picture: null,
      hotend: el("span", { class: "hotend" }),
      bed: el("span", { class: "bed" }),
      bar: el("div", { class: "progress-fill" }),
      percent: el("span", { class: "progress-value" }),
      file: el("span", { class: "job-file" }),
      eta: el("span", { class: "job-eta" }),
      elapsed: el("span", { class: "job-elapsed muted" }),
      message: el("p", { class: "printer-message" }),
      actions: el("div", { class: "printer-actions" }),
      notice: el("p", { class: "printer-notice error", role: "alert" }),
      thumbnail: el("img", { class: "job-thumbnail", alt: "", hidden: true, width: "64",
                             height: "64", decoding: "async" }),
      lastFile: el("span", { class: "last-file" }),
      lastOutcome: el("span", { class: "last-outcome" }),
      select: null,
    };
    parts.thumbnail.addEventListener("load", () => { parts.thumbnail.hidden = false; });
    parts.thumbnail.addEventListener("error", () => { parts.thumbnail.hidden = true; });
    parts.last = el("div", { class: "last-job", hidden: true },
      el("span", { class: "muted" }, "Last job "), parts.lastFile, parts.lastOutcome);
    const job = el("div", { class: "job" },
      el("div", { class: "job-line" }, parts.thumbnail, parts.file, parts.percent),
      el("div", { class: "progress", role: "progressbar", "aria-label": `${entry.name} progress` },
         parts.bar),
      el("div", { class: "job-line" }, parts.eta, parts.elapsed));
    parts.job = job;
    if (entry.may_act) {
      parts.select = el("input", {
        type: "checkbox", class: "printer-select", "aria-label": `Select ${entry.name}`,
        onchange: (event) => select(entry.name, event.target.checked),
      });
    }
    const card = el("article", { class: "printer-card", "data-printer": entry.name },
      el("header", { class: "printer-head" }, parts.select, parts.name, parts.state),
      el("div", { class: "printer-body" },
        el("div", { class: "temps" },
          el("span", { class: "temp" }, el("span", { class: "muted" }, "Hotend "), parts.hotend),
          el("span", { class: "temp" }, el("span", { class: "muted" }, "Bed "), parts.bed)),
        job, parts.last, parts.message, parts.actions, parts.notice));
    if (entry.camera) {
      parts.picture = el("img", {
        class: "camera-snapshot", alt: `${entry.name}: camera ${entry.camera.name}`,
        loading: "lazy", decoding: "async", width: "320", height: "240",
      });
      parts.picture.addEventListener("error", () => parts.picture.classList.add("missing"));
      parts.picture.addEventListener("load", () => parts.picture.classList.remove("missing"));
      card.insertBefore(el("a", { class: "camera", href: entry.path }, parts.picture),
                        card.children[1]);
      snapshot(parts.picture, entry);
    }
    return { card, parts, shown: {} };
  }

  // Only what changed is written, so an unchanged card costs no layout.
  function put(holder, key, node, value, write) {
    if (holder.shown[key] === value) return;
    holder.shown[key] = value;
    write(node, value);
  }
  const text = (node, value) => { node.textContent = value; };

  function draw(holder, entry) {
    const { card, parts } = holder;
    const status = entry.status || {};
    const label = stateLabel(entry);
    const kind = STATE_KIND[label] || "off";
    put(holder, "state", parts.state, sentence(label), text);
    put(holder, "kind", card, kind, (node, value) => {
      node.dataset.kind = value;
      parts.state.dataset.kind = value;
    });
    put(holder, "stateData", card, label, (node, value) => { node.dataset.state = value; });
    const heaters = status.heaters || {};
    put(holder, "hotend", parts.hotend, heaterText(heaters.T0), text);
    put(holder, "bed", parts.bed, heaterText(heaters.B), text);
    const job = status.job;
    put(holder, "hasJob", parts.job, Boolean(job), (node, value) => { node.hidden = !value; });
    if (job) {
      const fraction = Math.min(1, Math.max(0, job.progress || 0));
      const percent = `${(fraction * 100).toFixed(1)} %`;
      put(holder, "percent", parts.percent, percent, text);
      put(holder, "bar", parts.bar, fraction, (node, value) => {
        node.style.transform = `scaleX(${value})`;
        node.parentNode.setAttribute("aria-valuenow", String(Math.round(value * 100)));
      });
      put(holder, "file", parts.file, job.file || "", (node, value) => {
        node.textContent = value;
        node.title = value;
      });
      put(holder, "eta", parts.eta, eta(job.remaining), text);
      put(holder, "elapsed", parts.elapsed,
          job.elapsed === null || job.elapsed === undefined ? "" : `${duration(job.elapsed)} in`,
          text);
    }
    // The current file's thumbnail (the slicer's largest preview); none when it has none.
    put(holder, "thumbnail", parts.thumbnail, job && job.file ? job.file : "", (node, value) => {
      node.hidden = true;
      node.removeAttribute("src");
      if (value) showThumbnail(node, entry.path, value, () => holder.shown.thumbnail === value);
    });
    const last = !job && bedWaits(entry) && status.last_job ? status.last_job : null;
    put(holder, "hasLast", parts.last, Boolean(last), (node, value) => { node.hidden = !value; });
    if (last) {
      put(holder, "lastFile", parts.lastFile, last.file || "", (node, value) => {
        node.textContent = value;
        node.title = value;
      });
      put(holder, "lastOutcome", parts.lastOutcome, lastJobText(entry), text);
    }
    let message = "";
    if (!entry.online) message = "The print server does not answer.";
    else if (status.error) message = status.error;
    else if (status.prompt) message = `The printer asks: ${status.prompt.text}`;
    else if (entry.state === "offline") message = "The printer is not connected.";
    put(holder, "message", parts.message, message, (node, value) => {
      node.textContent = value;
      node.hidden = !value;
    });
    const canClear = Boolean(entry.may_act) && bedWaits(entry);
    put(holder, "clear", parts.actions, canClear, (node, value) => {
      node.replaceChildren();
      if (value) {
        node.append(el("button", {
          type: "button", class: "primary bed-clear",
          onclick: (event) => confirmBedClear(entry.name, event.currentTarget, parts.notice),
        }, "Confirm bed clear"));
      }
    });
    put(holder, "filtered", card, matches(entry), (node, value) => { node.hidden = !value; });
  }

  async function confirmBedClear(name, button, notice) {
    button.disabled = true;
    notice.textContent = "";
    try {
      await api("POST", `api/printers/${encodeURIComponent(name)}/bed-clear`);
    } catch (error) {
      notice.textContent = error.message;
      button.disabled = false;
    }
  }

  // Asked once per printed file: its analysis says which thumbnails it has (no 404s).
  async function showThumbnail(img, path, file, still) {
    if (!root || root.hidden) { // asked for when the dashboard is shown
      deferred.set(img, () => showThumbnail(img, path, file, still));
      return;
    }
    const base = `${path}api/v1/files/${encodeURIComponent(file)}`;
    let best = null;
    try {
      const answer = await fetch(base, { credentials: "same-origin" });
      if (!answer.ok) return;
      const found = await answer.json();
      const result = (found.analysis && found.analysis.result) || {};
      for (const thumbnail of result.thumbnails || []) {
        if (!best || thumbnail.width * thumbnail.height > best.width * best.height) best = thumbnail;
      }
    } catch (error) {
      return; // no picture is no loss
    }
    if (best && still()) img.src = `${base}/thumbnails/${best.index}`;
  }

  function select(name, on) {
    if (on) selection.add(name);
    else selection.delete(name);
    const holder = cards.get(name);
    if (holder && holder.parts.select) holder.parts.select.checked = on;
    tell("selection");
  }

  function shownNames() {
    return order.filter((name) => !cards.get(name).card.hidden);
  }

  function snapshotUrl(entry) {
    return entry.camera ? `${entry.camera.path}snapshot?t=${Date.now()}` : "";
  }

  function snapshot(img, entry) {
    if (entry.camera) img.src = snapshotUrl(entry);
  }

  function refreshPictures() {
    if (!root || root.hidden || grid.hidden || document.visibilityState !== "visible") return;
    for (const [name, holder] of cards) {
      const entry = entries.get(name);
      if (holder.parts.picture && entry && !holder.card.hidden) snapshot(holder.parts.picture, entry);
    }
  }

  // --- filters --------------------------------------------------------------

  function matches(entry) {
    const label = stateLabel(entry);
    if (filters.state && label !== filters.state) return false;
    if (filters.group && !entry.groups.includes(filters.group)) return false;
    if (filters.tag && !entry.tags.includes(filters.tag)) return false;
    if (filters.text) {
      const job = entry.status && entry.status.job;
      const haystack = [entry.name, label, ...entry.groups, ...entry.tags, job ? job.file : ""]
        .join(" ").toLowerCase();
      if (!haystack.includes(filters.text)) return false;
    }
    return true;
  }

  function refilter() {
    for (const [name, holder] of cards) {
      const entry = entries.get(name);
      if (entry) put(holder, "filtered", holder.card, matches(entry), (n, v) => { n.hidden = !v; });
    }
    count();
  }

  function count() {
    const visible = order.filter((name) => !cards.get(name).card.hidden).length;
    const total = order.length;
    const down = order.filter((name) => !entries.get(name).online).length;
    summary.textContent = (visible === total ? plural(total, "printer")
      : `${visible} of ${plural(total, "printer")}`) + (down ? ` · ${down} unreachable` : "");
  }

  function options(menu, first, values, label = (v) => v) {
    const chosen = menu.value;
    menu.replaceChildren(el("option", { value: "" }, first),
                         ...values.map((v) => el("option", { value: v }, label(v))));
    menu.value = values.includes(chosen) ? chosen : "";
  }

  // --- live updates ---------------------------------------------------------

  function applySnapshot(message) {
    pending.clear();
    for (const holder of cards.values()) holder.card.classList.remove("stale");
    entries.clear();
    for (const entry of message.printers) entries.set(entry.name, entry);
    for (const [name, holder] of cards) {
      if (!entries.has(name) || Boolean(holder.parts.select) !== Boolean(entries.get(name).may_act)) {
        holder.card.remove();
        cards.delete(name);
        selection.delete(name);
      }
    }
    order = message.printers.map((entry) => entry.name);
    for (const entry of message.printers) {
      let holder = cards.get(entry.name);
      if (!holder) {
        holder = makeCard(entry);
        cards.set(entry.name, holder);
      }
      grid.append(holder.card); // in fleet order
      draw(holder, entry);
    }
    options(root.querySelector(".filter-group"), "All groups", message.groups);
    options(root.querySelector(".filter-tag"), "All tags", message.tags);
    filters.group = root.querySelector(".filter-group").value;
    filters.tag = root.querySelector(".filter-tag").value;
    refilter();
    root.querySelector(".fleet-empty").hidden = order.length > 0;
    tell("snapshot");
  }

  function drawPending() {
    frame = 0;
    for (const [name, entry] of pending) {
      const holder = cards.get(name);
      if (holder) draw(holder, entry);
    }
    pending.clear();
    count();
    tell("printers");
  }

  function receive(message) {
    if (message.type === "snapshot") {
      applySnapshot(message);
    } else if (message.type === "printer") {
      const entry = message.printer;
      if (!cards.has(entry.name)) return; // only printers of the last snapshot
      entries.set(entry.name, entry);
      pending.set(entry.name, entry);
      if (!frame) frame = requestAnimationFrame(drawPending);
    }
  }

  function setLive(text, kind) {
    live.textContent = text;
    live.dataset.kind = kind;
  }

  function connect() {
    const url = new URL("api/fleet/events", document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(url);
    socket.onopen = () => {
      retry = RETRY_FIRST;
      setLive("live", "ok");
    };
    socket.onmessage = (event) => receive(JSON.parse(event.data));
    socket.onclose = () => {
      socket = null;
      setLive("reconnecting…", "warn");
      for (const holder of cards.values()) holder.card.classList.add("stale");
      setTimeout(async () => {
        try {
          await api("GET", "api/me"); // a lost session goes to the login page
        } catch (error) {
          // The hub itself may be restarting: keep trying.
        }
        connect();
      }, retry);
      retry = Math.min(retry * 2, RETRY_MAX);
    };
  }

  function toolbar() {
    const search = el("input", {
      type: "search", class: "filter-text", placeholder: "Search printers, files, tags",
      "aria-label": "Search printers",
      oninput: (event) => { filters.text = event.target.value.trim().toLowerCase(); refilterAndTell(); },
    });
    const state = el("select", {
      class: "filter-state", "aria-label": "State",
      onchange: (event) => { filters.state = event.target.value; refilterAndTell(); },
    });
    options(state, "All states", STATE_CHOICES, sentence);
    const group = el("select", {
      class: "filter-group", "aria-label": "Group",
      onchange: (event) => { filters.group = event.target.value; refilterAndTell(); },
    });
    const tag = el("select", {
      class: "filter-tag", "aria-label": "Tag",
      onchange: (event) => { filters.tag = event.target.value; refilterAndTell(); },
    });
    summary = el("span", { class: "fleet-summary muted" });
    live = el("span", { class: "fleet-live", "data-kind": "warn" }, "connecting…");
    return el("div", { class: "fleet-toolbar" }, search, state, group, tag, summary, live);
  }

  function refilterAndTell() {
    refilter();
    tell("filter");
  }

  fabfleet.dashboard = {
    entries, selection, select, shownNames, sentence, plural,
    kind(entry) { return STATE_KIND[stateLabel(entry)] || "off"; },
    get order() { return order; },
    listen(listener) { listeners.push(listener); },
    extend(extension) { extensions.push(extension); },
    snapshotUrl, refreshPictures,
  };

  fabfleet.section("dashboard", {
    start(body) {
      root = body;
      grid = el("div", { class: "fleet-grid" });
      const bar = toolbar();
      body.replaceChildren(
        bar,
        el("p", { class: "fleet-empty muted", hidden: true },
           "No printers to show: the fleet is empty, or none is granted to you."),
        grid);
      for (const extend of extensions) extend(body, bar, grid);
      document.addEventListener("visibilitychange", refreshPictures);
      setInterval(refreshPictures, SNAPSHOT_EVERY);
      connect();
    },
    shown() {
      refreshPictures();
      const waiting = [...deferred.values()];
      deferred.clear();
      for (const lookUp of waiting) lookUp();
    },
  });
})();
