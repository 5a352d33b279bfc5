"""A database that vanishes mid-conversion: every job ends done, once, well before the sweeper.

The worker reaches MariaDB through a fault proxy that is cut for OUTAGE seconds while it
converts. Heartbeats fail and are tolerated; a step that could not record its end or give its
lease back retries (database errors have extra retries), and the retry resumes its own lease
instead of waiting it out as if another worker held it. STUCK_JOB_SECONDS is 600 s here, so a
job that only the sweeper could rescue fails the test.
"""

from __future__ import annotations

import time

from blobs import blobs_of
from core.storage import open_store
from media import make_clip

OUTAGE = 10  # seconds the database stays cut


def test_a_database_cut_mid_conversion_leaves_no_job_stuck(rig):
    rig.clip = make_clip(rig.tmp_path / "long.m4a", 600, video=False)
    rig.start_worker()
    ids = rig.submit(4)
    rig.wait(
        lambda: any(job.state == "converting" for job in rig.jobs(ids).values()),
        60,
        "a conversion running",
    )
    rig.db.cut()
    time.sleep(OUTAGE)
    rig.db.restore()
    restored = time.monotonic()
    rig.wait(
        lambda: all(job.state == "done" for job in rig.jobs(ids).values()),
        120,
        "every job done after the database came back (the sweeper would take 600 s)",
    )
    print(f"all done {time.monotonic() - restored:.1f} s after the database came back")
    rig.wait(lambda: all(rig.mailbox.for_job(i) for i in ids), 30, "every e-mail")
    store = open_store(rig.settings.storage_url)
    try:
        for job_id in ids:
            assert len(blobs_of(store, "mp3s", job_id)) == 1
            assert len(rig.mailbox.for_job(job_id)) == 1
    finally:
        store.close()
