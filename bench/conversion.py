"""Benchmark the conversion engine against raw ffmpeg and the seed's moviepy path.

Generates its inputs with ffmpeg's lavfi sources under a temp dir, then measures, for each input,
the CPU time (user+sys of every process involved, from the children's rusage) and the wall time
of three ways to get an MP3:

- raw:  ``ffmpeg -i IN -vn -c:a libmp3lame -b:a 192k OUT``
- seed: ``VideoFileClip(IN).audio.write_audiofile(OUT)`` (``AudioFileClip`` for audio) in a
  Python subprocess, so its own CPU counts too
- ours: ``conversion.to_mp3(IN, OUT)`` in a Python subprocess, probe and interpreter included
- ours, warm worker: the same call repeated inside one Python process, as a worker runs it
  (interpreter start and imports paid once, outside the measurement; the probe is inside)
- ours, warm worker, media given: the same with the probe's result passed in (``media=``)

Each is repeated (3 times by default) and the median is reported with ratios to raw.

    .venv/bin/python bench/conversion.py [--quick] [--repeat N] [--skip-seed]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

# This script is named like the package it measures, and a script's folder comes first on
# sys.path: the package is only imported by the subprocesses, which run from the temp dir.

SEED = """
import sys
from moviepy import AudioFileClip, VideoFileClip
src, dst, audio_only = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
clip = AudioFileClip(src) if audio_only else VideoFileClip(src)
(clip if audio_only else clip.audio).write_audiofile(dst, logger=None)
clip.close()
"""
RAW_ARGS = ["-vn", "-c:a", "libmp3lame", "-b:a", "192k"]
OURS = """
import sys
from conversion import to_mp3
to_mp3(sys.argv[1], sys.argv[2])
"""
# A long-lived worker pays for the interpreter and imports once: after a warm-up conversion,
# measure one more conversion's CPU (own + children) and wall time inside the same process.
# With argv[3] == "1" the media facts come from an earlier probe (as when the upload was probed
# and the facts stored on the job), so the measured call starts one ffmpeg, not two.
WARM = """
import json, resource, sys, time
from conversion import probe, to_mp3
def cpu():
    return sum(
        r.ru_utime + r.ru_stime
        for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
media = probe(sys.argv[1]) if sys.argv[3] == "1" else None
to_mp3(sys.argv[1], sys.argv[2])
c, w = cpu(), time.perf_counter()
to_mp3(sys.argv[1], sys.argv[2], media=media)
print(json.dumps([cpu() - c, time.perf_counter() - w]))
"""


def inputs(quick: bool) -> list[tuple[str, str, bool, list[str]]]:
    """Return (label, file name, audio only, ffmpeg generation args) for each input."""
    clip, video, audio = (5, 60, 300) if quick else (10, 600, 3600)
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    aac = ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    return [
        (
            f"clip {clip} s 640x360 H.264+AAC",
            "clip.mp4",
            False,
            [
                *("-f", "lavfi", "-i", f"testsrc=size=640x360:rate=30:duration={clip}"),
                *("-f", "lavfi", "-i", f"sine=frequency=440:duration={clip}"),
                *h264,
                *aac,
            ],
        ),
        (
            f"video {video // 60} min 720p H.264+AAC",
            "video.mp4",
            False,
            [
                *("-f", "lavfi", "-i", f"testsrc=size=1280x720:rate=30:duration={video}"),
                *("-f", "lavfi", "-i", f"sine=frequency=440:duration={video}"),
                *h264,
                *aac,
            ],
        ),
        (
            f"audio {audio // 60} min AAC (m4a)",
            "audio.m4a",
            True,
            [*("-f", "lavfi", "-i", f"sine=frequency=440:duration={audio}"), *aac],
        ),
    ]


def measure(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``cmd`` and return (CPU seconds of it and all its descendants, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true", help="leave out moviepy")
    opts = parser.parse_args()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-conversion-") as tmp:
        work = Path(tmp)
        for label, name, audio_only, gen in inputs(opts.quick):
            src = work / name
            print(f"generating {label} ...", file=sys.stderr, flush=True)
            subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", *gen, str(src)], check=True)
            dst = str(work / "out.mp3")
            ways = {
                "raw": [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(src), *RAW_ARGS, dst],
                "ours": [sys.executable, "-c", OURS, str(src), dst],
            }
            if not opts.skip_seed:
                ways["seed"] = [sys.executable, "-c", SEED, str(src), dst, str(int(audio_only))]
            samples: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
            warm_ways = {"ours, warm worker": "0", "ours, warm worker, media given": "1"}
            samples.update({way: [] for way in warm_ways})
            # Interleave the ways so drifts in machine load hit them alike.
            for _ in range(opts.repeat):
                for way, cmd in ways.items():
                    samples[way].append(measure(cmd, work))
                for way, given in warm_ways.items():
                    warm = subprocess.run(
                        [sys.executable, "-c", WARM, str(src), dst, given],
                        check=True,
                        capture_output=True,
                        text=True,
                        cwd=work,
                    )
                    samples[way].append(tuple(json.loads(warm.stdout)))
            medians = {
                way: (
                    statistics.median(c for c, _ in runs),
                    statistics.median(w for _, w in runs),
                )
                for way, runs in samples.items()
            }
            rows.append((label, medians))
            print(f"  {label}: {medians}", file=sys.stderr, flush=True)
    print_table(rows, opts.repeat)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def print_table(rows, repeat: int) -> None:
    print(f"median of {repeat} runs; CPU = user+sys of all processes; ratios against raw ffmpeg")
    print()
    print("| input | way | CPU s | wall s | CPU / raw | wall / raw |")
    print("|---|---|---:|---:|---:|---:|")
    for label, medians in rows:
        raw_cpu, raw_wall = medians["raw"]
        for way, (cpu, wall) in medians.items():
            print(
                f"| {label} | {way} | {cpu:.3f} | {wall:.3f} "
                f"| {cpu / raw_cpu:.3f} | {wall / raw_wall:.3f} |"
            )


if __name__ == "__main__":
    main()
