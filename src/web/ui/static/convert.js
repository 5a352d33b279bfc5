// The convert page: choose or drop videos; each uploads at once with the options in the form,
// shows bytes sent, speed and time left, can be cancelled, then follows its job to the MP3.
// Of an MP4 or MOV with AAC sound only the audio is sent when that is smaller (audio_only.js).
import { act } from "./actions.js";
import { ApiError, api, explain, interruptedUploads, resumableUpload, upload, url } from "./api.js";
import { smallerAudio } from "./audio_only.js";
import { button, field, link } from "./dom.js";
import { LABELS, clock, isRunning, remaining, size } from "./format.js";

// Follow a job quickly at first (a short clip is done within a second), then once a second.
const FIRST_FOLLOW_MS = 150;
const FOLLOW_MS = 1000;
const options = document.getElementById("options");
const drop = document.getElementById("drop");
const picker = document.getElementById("files");
const uploads = document.getElementById("uploads");
const rowTemplate = document.getElementById("upload-row");

function syncChoices() {
  const form = options.elements;
  const vbr = form.mode.value === "vbr";
  form.bitrate.disabled = vbr;
  form.vbr_quality.disabled = !vbr;
  form.cover_image.disabled = form.cover.value !== "image";
}

// The form's choices as the upload's fields, named as POST /upload expects them.
function optionFields() {
  const form = options.elements;
  const fields = [];
  if (form.mode.value === "vbr") fields.push(["vbr_quality", form.vbr_quality.value]);
  else fields.push(["bitrate", form.bitrate.value]);
  if (form.sample_rate.value) fields.push(["sample_rate", form.sample_rate.value]);
  if (form.mono.checked) fields.push(["channels", "1"]);
  if (form.normalize.checked) fields.push(["normalize", "true"]);
  // A still from the video is the server's default; an image goes as a file part of its own.
  const image = form.cover_image.files[0];
  if (form.cover.value === "none") fields.push(["cover", "none"]);
  else if (form.cover.value === "image" && image) fields.push(["cover", image]);
  for (const name of ["start", "end", "title", "artist", "album"]) {
    const value = form[name].value.trim();
    if (value) fields.push([name, value]);
  }
  return fields;
}

function setState(row, state, label) {
  const badge = field(row, "state");
  badge.textContent = label ?? LABELS[state] ?? state;
  badge.className = `badge state-${state}`;
}

function showJob(row, job) {
  setState(row, job.state);
  const progress = field(row, "progress");
  progress.hidden = !isRunning(job.state);
  progress.value = job.progress;
  progress.setAttribute("aria-label", `Conversion of ${job.filename}`);
  if (job.state === "done") {
    const parts = [`MP3 ${size(job.mp3_size)}`];
    if (job.mp3_duration != null) parts.push(clock(job.mp3_duration));
    field(row, "facts").textContent = parts.join(" · ");
    const download = link("Download MP3", job.links.mp3, `Download MP3 of ${job.filename}`, "button primary");
    download.download = "";
    field(row, "actions").replaceChildren(download, link("Details", url(`/job/${job.id}`), `Details of ${job.filename}`));
  } else if (job.state === "failed" || job.state === "cancelled") {
    field(row, "facts").textContent = "";
    field(row, "error").textContent = job.reason ?? "";
    field(row, "actions").replaceChildren(link("Details", url(`/job/${job.id}`), `Details of ${job.filename}`));
  } else {
    field(row, "facts").textContent = `${LABELS[job.state]}… ${Math.round(job.progress)} %`;
  }
}

async function follow(row, job) {
  showJob(row, job);
  const cancel = button("Cancel", `Cancel conversion of ${job.filename}`, async () => {
    try {
      await act("cancel", job);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      field(row, "error").textContent = explain(error);
    }
  });
  field(row, "actions").replaceChildren(cancel, link("Details", url(`/job/${job.id}`), `Details of ${job.filename}`));
  for (let delay = FIRST_FOLLOW_MS; isRunning(job.state); delay = Math.min(delay * 1.5, FOLLOW_MS)) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    try {
      job = await api("GET", `/jobs/${job.id}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      field(row, "error").textContent = explain(error);
      if (error.status !== 0 && error.status !== 503) return;
      continue;
    }
    showJob(row, job);
  }
}

// The job a finished resumable upload became; a lost connection or a busy server is waited out.
async function fetchJob(id) {
  for (let delay = FIRST_FOLLOW_MS; ; delay = Math.min(delay * 2, 10 * FOLLOW_MS)) {
    try {
      return await api("GET", `/jobs/${id}`);
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status !== 0 && error.status !== 503)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function start(file) {
  const row = rowTemplate.content.firstElementChild.cloneNode(true);
  field(row, "name").textContent = file.name;
  setState(row, "uploading", "Uploading");
  const progress = field(row, "progress");
  progress.setAttribute("aria-label", `Upload of ${file.name}`);
  const facts = field(row, "facts");
  facts.textContent = `0 bytes of ${size(file.size)}`;
  uploads.prepend(row);

  const sent = await smallerAudio(file);
  const began = performance.now();
  let resumedAt = null;
  const fields = optionFields();
  // An image of one's own travels as a file part: that upload goes as one multipart request.
  const resumable = fields.every(([, value]) => typeof value === "string");
  const send = resumable ? resumableUpload : upload;
  const sending = send(sent, fields, (loaded, total) => {
    resumedAt ??= loaded;
    progress.value = total ? (loaded / total) * 100 : 0;
    const seconds = (performance.now() - began) / 1000;
    const speed = seconds > 0 ? (loaded - resumedAt) / seconds : 0;
    const parts = [`${size(loaded)} of ${size(total)}${sent === file ? "" : " (the audio only)"}`];
    if (speed > 0 && loaded < total) parts.push(`${size(speed)}/s`, remaining((total - loaded) / speed));
    facts.textContent = parts.join(" · ");
  });
  field(row, "actions").replaceChildren(
    button("Cancel", `Cancel upload of ${file.name}`, sending.abort),
  );

  const job = resumable ? sending.done.then(fetchJob) : sending.done;
  job.then(
    (job) => follow(row, job),
    (error) => {
      progress.hidden = true;
      field(row, "actions").replaceChildren();
      if (error.name === "AbortError") {
        setState(row, "cancelled", "Cancelled");
        facts.textContent = "Upload cancelled.";
        return;
      }
      if (!(error instanceof ApiError)) throw error;
      setState(row, "refused", error.status === 0 ? "Failed" : "Refused");
      facts.textContent = "";
      field(row, "error").textContent = explain(error);
    },
  );
}

function startAll(files) {
  for (const file of files) start(file);
}

options.addEventListener("change", syncChoices);
options.addEventListener("submit", (event) => event.preventDefault());
function takeChosen() {
  startAll(picker.files);
  picker.value = "";
}
picker.addEventListener("change", takeChosen);
// Files chosen while this module was still loading fired their change event before it listened.
if (picker.files.length) takeChosen();
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  startAll(event.dataTransfer.files);
});
// A file dropped next to the zone must not replace the page with the video.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => event.preventDefault());
}
syncChoices();
interruptedUploads().then((unfinished) => {
  const note = document.getElementById("interrupted");
  if (!unfinished.length) return;
  const names = unfinished.map(({ name, size: bytes }) => `${name} (${size(bytes)})`).join(", ");
  note.textContent = `Not finished: ${names}. Choose the same file again to go on where it stopped.`;
  note.hidden = false;
});
