"""Inspect and empty the broker's queues for the admin pages: depths and dead letters.

Works on the three brokers Dramatiq gives us: RabbitMQ (a passive `queue_declare` on a short
connection of its own gives each queue's message count, whether or not the management plugin
runs), Redis (the hashes Dramatiq keeps under `<namespace>:<queue>[.DQ|.XQ].msgs`) and the
in-process stub broker (its queues and dead-letter lists). Every queue comes with its delay
(`.DQ`) and dead-letter (`.XQ`) queue.

Dead letters can be listed (the first `limit` of a queue, oldest first) and taken out one by
one (by message id) or all at once. On RabbitMQ, listing and taking one read the messages with
`basic_get` on a channel of their own and acknowledge only those taken; closing the channel
puts the others back where they were.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import dramatiq
import pika
from dramatiq.common import dq_name, q_name, xq_name
from pika.exceptions import ChannelClosedByBroker

# How many dead letters of one queue a listing shows at most.
DEAD_LETTER_LIMIT = 100
_ERROR_LENGTH = 300


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered message, as far as the admin pages care: which step of which job, why,
    and when (the broker's record of its dead-lettering where it keeps one, else when the
    message was last sent; None when neither is known)."""

    message_id: str
    actor: str
    job_id: str | None
    error: str | None = None
    at: dt.datetime | None = dataclasses.field(default=None, compare=False)


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

    def dead_letters(self, queue: str, limit: int = DEAD_LETTER_LIMIT) -> list[DeadLetter]:
        """Return the first `limit` dead letters of `queue`, leaving them where they are."""
        return [_dead_letter(*item) for item in getattr(self, f"_{self.kind}_peek")(queue, limit)]

    def take_dead(self, queue: str, message_id: str | None = None) -> list[DeadLetter]:
        """Remove the dead letter `message_id` of `queue` (every one when None); return them."""
        taken = getattr(self, f"_{self.kind}_take")(queue, message_id)
        return [_dead_letter(*item) for item in taken]

    def purge_dead(self, queue: str, message_id: str | None = None) -> int:
        """Drop the dead letter `message_id` of `queue` (every one when None); return how many."""
        return len(self.take_dead(queue, message_id))

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

    def _rabbitmq_peek(self, queue: str, limit: int) -> list[tuple[bytes, dt.datetime | None]]:
        read, _ = self._rabbitmq_read(queue, limit, lambda _: False)
        return read

    def _rabbitmq_take(self, queue: str, message_id: str | None):
        if message_id is None:
            return self._rabbitmq_read(queue, None, lambda _: True)[1]
        return self._rabbitmq_read(queue, None, lambda body: _message_id(body) == message_id)[1]

    def _rabbitmq_read(self, queue: str, limit: int | None, wanted):
        """Read dead letters (up to `limit`); acknowledge those `wanted(body)` accepts.

        Returns (every message read, those acknowledged). The others go back to the queue, in
        their places, when the connection closes.
        """
        connection, channel = self._rabbitmq_channel()
        read, taken = [], []
        try:
            while limit is None or len(read) < limit:
                method, properties, body = channel.basic_get(xq_name(queue))
                if method is None:
                    break
                read.append((body, _death_time(properties.headers)))
                if wanted(body):
                    channel.basic_ack(method.delivery_tag)
                    taken.append(read[-1])
        except ChannelClosedByBroker as error:
            _raise_unless_missing(error)
        finally:
            connection.close()
        return read, taken

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

    def _redis_peek(self, queue: str, limit: int) -> list[tuple[bytes, dt.datetime | None]]:
        key = self._redis_key(xq_name(queue))
        client = self._broker.client
        # The sorted set's score is when the message was dead-lettered, in milliseconds.
        ids = client.zrange(key, 0, limit - 1, withscores=True)
        if not ids:
            return []
        bodies = client.hmget(key + ".msgs", [message_id for message_id, _ in ids])
        return [
            (body, _from_millis(score))
            for (_, score), body in zip(ids, bodies, strict=True)
            if body is not None
        ]

    def _redis_take(self, queue: str, message_id: str | None):
        key = self._redis_key(xq_name(queue))
        pipe = self._broker.client.pipeline()
        if message_id is None:
            pipe.zrange(key, 0, -1, withscores=True)
            pipe.hgetall(key + ".msgs")
            pipe.delete(key, key + ".msgs")
            ids, bodies, _ = pipe.execute()
            times = {message_id: _from_millis(score) for message_id, score in ids}
            return [(body, times.get(message_id)) for message_id, body in bodies.items()]
        pipe.zscore(key, message_id)
        pipe.hget(key + ".msgs", message_id)
        pipe.zrem(key, message_id)
        pipe.hdel(key + ".msgs", message_id)
        score, body, _, _ = pipe.execute()
        return [] if body is None else [(body, _from_millis(score))]

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

    def _stub_peek(self, queue: str, limit: int) -> list[tuple[bytes, None]]:
        letters = self._broker.dead_letters_by_queue.get(queue, [])[:limit]
        return [(letter.encode(), None) for letter in letters]

    def _stub_take(self, queue: str, message_id: str | None) -> list[tuple[bytes, None]]:
        letters = self._broker.dead_letters_by_queue.get(queue, [])
        taken = [m for m in letters if message_id in (None, m.message_id)]
        letters[:] = [m for m in letters if m not in taken]
        return [(letter.encode(), None) for letter in taken]


def _raise_unless_missing(error: ChannelClosedByBroker) -> None:
    if error.reply_code != 404:
        raise error


def _dead_letter(data: bytes, at: dt.datetime | None) -> DeadLetter:
    message = dramatiq.Message.decode(data)
    sent = message.options.get("requeue_timestamp") or message.message_timestamp
    return DeadLetter(
        message.message_id,
        message.actor_name,
        str(message.args[0]) if message.args else None,
        _error(message.options.get("traceback")),
        at or _from_millis(sent),
    )


def _message_id(data: bytes) -> str:
    return dramatiq.Message.decode(data).message_id


def _error(traceback: str | None) -> str | None:
    """Return the exception line of a traceback (`Type: message`), never the stack itself."""
    lines = [line.strip() for line in (traceback or "").splitlines() if line.strip()]
    return lines[-1][:_ERROR_LENGTH] if lines else None


def _death_time(headers: dict | None) -> dt.datetime | None:
    """Return when RabbitMQ dead-lettered a message (its `x-death` header), if it says."""
    deaths = (headers or {}).get("x-death") or []
    moment = deaths[0].get("time") if deaths else None
    if isinstance(moment, dt.datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def _from_millis(value: float | None) -> dt.datetime | None:
    return None if not value else dt.datetime.fromtimestamp(value / 1000, dt.UTC)
