"""Screenshots of the web app doing real work, as a first-time user would see it, in headless
Chromium (Debian's chromium + chromium-driver, driven by Selenium).

    python bench/web_screenshots.py -o docs/web              # ~5-10 min on 2 cores
    python bench/web_screenshots.py -o /tmp/shots --choreo-steps 200

It starts `dancenow serve` on a free localhost port with a fresh work folder, then:
1. the three pages on a first visit (first-transfer.png, first-coach.png, first-choreo.png);
2. Transfer with the defaults (the demo dancers ana and ben, the quick preset's schedule):
   the job while it trains (transfer-training.png: progress, held-out SSIM, the newest sample)
   and when done (transfer-done.png: the result and side-by-side videos, metrics, the plot);
3. Choreography: a model trained from the synthetic world, playing (choreo-playing.png);
4. Coach: a demo clip against another (coach-report.png).
Prints each job's wall time (a busy machine is slower: say so beside any figure).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        v = check()
        if v:
            return v
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def _newest_card(driver, list_id: str):
    return driver.execute_script(
        "const c = document.querySelector(arguments[0] + ' .job'); return c ? [c.dataset.id, c.dataset.state,"
        " c.querySelector('.error-text').textContent] : null;", f"#{list_id}")


def _wait_done(driver, list_id: str, timeout: float) -> str:
    def check():
        c = _newest_card(driver, list_id)
        if c and c[1] == "failed":
            raise SystemExit(f"the job failed: {c[2]}")
        return c[0] if c and c[1] == "done" else None

    return _wait(check, timeout, f"a finished job in {list_id}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, required=True, help="Folder for the PNG files.")
    ap.add_argument("--choreo-steps", type=int, default=600, help="Training steps of the choreography model.")
    args = ap.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    work = Path(tempfile.mkdtemp(prefix="dancenow-web-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "dancenow", "serve", "--port", str(port), "--work-dir", str(work / "w")],
                              start_new_session=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--no-first-run", "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1300"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    shot = lambda name: driver.save_screenshot(str(args.output / f"{name}.png")) and print("wrote", args.output / f"{name}.png")  # noqa: E731
    try:
        _wait(lambda: _up(url), 60, "the server")
        for page in ("transfer", "coach", "choreo"):
            driver.get(f"{url}/#{page}")
            time.sleep(1.0)
            shot(f"first-{page}")

        # Transfer, all defaults
        driver.get(f"{url}/#transfer")
        time.sleep(1.0)
        t0 = time.time()
        driver.execute_script("document.querySelector('#transfer-start').click()")
        _wait(lambda: driver.execute_script("const i = document.querySelector('#transfer-jobs .job .live img');"
                                            "return i && i.naturalWidth > 0 && i.parentElement.hidden === false"), 900, "a training sample")
        time.sleep(20)
        driver.execute_script("document.querySelector('#transfer-jobs .job').scrollIntoView()")
        shot("transfer-training")
        job = _wait_done(driver, "transfer-jobs", 1800)
        print(f"transfer job {job}: {time.time() - t0:.0f} s")
        time.sleep(2.0)
        # the videos paused half-way, so the picture shows the dance rather than its first frame
        driver.execute_script("for (const v of document.querySelectorAll('#transfer-jobs video')) { v.pause(); v.currentTime = v.duration / 2; }"
                              "document.querySelector('#transfer-jobs .job').scrollIntoView()")
        time.sleep(1.0)
        shot("transfer-done")

        # Choreography from the synthetic world
        driver.get(f"{url}/#choreo")
        time.sleep(1.0)
        driver.execute_script("const s = document.querySelector('#choreo-steps'); s.value = arguments[0];"
                              "document.querySelector('#choreo-train-world').click()", str(args.choreo_steps))
        t0 = time.time()
        job = _wait_done(driver, "choreo-jobs", 1800)
        print(f"choreography job {job}: {time.time() - t0:.0f} s")
        driver.execute_script("window.scrollTo(0, 0); document.querySelector('#choreo-play').click()")
        time.sleep(6.0)
        driver.execute_script("const s = document.querySelector('#choreo-style-legs'); s.value = '0.5'; s.dispatchEvent(new Event('input'))")
        time.sleep(3.0)
        shot("choreo-playing")

        # Coach: two demo clips rendered here (ben's dance, done by ana and by chloe)
        from dancenow.video import write_video
        from dancenow.world import render_clip

        clips = []
        for actor in ("ana", "chloe"):
            frames, poses = render_clip(actor, 6.0, (256, 256), seed=4 if actor == "ana" else 5)
            clips.append(write_video(work / f"{actor}.mp4", frames, poses.fps, progress=False))
        driver.get(f"{url}/#coach")
        time.sleep(1.0)
        driver.find_element("css selector", "#coach-reference-file").send_keys(str(clips[0]))
        _wait(lambda: "uploaded" in driver.execute_script("return document.querySelector('#coach-reference-message').textContent"), 60, "upload")
        driver.find_element("css selector", "#coach-attempt-file").send_keys(str(clips[1]))
        _wait(lambda: "uploaded" in driver.execute_script("return document.querySelector('#coach-attempt-message').textContent"), 60, "upload")
        t0 = time.time()
        driver.execute_script("document.querySelector('#coach-start').click()")
        job = _wait_done(driver, "coach-jobs", 600)
        print(f"coach job {job}: {time.time() - t0:.0f} s")
        time.sleep(2.0)
        driver.execute_script("document.querySelector('#coach-jobs .job').scrollIntoView()")
        shot("coach-report")
    finally:
        driver.quit()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/api/config", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
