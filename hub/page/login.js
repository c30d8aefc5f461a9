// The login form: POST api/login, then on to `next` (a path of this site) or the hub's page.
"use strict";

(() => {
  const form = document.getElementById("login");
  const error = document.getElementById("error");
  const submit = document.getElementById("submit");

  // Only a path on this site: "/…" but not "//…" or "/\…" (another host).
  function destination() {
    const next = new URLSearchParams(location.search).get("next") || "";
    if (next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\")) return next;
    return "./";
  }

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
    submit.disabled = false;
    document.getElementById("password").select();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    let answer;
    try {
      answer = await fetch("api/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          username: document.getElementById("username").value.trim(),
          password: document.getElementById("password").value,
        }),
      });
    } catch (problem) {
      fail("The hub does not answer; try again in a moment.");
      return;
    }
    if (answer.ok) {
      location.href = destination();
      return;
    }
    let message = answer.statusText;
    try {
      message = (await answer.json()).error || message;
    } catch (problem) {
      // not JSON: keep the status text
    }
    fail(message);
  });
})();
