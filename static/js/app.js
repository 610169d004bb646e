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
      if (body.job && status) status.textContent = body.job.status === "running" ? (job.dataset.running || "Painting…") : "Waiting for a free worker…";
      if (body.job && (body.job.status === "succeeded" || body.job.status === "failed")) {
        window.location.reload();
        return;
      }
    } catch (_) { /* the meta refresh still works */ }
    setTimeout(poll, 800);
  };
  setTimeout(poll, 500);
});

// Share links: show the full address (what people copy), not just the path, and offer a
// Copy button (hidden without JavaScript, where the field can be selected by hand).
document.addEventListener("DOMContentLoaded", () => {
  for (const field of document.querySelectorAll("input[data-absolute]")) {
    field.value = new URL(field.value, window.location.href).href;
    field.addEventListener("focus", () => field.select());
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.querySelector(button.dataset.copy);
    if (!source) continue;
    button.hidden = false;
    const label = button.textContent;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.value);
      } catch (_) {
        source.type = "text";
        source.select();
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1600);
    });
  }
});

// The viewer: pictures in a [data-lightbox] grid open large over the page, with ←/→ to
// move, Escape to close, fullscreen and download. Links still work without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  const grids = document.querySelectorAll("[data-lightbox]");
  if (!grids.length) return;
  const make = (tag, props = {}, children = []) => {
    const node = Object.assign(document.createElement(tag), props);
    for (const child of children) node.append(child);
    return node;
  };
  const image = make("img", { alt: "" });
  const caption = make("figcaption");
  const download = make("a", { textContent: "Download", className: "lb-download" });
  download.setAttribute("download", "");
  const open = make("a", { textContent: "Open page", className: "lb-open" });
  const suggested = make("a", { className: "lb-suggested" });
  const full = make("button", { type: "button", textContent: "Fullscreen", className: "lb-full" });
  const close = make("button", { type: "button", textContent: "Close ✕", className: "lb-close" });
  const prev = make("button", { type: "button", textContent: "‹", className: "lb-nav lb-prev" });
  const next = make("button", { type: "button", textContent: "›", className: "lb-nav lb-next" });
  prev.setAttribute("aria-label", "Previous picture");
  next.setAttribute("aria-label", "Next picture");
  const dialog = make("dialog", { className: "lightbox" }, [
    make("div", { className: "lb-bar" }, [suggested, open, download, full, close]),
    prev, next,
    make("figure", {}, [image, caption]),
  ]);
  dialog.setAttribute("aria-label", "Picture viewer");
  document.body.append(dialog);
  let links = [];
  let index = 0;
  const show = (at) => {
    index = (at + links.length) % links.length;
    const link = links[index];
    image.src = link.dataset.full;
    image.alt = link.dataset.title || "";
    image.width = Number(link.dataset.width) || 0;
    image.height = Number(link.dataset.height) || 0;
    caption.textContent = `${link.dataset.title || ""} · ${index + 1} of ${links.length}`;
    download.href = link.dataset.full;
    open.href = link.href;
    const waiting = Number(link.dataset.suggested) || 0;
    suggested.hidden = waiting === 0;
    suggested.textContent = waiting === 1 ? "1 tag suggested" : `${waiting} tags suggested`;
    suggested.href = `${link.href}#suggestions`;
    prev.hidden = next.hidden = links.length < 2;
  };
  for (const grid of grids) {
    grid.addEventListener("click", (event) => {
      const link = event.target.closest("a[data-full]");
      if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      links = [...grid.querySelectorAll("a[data-full]")];
      show(links.indexOf(link));
      dialog.showModal();
    });
  }
  prev.addEventListener("click", () => show(index - 1));
  next.addEventListener("click", () => show(index + 1));
  close.addEventListener("click", () => dialog.close());
  full.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else dialog.requestFullscreen?.();
  });
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") { event.preventDefault(); show(index - 1); }
    if (event.key === "ArrowRight") { event.preventDefault(); show(index + 1); }
  });
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => { if (document.fullscreenElement) document.exitFullscreen(); });
});

