// Numbers as people read them; the server's templates format the same way.
export function size(bytes) {
  if (bytes == null) return "—";
  if (bytes < 1000) return `${bytes} bytes`;
  let value = bytes;
  for (const unit of ["kB", "MB", "GB", "TB"]) {
    value /= 1000;
    if (value < 1000 || unit === "TB") return `${value < 100 ? value.toFixed(1) : Math.round(value)} ${unit}`;
  }
  return "";
}

export function clock(seconds) {
  if (seconds == null) return "—";
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours) return `${hours}:${String(minutes).padStart(2, "0")}:${String(Math.floor(rest)).padStart(2, "0")}`;
  return `${minutes}:${rest.toFixed(1).padStart(4, "0")}`;
}

export function remaining(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s left`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s left`;
}

export function time(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}

function hourMinute(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// A waiting or running job's place in the queue and its estimated start and finish.
export function waitText(job) {
  const parts = [];
  if (job.state === "queued" && job.queue_position != null) {
    const ahead = job.queue_position;
    parts.push(ahead === 0 ? "Next in line" : `${ahead} job${ahead === 1 ? "" : "s"} ahead`);
  }
  if (job.state === "queued" && job.estimated_start_at) parts.push(`starts about ${hourMinute(job.estimated_start_at)}`);
  if (job.estimated_finish_at) parts.push(`ready about ${hourMinute(job.estimated_finish_at)}`);
  return parts.join(" · ");
}

const RUNNING = { queued: "Queued", converting: "Converting", storing: "Storing", notifying: "Finishing" };
export const LABELS = { ...RUNNING, done: "Done", failed: "Failed", cancelled: "Cancelled" };
export const isRunning = (state) => state in RUNNING;
