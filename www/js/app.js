// wasmhttpd default site: a few lines of plain JavaScript, no framework.
// Shows when the page was loaded, so a cached copy is easy to tell apart.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var clock = document.getElementById("clock");
  if (clock) {
    clock.textContent = "Page loaded at " + new Date().toLocaleString() + ".";
  }
});