// Gallery and trash bulk actions: count what is ticked (shift-click ticks a range), show
// only the fields the chosen action needs, ask before deleting anything for good.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form#bulk");
  if (!form) return;
  const count = form.querySelector(".bulk-count");
  const action = form.querySelector("select[name=action]");
  const folder = form.querySelector("select[name=folder]");
  const tags = form.querySelector("input[name=tags]");
  const noun = action ? "images" : "pictures";
  const update = () => {
    const n = form.querySelectorAll("input[name=ids]:checked").length;
    count.textContent = n === 0 ? `Tick ${noun}, then` : `${n} selected:`;
    if (action) {
      folder.hidden = action.value !== "move";
      tags.hidden = action.value !== "tag";
    }
  };
  form.addEventListener("change", update);
  // Shift-click ticks (or unticks) every picture between the last one clicked and this one.
  const boxes = [...form.querySelectorAll("input[name=ids]")];
  let last = null;
  form.addEventListener("click", (event) => {
    const box = event.target.closest("input[name=ids]");
    if (!box) return;
    if (event.shiftKey && last !== null) {
      const [from, to] = [boxes.indexOf(last), boxes.indexOf(box)].sort((a, b) => a - b);
      for (const between of boxes.slice(from, to + 1)) between.checked = box.checked;
      update();
    }
    last = box;
  });
  form.addEventListener("submit", (event) => {
    // A tile's own Restore button belongs to its own one-picture form.
    if (event.submitter && event.submitter.form !== form) return;
    const n = form.querySelectorAll("input[name=ids]:checked").length;
    if (n === 0) {
      // Nothing to ask about: say so where the count is, and send nothing.
      event.preventDefault();
      count.textContent = `Tick at least one ${noun === "images" ? "image" : "picture"} first.`;
      return;
    }
    const forGood = (event.submitter?.getAttribute("formaction") || "").endsWith("/trash/delete");
    if (forGood && !window.confirm(`Delete ${n} picture${n === 1 ? "" : "s"} for good? This cannot be undone.`)) event.preventDefault();
  });
  update();
});

// Upload: drop or pick several files; each gets a preview and its own progress bar and is
// sent on its own (the plain form, which sends one, works without this).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-upload]");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const zone = document.createElement("div");
  zone.className = "dropzone";
  zone.textContent = "Drop pictures here, or choose several at once below.";
  form.prepend(zone);
  input.multiple = true;
  const list = document.createElement("ul");
  list.className = "upload-list";
  form.after(list);
  const send = (file) => new Promise((resolve) => {
    const item = document.createElement("li");
    item.className = "upload-item";
    const preview = document.createElement("img");
    preview.alt = "";
    preview.src = URL.createObjectURL(file);
    const side = document.createElement("div");
    const name = document.createElement("div");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    const state = document.createElement("div");
    state.className = "state muted";
    state.textContent = "Uploading…";
    side.append(name, bar, state);
    item.append(preview, side);
    list.append(item);
    const body = new FormData(form);
    body.set("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", () => {
      let answer = {};
      try { answer = JSON.parse(request.responseText); } catch (_) { /* shown below */ }
      if (request.status === 201 && answer.image) {
        bar.value = 100;
        state.textContent = "";
        const link = document.createElement("a");
        link.href = answer.image.page_url || answer.image.image_url;
        link.textContent = "Uploaded: open it";
        state.append(link);
        item.dataset.done = "true";
      } else {
        state.classList.add("error");
        state.textContent = answer.error || `Upload failed (${request.status}).`;
        item.dataset.done = "false";
      }
      resolve();
    });
    request.addEventListener("error", () => {
      state.classList.add("error");
      state.textContent = "The connection failed; nothing was uploaded.";
      item.dataset.done = "false";
      resolve();
    });
    request.send(body);
  });
  const sendAll = async (files) => {
    for (const file of files) await send(file);
  };
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    sendAll([...event.dataTransfer.files]);
  });
  form.addEventListener("submit", (event) => {
    if (input.files.length < 2) return;
    event.preventDefault();
    sendAll([...input.files]);
  });
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

// The image page while a tagger is at work: follow its job and show the suggestions as
// soon as it has finished (the page says so and links the job without JavaScript too).
document.addEventListener("DOMContentLoaded", () => {
  const pending = document.querySelector("[data-tagging-job]");
  if (!pending) return;
  const url = `/api/jobs/${pending.dataset.taggingJob}`;
  let tries = 0;
  const look = async () => {
    tries += 1;
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      const body = await answer.json();
      const status = body.job && body.job.status;
      if (status === "succeeded" || status === "failed") { location.reload(); return; }
    } catch (_) { /* a failed look is tried again */ }
    if (tries < 120) setTimeout(look, 1000);
  };
  setTimeout(look, 700);
});

