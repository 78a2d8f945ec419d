// Copy buttons of the admin pages: the only script they need (everything else works without).
"use strict";
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const field = document.getElementById(button.dataset.copy);
  const done = document.querySelector("[data-copied]");
  button.hidden = !navigator.clipboard;
  button.addEventListener("click", () => {
    navigator.clipboard.writeText(field.value).then(() => { if (done) done.hidden = false; });
  });
});
