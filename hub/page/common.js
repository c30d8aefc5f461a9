// What every section of the hub's page shares: the API call with CSRF, who is
// logged in, and switching sections. Sections register with fabfleet.section().
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

  function show(name) {
    for (const body of document.querySelectorAll("[data-section-body]")) body.hidden = body.id !== name;
    for (const link of document.querySelectorAll("#nav a")) {
      link.classList.toggle("current", link.dataset.section === name);
    }
    const section = sections[name];
    if (section && section.shown) section.shown();
  }

  // section("queue", {start(body, me), shown()}): start once logged in, shown on each visit.
  function section(name, handlers) {
    sections[name] = handlers;
  }

  async function start() {
    me = await api("GET", "api/me");
    document.getElementById("who").textContent = `${me.name} (${me.role})`;
    for (const link of document.querySelectorAll("#nav a[data-admin]")) link.hidden = me.role !== "admin";
    for (const [name, handlers] of Object.entries(sections)) {
      if (handlers.start) handlers.start(document.getElementById(name), me);
    }
    const chosen = () => (location.hash || "#dashboard").slice(1);
    window.addEventListener("hashchange", () => show(chosen()));
    show(chosen());
    document.getElementById("logout").addEventListener("click", async () => {
      await api("POST", "api/logout");
      location.href = "login";
    });
  }

  window.addEventListener("DOMContentLoaded", () => {
    start().catch((error) => console.error(error));
  });
  return { api, el, cookie, section, get me() { return me; } };
})();
