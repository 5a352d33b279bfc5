"""Measure the peak memory of converting a large video, to show it does not grow with size.

Builds a ~2 GiB H.264+AAC MP4 of about an hour quickly (30 s of noisy 720p video at 4.5 Mbit/s
encoded once, then repeated with ``-stream_loop`` and ``-c copy``) plus a ~100 MiB one cut from
it, then converts each with ``conversion.to_mp3`` in a Python subprocess while polling /proc
every 20 ms for the resident set of that process and all its descendants (Python + ffmpeg).
Also reports the kernel's own peak figures (ru_maxrss) for the Python process and for ffmpeg,
and those of raw ffmpeg for reference.

    .venv/bin/python bench/conversion_memory.py [--size-gib 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

# This script sits next to bench/conversion.py, which shadows the package of the same name:
# only the subprocess, started from the temp dir, imports the package.
OURS = """
import json, resource, sys
from conversion import to_mp3
result = to_mp3(sys.argv[1], sys.argv[2])
print(json.dumps({
    "python_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "ffmpeg_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "duration": result.duration,
}))
"""
MIB = 1 << 20
RAW_ARGS = ["-vn", "-c:a", "libmp3lame", "-b:a", "192k"]


def tree_rss(root: int) -> int:
    """Return the summed VmRSS (bytes) of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields["PPid"]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def run_polled(cmd: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``cmd``; return (peak RSS of its process tree in bytes, its stdout)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stdin=subprocess.DEVNULL, cwd=cwd)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)
        # The child reports its own ru_maxrss figures on stdout: poll() reaped it without them.
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
        out.seek(0)
        return peak, out.read()


def raw_ffmpeg_maxrss(ffmpeg: str, src: Path, dst: Path) -> int:
    """Return ffmpeg's ru_maxrss (KiB) for the raw command on ``src``."""
    proc = subprocess.Popen(
        [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(src), *RAW_ARGS, str(dst)],
        stdin=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    return usage.ru_maxrss


def make_inputs(ffmpeg: str, work: Path, size_gib: float) -> list[Path]:
    """Create the big input and a ~100 MiB one with the same content."""
    seed = work / "seed.mp4"
    subprocess.run(
        [
            *(ffmpeg, "-nostdin", "-v", "error", "-y"),
            *("-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30:duration=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:duration=30"),
            # Noise keeps x264 from undershooting: a typical 720p bitrate, so 2 GiB is ~1 hour
            # and the MP4 index is as large as a real file's of that size.
            *("-vf", "noise=alls=60:allf=t", "-c:v", "libx264", "-preset", "ultrafast"),
            *("-b:v", "4500k", "-maxrate", "4500k", "-bufsize", "9000k"),
            *("-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(seed)),
        ],
        check=True,
    )
    loops = max(1, round(size_gib * 1024 * MIB / seed.stat().st_size))
    big = work / "big.mp4"
    small = work / "small.mp4"
    seed_seconds = 30
    small_seconds = max(1, round(seed_seconds * 100 * MIB / seed.stat().st_size))
    for dst, args in (
        (big, ["-stream_loop", str(loops - 1), "-i", str(seed)]),
        (small, ["-stream_loop", "-1", "-i", str(seed), "-t", str(small_seconds)]),
    ):
        subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-y", *args, "-c", "copy", str(dst)], check=True
        )
    return [small, big]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    opts = parser.parse_args()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        print("generating inputs ...", file=sys.stderr, flush=True)
        sources = make_inputs(ffmpeg, work, opts.size_gib)
        print("| input | size | peak RSS, Python + ffmpeg (polled) | Python ru_maxrss "
              "| ffmpeg ru_maxrss | raw ffmpeg ru_maxrss |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|")
        for src in sources:
            dst = work / "out.mp3"
            peak, stdout = run_polled([sys.executable, "-c", OURS, str(src), str(dst)], work)
            report = json.loads(stdout)
            raw = raw_ffmpeg_maxrss(ffmpeg, src, dst)
            print(
                f"| {src.name} ({time.strftime('%H:%M:%S', time.gmtime(report['duration']))}) "
                f"| {src.stat().st_size / MIB:.0f} MiB | {peak / MIB:.0f} MiB "
                f"| {report['python_maxrss_kib'] / 1024:.0f} MiB "
                f"| {report['ffmpeg_maxrss_kib'] / 1024:.0f} MiB | {raw / 1024:.0f} MiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