// The phone menu closes with Escape, and focus goes back to its button.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const menu = document.querySelector("details.nav-menu[open]");
  if (!menu) return;
  menu.open = false;
  menu.querySelector("summary")?.focus();
});

// The story form: count the sentences as they are typed (as the server splits them: at
// . ! ? … and line breaks, each with a letter or digit) and say what they will cost.
document.addEventListener("DOMContentLoaded", () => {
  const cost = document.querySelector("#story-cost[data-credits]");
  const story = document.querySelector("textarea#story");
  if (!cost || !story) return;
  const perScene = Number(cost.dataset.perScene);
  const credits = Number(cost.dataset.credits);
  const original = cost.textContent;
  const count = () => story.value
    .split(/[.!?…\r\n]+/)
    .filter((part) => /[\p{L}\p{N}]/u.test(part)).length;
  const update = () => {
    const n = count();
    if (n === 0) { cost.textContent = original; return; }
    const total = n * perScene;
    const words = `${n} sentence${n === 1 ? "" : "s"} · ${total} credit${total === 1 ? "" : "s"}`;
    cost.textContent = n < 2 || n > 8
      ? `${words}: a story has 2 to 8 sentences.`
      : total <= credits ? `${words} (you have ${credits}).` : `${words}, and you have ${credits}.`;
  };
  story.addEventListener("input", update);
  update();
});

// The image page: ← and → follow the picture's neighbours in the gallery view it came
// from, a swipe does the same on a phone, and Escape goes back to that view (to the page
// of it last seen, when this tab came from there). The links work without this.
document.addEventListener("DOMContentLoaded", () => {
  const gridKey = "atelier:grid";
  if (document.querySelector("form#bulk")) sessionStorage.setItem(gridKey, location.href);
  const stage = document.querySelector("[data-viewer]");
  if (!stage) return;
  const withoutPage = (href) => {
    const url = new URL(href, location.href);
    url.searchParams.delete("page");
    return url.pathname + "?" + [...url.searchParams].sort().join("&");
  };
  const back = stage.querySelector("[data-back-link]");
  const seen = sessionStorage.getItem(gridKey);
  if (back && seen && withoutPage(seen) === withoutPage(back.href)) back.href = seen;
  const go = (selector) => {
    const link = stage.querySelector(selector);
    if (link) location.href = link.href;
  };
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable], .crop-frame, video")) return;
    if (event.key === "ArrowLeft") go("[data-prev]");
    else if (event.key === "ArrowRight") go("[data-next]");
    else if (event.key === "Escape" && !document.querySelector("details.nav-menu[open], dialog[open]")) go("[data-back-link]");
  });
  let start = null;
  const picture = stage.querySelector(".stage-picture");
  picture.addEventListener("touchstart", (event) => {
    start = event.touches.length === 1 ? { x: event.touches[0].clientX, y: event.touches[0].clientY } : null;
  }, { passive: true });
  picture.addEventListener("touchend", (event) => {
    if (!start) return;
    const dx = event.changedTouches[0].clientX - start.x;
    const dy = event.changedTouches[0].clientY - start.y;
    start = null;
    if (Math.abs(dx) > 60 && Math.abs(dx) > 2 * Math.abs(dy)) go(dx > 0 ? "[data-prev]" : "[data-next]");
  });
});

