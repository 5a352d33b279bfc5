// One job's page: follow a running job live; after a change of state, or an action, show the
// page as the server renders it now.
import { act } from "./actions.js";
import { ApiError, api, explain } from "./api.js";
import { LABELS, isRunning, waitText } from "./format.js";
import { mountWaveform } from "./waveform.js";

const POLL_MS = 1000;
const main = document.getElementById("main");
let timer = null;

function current() {
  const root = document.getElementById("job");
  return { id: root.dataset.job, state: root.dataset.state, filename: document.querySelector("h1").textContent };
}

async function reloadMain() {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (response.redirected || !response.ok) {
    location.reload();
    return;
  }
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  main.replaceChildren(...fresh.getElementById("main").childNodes);
  const { filename, state } = current();
  document.getElementById("announce").textContent = `${filename}: ${LABELS[state] ?? state}`;
  watch();
  mountWaveform();
}

async function poll() {
  const { id, state } = current();
  try {
    const job = await api("GET", `/jobs/${id}`);
    if (job.state !== state) {
      await reloadMain();
      return;
    }
    const progress = document.getElementById("job-progress");
    if (progress) progress.value = job.progress;
    const step = document.getElementById("job-step");
    if (step) step.textContent = `${LABELS[job.state]}… ${Math.round(job.progress)} %`;
    const wait = document.getElementById("job-wait");
    if (wait) wait.textContent = waitText(job);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
  }
  timer = setTimeout(poll, POLL_MS);
}

function watch() {
  clearTimeout(timer);
  // At once, so the queue position and estimates show without waiting a poll interval.
  if (isRunning(current().state)) timer = setTimeout(poll, 0);
}

main.addEventListener("click", async (event) => {
  const control = event.target.closest("[data-action]");
  if (!control) return;
  try {
    if (await act(control.dataset.action, current())) await reloadMain();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const message = document.getElementById("job-error");
    message.textContent = explain(error);
    message.hidden = false;
  }
});
watch();
mountWaveform();
