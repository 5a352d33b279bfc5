"""`vid2mp3 sample`: a short clip from ffmpeg's test sources that converts like a real video."""

from __future__ import annotations

import pytest

from conversion import probe
from conversion.sample import write_sample
from vid2mp3.cli import main


def test_the_command_writes_a_clip_with_picture_and_sound(tmp_path, capsys):
    path = tmp_path / "try me.mp4"
    assert main(["sample", str(path), "--seconds", "3"]) == 0
    assert str(path) in capsys.readouterr().out
    info = probe(path)
    assert info.has_video and info.video_codec == "h264"
    assert info.audio_streams[0].codec == "aac"
    assert info.audio_streams[0].channels == 2
    assert info.duration == pytest.approx(3.0, abs=0.1)


def test_the_default_path_is_sample_mp4_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "--seconds", "1"]) == 0
    assert probe(tmp_path / "sample.mp4").duration == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("seconds", [0, -1, 3601])
def test_a_senseless_length_is_refused(tmp_path, seconds):
    with pytest.raises(ValueError, match="between 0 and 3600"):
        write_sample(tmp_path / "x.mp4", seconds)
    assert main(["sample", str(tmp_path / "y.mp4"), "--seconds", str(seconds)]) == 1
    assert not (tmp_path / "y.mp4").exists()
