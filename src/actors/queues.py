"""Inspect and empty the broker's queues for the admin pages: depths and dead letters.

Works on the three brokers Dramatiq gives us: RabbitMQ (a passive `queue_declare` on a short
connection of its own gives each queue's message count, whether or not the management plugin
runs), Redis (the hashes Dramatiq keeps under `<namespace>:<queue>[.DQ|.XQ].msgs`) and the
in-process stub broker (its queues and dead-letter lists). Every queue comes with its delay
(`.DQ`) and dead-letter (`.XQ`) queue.
"""

from __future__ import annotations

import dataclasses

import dramatiq
import pika
from dramatiq.common import dq_name, q_name, xq_name
from pika.exceptions import ChannelClosedByBroker


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered message, as far as the admin pages care: which step of which job."""

    step: str
    job_id: str | None


class QueueAdmin:
    """Depths of every queue, and the dead letters of one taken out or dropped."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker
        self.kind = type(broker).__name__.removesuffix("Broker").lower()

    def queue_names(self) -> list[str]:
        """Return the canonical names of the declared queues, sorted."""
        return sorted({q_name(name) for name in self._broker.get_declared_queues()})

    def depths(self) -> list[dict]:
        """Return `{queue, ready, delayed, dead}` message counts for every queue."""
        names = self.queue_names()
        counts = getattr(self, f"_{self.kind}_counts")(names)
        return [
            {"queue": name, "ready": ready, "delayed": delayed, "dead": dead}
            for name, (ready, delayed, dead) in zip(names, counts, strict=True)
        ]

    def take_dead(self, queue: str) -> list[DeadLetter]:
        """Remove every dead letter of `queue` and return what they were."""
        return [_dead_letter(data) for data in getattr(self, f"_{self.kind}_take")(queue)]

    def purge_dead(self, queue: str) -> int:
        """Drop every dead letter of `queue`; return how many there were."""
        return len(self.take_dead(queue))

    # -- RabbitMQ ------------------------------------------------------------------------------

    def _rabbitmq_channel(self):
        parameters = self._broker.parameters
        connection = pika.BlockingConnection(parameters)
        return connection, connection.channel()

    def _rabbitmq_counts(self, names: list[str]) -> list[tuple[int, int, int]]:
        connection, channel = self._rabbitmq_channel()
        counts = []
        try:
            for name in names:
                row = []
                for queue in (name, dq_name(name), xq_name(name)):
                    try:
                        row.append(channel.queue_declare(queue, passive=True).method.message_count)
                    except ChannelClosedByBroker as error:
                        # Dramatiq declares a queue on its first message: none there yet.
                        _raise_unless_missing(error)
                        row.append(0)
                        channel = connection.channel()
                counts.append(tuple(row))
            return counts
        finally:
            connection.close()

    def _rabbitmq_take(self, queue: str) -> list[bytes]:
        connection, channel = self._rabbitmq_channel()
        bodies = []
        try:
            while True:
                method, _, body = channel.basic_get(xq_name(queue))
                if method is None:
                    return bodies
                bodies.append(body)
                channel.basic_ack(method.delivery_tag)
        except ChannelClosedByBroker as error:
            _raise_unless_missing(error)
            return bodies
        finally:
            connection.close()

    # -- Redis ---------------------------------------------------------------------------------

    def _redis_key(self, queue: str) -> str:
        return f"{self._broker.namespace}:{queue}"

    def _redis_counts(self, names: list[str]) -> list[tuple[int, int, int]]:
        pipe = self._broker.client.pipeline()
        for name in names:
            for queue in (name, dq_name(name), xq_name(name)):
                pipe.hlen(self._redis_key(queue) + ".msgs")
        counts = pipe.execute()
        return [tuple(counts[i : i + 3]) for i in range(0, len(counts), 3)]

    def _redis_take(self, queue: str) -> list[bytes]:
        key = self._redis_key(xq_name(queue))
        pipe = self._broker.client.pipeline()
        pipe.hvals(key + ".msgs")
        pipe.delete(key, key + ".msgs")
        return pipe.execute()[0]

    # -- the in-process stub broker ------------------------------------------------------------

    def _stub_counts(self, names: list[str]) -> list[tuple[int, int, int]]:
        queues = self._broker.queues
        dead = self._broker.dead_letters_by_queue
        return [
            (
                queues[name].qsize(),
                queues[dq_name(name)].qsize() if dq_name(name) in queues else 0,
                len(dead.get(name, ())),
            )
            for name in names
        ]

    def _stub_take(self, queue: str) -> list[bytes]:
        letters = self._broker.dead_letters_by_queue.pop(queue, [])
        return [letter.encode() for letter in letters]


def _raise_unless_missing(error: ChannelClosedByBroker) -> None:
    if error.reply_code != 404:
        raise error


def _dead_letter(data: bytes) -> DeadLetter:
    message = dramatiq.Message.decode(data)
    return DeadLetter(message.actor_name, str(message.args[0]) if message.args else None)
