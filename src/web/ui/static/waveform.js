// The player's waveform: the job's peaks (GET /jobs/{id}/waveform) drawn on a canvas, the part
// already played in the accent colour. It is a slider for the <audio> next to it: a click seeks
// to that point; arrows move 5 s, Page Up/Down 30 s, Home/End to either end.
import { clock } from "./format.js";

const STEP_SECONDS = 5;
const PAGE_SECONDS = 30;

function draw(canvas, data, loudest, played) {
  const width = Math.max(1, Math.round(canvas.clientWidth * devicePixelRatio));
  const height = Math.max(1, Math.round(canvas.clientHeight * devicePixelRatio));
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const styles = getComputedStyle(canvas);
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, height);
  const points = data.length / 2;
  const middle = height / 2;
  for (let x = 0; x < width; x++) {
    const first = Math.floor((x * points) / width);
    const last = Math.max(first, Math.floor(((x + 1) * points) / width) - 1);
    let low = 0;
    let high = 0;
    for (let p = first; p <= last; p++) {
      low = Math.min(low, data[2 * p]);
      high = Math.max(high, data[2 * p + 1]);
    }
    // At least one device pixel, so silence still shows as a line.
    const top = middle - Math.max((high / loudest) * middle, 0.5);
    const bottom = middle - Math.min((low / loudest) * middle, -0.5);
    context.fillStyle = x / width < played ? styles.getPropertyValue("--played").trim() : styles.color;
    context.fillRect(x, top, 1, bottom - top);
  }
}

export async function mountWaveform() {
  const slider = document.getElementById("waveform");
  const audio = slider && document.getElementById(slider.dataset.player);
  if (!audio) return;
  const response = await fetch(slider.dataset.src, { credentials: "same-origin" });
  if (!response.ok) return; // no peaks (yet): the plain player stays
  const { data } = await response.json();
  // Drawn to the loudest peak, so a quiet recording still shows its shape.
  const loudest = data.reduce((most, value) => Math.max(most, Math.abs(value)), 1);
  const canvas = slider.querySelector("canvas");
  const duration = () => (Number.isFinite(audio.duration) ? audio.duration : Number(slider.getAttribute("aria-valuemax")));
  const update = () => {
    const now = audio.currentTime;
    slider.setAttribute("aria-valuenow", String(Math.round(now)));
    slider.setAttribute("aria-valuetext", `${clock(Math.round(now))} of ${clock(Math.round(duration()))}`);
    draw(canvas, data, loudest, duration() ? now / duration() : 0);
  };
  const seek = (seconds) => {
    audio.currentTime = Math.min(Math.max(seconds, 0), duration() || 0);
    update();
  };
  slider.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * duration());
  });
  slider.addEventListener("keydown", (event) => {
    const moves = {
      ArrowLeft: -STEP_SECONDS,
      ArrowDown: -STEP_SECONDS,
      ArrowRight: STEP_SECONDS,
      ArrowUp: STEP_SECONDS,
      PageDown: -PAGE_SECONDS,
      PageUp: PAGE_SECONDS,
    };
    if (event.key in moves) seek(audio.currentTime + moves[event.key]);
    else if (event.key === "Home") seek(0);
    else if (event.key === "End") seek(duration());
    else return;
    event.preventDefault();
  });
  for (const name of ["timeupdate", "seeked", "loadedmetadata"]) audio.addEventListener(name, update);
  new ResizeObserver(update).observe(canvas);
  slider.hidden = false;
  update();
}
