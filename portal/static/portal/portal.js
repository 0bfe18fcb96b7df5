// Copy buttons: the only script the portal needs (everything else works without JavaScript).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const target = document.getElementById(button.dataset.copyTarget);
  const text = target.value !== undefined ? target.value : target.innerText;
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {
    // Clipboard API unavailable (plain http, old browser): select the text so Ctrl+C works.
    if (target.select) target.select();
    document.execCommand && document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  button.dataset.copied = "true";
  setTimeout(() => { button.textContent = label; }, 2000);
});
