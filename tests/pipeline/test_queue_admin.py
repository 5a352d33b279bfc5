"""Queue depths and dead letters, as the admin pages read them, on the real RabbitMQ and Redis."""

from __future__ import annotations

import time

import dramatiq
import pytest
from dramatiq.common import xq_name

from actors.broker import setup_broker
from actors.queues import DeadLetter, QueueAdmin


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request, pipeline_settings, delete_queues):
    url = request.getfixturevalue(f"{request.param}_url")
    broker = setup_broker(pipeline_settings.replace(broker_url=url))
    yield broker
    broker.close()
    names = [pipeline_settings.video_queue, pipeline_settings.mp3_queue]
    delete_queues[request.param](url, names)


def _dead_letter(broker, queue: str, job_id: str) -> None:
    """Put a message in the queue's dead letters the way Dramatiq's brokers keep them."""
    message = dramatiq.Message(queue, "convert", (job_id,), {}, {})
    if hasattr(broker, "client"):  # Redis: a sorted set of ids and a hash of messages
        key = f"{broker.namespace}:{xq_name(queue)}"
        broker.client.zadd(key, {message.message_id: int(time.time() * 1000)})
        broker.client.hset(f"{key}.msgs", message.message_id, message.encode())
    else:
        broker.channel.basic_publish("", xq_name(queue), message.encode())


def test_depths_and_dead_letters(broker, pipeline_settings):
    admin = QueueAdmin(broker)
    video = pipeline_settings.video_queue
    broker.get_actor("convert").send("a" * 32)
    broker.get_actor("convert").send_with_options(args=("b" * 32,), delay=60_000)
    _dead_letter(broker, video, "c" * 32)
    _dead_letter(broker, video, "d" * 32)

    depths = {q["queue"]: q for q in admin.depths()}
    assert set(depths) == {video, pipeline_settings.mp3_queue}
    assert (depths[video]["ready"], depths[video]["delayed"], depths[video]["dead"]) == (1, 1, 2)
    assert depths[pipeline_settings.mp3_queue]["ready"] == 0

    taken = admin.take_dead(video)
    assert sorted(taken, key=lambda d: d.job_id) == [
        DeadLetter("convert", "c" * 32),
        DeadLetter("convert", "d" * 32),
    ]
    _dead_letter(broker, video, "e" * 32)
    assert admin.purge_dead(video) == 1
    assert {q["queue"]: q["dead"] for q in admin.depths()}[video] == 0
