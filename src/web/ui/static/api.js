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
