"""Fixtures of the web app's tests: short clips of the synthetic world, a real `dancenow serve`
process on a free localhost port (restartable on the same port and work folder), a small HTTP
client, and headless Chromium driven by Selenium (skipped where Chromium is not installed;
.ci/run installs it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
UPLOAD_LIMIT_MB = 1.0  # small, so an oversize file is quick to make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, every: float = 0.25):
    """Poll `check()` until it returns something truthy; fail naming `what` after `timeout` s."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = check()
        except AssertionError:
            last = None
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Server:
    """`python -m dancenow serve` in a subprocess (the real command, so a restart is real)."""

    def __init__(self, work_dir: Path, *extra: str):
        self.work_dir, self.extra = Path(work_dir), extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.work_dir.parent / f"server-{self.port}.log"

    def start(self) -> "Server":
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dancenow", "serve", "--port", str(self.port), "--work-dir", str(self.work_dir),
                 "--max-upload-mb", str(UPLOAD_LIMIT_MB), *self.extra],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_for(self._up, 60, f"the server on port {self.port} (log: {self.log})")
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return request(self, "GET", "/api/config")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        """Ctrl-C, as a user would; the server ends its workers before it exits."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> "Server":
        self.stop()
        return self.start()


def request(server: Server, method: str, path: str, body=None, data: bytes | None = None, headers: dict | None = None,
            guard: bool = True, timeout: float = 60):
    """(status, parsed JSON or text) of one request to the server."""
    hdrs = dict(headers or {})
    if guard:
        hdrs.setdefault("X-Dancenow", "1")
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, raw, ctype = res.status, res.read(), res.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    if "json" in ctype:
        return status, json.loads(raw)
    return status, raw


def wait_job(server: Server, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 240) -> dict:
    def check():
        status, job = request(server, "GET", f"/api/jobs/{job_id}")
        assert status == 200
        return job if job["state"] in states else None

    return wait_for(check, timeout, f"job {job_id} to reach {'/'.join(states)}", every=0.5)


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """A 2 s target (ana) and a 1 s source (ben) of the synthetic world at 192 px, a text file
    named .mp4, and a file over the upload limit."""
    from dancenow.video import write_video
    from dancenow.world import render_clip

    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for name, actor, seconds, seed in (("target", "ana", 2.0, 1), ("source", "ben", 1.0, 2)):
        frames, poses = render_clip(actor, seconds, (192, 192), seed=seed)
        out[name] = write_video(folder / f"{name}.mp4", frames, poses.fps, progress=False)
    out["text"] = folder / "notes.mp4"
    out["text"].write_text("These are my dance notes, not a video.\n" * 20)
    out["big"] = folder / "big.mp4"
    out["big"].write_bytes(os.urandom(int(1.5 * UPLOAD_LIMIT_MB * 1024 * 1024)))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("web") / "work").start()
    yield srv
    srv.stop()


def _chromium_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _chromium_missing()
    if missing:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
                "--window-size=1280,1400"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def screenshot(browser):
    """screenshot(name): saves the page to $DANCENOW_WEB_SCREENSHOTS/name.png when that is set."""
    folder = os.environ.get("DANCENOW_WEB_SCREENSHOTS")

    def take(name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(Path(folder) / f"{name}.png"))

    return take
