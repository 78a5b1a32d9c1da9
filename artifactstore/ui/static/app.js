// Copy buttons for the fetch snippets (no inline script: the CSP allows scripts from /static only).
document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button.copy");
  if (!btn) return;
  const pre = document.getElementById(btn.dataset.copy);
  if (pre && navigator.clipboard) {
    navigator.clipboard.writeText(pre.textContent).then(() => { btn.textContent = "Copied"; });
  }
});
