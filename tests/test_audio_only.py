"""`vid2mp3 submit`'s audio-only copy: smaller, the same decoded audio, else the whole file."""

from __future__ import annotations

from media import decoded_md5, make_clip
from vid2mp3.audio_only import smaller_audio


def test_a_video_is_sent_as_its_audio_with_the_same_samples(tmp_path):
    video = make_clip(tmp_path / "clip.mp4", seconds=4)

    with smaller_audio(video) as sent:
        assert sent.suffix == ".mka"
        assert sent.stat().st_size < video.stat().st_size / 2
        assert decoded_md5(sent) == decoded_md5(video)
        folder = sent.parent
    assert not folder.exists()  # the copy is gone once uploaded
    with smaller_audio(video) as first, smaller_audio(video) as second:
        assert first.read_bytes() == second.read_bytes()  # so a repeat is an instant repeat


def test_the_whole_file_is_sent_when_there_is_no_audio_or_no_media(tmp_path):
    silent = make_clip(tmp_path / "silent.mp4", audio=False)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")

    for source in (silent, text):
        with smaller_audio(source) as sent:
            assert sent == source
