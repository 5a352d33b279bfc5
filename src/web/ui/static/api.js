// Call the JSON API as the signed-in browser: the session cookie travels by itself, and every
// request carries the page's CSRF token. Errors become sentences a person understands.
import { size } from "./format.js";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
// The app's root path behind a proxy's path prefix ("" at the root), from the page's <meta>.
const root = document.querySelector('meta[name="root-path"]')?.content ?? "";

// Return the URL of one of the app's own paths (`/jobs/…`): every fetch, link and redirect
// the scripts make goes through here, so they work under a path prefix.
export function url(path) {
  return root + path;
}

// Return this page's path and query without the root path: where to come back to after signing in.
export function here() {
  return location.pathname.slice(root.length) + location.search;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.body = body ?? {};
  }
}

// `body`, when given, is sent as JSON.
export async function api(method, path, body) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url(path), {
      method,
      credentials: "same-origin",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

// Upload one file with its options; `onProgress(loaded, total)` follows the bytes sent.
// Returns { done, abort }: `done` resolves to the job, or rejects with an ApiError (status 0
// for a lost connection) or an AbortError after `abort()`.
export function upload(file, fields, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of fields) form.append(name, value);
    form.append("file", file, file.name);
    xhr.open("POST", url("/upload"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded, event.total));
    xhr.addEventListener("load", () => {
      if (xhr.status === 202) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, null)));
    xhr.addEventListener("abort", () => reject(new DOMException("cancelled", "AbortError")));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

// tus-js-client (vendored, loaded by the page as the global `tus`) sends the file to the
// server's resumable uploads, below the root path.
const TUS_ENDPOINT = new URL(url("/files"), location.href).href;
// After a lost connection: retry at once, then wait longer and longer (offline for minutes
// is fine); each retry asks the server how far it got and sends only the rest.
const TUS_RETRIES = [0, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 60000, 60000];

function tusError(error) {
  const response = error.originalResponse;
  if (!response) return new ApiError(0, null);
  let body = null;
  try {
    body = JSON.parse(response.getBody());
  } catch {
    // a gateway's page, not our problem+json
  }
  return new ApiError(response.getStatus(), body);
}

// Upload one file over tus with its options (as Upload-Metadata); same contract as `upload`,
// but `done` resolves to the job's id. A dropped connection is retried from the server's
// offset, also while the browser is offline (for a few minutes). After a page reload, choosing
// the same file resumes it (tus-js-client remembers the upload in localStorage under the
// file's fingerprint).
export function resumableUpload(file, fields, onProgress) {
  let transfer;
  let cancel;
  const done = new Promise((resolve, reject) => {
    cancel = reject;
    transfer = new window.tus.Upload(file, {
      endpoint: TUS_ENDPOINT,
      headers: { "X-CSRF-Token": csrf },
      metadata: { filename: file.name, filetype: file.type, ...Object.fromEntries(fields) },
      retryDelays: TUS_RETRIES,
      removeFingerprintOnSuccess: true,
      // As tus-js-client's default (not a refusal, or 409/423), but also while the browser
      // says it is offline, which the default gives up on.
      onShouldRetry: (error) => {
        const status = error.originalResponse?.getStatus() ?? 0;
        return status < 400 || status === 409 || status === 423;
      },
      onProgress,
      onSuccess: () => resolve(transfer.url.split("/").pop()),
      onError: (error) => reject(tusError(error)),
    });
    transfer.findPreviousUploads().then((previous) => {
      if (previous.length) transfer.resumeFromPreviousUpload(previous[0]);
      transfer.start();
    });
  });
  const abort = () => {
    transfer.abort(true).catch(() => {}); // also ends the upload on the server
    cancel(new DOMException("cancelled", "AbortError"));
  };
  return { done, abort };
}

// The uploads that a closed or reloaded page left unfinished: [{ name, size }].
export async function interruptedUploads() {
  const stored = await window.tus.defaultOptions.urlStorage.findAllUploads();
  return stored
    .filter((entry) => entry.uploadUrl?.startsWith(TUS_ENDPOINT))
    .map((entry) => ({ name: entry.metadata?.filename ?? "a file", size: entry.size }));
}

// The Convert page's names for the upload's option fields, for error messages.
const OPTION_LABELS = {
  bitrate: "Bitrate",
  vbr_quality: "VBR quality",
  sample_rate: "Sample rate",
  channels: "Mono",
  start: "Start at",
  end: "End at",
  normalize: "Even out loudness",
  title: "Title",
  artist: "Artist",
  album: "Album",
  cover: "Cover picture",
};

function sentence(text) {
  const trimmed = String(text ?? "").trim().replace(/\.$/, "");
  return trimmed ? `${trimmed[0].toUpperCase()}${trimmed.slice(1)}.` : "";
}

export function explain(error) {
  const { status, body } = error;
  switch (status) {
    case 0:
      return "The connection to the server was lost. Check the network and try again.";
    case 401:
      return "Your session has ended. Sign in again, then retry.";
    case 403:
      return "This page is out of date. Reload it and try again.";
    case 404:
      return "This job no longer exists.";
    case 413:
      return body.limit
        ? `This file is too big: the limit is ${size(body.limit)}.`
        : "This file is too big for this server.";
    case 415:
      return "This is not a video or audio file vid2mp3 can read.";
    case 422: {
      const label = OPTION_LABELS[body.field];
      const problem = String(body.detail ?? "").replace(/^invalid option [a-z_]+: /, "");
      return label ? `Check “${label}”: ${problem.replace(/\.$/, "")}.` : sentence(body.detail);
    }
    case 429:
      return /quota/.test(body.detail ?? "")
        ? "Your storage space is used up. Delete old jobs to make room, then try again."
        : sentence(body.detail) || "Too many requests. Wait a moment and try again.";
    case 503:
      return "The service is busy or briefly down. Try again in a moment.";
    default:
      return sentence(body.detail) || `Something went wrong (HTTP ${status}).`;
  }
}
