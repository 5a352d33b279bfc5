"""Tell a job's owner that the MP3 is ready: e-mail (SMTP or an outbox folder) and webhooks.

`SMTP_URL` picks the transport: `smtp://[user:pass@]host[:port][?starttls=1]` (plain or STARTTLS),
`smtps://...` (TLS from the first byte), or `file:///dir`, an outbox folder where each message is
written atomically as `<job id>.eml` (the embedded mode; tests read it). Messages carry a
Message-ID derived from the job id, so a receiver can recognise a rare duplicate.

Webhooks POST a JSON body with `X-Vid2mp3-Signature: sha256=<hex HMAC of the body>`. The HMAC
key is per user, derived from the service's signing secret (`webhook_secret`), so a receiver
never holds the secret that signs the service's tokens.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import tempfile
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SMTP_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Vid2mp3-Signature"


class NotifyError(Exception):
    """A notification could not be delivered now; transient, worth a retry."""

    permanent = False


class PermanentNotifyError(NotifyError):
    """A notification can never be delivered as configured (bad URL, address refused)."""

    permanent = True


def message_id(job_id: str, domain: str = "vid2mp3") -> str:
    """Return the Message-ID of a job's notification: the same for every attempt."""
    return f"<job-{job_id}@{domain}>"


def build_message(
    *,
    job_id: str,
    mail_from: str,
    to: str,
    filename: str,
    download_url: str,
    expires_seconds: int,
    duration: float | None,
) -> EmailMessage:
    """Build the "your MP3 is ready" e-mail (plain text)."""
    name = Path(filename).stem + ".mp3"
    msg = EmailMessage()
    msg["Subject"] = f"Your MP3 is ready: {name}"
    msg["From"] = mail_from
    msg["To"] = to
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message_id(job_id)
    length = ""
    if duration:
        total = round(duration)
        length = f" ({total // 60}:{total % 60:02d})"
    msg.set_content(
        f"Hello,\n\n"
        f"{filename} has been converted to {name}{length}.\n\n"
        f"Download it here (the link works for {_span(expires_seconds)}, no login needed):\n"
        f"{download_url}\n\n"
        f"-- vid2mp3\n"
    )
    return msg


def _span(seconds: int) -> str:
    """Say how long a link lasts in the largest whole unit: "7 days", "12 hours", "30 minutes"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} seconds"


def send_mail(smtp_url: str, msg: EmailMessage, *, outbox_name: str) -> None:
    """Deliver `msg` through `smtp_url`; raise NotifyError (transient) or PermanentNotifyError."""
    parts = urlsplit(smtp_url)
    if parts.scheme == "file":
        _write_outbox(Path(unquote(parts.path)), outbox_name, msg)
        return
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
    host = parts.hostname or "localhost"
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host,
                parts.port or 465,
                timeout=SMTP_TIMEOUT,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=SMTP_TIMEOUT)
        with client:
            if starttls:
                client.starttls(context=ssl.create_default_context())
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        if codes and all(500 <= code < 600 for code in codes):
            raise PermanentNotifyError("the mail server refused the recipient address") from None
        raise NotifyError("the mail server did not accept the recipient for now") from None
    except smtplib.SMTPAuthenticationError:
        raise NotifyError("the mail server refused our login") from None
    except (smtplib.SMTPException, OSError) as error:
        # Never echo the URL: it may carry the SMTP password.
        raise NotifyError(f"the mail server is unreachable ({type(error).__name__})") from None


def _write_outbox(folder: Path, name: str, msg: EmailMessage) -> None:
    """Write `msg` as folder/name atomically: a reader sees the whole file or none."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(msg.as_bytes())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, folder / name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as error:
        raise NotifyError(f"the outbox folder is not writable ({error.strerror})") from None


def webhook_secret(signing_secret: str, user_id: int) -> str:
    """Return the HMAC key of a user's webhooks, derived from the service's signing secret."""
    return hmac.new(
        signing_secret.encode(), f"vid2mp3-webhook:{user_id}".encode(), hashlib.sha256
    ).hexdigest()


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value for `body`: `sha256=<hex>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Tell (in constant time) whether `header` is the signature of `body` under `secret`."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def post_webhook(url: str, payload: dict[str, Any], secret: str, *, delivery_id: str) -> None:
    """POST `payload` as signed JSON to `url`; a 2xx answer is success.

    Raise PermanentNotifyError for a URL that is not http(s) or a 4xx other than 408/429
    (the receiver will never accept it) and NotifyError for everything worth a retry.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise PermanentNotifyError("the webhook URL is not an http(s) URL")
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "vid2mp3-webhook/1",
            SIGNATURE_HEADER: sign(secret, body),
            "X-Vid2mp3-Delivery": delivery_id,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as error:
        if 400 <= error.code < 500 and error.code not in (408, 429):
            raise PermanentNotifyError(f"the webhook answered HTTP {error.code}") from None
        raise NotifyError(f"the webhook answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise NotifyError(f"the webhook is unreachable ({type(error).__name__})") from None
