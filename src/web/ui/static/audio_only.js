// Send only the audio of an MP4 or MOV whose sound is AAC. mp4box.js (vendored from npm) reads
// the file's index (the moov box) in slices; the video tracks are dropped from it, the AAC
// track's samples become one chunk of a new mdat, and the new file is built from slices of the
// original (no sample is copied into memory or decoded). Its edit list stays, so the server
// decodes exactly the same samples and makes the same MP3. It is uploaded instead when smaller;
// anything else (another container or codec, several audio tracks, no video, a fragmented or
// huge file, any error) sends the whole file. An audio-only upload has no picture, so its MP3
// gets no still-frame cover.
// mp4box.js is big: it loads on the first MP4 chosen, so the page takes files before it arrives.
let mp4box = null;

const SLICE = 1 << 20;
const MAX_READS = 64;
const ISO_TYPES = /^(video\/(mp4|quicktime)|audio\/mp4)$/;
const ISO_NAMES = /\.(mp4|m4v|mov)$/i;
const MAX_UINT32 = 2 ** 32 - 1;

// Return the File to upload: an audio-only copy of `file` when that is possible and smaller.
export async function smallerAudio(file) {
  if (!ISO_TYPES.test(file.type) && !ISO_NAMES.test(file.name)) return file;
  try {
    mp4box ??= await import("./vendor/mp4box/mp4box.all.mjs");
    const audio = audioOnly(file, await readIndex(file));
    return audio && audio.size < file.size ? audio : file;
  } catch {
    return file;
  }
}

// Parse the file's boxes up to the end of its moov; return the mp4box file, ready.
async function readIndex(file) {
  const mp4 = mp4box.createFile();
  let ready = false;
  mp4.onReady = () => {
    ready = true;
  };
  let position = 0;
  for (let reads = 0; !ready && position < file.size && reads < MAX_READS; reads += 1) {
    const slice = await file.slice(position, position + SLICE).arrayBuffer();
    // mp4box answers where it wants to read next: past the media data to a moov at the end.
    position = mp4.appendBuffer(mp4box.MP4BoxBuffer.fromArrayBuffer(slice, position)) ?? position + slice.byteLength;
  }
  if (!ready) throw new Error("no moov box");
  return mp4;
}

// Build ftyp + moov (the AAC track alone) + mdat from the original's samples; null if unsuited.
function audioOnly(file, mp4) {
  const { moov, ftyp } = mp4;
  const sound = moov.traks.filter((trak) => trak.mdia.hdlr.handler === "soun");
  if (moov.mvex || sound.length !== 1 || sound.length === moov.traks.length) return null;
  const [trak] = sound;
  const stbl = trak.mdia.minf.stbl;
  const entries = stbl.stsd.entries;
  if (entries.length !== 1 || entries[0].type !== "mp4a" || !trak.samples.length) return null;
  // Every sample in one chunk: one stsc entry, one chunk offset.
  stbl.stsc.first_chunk = [1];
  stbl.stsc.samples_per_chunk = [trak.samples.length];
  stbl.stsc.sample_description_index = [1];
  const offsets = stbl.stco ?? stbl.co64;
  moov.boxes = moov.boxes.filter((box) => box.type !== "trak" || box === trak);
  moov.traks = [trak];
  const ranges = sampleRanges(trak.samples);
  const media = ranges.reduce((total, [start, end]) => total + end - start, 0);
  offsets.chunk_offsets = [0];
  const headerSize = boxes(ftyp, moov).byteLength;
  if (headerSize + 8 + media > MAX_UINT32) return null;
  offsets.chunk_offsets = [headerSize + 8];
  const mdat = new DataView(new ArrayBuffer(8));
  mdat.setUint32(0, 8 + media);
  mdat.setUint32(4, 0x6d646174); // "mdat"
  const parts = [boxes(ftyp, moov), mdat, ...ranges.map(([start, end]) => file.slice(start, end))];
  // The original's name stays: the job is still "that video"; the server reads the content.
  return new File(parts, file.name, { type: "audio/mp4" });
}

// The byte ranges of the samples, in order, adjacent ones merged.
function sampleRanges(samples) {
  const ranges = [];
  for (const { offset, size } of samples) {
    const last = ranges.at(-1);
    if (last && last[1] === offset) last[1] += size;
    else ranges.push([offset, offset + size]);
  }
  return ranges;
}

function boxes(...list) {
  const stream = new mp4box.DataStream();
  for (const box of list) box.write(stream);
  return stream.buffer;
}
