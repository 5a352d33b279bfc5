"""GET /jobs/{id}/waveform: 404 until the peaks are stored, then their JSON; owners only."""

from __future__ import annotations

import subprocess

from conversion.ffmpeg import ffmpeg_exe
from conversion.waveform import pcm_output_args
from core.db import session_scope
from core.models import Job
from core.waveforms import store_waveform


def test_waveform_appears_once_stored(client, auth, user, sessions, services, tmp_path, make_user):
    with session_scope(sessions) as session:
        job = Job(user_id=user.id, original_filename="tone.mp4")
        session.add(job)
    path = f"/jobs/{job.id}/waveform"
    missing = client.simulate_get(path, headers=auth)
    assert missing.status_code == 404
    assert missing.json["detail"] == "this job has no waveform (yet)"

    pcm = tmp_path / "tone.pcm"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=2"]
        + pcm_output_args(pcm),
        check=True,
    )
    store_waveform(services.store, job.id, pcm)
    store_waveform(services.store, job.id, pcm)  # again, as a redelivered message would
    found = client.simulate_get(path, headers=auth)
    assert found.status_code == 200
    assert found.headers["content-type"] == "application/json"
    assert found.json["length"] == 1000 and len(found.json["data"]) == 2000
    assert max(found.json["data"]) > 5

    stranger = make_user()
    token, _ = services.tokens.issue(str(stranger.id))
    other = client.simulate_get(path, headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 404
    assert other.json["detail"] == "no such job"
