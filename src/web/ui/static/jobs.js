// The jobs page: the user's jobs from GET /jobs, newest first, kept live by polling.
import { act } from "./actions.js";
import { ApiError, api, explain, here, url } from "./api.js";
import { button, field, link, setText } from "./dom.js";
import { LABELS, clock, isRunning, size, time, waitText } from "./format.js";

const PAGE_SIZE = 20;
const POLL_MS = 1500;
const IDLE_POLL_MS = 5000;

const list = document.getElementById("jobs");
const status = document.getElementById("jobs-status");
const empty = document.getElementById("empty");
const pager = document.getElementById("pages");
const announce = document.getElementById("announce");
const rowTemplate = document.getElementById("job-row");
const page = Math.max(1, Number.parseInt(new URL(location.href).searchParams.get("page"), 10) || 1);
const rows = new Map();
let timer = null;

function facts(job) {
  const parts = [`Uploaded ${time(job.created_at)}`, `video ${size(job.video_size)}`];
  if (job.duration != null) parts.push(clock(job.duration));
  if (job.mp3_size != null) parts.push(`MP3 ${size(job.mp3_size)}`);
  return parts.join(" · ");
}

function togglePlayer(row, job, control) {
  const player = field(row, "player");
  if (player.firstChild) {
    player.replaceChildren();
    control.textContent = "Play";
    control.setAttribute("aria-label", `Play ${job.filename}`);
    return;
  }
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "metadata";
  audio.src = job.links.mp3;
  audio.setAttribute("aria-label", `Player for ${job.filename}`);
  player.append(audio);
  audio.play().catch(() => {});
  control.textContent = "Hide player";
  control.setAttribute("aria-label", `Hide player for ${job.filename}`);
}

async function run(action, job, row) {
  try {
    if (await act(action, job)) await refresh();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    setText(field(row, "reason"), explain(error));
  }
}

function actionsFor(job, row) {
  const name = job.filename;
  const controls = [];
  if (job.links.mp3) {
    const play = button("Play", `Play ${name}`, () => togglePlayer(row, job, play));
    const download = link("Download MP3", job.links.mp3, `Download MP3 of ${name}`);
    download.download = "";
    controls.push(play, download);
  }
  if (job.state === "failed") {
    controls.push(button("Retry", `Retry ${name}`, () => run("retry", job, row), "primary"));
  }
  if (isRunning(job.state)) controls.push(button("Cancel", `Cancel ${name}`, () => run("cancel", job, row)));
  if (job.state === "done" || job.state === "failed") {
    controls.push(button("Delete", `Delete ${name}`, () => run("delete", job, row), "danger"));
  }
  return controls;
}

function update(row, job) {
  const link = field(row, "name");
  link.href = url(`/job/${job.id}`);
  setText(link, job.filename);
  const badge = field(row, "state");
  setText(badge, LABELS[job.state] ?? job.state);
  badge.className = `badge state-${job.state}`;
  setText(field(row, "facts"), facts(job));
  setText(field(row, "wait"), waitText(job));
  const progress = field(row, "progress");
  progress.hidden = !isRunning(job.state);
  progress.value = job.progress;
  progress.setAttribute("aria-label", `Progress of ${job.filename}`);
  const reason = job.state === "failed" || job.state === "cancelled" ? job.reason ?? "" : "";
  setText(field(row, "reason"), reason);
  // Rebuild the buttons only when the state changes, so keyboard focus and a playing player stay.
  const shape = `${job.state}:${Boolean(job.links.mp3)}`;
  if (row.dataset.shape !== shape) {
    const hadFocus = row.contains(document.activeElement) && document.activeElement !== link;
    if (row.dataset.shape && row.dataset.state !== job.state && !isRunning(job.state)) {
      setText(announce, `${job.filename}: ${LABELS[job.state]}`);
    }
    field(row, "actions").replaceChildren(...actionsFor(job, row));
    if (!job.links.mp3) field(row, "player").replaceChildren();
    if (hadFocus) (field(row, "actions").querySelector("button, a") ?? link).focus();
    row.dataset.shape = shape;
    row.dataset.state = job.state;
  }
}

function render(data) {
  const seen = new Set();
  let previous = null;
  for (const job of data.items) {
    seen.add(job.id);
    let row = rows.get(job.id);
    if (!row) {
      row = rowTemplate.content.firstElementChild.cloneNode(true);
      rows.set(job.id, row);
    }
    update(row, job);
    const expected = previous ? previous.nextElementSibling : list.firstElementChild;
    if (expected !== row) list.insertBefore(row, expected);
    previous = row;
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.remove();
      rows.delete(id);
    }
  }
  empty.hidden = !(data.total === 0 && page === 1);
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  pager.hidden = pages <= 1;
  setText(document.getElementById("page-label"), `Page ${page} of ${pages}`);
  document.getElementById("newer").disabled = page <= 1;
  document.getElementById("older").disabled = page >= pages;
  const running = data.items.filter((job) => isRunning(job.state)).length;
  const summary = data.total === 0 ? "" : `${data.total} job${data.total === 1 ? "" : "s"}`;
  setText(status, running ? `${summary}, ${running} in progress` : summary);
  return running;
}

async function refresh() {
  clearTimeout(timer);
  let delay = IDLE_POLL_MS;
  try {
    const data = await api("GET", `/jobs?limit=${PAGE_SIZE}&offset=${(page - 1) * PAGE_SIZE}`);
    if (render(data)) delay = POLL_MS;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) {
      location.assign(url(`/sign-in?next=${encodeURIComponent(here())}`));
      return;
    }
    setText(status, explain(error));
  }
  timer = setTimeout(refresh, document.hidden ? IDLE_POLL_MS : delay);
}

function goTo(target) {
  const address = new URL(location.href);
  address.searchParams.set("page", String(target));
  location.assign(address);
}

document.getElementById("newer").addEventListener("click", () => goTo(page - 1));
document.getElementById("older").addEventListener("click", () => goTo(page + 1));
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
refresh();
