// The login form: POST api/login with `next`, then on to where the hub says: `next` when it
// is a path of this site (the hub checks it: hub/auth/sessions.py safe_next), else the hub's page.
"use strict";

(() => {
  const form = document.getElementById("login");
  const error = document.getElementById("error");
  const submit = document.getElementById("submit");

  const asked = new URLSearchParams(location.search);
  const wanted = asked.get("next") || "";

  // Why the login is shown: a session that ended (the hub says so), or a page that needs one.
  const reason = document.getElementById("reason");
  if (asked.get("reason") === "expired") reason.textContent = "Your session has expired — log in again.";
  else if (wanted && wanted !== "/") reason.textContent = "Log in to continue.";
  reason.hidden = !reason.textContent;

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
          next: wanted,
        }),
      });
    } catch (problem) {
      fail("The hub does not answer; try again in a moment.");
      return;
    }
    if (answer.ok) {
      let destination = "./";
      try {
        destination = (await answer.json()).next || destination;
      } catch (problem) {
        // not JSON: the hub's page
      }
      location.href = destination;
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
