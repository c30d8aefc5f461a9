// What every section of the hub's page shares: the API call with CSRF, who is
// logged in, and switching sections. Sections register with fabfleet.section().
// The header (links, printers, who, Log out) is site-header.js, shared with every page.
"use strict";

const fabfleet = (() => {
  const sections = {};
  let me = null;

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  // fetch() relative to the page, JSON in and out; a changing request carries
  // the CSRF token; a 401 goes to the login page. Throws Error(message) on 4xx/5xx.
  async function api(method, url, body) {
    const headers = {};
    const options = { method, headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = cookie("fabfleet_csrf");
    if (body instanceof FormData) options.body = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const answer = await fetch(url, options);
    if (answer.status === 401) {
      location.href = "login?next=" + encodeURIComponent(location.pathname + location.hash);
      throw new Error("not logged in");
    }
    const type = answer.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await answer.json() : await answer.text();
    if (!answer.ok) throw new Error((data && data.error) || answer.statusText);
    return data;
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, "");
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // A form field with its visible label: label("Name", input).
  function field(text, input) {
    return el("label", { class: "field" }, el("span", { class: "field-label" }, text), input);
  }

  // A table in its own scrolling box, so a wide one never widens the page on a phone; the
  // box takes keyboard focus (arrow keys scroll it) and is named for screen readers.
  function tableBox(label, table) {
    return el("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": label }, table);
  }

  // An address's section: one the page has, else the dashboard (a typo never shows nothing).
  function chosen() {
    const name = decodeURIComponent((location.hash || "#dashboard").slice(1));
    const body = document.getElementById(name);
    return body && body.hasAttribute("data-section-body") ? name : "dashboard";
  }

  function show(name) {
    for (const body of document.querySelectorAll("[data-section-body]")) body.hidden = body.id !== name;
    for (const link of document.querySelectorAll("#nav a")) {
      const here = link.dataset.section === name;
      link.classList.toggle("current", here);
      if (here) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const section = sections[name];
    if (section && section.shown) section.shown();
  }

  // What a section that only admins use shows to everyone else (never a blank page).
  function adminsOnly(body, heading, message) {
    body.replaceChildren(el("h2", {}, heading),
      el("p", { class: "card admins-only", role: "note" }, message + " ",
        el("a", { href: "#dashboard" }, "Back to the printers")));
  }

  // section("queue", {start(body, me), shown()}): start once logged in, shown on each visit.
  function section(name, handlers) {
    sections[name] = handlers;
  }

  async function start() {
    me = await api("GET", "api/me");
    for (const [name, handlers] of Object.entries(sections)) {
      if (handlers.start) handlers.start(document.getElementById(name), me);
    }
    // A page of its own (the maintenance page) has no sections to switch between.
    if (!document.querySelector("[data-section-body]")) return;
    window.addEventListener("hashchange", () => show(chosen()));
    show(chosen());
  }

  window.addEventListener("DOMContentLoaded", () => {
    start().catch((error) => console.error(error));
  });
  return { api, el, cookie, section, adminsOnly, field, tableBox, get me() { return me; } };
})();
