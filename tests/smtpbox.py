"""A real SMTP server for tests: aiosmtpd on a free port, keeping every message it receives."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller

from testservices import free_port


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def for_job(self, job_id: str) -> list[Message]:
        return [m for m in self.messages if job_id in (m["Message-ID"] or "")]


@contextlib.contextmanager
def running_mailbox() -> Iterator[tuple[Mailbox, int]]:
    """Run an SMTP server on a free port; yield (mailbox, port)."""
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
