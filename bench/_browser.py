"""The app in a real browser, shared by ``tests/test_browser.py`` and ``bench/app_latency.py``: start
``streamlit run app.py`` on a free port, drive Debian's Chromium through Playwright, wait until a page is idle.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# The script run is over and the first paint is done (a page can read notRunning before its run starts).
IDLE = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector("[data-testid='stSkeleton']");
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(ckpts: Path, port: int, timeout: float = 90, flags: tuple[str, ...] = (),
              app_dir: Path = ROOT) -> subprocess.Popen:
    """``streamlit run app.py`` in ``app_dir`` (this project's app by default) on 127.0.0.1:port with runs in
    ``ckpts`` (and more streamlit ``flags``); returns once healthy."""
    env = {**os.environ, "SRL_CHECKPOINTS": str(ckpts), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1", *flags],
                            cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return wait_healthy(proc, port, timeout)


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 90) -> subprocess.Popen:
    """Return ``proc`` once the Streamlit server on ``port`` answers its health check; kill it on time-out."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s (exit code {proc.poll()})")


def launch_chromium(playwright):
    """Debian's Chromium (not Playwright's download), headless."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until the page's script run is over and nothing is left to paint."""
    page.wait_for_function(IDLE, timeout=timeout, polling=50)
