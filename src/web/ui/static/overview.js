// The admin overview: fetch the page again every few seconds and put its figures in place,
// without reloading the page; nothing is fetched while the tab is hidden, and the figures catch
// up as soon as it is shown again. A keyboard user's focus on a button is never taken away.
const region = document.getElementById("overview");
const INTERVAL_MS = Number(region.dataset.refreshMs) || 5000;
let timer = null;
let fetching = false;

function address() {
  // The notice of a form just sent (?done=) belongs to that moment, not to every refresh.
  const url = new URL(location.href);
  url.searchParams.delete("done");
  url.searchParams.delete("n");
  return url;
}

async function refresh() {
  clearTimeout(timer);
  timer = null;
  if (document.hidden || fetching) return;
  fetching = true;
  if (!region.contains(document.activeElement)) {
    try {
      const response = await fetch(address(), { credentials: "same-origin" });
      if (response.redirected || !response.ok) {
        location.reload(); // signed out, or no longer an admin: the server's page says so
        return;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("overview");
      if (fresh) region.replaceChildren(...fresh.childNodes);
    } catch {
      // Offline for a moment: try again at the next tick.
    }
  }
  fetching = false;
  if (!document.hidden) timer = setTimeout(refresh, INTERVAL_MS);
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    clearTimeout(timer);
    timer = null;
  } else if (timer === null) {
    refresh();
  }
});

timer = setTimeout(refresh, INTERVAL_MS);
