// The camera wall: every camera of every printer on the dashboard (the printers the user
// may watch), as snapshots refreshed every few seconds while the wall is shown, with the
// printer's name and state on top; a click opens the printer's page. A "Cameras" toggle in
// the dashboard's toolbar switches between the cards and the wall.
"use strict";

(() => {
  const { el } = fabfleet;
  const board = fabfleet.dashboard;
  const REFRESH_MS = 3000;

  let wall = null;
  let toggle = null;
  let grid = null;
  let empty = null;
  let timer = null;
  const tiles = new Map(); // printer name -> {tile, img, state}

  function showing() {
    return wall && !wall.hidden && !wall.closest("[hidden]")
      && document.visibilityState === "visible";
  }

  function tile(entry) {
    const img = el("img", { class: "wall-snapshot", alt: `${entry.name}: camera ${entry.camera.name}`,
                            width: "320", height: "240", decoding: "async" });
    img.addEventListener("error", () => img.classList.add("missing"));
    img.addEventListener("load", () => img.classList.remove("missing"));
    const state = el("span", { class: "state-badge" });
    const link = el("a", { class: "wall-tile", href: entry.path, "data-printer": entry.name },
      img, el("span", { class: "wall-caption" }, el("span", { class: "wall-name" }, entry.name),
                 state));
    return { tile: link, img, state, shown: "" };
  }

  function label(entry) {
    return board.sentence(entry.online ? entry.state : "unreachable");
  }

  let layout = null; // the names of the tiles shown, in order

  // The tiles in fleet order (rebuilt only when the cameras change), each state written
  // only when it changed.
  function sync() {
    if (!wall || wall.hidden) return;
    const names = board.order.filter((name) => (board.entries.get(name) || {}).camera);
    const wanted = names.join("\n");
    if (wanted !== layout) {
      layout = wanted;
      for (const [name, found] of tiles) {
        if (!names.includes(name)) {
          found.tile.remove();
          tiles.delete(name);
        }
      }
      for (const name of names) {
        let found = tiles.get(name);
        if (!found) {
          const entry = board.entries.get(name);
          found = tile(entry);
          tiles.set(name, found);
          found.img.src = board.snapshotUrl(entry);
        }
        grid.append(found.tile);
      }
      empty.hidden = names.length > 0;
    }
    for (const name of names) {
      const entry = board.entries.get(name);
      const found = tiles.get(name);
      const text = label(entry);
      if (found.shown !== text) {
        found.shown = text;
        found.state.textContent = text;
        found.state.dataset.kind = board.kind(entry);
      }
    }
  }

  function refresh() {
    if (!showing()) return;
    for (const [name, found] of tiles) {
      const entry = board.entries.get(name);
      if (entry) found.img.src = board.snapshotUrl(entry);
    }
  }

  function show(on, cardsGrid) {
    wall.hidden = !on;
    cardsGrid.hidden = on;
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? "Printer cards" : "Cameras";
    clearInterval(timer);
    timer = null;
    if (on) {
      sync();
      refresh();
      timer = setInterval(refresh, REFRESH_MS);
    } else {
      board.refreshPictures();
    }
  }

  function build(root, toolbar, cardsGrid) {
    grid = el("div", { class: "wall-grid" });
    empty = el("p", { class: "muted", hidden: true }, "None of your printers has a camera.");
    wall = el("div", { class: "camera-wall", hidden: true, role: "region", "aria-label": "Camera wall" },
              empty, grid);
    toggle = el("button", { type: "button", class: "wall-toggle", "aria-pressed": "false",
      onclick: () => show(wall.hidden, cardsGrid) }, "Cameras");
    toolbar.append(toggle);
    cardsGrid.after(wall);
    board.listen(sync);
    document.addEventListener("visibilitychange", refresh);
  }

  board.extend(build);
})();
