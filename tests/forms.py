"""Build multipart/form-data bodies by hand, malformed ones included, for upload tests."""

from __future__ import annotations


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ123boundary"):
    """Build a multipart/form-data body from (name, filename, data) parts."""
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(client, auth, parts, **kwargs):
    body, headers = multipart(parts)
    return client.simulate_post("/upload", body=body, headers={**auth, **headers}, **kwargs)
