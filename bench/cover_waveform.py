"""Benchmark the cover still and the waveform peaks against the conversion they go with.

For each input (by default a 10-minute 1280x720 H.264+AAC video and a 10-second clip, generated
with ffmpeg's lavfi sources; or files given with --input), one warm Python process (imports and a
first run paid outside the measurement, as in a long-lived worker) measures, interleaved and
repeated:

- convert:   ``to_mp3(IN, OUT, cover="none", media=...)``, the conversion without a picture
- auto:      ``to_mp3(IN, OUT, cover="auto", media=...)``, the conversion with the still
- still:     ``conversion.cover.video_still(IN, JPG, duration)`` alone
- waveform:  ``to_mp3(IN, OUT, cover="none", media=..., waveform_pcm=PCM)`` then
             ``conversion.waveform.peaks(PCM)``: the conversion with its second, 4 kHz PCM output
             (as the worker runs it), folded into peaks

CPU is user+sys of the process and of its waited-for children (``resource.getrusage`` SELF +
CHILDREN), so every ffmpeg started by moviepy or by us counts. Medians are reported with the
ratios to the conversion; "waveform - convert" is what the peaks add to a conversion.

    .venv/bin/python bench/cover_waveform.py [--repeat N] [--input FILE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg

# Run from a temp dir in a child process: this folder holds bench/conversion.py, which would
# shadow the package when imported from here.
MEASURE = """
import json, resource, statistics, sys
from conversion import ConversionOptions, probe, to_mp3
from conversion.cover import video_still
from conversion.waveform import peaks

def cpu():
    return sum(
        r.ru_utime + r.ru_stime
        for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )

src, out, jpg, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pcm = out + ".pcm"
media = probe(src)
ways = {
    "convert": lambda: to_mp3(src, out, ConversionOptions(cover="none"), media=media),
    "auto": lambda: to_mp3(src, out, ConversionOptions(cover="auto"), media=media),
    "still": lambda: video_still(src, jpg, media.duration),
    "waveform": lambda: (
        to_mp3(src, out, ConversionOptions(cover="none"), media=media, waveform_pcm=pcm),
        peaks(pcm),
    ),
}
for run in ways.values():  # warm-up: imports, caches, the first ffmpeg start
    run()
samples = {way: [] for way in ways}
for _ in range(repeat):
    for way, run in ways.items():
        before = cpu()
        run()
        samples[way].append(cpu() - before)
print(json.dumps({way: statistics.median(values) for way, values in samples.items()}))
"""


def generated_inputs(work: Path) -> list[tuple[str, Path]]:
    """Make the default inputs; return (label, path) pairs."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    made = []
    for label, seconds, size in (("10 min 720p", 600, "1280x720"), ("10 s 640x360", 10, "640x360")):
        path = work / f"{seconds}s.mp4"
        print(f"generating {label} ...", file=sys.stderr, flush=True)
        subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-y"]
            + ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
            + ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
            + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
            + ["-c:a", "aac", "-b:a", "128k", "-ac", "2", str(path)],
            check=True,
        )
        made.append((f"{label} H.264+AAC", path))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--input", nargs="*", type=Path, help="measure these files instead")
    opts = parser.parse_args()
    print(f"median of {opts.repeat} runs in a warm process; CPU = user+sys, self + children")
    print()
    print(
        "| input | convert CPU s | still s | still / convert | auto - convert "
        "| convert + waveform s | waveform - convert | (waveform - convert) / convert |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-cover-") as tmp:
        work = Path(tmp)
        inputs = [(p.name, p.resolve()) for p in opts.input] if opts.input else None
        for label, src in inputs or generated_inputs(work):
            result = subprocess.run(
                [sys.executable, "-c", MEASURE, str(src), str(work / "out.mp3")]
                + [str(work / "still.jpg"), str(opts.repeat)],
                check=True,
                capture_output=True,
                text=True,
                cwd=work,
            )
            m = json.loads(result.stdout)
            print(
                f"| {label} | {m['convert']:.3f} | {m['still']:.3f} "
                f"| {m['still'] / m['convert']:.1%} | {m['auto'] - m['convert']:+.3f} "
                f"| {m['waveform']:.3f} | {m['waveform'] - m['convert']:+.3f} "
                f"| {(m['waveform'] - m['convert']) / m['convert']:+.1%} |",
                flush=True,
            )
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
