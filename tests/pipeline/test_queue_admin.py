"""Queue depths and dead letters, as the admin pages read them, on the real RabbitMQ and Redis."""

from __future__ import annotations

import datetime as dt
import time

import dramatiq
import pytest
from dramatiq.common import xq_name

from actors.broker import setup_broker
from actors.queues import QueueAdmin


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request, pipeline_settings, delete_queues):
    url = request.getfixturevalue(f"{request.param}_url")
    broker = setup_broker(pipeline_settings.replace(broker_url=url))
    yield broker
    broker.close()
    names = [pipeline_settings.video_queue, pipeline_settings.mp3_queue]
    delete_queues[request.param](url, names)


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/actors/convert.py", line 9, in convert\n'
    "actors.errors.Transient: ffmpeg was killed (signal 9)\n"
)


def _dead_letter(broker, queue: str, job_id: str) -> str:
    """Dead-letter a message the way Dramatiq's brokers do; return its id."""
    options = {"traceback": TRACEBACK, "retries": 2}
    message = dramatiq.Message(queue, "convert", (job_id,), {}, options)
    if hasattr(broker, "client"):  # Redis: a sorted set of ids and a hash of messages
        key = f"{broker.namespace}:{xq_name(queue)}"
        time.sleep(0.002)  # each its own millisecond: Redis orders equal scores by id instead
        broker.client.zadd(key, {message.message_id: int(time.time() * 1000)})
        broker.client.hset(f"{key}.msgs", message.message_id, message.encode())
    else:  # RabbitMQ: rejected from the queue, it dead-letters into .XQ with an x-death header
        broker.declare_queue(queue, ensure=True)
        channel = broker.channel
        channel.basic_publish("", queue, message.encode())
        method = None
        while method is None:
            method, _, _ = channel.basic_get(queue)
        channel.basic_nack(method.delivery_tag, requeue=False)
    return message.message_id


def test_depths_and_dead_letters(broker, pipeline_settings):
    admin = QueueAdmin(broker)
    video = pipeline_settings.video_queue
    _dead_letter(broker, video, "c" * 32)
    _dead_letter(broker, video, "d" * 32)
    broker.get_actor("convert").send("a" * 32)
    broker.get_actor("convert").send_with_options(args=("b" * 32,), delay=60_000)

    depths = {q["queue"]: q for q in admin.depths()}
    assert set(depths) == {video, pipeline_settings.mp3_queue}
    assert (depths[video]["ready"], depths[video]["delayed"], depths[video]["dead"]) == (1, 1, 2)
    assert depths[pipeline_settings.mp3_queue]["ready"] == 0

    taken = admin.take_dead(video)
    assert sorted((d.actor, d.job_id) for d in taken) == [
        ("convert", "c" * 32),
        ("convert", "d" * 32),
    ]
    _dead_letter(broker, video, "e" * 32)
    assert admin.purge_dead(video) == 1
    assert {q["queue"]: q["dead"] for q in admin.depths()}[video] == 0


def test_dead_letters_are_listed_in_place_and_taken_one_by_one(broker, pipeline_settings):
    admin = QueueAdmin(broker)
    video = pipeline_settings.video_queue
    ids = [_dead_letter(broker, video, job_id * 32) for job_id in "efg"]

    listed = admin.dead_letters(video)
    assert [letter.message_id for letter in listed] == ids
    first = listed[0]
    assert (first.actor, first.job_id) == ("convert", "e" * 32)
    assert first.error == "actors.errors.Transient: ffmpeg was killed (signal 9)"
    assert abs((dt.datetime.now(dt.UTC) - first.at).total_seconds()) < 120
    # Listing leaves them where they were.
    assert [letter.message_id for letter in admin.dead_letters(video)] == ids
    assert [letter.message_id for letter in admin.dead_letters(video, limit=2)] == ids[:2]

    taken = admin.take_dead(video, ids[1])
    assert [(letter.message_id, letter.job_id) for letter in taken] == [(ids[1], "f" * 32)]
    assert [letter.message_id for letter in admin.dead_letters(video)] == [ids[0], ids[2]]
    assert admin.purge_dead(video, ids[0]) == 1
    assert admin.purge_dead(video, ids[0]) == 0
    assert [letter.message_id for letter in admin.dead_letters(video)] == [ids[2]]
    assert {q["queue"]: q["dead"] for q in admin.depths()}[video] == 1
