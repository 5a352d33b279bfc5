"""Measure the bytes an upload sends with and without audio-only extraction, both clients.

A 10-minute 720p clip is made here (lavfi testsrc2 + sine; libx264 ultrafast at 2 Mbit/s, AAC
128 kbit/s; not kept). Then:

- `vid2mp3 submit`'s way: `vid2mp3.audio_only.smaller_audio` (ffmpeg `-vn -c:a copy` into .mka);
- the Convert page's way: `src/web/ui/static/audio_only.js` (mp4box.js), run under Node.js 20+
  on the same file (skipped when `node` is missing).

Each copy is checked to decode to the same PCM as the clip (SHA-256 of the decoded audio). The
table gives the file part's bytes (the multipart framing adds about 200 bytes), the ratio to
the whole file, and the CPU time the extraction took.

    python bench/audio_only.py [--seconds 600] [--clip PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clips import FFMPEG, make_clip

# bench/conversion.py would shadow the `conversion` package that vid2mp3.audio_only imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from vid2mp3.audio_only import smaller_audio  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BROWSER_MODULE = ROOT / "src" / "web" / "ui" / "static" / "audio_only.js"
# Run the page's module on a file: node --input-type=module -e NODE_SCRIPT MODULE IN OUT
NODE_SCRIPT = """
import { openAsBlob, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [module, input, output] = process.argv.slice(1);
const { smallerAudio } = await import(pathToFileURL(module));
const file = new File([await openAsBlob(input)], "clip.mp4", { type: "video/mp4" });
const sent = await smallerAudio(file);
writeFileSync(output, Buffer.from(await sent.arrayBuffer()));
"""


def pcm_sha256(path: Path) -> str:
    """Return the SHA-256 of the first audio track decoded to 16-bit PCM."""
    pcm = subprocess.run(
        [FFMPEG, "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:a:0"]
        + ["-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return hashlib.sha256(pcm).hexdigest()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cli_copy(clip: Path, folder: Path) -> tuple[Path, float]:
    cpu = children_cpu() + self_cpu()
    with smaller_audio(clip) as sent:
        kept = folder / "cli.mka"
        shutil.copyfile(sent, kept)
    return kept, children_cpu() + self_cpu() - cpu


def browser_copy(clip: Path, folder: Path) -> tuple[Path, float] | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = folder / "browser.m4a"
    cpu = children_cpu()
    subprocess.run(
        [node, "--input-type=module", "-e", NODE_SCRIPT, str(BROWSER_MODULE), str(clip), str(out)],
        check=True,
    )
    return out, children_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600, help="length of the clip made here")
    parser.add_argument("--clip", type=Path, help="use this MP4 instead of making one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audio-only-") as name:
        folder = Path(name)
        started = time.monotonic()
        clip = args.clip or make_clip(
            folder / "clip.mp4", args.seconds, size="1280x720", fps=30, video_bitrate="2M"
        )
        print(f"clip ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
        whole = clip.stat().st_size
        reference = pcm_sha256(clip)
        rows = [("whole file (`--whole-file`, or not MP4/AAC)", whole, 0.0, True)]
        copies = [("`vid2mp3 submit` (ffmpeg copy → .mka)", cli_copy(clip, folder))]
        browser = browser_copy(clip, folder)
        if browser is not None:
            copies.append(("Convert page (mp4box.js → audio-only .mp4)", browser))
        for label, (path, cpu) in copies:
            rows.append((label, path.stat().st_size, cpu, pcm_sha256(path) == reference))
    print(f"clip: {args.seconds} s of 1280x720 H.264 at 2 Mbit/s + AAC 128 kbit/s")
    print("| sent | file bytes | fewer than whole | extraction CPU | same decoded audio |")
    print("|---|---:|---:|---:|---|")
    for label, size, cpu, same in rows:
        same_audio = "yes" if same else "NO"
        print(f"| {label} | {size:,} | {whole / size:.1f}x | {cpu:.2f} s | {same_audio} |")
    if browser is None:
        print("(node is missing: the Convert page's way was not measured)")
    return 0 if all(same for *_, same in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
