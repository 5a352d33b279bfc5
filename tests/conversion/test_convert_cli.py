"""The convert command line: outputs, options, failures and exit codes."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conversion import cli, probe


def run_cli(*argv: str | Path, tty: bool = False) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="vid2mp3 convert")
    cli.add_arguments(parser)
    args = parser.parse_args([str(a) for a in argv])
    stderr = _Tty() if tty else io.StringIO()
    return cli.run(args, stderr=stderr), stderr.getvalue()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_single_file_to_named_output(corpus, tmp_path) -> None:
    out = tmp_path / "song.mp3"
    code, err = run_cli(corpus["mp4"], "-o", out, "--mono", "--bitrate", "128k", "--title", "T")
    assert (code, err) == (0, "")
    info = probe(out)
    stream = info.audio_streams[0]
    assert (stream.channels, stream.bitrate, info.tags["title"]) == (1, 128, "T")


def test_single_file_next_to_input(corpus, tmp_path) -> None:
    src = tmp_path / "video.webm"
    shutil.copy(corpus["webm_vp8_vorbis"], src)
    mp3 = tmp_path / "tune.mp3"
    shutil.copy(corpus["mp3"], mp3)
    code, _ = run_cli(src, mp3, "--jobs", "2", "--start", "0:01", "--end", "2.5")
    assert code == 0
    assert probe(tmp_path / "video.mp3").duration == pytest.approx(1.5, abs=0.1)
    # A source MP3 is never overwritten by its own conversion.
    assert probe(tmp_path / "tune.converted.mp3").duration == pytest.approx(1.5, abs=0.1)


def test_folder_with_a_bad_file(corpus, tmp_path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(corpus["mp4"], src / "a.mp4")
    shutil.copy(corpus["flac"], src / "sub" / "b.flac")
    shutil.copy(corpus["random.bin"], src / "sub" / "broken.mp4")
    (src / "notes.txt").write_text("not media, not picked up")
    out = tmp_path / "out"
    code, err = run_cli(src, "-o", out, "-j", "2", tty=True)
    assert code == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.mp3")) == ["a.mp3", "sub/b.mp3"]
    failures = [line for line in err.splitlines() if "failed:" in line]
    assert len(failures) == 1
    assert "broken.mp4" in failures[0] and "not" in failures[0]
    assert "files" in err  # the bar was drawn
    assert err.rstrip().endswith("2 of 3 converted, 1 failed")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--bitrate", "100"], "--bitrate"),
        (["--vbr", "12"], "--vbr"),
        (["--start", "5", "--end", "1"], "--end"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_usage_errors(corpus, tmp_path, argv, words) -> None:
    code, err = run_cli(corpus["wav"], "-o", tmp_path / "x.mp3", *argv)
    assert code == 2
    assert words in err and "error" in err
    assert not (tmp_path / "x.mp3").exists()


def test_missing_input(tmp_path) -> None:
    code, err = run_cli(tmp_path / "nothing.mp4")
    assert code == 2 and "nothing.mp4" in err


def test_empty_folder(tmp_path) -> None:
    code, err = run_cli(tmp_path)
    assert code == 2 and "no media files" in err


def test_clashing_outputs(corpus, tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(corpus["wav"], tmp_path / "a" / "x.wav")
    shutil.copy(corpus["wav"], tmp_path / "b" / "x.wav")
    code, err = run_cli(tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav", "-o", tmp_path / "o")
    assert code == 2 and "x.mp3" in err


def test_exclusive_rate_flags(corpus) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli(corpus["wav"], "--bitrate", "128", "--vbr", "2")
    assert caught.value.code == 2


def test_per_file_option_error(corpus, tmp_path) -> None:
    code, err = run_cli(corpus["wav"], "-o", tmp_path / "x.mp3", "--audio-track", "4")
    assert code == 1 and "audio_track" in err and "1 audio track" in err


CLI_SCRIPT = """
import argparse, sys
from conversion import cli
parser = argparse.ArgumentParser()
cli.add_arguments(parser)
sys.exit(cli.run(parser.parse_args(sys.argv[1:])))
"""


def test_interrupt_stops_all_conversions(corpus, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    sources = []
    for name in ("one.flac", "two.flac"):
        sources.append(tmp_path / name)
        sources[-1].symlink_to(corpus["long"])
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI_SCRIPT, *map(str, sources), "-o", str(out), "--normalize"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Interrupt once both conversions are writing.
        give_up = time.monotonic() + 60
        while len(list(out.glob(".*.part"))) < 2 and time.monotonic() < give_up:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(out.iterdir()) == []
    # ffmpeg ran in its own session: make sure none survived its parent.
    assert not [
        pid for pid in os.listdir("/proc") if pid.isdigit() and str(out).encode() in _cmdline(pid)
    ]


def _cmdline(pid: str) -> bytes:
    try:
        return Path("/proc", pid, "cmdline").read_bytes()
    except OSError:
        return b""
