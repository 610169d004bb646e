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

// Generation progress: poll the job and reload once it has finished (the page also
// refreshes itself without JavaScript).
document.addEventListener("DOMContentLoaded", () => {
  const job = document.querySelector("[data-job][data-pending='true']");
  if (!job) return;
  const poll = async () => {
    try {
      const response = await fetch(`/api/jobs/${job.dataset.job}`, { headers: { Accept: "application/json" } });
      const body = await response.json();
      const status = job.querySelector(".job-status");
      if (body.job && status) status.textContent = body.job.status === "running" ? "Painting…" : "Waiting for a free worker…";
      if (body.job && (body.job.status === "succeeded" || body.job.status === "failed")) {
        window.location.reload();
        return;
      }
    } catch (_) { /* the meta refresh still works */ }
    setTimeout(poll, 800);
  };
  setTimeout(poll, 500);
});

// Share links: show the full address (what people copy), not just the path.
document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("a.share-link")) link.textContent = link.href;
});

// The generate form: say what the chosen number of images will cost before sending.
document.addEventListener("DOMContentLoaded", () => {
  const cost = document.querySelector("#cost[data-credits]");
  const count = document.querySelector("#count");
  if (!cost || !count) return;
  const perImage = Number(cost.dataset.perImage);
  const credits = Number(cost.dataset.credits);
  const original = cost.textContent;
  count.addEventListener("change", () => {
    const n = Number(count.value);
    if (n <= 1) { cost.textContent = original; return; }
    const total = n * perImage;
    cost.textContent = total <= credits
      ? `${n} images will cost ${total} credits; you have ${credits}.`
      : `${n} images need ${total} credits and you have ${credits}: free images are for one image at a time.`;
  });
});
