// What a user can do to a job, shared by the jobs list and the job page.
import { api } from "./api.js";

const QUESTIONS = {
  cancel: (name) => `Cancel the conversion of ${name}? Its video is deleted.`,
  delete: (name) => `Delete the video and MP3 of ${name}? This cannot be undone.`,
};

// Run `action` (retry, cancel, delete) on the job; resolve to false if the user changed their mind.
export async function act(action, job) {
  const question = QUESTIONS[action];
  if (question && !window.confirm(question(job.filename))) return false;
  if (action === "retry") await api("POST", `/jobs/${job.id}/retry`);
  else await api("DELETE", `/jobs/${job.id}`);
  return true;
}
