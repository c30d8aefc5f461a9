// The header every fabfleet page shares (the hub's page, every printer's page, the error
// pages): the brand, Printers / Queue / History, the printers the user may watch, who is
// logged in and Log out. It fills <div id="site-header"> and finds the hub from its own
// address (…/static/site-header.js), so it works under any path nginx serves a page on.
"use strict";

(() => {
  const slot = document.getElementById("site-header");
  const script = document.currentScript;
  if (!slot || !script || slot.dataset.built) return;
  slot.dataset.built = "yes";
  const root = new URL("../", script.src);
  const atHub = location.pathname === root.pathname;
  const printerPath = /^\/printers\/([^/]+)\//.exec(location.pathname);
  const current = printerPath ? decodeURIComponent(printerPath[1]) : null;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === true) node.setAttribute(key, "");
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  if (!document.querySelector('link[data-site-header]')) {
    document.head.append(el("link", { rel: "stylesheet", href: new URL("static/site-header.css", root).href,
      "data-site-header": "yes" }));
  }

  // The skip link leads to the page's main content, whatever the page calls it.
  const main = document.querySelector("main");
  if (main && !main.id) main.id = "content";
  if (main && !main.hasAttribute("tabindex")) main.setAttribute("tabindex", "-1");
  const skip = el("a", { class: "skip-link", href: "#" + (main ? main.id : "content") }, "Skip to content");

  function section(name, label, admin) {
    return el("a", { href: new URL("#" + name, root).href, "data-section": name, "data-admin": admin || false,
      hidden: admin || false }, label);
  }
  const nav = el("nav", { id: "nav", class: "site-nav", "aria-label": "Fleet" },
    section("dashboard", "Printers"), section("queue", "Queue"), section("history", "History"),
    section("audit", "Audit", true), section("users", "Users", true),
    section("notifications", "Notifications", true), section("keys", "API keys"),
    el("a", { href: new URL("maintenance", root).href, "data-page": "maintenance",
      class: location.pathname === root.pathname + "maintenance" ? "current" : false,
      "aria-current": location.pathname === root.pathname + "maintenance" ? "page" : false },
    "Maintenance"));
  const choose = el("select", { id: "site-printer", name: "printer" },
    el("option", { value: "" }, current ? current : "Choose a printer…"));
  const pick = el("label", { class: "site-printer" }, el("span", {}, "Printer"), choose);
  const who = el("span", { id: "who", class: "site-who" });
  const logout = el("button", { id: "logout", type: "button", class: "site-logout", hidden: true }, "Log out");
  const login = el("a", { class: "site-login", href: new URL("login", root).href, hidden: true }, "Log in");
  const account = el("div", { class: "site-account" }, who, logout, login);
  const menu = el("button", { type: "button", class: "site-menu", "aria-expanded": "false",
    "aria-controls": "site-menu-body" }, "Menu");
  const body = el("div", { id: "site-menu-body", class: "site-menu-body" }, nav, pick, account);
  const bar = el("header", { class: "site-header" },
    el("a", { class: "site-brand", href: root.href }, "fabfleet"), menu, body);
  slot.replaceChildren(skip, bar);

  function openMenu(open) {
    menu.setAttribute("aria-expanded", String(open));
    bar.classList.toggle("open", open);
  }
  menu.addEventListener("click", () => openMenu(menu.getAttribute("aria-expanded") !== "true"));
  // A chosen section closes the menu (on the hub's page the page itself stays); so does Escape.
  nav.addEventListener("click", (event) => { if (event.target.closest("a")) openMenu(false); });
  bar.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && bar.classList.contains("open")) {
      openMenu(false);
      menu.focus();
    }
  });
  choose.addEventListener("change", () => {
    const option = choose.selectedOptions[0];
    if (option && option.dataset.path) location.href = new URL(option.dataset.path, root).href;
  });

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  logout.addEventListener("click", async () => {
    logout.disabled = true;
    try {
      await fetch(new URL("api/logout", root), {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": cookie("fabfleet_csrf") },
      });
    } finally {
      location.href = new URL("login", root).href;
    }
  });

  async function read(path) {
    const answer = await fetch(new URL(path, root), { credentials: "same-origin",
      headers: { Accept: "application/json" } });
    return answer.ok ? answer.json() : null;
  }

  function showPrinters(fleet) {
    const printers = (fleet && fleet.printers) || [];
    const options = printers.map((p) => el("option", { value: p.name, "data-path": p.path,
      selected: p.name === current }, p.name));
    // An error page under /printers/<name>/ names a printer the user may not watch: not listed.
    if (!printers.some((p) => p.name === current)) {
      options.unshift(el("option", { value: "" }, printers.length ? "Choose a printer…" : "No printers"));
    }
    choose.replaceChildren(...options);
  }

  async function start() {
    const me = await read("api/me").catch(() => null);
    if (!me) {
      login.hidden = false;
      login.href = new URL("login?next=" + encodeURIComponent(location.pathname + location.hash), root).href;
      pick.hidden = true;
      return;
    }
    who.textContent = `${me.name} (${me.role})`;
    logout.hidden = false;
    for (const link of nav.querySelectorAll("a[data-admin]")) link.hidden = me.role !== "admin";
    showPrinters(await read("api/fleet").catch(() => null));
  }

  // Off the hub's page nothing marks a section as current; there common.js does.
  if (!atHub) slot.dataset.page = current ? "printer" : "other";
  start().catch(() => {
    login.hidden = false;
  });
})();
