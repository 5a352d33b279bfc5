"""In a real browser: access tokens made and revoked on the account page, and the player's
waveform, drawn from the job's peaks, seeking where it is clicked or keyed."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from media import make_clip
from ui.conftest import sign_in

TIMEOUT_MS = 60_000


def test_a_token_is_made_used_and_revoked(new_page, service, screenshots, errors):
    page = new_page()
    sign_in(page, service.create_user())
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_text("No tokens yet.")).to_be_visible()
    page.get_by_label("Name").fill("backup script")
    page.get_by_label("upload: convert new files").check()
    page.get_by_label("Expires").select_option(label="in 30 days")
    page.get_by_role("button", name="Create token").click()

    token = page.get_by_label("New token")
    expect(token).to_be_focused()
    secret = token.input_value()
    assert secret.startswith("vid2mp3_pat_"), secret
    row = page.get_by_role("row", name="backup script")
    expect(row).to_contain_text("read, upload")
    expect(row).to_contain_text("never")  # not used yet
    page.screenshot(path=screenshots / "account-tokens.png", full_page=True)

    bearer = {"Authorization": f"Bearer {secret}"}
    api = requests.get(f"{service.url}/jobs", headers=bearer, timeout=30)
    assert api.status_code == 200, api.text
    page.reload()
    expect(page.get_by_role("row", name="backup script")).not_to_contain_text("never")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke backup script").click()
    expect(page.get_by_role("row", name="backup script")).to_have_count(0)
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    refused = requests.get(f"{service.url}/jobs", headers=bearer, timeout=30)
    assert refused.status_code == 401
    assert errors == []


def test_the_waveform_is_drawn_and_seeks(new_page, service, tmp_path, screenshots, errors):
    page = new_page()
    sign_in(page, service.create_user())
    clip = make_clip(tmp_path / "lecture.mp4", seconds=8)
    page.goto("/convert")
    page.get_by_label("Choose videos…").set_input_files(str(clip))
    link = page.get_by_role("link", name="Details of lecture.mp4")
    expect(link).to_be_visible(timeout=TIMEOUT_MS)
    link.click()
    slider = page.get_by_role("slider", name="Position in lecture.mp4")
    expect(slider).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_function("Number.isFinite(document.getElementById('player').duration)")

    # Drawn: the canvas has painted pixels, across its width (the clip sounds throughout).
    painted = page.evaluate(
        """() => {
        const canvas = document.querySelector('#waveform canvas');
        const { data, width, height } = canvas.getContext('2d')
            .getImageData(0, 0, canvas.width, canvas.height);
        const columns = new Set();
        for (let i = 3; i < data.length; i += 4) if (data[i]) columns.add(((i - 3) / 4) % width);
        return { columns: columns.size, width, tall: height > 20 };
    }"""
    )
    assert painted["tall"] and painted["columns"] > 0.9 * painted["width"], painted

    box = slider.bounding_box()
    slider.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    position = page.evaluate("document.getElementById('player').currentTime")
    duration = page.evaluate("document.getElementById('player').duration")
    assert abs(position - 0.75 * duration) < 0.5, (position, duration)
    expect(slider).to_be_focused()

    page.keyboard.press("Home")
    expect(slider).to_have_attribute("aria-valuenow", "0")
    page.keyboard.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuenow", "5")
    expect(slider).to_have_attribute("aria-valuetext", re.compile(r"^0:05\.0 of 0:0[78]\.0$"))
    page.screenshot(path=screenshots / "job-waveform.png", full_page=True)
    assert errors == []
