// The mail desk: new mail refreshes the message list in place and is announced.
const list = document.getElementById("desk-list");
const live = document.getElementById("desk-live");
if (list && list.dataset.eventsUrl && window.EventSource) {
  const source = new EventSource(list.dataset.eventsUrl, { withCredentials: true });
  source.addEventListener("message.received", async (event) => {
    let sender = "";
    try {
      const data = JSON.parse(event.data).data || {};
      sender = data.from || data.from_address || "";
    } catch {
      // the list is fetched whatever the frame said
    }
    try {
      const answer = await fetch(list.dataset.listUrl, { credentials: "same-origin" });
      if (answer.ok) {
        list.innerHTML = await answer.text(); // server-rendered, escaped there
      }
    } catch {
      return;
    }
    if (live) {
      live.textContent = sender ? `New mail from ${sender}` : "New mail";
    }
  });
}
