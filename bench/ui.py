"""Benchmark the web UI in a real browser against the embedded service (`vid2mp3 run`).

1. First-load weight of the jobs page: every response the browser fetches for `/` after
   signing in (HTML, CSS, JavaScript modules, icon, the first GET /jobs), uncompressed.
2. Drop to download: a 10 s sample clip (`vid2mp3 sample`) is dropped on the Convert page's
   drop zone (a real `drop` event carrying the file); the time until its "Download MP3" link
   appears, measured inside the page with performance.now(). Repeated `--runs` times.

Uses Debian's Chromium through Playwright, as the tests do.

    .venv/bin/python bench/ui.py [--runs 5] [--seconds 10]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# bench/ would shadow packages of the same name; the project comes from the installed venv, and
# the Chromium launcher from the tests.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402

from chromium import launch  # noqa: E402
from conversion.sample import write_sample  # noqa: E402

VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway account
DROP = """async ([name, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "video/mp4" }));
  const zone = document.getElementById("drop");
  const started = performance.now();
  const drop = { dataTransfer: transfer, bubbles: true, cancelable: true };
  zone.dispatchEvent(new DragEvent("drop", drop));
  const label = `Download MP3 of ${name}`;
  await new Promise((resolve) => {
    const link = () => document.querySelector(`a[aria-label="${label}"]`);
    const check = () => (link() ? resolve() : requestAnimationFrame(check));
    check();
  });
  return performance.now() - started;
}"""


def first_load(browser, signed_in_context, url: str) -> dict[str, int]:
    """Open the jobs page in a new context (cold cache) with the session's cookie."""
    context = browser.new_context(base_url=url, storage_state=signed_in_context.storage_state())
    page = context.new_page()
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto("/")
    page.get_by_text("No jobs yet").wait_for()
    page.wait_for_load_state("networkidle")
    sizes = {
        f"{response.request.resource_type} {response.url.split('?')[0]}": len(response.body())
        for response in responses
        if response.status == 200
    }
    context.close()
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vid2mp3-ui-bench-") as folder:
        port = 8799
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATA_DIR": folder,
            "PUBLIC_URL": url,
            "ADMIN_EMAIL": "bench@example.com",
            "ADMIN_PASSWORD": PASSWORD,
            "LOG_LEVEL": "WARNING",
        }
        clip = write_sample(Path(folder) / "sample.mp4", args.seconds)
        data = base64.b64encode(clip.read_bytes()).decode()
        server = subprocess.Popen([VID2MP3, "run", "--port", str(port)], env=env)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                context = browser.new_context(base_url=url)
                page = context.new_page()
                for _ in range(100):
                    try:
                        page.goto("/sign-in")
                        break
                    except Exception:
                        page.wait_for_timeout(200)
                page.get_by_label("E-mail address").fill("bench@example.com")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("link", name="Jobs").wait_for()
                sizes = first_load(browser, context, url)
                for name, size in sorted(sizes.items()):
                    print(f"  {size:>8} B  {name}")
                code = sum(
                    size
                    for name, size in sizes.items()
                    if name.split()[0] in ("document", "stylesheet", "script")
                )
                print(
                    f"jobs page first load: HTML+CSS+JS {code / 1000:.1f} kB, "
                    f"everything {sum(sizes.values()) / 1000:.1f} kB ({len(sizes)} requests)"
                )
                timings = []
                for run in range(args.runs):
                    page.goto("/convert")
                    elapsed = page.evaluate(DROP, [f"clip-{run}.mp4", data])
                    timings.append(elapsed / 1000)
                    print(f"  run {run + 1}: drop to download link {elapsed / 1000:.2f} s")
                print(
                    f"drop to download link ({args.seconds:g} s clip, {len(data) * 3 // 4000} kB): "
                    f"median {statistics.median(timings):.2f} s, "
                    f"min {min(timings):.2f} s, max {max(timings):.2f} s over {args.runs} runs"
                )
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