// The crop box: a frame over the picture to drag (or move with the arrow keys; Shift for
// bigger steps), corners to resize, shapes to keep; the four number fields follow it and
// are what the form sends (without JavaScript they are the whole tool).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-crop]");
  if (!form) return;
  const box = form.querySelector(".crop-box");
  const picture = box.querySelector("img");
  const frame = box.querySelector(".crop-frame");
  const aspects = form.querySelector(".crop-aspects");
  const field = (name) => form.querySelector(`input[name=${name}]`);
  const W = Number(form.dataset.width);
  const H = Number(form.dataset.height);
  box.hidden = false;
  aspects.hidden = false;
  // The crop in the picture's own pixels.
  let crop = { x: 0, y: 0, w: W, h: H };
  let aspect = 0;
  const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
  const draw = () => {
    const scale = picture.clientWidth / W;
    Object.assign(frame.style, {
      left: `${crop.x * scale}px`, top: `${crop.y * scale}px`,
      width: `${crop.w * scale}px`, height: `${crop.h * scale}px`,
    });
    field("x").value = Math.round(crop.x);
    field("y").value = Math.round(crop.y);
    field("w").value = Math.round(crop.w);
    field("h").value = Math.round(crop.h);
  };
  const fit = (next) => {
    next.w = clamp(next.w, 1, W);
    next.h = clamp(next.h, 1, H);
    next.x = clamp(next.x, 0, W - next.w);
    next.y = clamp(next.y, 0, H - next.h);
    crop = next;
    draw();
  };
  const shape = (ratio) => {
    aspect = ratio;
    if (!ratio) return draw();
    let w = crop.w, h = w / ratio;
    if (h > H) { h = H; w = h * ratio; }
    if (w > W) { w = W; h = w / ratio; }
    fit({ x: crop.x + (crop.w - w) / 2, y: crop.y + (crop.h - h) / 2, w, h });
  };
  for (const button of aspects.querySelectorAll("[data-aspect]")) {
    button.addEventListener("click", () => {
      for (const other of aspects.querySelectorAll("[data-aspect]")) other.setAttribute("aria-pressed", String(other === button));
      shape(Number(button.dataset.aspect) || 0);
    });
  }
  for (const name of ["x", "y", "w", "h"]) {
    field(name).addEventListener("change", () => fit({
      x: Number(field("x").value) || 0, y: Number(field("y").value) || 0,
      w: Number(field("w").value) || W, h: Number(field("h").value) || H,
    }));
  }
  let drag = null;
  frame.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    // Taken by the pointer, the frame has the keyboard too (preventDefault stops the
    // browser from focusing it).
    frame.focus();
    frame.setPointerCapture(event.pointerId);
    drag = { corner: event.target.dataset.corner || null, x: event.clientX, y: event.clientY, from: { ...crop } };
  });
  frame.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const scale = picture.clientWidth / W;
    const dx = (event.clientX - drag.x) / scale;
    const dy = (event.clientY - drag.y) / scale;
    const from = drag.from;
    if (!drag.corner) return fit({ ...from, x: from.x + dx, y: from.y + dy });
    const west = drag.corner.includes("w");
    const north = drag.corner.includes("n");
    let w = clamp(from.w + (west ? -dx : dx), 8, W);
    let h = clamp(from.h + (north ? -dy : dy), 8, H);
    if (aspect) h = w / aspect;
    const right = from.x + from.w;
    const bottom = from.y + from.h;
    let x = west ? right - w : from.x;
    let y = north ? bottom - h : from.y;
    if (x < 0 || y < 0 || x + w > W || y + h > H) return;
    crop = { x, y, w, h };
    draw();
  });
  frame.addEventListener("pointerup", () => { drag = null; });
  frame.addEventListener("keydown", (event) => {
    const step = (event.shiftKey ? 50 : 5) * W / Math.max(picture.clientWidth, 1);
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    fit({ ...crop, x: crop.x + move[0], y: crop.y + move[1] });
  });
  if (picture.complete) draw(); else picture.addEventListener("load", draw);
  window.addEventListener("resize", draw);
});

// Light or dark: the footer's switch cycles system → dark → light and remembers the
// choice in this browser (theme.js applies it before the page paints).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector("[data-theme-switch]");
  if (!button) return;
  const names = { "": "System", dark: "Dark", light: "Light" };
  const order = ["", "dark", "light"];
  const show = () => {
    const chosen = document.documentElement.dataset.theme || "";
    button.textContent = `Theme: ${names[chosen]}`;
  };
  button.hidden = false;
  button.addEventListener("click", () => {
    const chosen = document.documentElement.dataset.theme || "";
    const next = order[(order.indexOf(chosen) + 1) % order.length];
    if (next) {
      document.documentElement.dataset.theme = next;
      localStorage.setItem("atelier:theme", next);
    } else {
      delete document.documentElement.dataset.theme;
      localStorage.removeItem("atelier:theme");
    }
    show();
  });
  show();
});
