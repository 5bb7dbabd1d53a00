"""End to end in a real headless Chromium (Debian's package) driven by Playwright.

Starts `streamlit run app.py`, trains a tiny run from the Train page, watches its step counter rise,
stops it, opens Compare and Embeddings with it, uploads pairs on Similarity, and saves a screenshot
of every page under test-artifacts/screenshots/.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "screenshots"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ckpts = tmp_path_factory.mktemp("browser-checkpoints")
    port = free_port()
    env = {**os.environ, "SRL_CHECKPOINTS": str(ckpts), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy")
    yield url, ckpts
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


def settle(pg, timeout: float = 120_000) -> None:
    pg.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    assert pg.locator("[data-testid='stException']").count() == 0, pg.locator("[data-testid='stException']").first.inner_text()


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def step_of(pg) -> int:
    text = pg.locator("[data-testid='stProgress']").first.inner_text(timeout=30_000)
    return int(re.search(r"step (\d+)/", text).group(1))


def test_train_watch_stop_compare_embed_similarity(server, page, tiny_model, tmp_path):
    url, ckpts = server
    pg = page
    pg.goto(url)
    settle(pg)
    assert "SRL Explorer" in pg.inner_text("body")
    shot(pg, "home")

    # Train: a tiny run from a local model path
    pg.goto(f"{url}/Train")
    settle(pg)
    pg.get_by_text("Local path", exact=True).click()
    settle(pg)
    pg.get_by_label("Model id or path").fill(tiny_model)
    pg.get_by_label("Model id or path").press("Enter")
    for label, value in (("Steps", "400"), ("Batch size (per process)", "8"), ("Eval every (steps)", "100")):
        box = pg.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        settle(pg)
    pg.get_by_role("button", name="Start training").click()
    settle(pg)
    deadline, first = time.time() + 90, None
    while time.time() < deadline:  # the step counter rises while the page polls
        try:
            s = step_of(pg)
        except (AttributeError, sync_api.TimeoutError):
            s = None
        if s:
            if first is None:
                first = s
            elif s > first:
                break
        time.sleep(1.0)
    else:
        pytest.fail(f"step counter did not rise (first={first})")
    pg.locator("[data-testid='stExpander'] summary").first.click()  # fold the form to show the live charts
    pg.wait_for_timeout(2500)
    shot(pg, "train")
    run_dir = next(p for p in ckpts.iterdir() if p.is_dir())
    pg.get_by_role("button", name="⏹ Stop").click()
    pg.wait_for_function("document.body.innerText.includes('cancelled')", timeout=60_000)
    from srl_explorer import runs
    assert runs.read_status(run_dir)["state"] == "cancelled"

    pg.goto(f"{url}/Compare")
    settle(pg)
    pg.wait_for_selector(".js-plotly-plot", timeout=30_000)
    assert run_dir.name in pg.inner_text("body")
    shot(pg, "compare")

    pg.goto(f"{url}/Embeddings")
    settle(pg, 240_000)
    pg.wait_for_selector(".js-plotly-plot", timeout=60_000)
    shot(pg, "embeddings")

    pg.goto(f"{url}/STS")
    settle(pg)
    shot(pg, "sts")

    csv = tmp_path / "pairs.csv"
    csv.write_text("sentence1,sentence2,score\nA man plays guitar.,A man is playing a guitar.,4.8\n"
                   "A cat sleeps.,Stock prices fell.,0.2\nA dog runs on grass.,A dog is running outside.,4.0\n")
    pg.goto(f"{url}/Similarity")
    settle(pg)
    pg.locator("input[type=file]").set_input_files(str(csv))
    pg.wait_for_function("document.body.innerText.includes('Spearman × 100')", timeout=60_000)
    settle(pg)
    shot(pg, "similarity")

    bad = tmp_path / "bad.csv"
    bad.write_bytes("sentence1,sentence2\ncaf\xe9,th\xe9\n".encode("latin-1"))
    pg.locator("input[type=file]").set_input_files(str(bad))
    pg.wait_for_function("document.body.innerText.includes('not valid UTF-8')", timeout=30_000)
    settle(pg)
