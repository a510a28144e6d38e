"""The app in real headless Chromium, as a person uses it: upload two clips, run a quick job to
the end, watch the result play, refresh, restart the server; watch the choreography stage move;
have bad uploads refused with a message; get a coach report.

One server for the module (the transfer test restarts it on the same port and folder).
Tiny sizes: 2 s and 1 s clips at 192 px, the quick preset, a few training steps.
"""

from __future__ import annotations

import time

from .conftest import wait_for


def open_page(browser, server, page: str) -> None:
    browser.get(f"{server.url}/#{page}")
    wait_for(lambda: browser.execute_script("return document.querySelector('#page-%s').classList.contains('active')" % page),
             15, f"the {page} page")


def by_css(browser, css: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css)


def text_of(browser, css: str) -> str:
    return browser.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)


def upload(browser, picker: str, path) -> None:
    """Choose a file in a picker's file input, as a person would, and wait for its message."""
    by_css(browser, f"#{picker}-file").send_keys(str(path))
    wait_for(lambda: (m := text_of(browser, f"#{picker}-message")) and not m.startswith("uploading") and m,
             60, f"the upload into {picker}")


def job_card(browser, list_id: str, state: str, timeout: float, besides: tuple[str, ...] = ()):
    """The data-id of the newest job card in a list (other than `besides`) once it reaches
    `state`; fails at once when that job fails."""
    def check():
        info = browser.execute_script(
            "const cards = Array.from(document.querySelectorAll(arguments[0] + ' .job'))"
            "  .filter(c => !arguments[1].includes(c.dataset.id));"
            "const c = cards[0]; if (!c) return null;"
            "return [c.dataset.id, c.dataset.state, c.querySelector('.error-text').textContent];", f"#{list_id}", list(besides))
        if info and info[1] == "failed":
            raise RuntimeError(f"the job failed: {info[2]}")
        return info[0] if info and info[1] == state else None

    return wait_for(check, timeout, f"a {state} job in #{list_id}", every=0.5)


def plays(browser, css: str) -> bool:
    """The video element loads, plays from the start, and its currentTime advances (looping off,
    so that a loop cannot bring it back to where it was)."""
    wait_for(lambda: browser.execute_script(
        "const v = document.querySelector(arguments[0]); if (!v || v.readyState < 2) return false;"
        "v.loop = false; v.muted = true; v.pause(); v.currentTime = 0; v.play(); return true;", css), 20, f"{css} to load")
    t1 = wait_for(lambda: browser.execute_script("return document.querySelector(arguments[0]).currentTime", css) > 0.2,
                  10, f"{css} to play")
    err = browser.execute_script("const v = document.querySelector(arguments[0]); return v.error && v.error.code", css)
    assert t1 and err is None
    browser.execute_script("const v = document.querySelector(arguments[0]); v.loop = true;", css)
    return True


def test_first_visit_shows_three_pages_ready_to_use(browser, server, screenshot):
    """A fresh app: no jobs, the demo dancers chosen so that Start works with no files at all."""
    for page in ("transfer", "coach", "choreo"):
        open_page(browser, server, page)
        assert browser.execute_script("return document.querySelector('nav a.active').dataset.page") == page
        screenshot(f"first-{page}")
    open_page(browser, server, "transfer")
    assert by_css(browser, "#transfer-target-select").get_attribute("value") == "actor:ana"
    assert by_css(browser, "#transfer-source-select").get_attribute("value") == "actor:ben"
    assert "No jobs yet" in text_of(browser, "#transfer-jobs")
    # nothing to play yet: a clear word instead of silence
    open_page(browser, server, "choreo")
    by_css(browser, "#choreo-play").click()
    assert "Train or choose a model first" in text_of(browser, "#choreo-message")


def test_transfer_two_uploads_to_a_playing_result_that_survives_refresh_and_restart(browser, server, clips, screenshot):
    open_page(browser, server, "transfer")
    upload(browser, "transfer-target", clips["target"])
    upload(browser, "transfer-source", clips["source"])
    assert "uploaded target.mp4" in text_of(browser, "#transfer-target-message")
    assert by_css(browser, "#transfer-target-select").get_attribute("value").startswith("upload:")
    assert by_css(browser, "#transfer-source-select").get_attribute("value").startswith("upload:")
    # the quickest model: the quick preset, 8 steps
    browser.execute_script("const b = document.querySelector('#transfer-budget'); b.value = 'steps'; b.dispatchEvent(new Event('change'));")
    steps = by_css(browser, "#transfer-steps")
    steps.clear()
    steps.send_keys("8")
    by_css(browser, "#transfer-start").click()
    wait_for(lambda: "Started" in text_of(browser, "#transfer-message"), 10, "the job to start")
    job = job_card(browser, "transfer-jobs", "done", 240)
    card = f'#transfer-jobs .job[data-id="{job}"]'
    assert plays(browser, f"{card} video.result")
    assert plays(browser, f"{card} video.side-by-side")
    assert browser.execute_script("return document.querySelector(arguments[0] + ' img.plot').naturalWidth", card) > 0
    browser.execute_script("document.querySelector(arguments[0]).scrollIntoView()", card)
    screenshot("transfer")

    browser.refresh()
    assert job_card(browser, "transfer-jobs", "done", 20) == job
    assert plays(browser, f"{card} video.result")

    server.restart()
    browser.refresh()
    assert job_card(browser, "transfer-jobs", "done", 20) == job
    assert plays(browser, f"{card} video.result")
    # the finished model is offered for another source, without training again
    assert f"job:{job}" in browser.execute_script(
        "return Array.from(document.querySelectorAll('#transfer-model option')).map(o => o.value)")


