"""dramatiq-dashboard at /admin/tasks on the real Redis, behind the admin check."""

from __future__ import annotations

import uuid

import dramatiq
import falcon.testing
import pytest
import redis

from cookies import Browser
from testservices import TEST_PASSWORD
from vid2mp3.wiring import build_web_app


@pytest.fixture(params=["", "/tools/mp3"], ids=["at-root", "under-prefix"])
def redis_client(request, settings, redis_url):
    tag = uuid.uuid4().hex[:8]
    redis_settings = settings.replace(
        broker_url=redis_url,
        video_queue=f"t-video-{tag}",
        mp3_queue=f"t-mp3-{tag}",
        root_path=request.param,
    )
    app = build_web_app(redis_settings)
    yield falcon.testing.TestClient(app), redis_settings
    broker = dramatiq.get_broker()
    keys = redis.Redis.from_url(redis_url)
    for name in (redis_settings.video_queue, redis_settings.mp3_queue):
        for key in keys.scan_iter(f"dramatiq:{name}*"):
            keys.delete(key)
    broker.close()


def test_admin_sees_the_dashboard_with_our_queues(redis_client, make_user):
    client, settings = redis_client
    admin = make_user(is_admin=True)
    dramatiq.get_broker().get_actor("convert").send("0" * 32)
    browser = Browser(client)
    browser.sign_in(admin.email, TEST_PASSWORD)
    page = browser.get("/admin/tasks")
    assert page.status_code == 200, page.text
    assert settings.video_queue in page.text
    # The dashboard's own links start with the root path (a proxy's prefix) too.
    assert f'href="{settings.root_path}/admin/tasks/queues/{settings.video_queue}' in page.text
    queue = browser.get(f"{settings.root_path}/admin/tasks/queues/{settings.video_queue}/standard")
    assert queue.status_code == 200
    assert "convert" in queue.text

    user = make_user()
    other = Browser(client)
    other.sign_in(user.email, TEST_PASSWORD)
    assert other.get("/admin/tasks").status_code == 404
    assert other.get(f"/admin/tasks/queues/{settings.video_queue}/standard").status_code == 404
