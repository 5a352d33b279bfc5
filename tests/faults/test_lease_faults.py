"""A database that vanishes mid-conversion: every job ends done, once, well before the sweeper.

The worker reaches MariaDB through a fault proxy that is cut for OUTAGE seconds while it
converts. Heartbeats fail and are tolerated; a step that could not record its end or give its
lease back retries (database errors have extra retries), and the retry resumes its own lease
instead of waiting it out as if another worker held it. STUCK_JOB_SECONDS is 600 s here, so a
job that only the sweeper could rescue fails the test. The outage must not fill the log with
tracebacks: one line per failure, naming the job.
"""

from __future__ import annotations

import logging
import time

from media import make_clip

OUTAGE = 15  # seconds the database stays cut


def test_a_database_cut_mid_conversion_leaves_no_job_stuck(rig, caplog):
    caplog.set_level("INFO")
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
    rig.assert_done_once(
        ids, "every job done after the database came back (the sweeper would take 600 s)", 120
    )
    print(f"all done {time.monotonic() - restored:.1f} s after the database came back")
    # The outage is told in lines naming their job, not in tracebacks (Dramatiq's included).
    ours = [r for r in caplog.records if r.name.startswith(("actors", "core", "dramatiq"))]
    assert [r.getMessage() for r in ours if r.exc_info] == []
    for job_id in ids:
        lines = [r for r in ours if r.levelno >= logging.WARNING and job_id in r.getMessage()]
        assert len(lines) <= 30, [r.getMessage() for r in lines]