def test_bad_uploads_are_refused_with_a_message(browser, server, clips):
    open_page(browser, server, "transfer")
    upload(browser, "transfer-target", clips["text"])
    msg = text_of(browser, "#transfer-target-message")
    assert "notes.mp4" in msg and "not a video" in msg
    assert "error" in by_css(browser, "#transfer-target-message").get_attribute("class")
    upload(browser, "transfer-source", clips["big"])
    msg = text_of(browser, "#transfer-source-message")
    assert "too large" in msg and "1 MB" in msg
    # neither became a choice
    names = browser.execute_script("return Array.from(document.querySelectorAll('#transfer-target-select option')).map(o => o.textContent)")
    assert not any("notes.mp4" in n or "big.mp4" in n for n in names)


def test_choreography_stage_plays_and_saves(browser, server, screenshot):
    open_page(browser, server, "choreo")
    steps = by_css(browser, "#choreo-steps")
    steps.clear()
    steps.send_keys("20")
    by_css(browser, "#choreo-train-world").click()
    job = job_card(browser, "choreo-jobs", "done", 180)
    browser.execute_script("document.querySelector(arguments[0]).scrollIntoView()", f'#choreo-jobs .job[data-id="{job}"] video')
    assert plays(browser, f'#choreo-jobs .job[data-id="{job}"] video.preview')
    browser.execute_script("window.scrollTo(0, 0)")
    wait_for(lambda: browser.execute_script("return document.querySelector('#choreo-model').value") == f"job:{job}", 15,
             "the new model in the list")
    by_css(browser, "#choreo-play").click()
    wait_for(lambda: browser.execute_script("return !!document.querySelector('#choreo-style-arms')"), 20, "the style sliders")
    grab = "return document.querySelector('#choreo-canvas').toDataURL()"
    wait_for(lambda: browser.execute_script("return stage.frames.length") > 0, 20, "the first frames")
    a = browser.execute_script(grab)
    time.sleep(1.0)
    b = browser.execute_script(grab)
    assert a != b, "the canvas did not change over a second"
    # the controls take effect while it plays: the next chunk is asked for with the new mix.
    # One script changes them and then starts listening (a page runs one script at a time), so
    # a chunk asked for between the two cannot be mistaken for one asked after the change.
    browser.execute_script("const s = document.querySelector('#choreo-style-legs'); s.value = '1'; s.dispatchEvent(new Event('input'));"
                           "const t = document.querySelector('#choreo-liveliness'); t.value = '0.3'; t.dispatchEvent(new Event('input'));"
                           "window.sent = []; const orig = api;"
                           "api = (m, p, b) => { if (p.endsWith('/frames')) window.sent.push(b); return orig(m, p, b); };")
    sent = wait_for(lambda: browser.execute_script("return window.sent.length && window.sent[window.sent.length - 1]"), 10,
                    "a chunk asked for after the change")
    assert sent["style"] == {"arms": 1, "legs": 1} and sent["liveliness"] == 0.3
    time.sleep(0.5)
    assert browser.execute_script(grab) != b
    screenshot("choreography")
    by_css(browser, "#choreo-save").click()
    wait_for(lambda: "Saving" in text_of(browser, "#choreo-message"), 10, "the save to start")
    video_job = job_card(browser, "choreo-jobs", "done", 120, besides=(job,))
    assert plays(browser, f'#choreo-jobs .job[data-id="{video_job}"] video.dance')


def test_coach_report_in_the_page(browser, server, clips, screenshot, tmp_path):
    """The reference a video (its poses detected), the attempt a pose file (read as it is)."""
    from dancenow.posefile import save_poses
    from dancenow.world import render_clip

    _, poses = render_clip("chloe", 1.0, (192, 192), seed=2)
    attempt = save_poses(poses, tmp_path / "my_attempt.npz")
    open_page(browser, server, "coach")
    upload(browser, "coach-reference", clips["source"])
    upload(browser, "coach-attempt", attempt)
    by_css(browser, "#coach-start").click()
    job = job_card(browser, "coach-jobs", "done", 180)
    card = f'#coach-jobs .job[data-id="{job}"]'
    assert "/100" in text_of(browser, f"{card} .score")
    frame = by_css(browser, f"{card} iframe.report")
    browser.switch_to.frame(frame)
    try:
        wait_for(lambda: "score" in browser.page_source.lower(), 20, "the report in its frame")
    finally:
        browser.switch_to.default_content()
    browser.execute_script("document.querySelector(arguments[0]).scrollIntoView()", card)
    screenshot("coach")
