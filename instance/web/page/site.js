// The fleet's shared header: behind the hub's proxy this page is at /printers/<name>/ and
// the hub's static files are on the same origin, so load its site-header.js into
// <div id="site-header">. Served alone (no hub), the page stays as it is and asks for nothing.
"use strict";

(() => {
  if (!/^\/printers\/[^/]+\/$/.test(location.pathname)) return;
  if (!document.getElementById("site-header")) return;
  const script = document.createElement("script");
  script.src = "../../static/site-header.js";
  document.head.append(script);
})();
