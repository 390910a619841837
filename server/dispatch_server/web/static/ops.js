// Refresh the ops page's health section on its own, as the page says how often.
const section = document.getElementById("ops-status");
if (section) {
  const seconds = Number(section.dataset.refreshSeconds || "15");
  setInterval(async () => {
    try {
      const answer = await fetch(section.dataset.refreshUrl, { credentials: "same-origin" });
      if (answer.ok) {
        section.innerHTML = await answer.text(); // server-rendered, escaped there
      }
    } catch {
      // offline for a moment: the next round tries again
    }
  }, seconds * 1000);
}
