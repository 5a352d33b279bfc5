"""A real `rabbitmqctl stop_app` / `start_app` while a batch of jobs runs: nothing lost, nothing
twice, every job done after `start_app`.

The node is the test's own (`rabbitnode.RabbitNode`), so stopping it leaves the machine's shared
RabbitMQ, and every other test running meanwhile, alone. The web server and the worker reach
it through the rig's fault proxy, which only passes bytes along here.
"""

from __future__ import annotations

import shutil
import time

import pytest

from faultproxy import login, upload
from rabbitnode import RabbitNode
from testservices import unavailable

OUTAGE = 8  # seconds between stop_app and start_app


@pytest.fixture(scope="module")
def rabbit_node():
    if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
        unavailable("RabbitMQ", "rabbitmq-server is not installed")
    node = RabbitNode()
    yield node
    node.stop()


@pytest.fixture
def rabbitmq_url(rabbit_node):
    """The rig's broker: this module's own node instead of the shared one."""
    return rabbit_node.url


def test_stop_app_and_start_app_during_a_batch(rig, start_web, rabbit_node):
    web = start_web(**rig.env)
    auth = login(web, rig.user)
    rig.start_worker()
    before = [upload(web, auth, rig.clip) for _ in range(6)]
    rig.wait(
        lambda: any(job.state != "queued" for job in rig.jobs(before).values()),
        30,
        "the batch started",
    )

    rabbit_node.ctl("stop_app")
    stopped_at = time.monotonic()
    during = [upload(web, auth, rig.clip) for _ in range(3)]
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped_at)))
    rabbit_node.ctl("start_app")

    # Within a minute: the sweeper (STUCK_JOB_SECONDS=600 here) plays no part in it.
    rig.assert_done_once(before + during, "every job done after start_app")
