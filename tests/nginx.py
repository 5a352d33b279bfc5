"""Run Debian's nginx with the shipped deploy/nginx/nginx.conf in front of a test's web process.

Only the upstream, the port and the temp folder are changed, plus any further replacements a
test asks for (a path-prefix location, say); each must be found in the file, so the tests fail
when the shipped config changes under them.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from testservices import free_port, unavailable, wait_for_port

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "nginx.conf"
LOCATION = """        location / {
            proxy_pass http://vid2mp3;
        }
"""


@contextlib.contextmanager
def running_nginx(upstream_port: int, folder: Path, *replacements) -> Iterator[str]:
    """Serve the shipped config on a free port in front of 127.0.0.1:`upstream_port`; yield its URL.

    `replacements` are further (old, new) pairs applied to the config.
    """
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not nginx:
        unavailable("nginx", "not installed (bin/ensure-services installs Debian's nginx)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)  # nginx's workers drop root and write their temp files here
    config = CONFIG.read_text()
    for old, new in (
        ("server web:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("listen 8080;", f"listen 127.0.0.1:{port};"),
        ("/tmp/", f"{folder}/"),
        *replacements,
    ):
        assert old in config, old
        config = config.replace(old, new)
    (folder / "nginx.conf").write_text(config)
    process = subprocess.Popen(
        [nginx, "-e", "stderr", "-p", str(folder), "-c", str(folder / "nginx.conf")]
        + ["-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, timeout=15)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=15)
    assert "[emerg]" not in errors, errors
