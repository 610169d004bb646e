// Small progressive enhancements; every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Let flash messages fade after a while; errors stay until the user acts.
  for (const flash of document.querySelectorAll(".flash-success")) {
    setTimeout(() => flash.classList.add("fade"), 6000);
  }
  // Ask before destructive actions marked with data-confirm.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
