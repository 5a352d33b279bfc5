"""The ``vid2mp3 convert`` command: convert local files and folders with a progress bar.

:func:`add_arguments` declares the command line on a parser the main CLI provides and :func:`run`
executes it. Conversions run in a thread pool (the work happens in ffmpeg processes, the threads
only wait on them). Exit status: 0 when every file converted, 1 when any failed, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from .convert import to_mp3
from .errors import ConversionError, InvalidOptionsError
from .options import ConversionOptions

# Extensions picked up inside folders; files named on the command line are taken as they are.
_EXTENSION_WORDS = (
    "3g2 3gp aac ac3 aif aiff amr ape asf avi caf dv f4v flac flv m2ts m4a m4b m4v mka mkv mov "
    "mp2 mp3 mp4 mpeg mpg mts mxf oga ogg ogv opus ts vob wav weba webm wma wmv wv"
)
MEDIA_EXTENSIONS = frozenset(_EXTENSION_WORDS.split())
# Option field -> the flag that sets it, to name flags (not fields) in error messages.
_FLAGS = {
    "bitrate": "--bitrate",
    "vbr_quality": "--vbr",
    "sample_rate": "--sample-rate",
    "channels": "--mono",
    "start": "--start",
    "end": "--end",
    "normalize": "--normalize",
    "title": "--title",
    "artist": "--artist",
    "album": "--album",
    "cover": "--cover",
    "audio_track": "--audio-track",
}
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Signal a command line that cannot be executed as given."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``convert`` command's arguments on ``parser``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="media files or folders")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file (one input file) or folder (default: next to each input)",
    )
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--bitrate", metavar="KBPS", help="constant bitrate in kbit/s (default 192)")
    rate.add_argument("--vbr", metavar="Q", help="variable bitrate quality, 0 (best) to 9")
    parser.add_argument("--sample-rate", metavar="HZ", help="default: the source's")
    parser.add_argument("--mono", action="store_true", help="one channel instead of stereo")
    parser.add_argument("--start", metavar="TIME", help="start at seconds or [H:]MM:SS")
    parser.add_argument("--end", metavar="TIME", help="end at seconds or [H:]MM:SS")
    parser.add_argument("--normalize", action="store_true", help="EBU R128 loudness")
    parser.add_argument("--title", help="ID3 title (default: the source's, else the file name)")
    parser.add_argument("--artist", help="ID3 artist")
    parser.add_argument("--album", help="ID3 album")
    parser.add_argument(
        "--cover",
        choices=("auto", "none"),
        help="auto (default): the source's cover, else a still of its video; none: no picture",
    )
    parser.add_argument("--audio-track", metavar="N", help="audio track number, from 0")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="parallel conversions (default: number of CPUs)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, stderr: TextIO | None = None) -> int:
    """Execute a parsed ``convert`` command line and return the exit status."""
    stderr = stderr or sys.stderr
    try:
        options = _options(args)
        if args.jobs < 1:
            raise UsageError("--jobs must be 1 or more")
        pairs = _plan_outputs([Path(p) for p in args.inputs], args.output)
    except UsageError as error:
        return _usage_error(stderr, str(error))
    except InvalidOptionsError as error:
        return _usage_error(stderr, f"{_FLAGS.get(error.field, error.field)}: {error.message}")

    bar = ProgressBar(len(pairs), stderr, enabled=not args.quiet and stderr.isatty())
    cancel = threading.Event()

    def convert(index: int, src: Path, dst: Path) -> bool:
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            to_mp3(
                src,
                dst,
                options,
                on_progress=lambda percent: bar.update(index, percent),
                cancel=cancel,
            )
        except ConversionError as error:
            bar.failed(index, f"failed: {src}: {error.reason}")
            return False
        except OSError as error:
            bar.failed(index, f"failed: {src}: {error.strerror or error}")
            return False
        bar.done(index)
        return True

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(convert, i, src, dst) for i, (src, dst) in enumerate(pairs)]
        try:
            failures = sum(not future.result() for future in futures)
        except KeyboardInterrupt:
            # Stop queued work and make running conversions kill their ffmpeg.
            cancel.set()
            for future in futures:
                future.cancel()
            pool.shutdown(wait=True)
            bar.note("interrupted; unfinished conversions were stopped")
            return EXIT_INTERRUPTED
    bar.finish(failures)
    return EXIT_FAILED if failures else EXIT_OK


def _usage_error(stderr: TextIO, message: str) -> int:
    print(f"vid2mp3 convert: error: {message}", file=stderr)
    return EXIT_USAGE


def _options(args: argparse.Namespace) -> ConversionOptions:
    """Turn the flags into validated options via the same parser as the web form."""
    form = {
        "bitrate": args.bitrate,
        "vbr_quality": args.vbr,
        "sample_rate": args.sample_rate,
        "channels": "1" if args.mono else None,
        "start": args.start,
        "end": args.end,
        "normalize": "true" if args.normalize else None,
        "title": args.title,
        "artist": args.artist,
        "album": args.album,
        "cover": args.cover,
        "audio_track": args.audio_track,
    }
    return ConversionOptions.from_form({k: v for k, v in form.items() if v is not None})


def _plan_outputs(inputs: list[Path], output: str | None) -> list[tuple[Path, Path]]:
    """Expand folders and pair every input file with the MP3 it becomes."""
    sources: list[tuple[Path, Path]] = []  # (file, path relative to the output folder)
    for item in inputs:
        if item.is_dir():
            found = sorted(
                p
                for p in item.rglob("*")
                if p.is_file() and p.suffix[1:].lower() in MEDIA_EXTENSIONS
            )
            if not found:
                raise UsageError(f"no media files in folder {item}")
            sources += [(p, p.relative_to(item)) for p in found]
        elif item.is_file():
            sources.append((item, Path(item.name)))
        else:
            raise UsageError(f"no such file or folder: {item}")

    single_file = len(inputs) == 1 and not inputs[0].is_dir()
    if output is not None and single_file and not _is_folder(output):
        return [(sources[0][0], Path(output))]
    pairs = []
    for src, relative in sources:
        if output is None:
            dst = src.with_suffix(".mp3")
            if dst == src:  # never overwrite a source MP3 with its own conversion
                dst = src.with_name(f"{src.stem}.converted.mp3")
        else:
            dst = Path(output) / relative.with_suffix(".mp3")
        pairs.append((src, dst))
    clashes = {dst for _, dst in pairs if sum(d == dst for _, d in pairs) > 1}
    if clashes:
        raise UsageError(f"several inputs would be written to {sorted(clashes)[0]}")
    return pairs


def _is_folder(output: str) -> bool:
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


class ProgressBar:
    """A one-line text bar on stderr, redrawn at most ten times a second, shared by threads.

    Over `total` items (files, by default); with a `label`, one labelled task (the submit
    client's upload, conversion and download).
    """

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO, enabled: bool, label: str | None = None) -> None:
        self._label = label
        self._percents = [0.0] * total
        self._finished = 0
        self._stream = stream
        self._enabled = enabled
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def update(self, index: int, percent: float) -> None:
        """Record file ``index``'s progress and redraw if the last draw is old enough."""
        with self._lock:
            self._percents[index] = percent
            self._draw()

    def done(self, index: int) -> None:
        """Count file ``index`` as converted."""
        with self._lock:
            self._percents[index] = 100.0
            self._finished += 1
            self._draw(force=True)

    def failed(self, index: int, line: str) -> None:
        """Count file ``index`` as finished and print ``line`` above the bar."""
        with self._lock:
            self._percents[index] = 100.0
            self._finished += 1
            self._print(line)

    def note(self, line: str) -> None:
        """Print ``line`` above the bar."""
        with self._lock:
            self._print(line)

    def _print(self, line: str) -> None:
        self._clear()
        print(line, file=self._stream, flush=True)
        self._draw(force=True)

    def finish(self, failures: int) -> None:
        """Replace the bar with a summary (always shown when something failed)."""
        with self._lock:
            self._clear()
            total = len(self._percents)
            if self._enabled or failures:
                print(
                    f"{total - failures} of {total} converted, {failures} failed",
                    file=self._stream,
                    flush=True,
                )

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._enabled or (not force and now - self._last_draw < 0.1):
            return
        self._last_draw = now
        total = len(self._percents)
        overall = sum(self._percents) / total
        filled = round(self.WIDTH * overall / 100)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        if self._label is None:
            self._stream.write(f"\r[{bar}] {overall:5.1f}% {self._finished}/{total} files")
        else:
            self._stream.write(f"\r{self._label:>8} [{bar}] {overall:5.1f}%")
        self._stream.flush()

    def close(self) -> None:
        """End the bar's line, leaving it drawn in full."""
        with self._lock:
            self._draw(force=True)
            if self._enabled:
                self._stream.write("\n")
                self._stream.flush()

    def _clear(self) -> None:
        if self._enabled:
            self._stream.write("\r\x1b[K")
