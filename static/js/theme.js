// The theme this browser chose (the footer's switch in app.js), applied before the page
// paints; without a choice, the system's light or dark setting is followed.
"use strict";
try {
  const theme = localStorage.getItem("atelier:theme");
  if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
} catch (_) { /* storage refused: follow the system */ }
