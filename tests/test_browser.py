"""End to end in a real headless Chromium (Debian's package) driven by Playwright.

Starts `streamlit run app.py`, trains a tiny run from the Train page, watches its step counter
rise in two browser sessions, stops it, opens Compare, Embeddings and STS with it, uploads
pairs on Similarity (and a bad file), and saves a screenshot of every page under
test-artifacts/screenshots/.
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
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "screenshots"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(ckpts: Path, port: int) -> subprocess.Popen:
    """``streamlit run app.py`` on 127.0.0.1:port with runs in ``ckpts``; returns once healthy."""
    env = {**os.environ, "SRL_CHECKPOINTS": str(ckpts), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy in 90 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ckpts = tmp_path_factory.mktemp("browser-checkpoints")
    port = free_port()
    proc = start_app(ckpts, port)
    yield f"http://127.0.0.1:{port}", ckpts
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def settle(pg, timeout: float = 120_000) -> None:
    """Wait for the script run to finish; fail on any exception box."""
    pg.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    errors = pg.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def step_of(pg) -> int | None:
    bars = pg.locator("[data-testid='stProgress']")
    if not bars.count():
        return None
    m = re.search(r"step (\d+)/", bars.first.inner_text())
    return int(m.group(1)) if m else None


def wait_step_rises(pg, timeout: float = 120.0) -> tuple[int, int]:
    deadline, first = time.time() + timeout, None
    while time.time() < deadline:
        s = step_of(pg)
        if s is not None and first is None:
            first = s
        elif s is not None and s > first:
            return first, s
        time.sleep(0.5)
    pytest.fail(f"the step counter did not rise (first seen {first})")


def loss_curve(pg) -> list[float]:
    """y values of the 'loss' trace of the first plotly chart on the page."""
    return pg.evaluate("""() => {
        const plot = document.querySelector('.js-plotly-plot');
        const t = plot && plot._fullData.find(t => t.name === 'loss');
        return t ? Array.from(t.y) : [];
    }""")


def trace_names(pg) -> list[str]:
    """Names of every plotly trace on the page (tables are canvases, charts are not)."""
    return pg.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .flatMap(p => p._fullData.map(t => t.name))""")


def fill(pg, label: str, value: str) -> None:
    box = pg.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    settle(pg)


def test_train_watch_stop_compare_embed_sts_similarity(server, browser, tiny_model, tmp_path):
    url, ckpts = server
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.goto(url)
    settle(pg)
    assert "SRL Explorer" in pg.inner_text("body") and "No runs yet" in pg.inner_text("body")
    shot(pg, "home")

    # Train: a tiny run from a local model path, launched as its own process
    pg.goto(f"{url}/Train")
    settle(pg)
    pg.get_by_text("Local path", exact=True).click()
    settle(pg)
    fill(pg, "Model id or path", tiny_model)
    for label, value in (("Steps", "100000"), ("Batch size (per process)", "8"), ("Eval every (steps)", "40")):
        fill(pg, label, value)
    short = tmp_path / "short.txt"  # a bad upload: fewer sentences than one batch
    short.write_text("one sentence\ntwo sentences\nthree\n")
    pg.get_by_text("Upload .txt", exact=True).click()
    settle(pg)
    pg.locator("input[type=file]").set_input_files(str(short))
    settle(pg)
    pg.get_by_role("button", name="Start training").click()
    pg.wait_for_function("document.body.innerText.includes('fewer than the batch size 8')", timeout=30_000)
    settle(pg)
    assert not any(p.is_dir() for p in ckpts.iterdir())  # nothing was launched
    pg.get_by_text("Sample (shipped)", exact=True).click()
    settle(pg)
    assert f"--model {tiny_model}" in pg.inner_text("body")
    assert "torchrun --nproc_per_node=2 -m srl_explorer train" in pg.inner_text("body")
    pg.get_by_role("button", name="Start training").click()
    pg.wait_for_function("document.body.innerText.includes('in its own process')", timeout=60_000)
    settle(pg)
    run_dir = next(p for p in ckpts.iterdir() if p.is_dir())
    wait_step_rises(pg)

    # A second browser session (another user, or the same tab reloaded) finds the live run
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(f"{url}/Train")
    settle(other)
    assert other.url.endswith(f"?run={run_dir.name}")  # the live run is selected by default
    wait_step_rises(other)
    form = pg.locator("[data-testid='stExpander'] details")
    if form.count() and form.first.get_attribute("open") is not None:
        pg.locator("[data-testid='stExpander'] summary").first.click()  # fold the form to show the charts
    pg.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=30_000)
    pg.wait_for_timeout(2000)
    shot(pg, "train")

    pg.get_by_role("button", name="Stop run").click()
    for page in (pg, other):
        page.wait_for_function("document.body.innerText.includes('cancelled')", timeout=90_000)
        settle(page)
    from srl_explorer import runs
    assert runs.read_status(run_dir)["state"] == "cancelled"
    final, _ = runs.read_metrics(run_dir / "metrics.jsonl")
    losses = [r["loss"] for r in final if "loss" in r]
    seen = loss_curve(pg)
    assert seen and seen == loss_curve(other)  # both sessions show the same curve
    if len(final) <= 1500:  # not thinned: every logged loss is on the chart
        assert seen == pytest.approx(losses)
    other.context.close()

    pg.goto(f"{url}/Compare")
    settle(pg)
    pg.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
    assert run_dir.name in pg.inner_text("body")
    shot(pg, "compare")

    pg.goto(f"{url}/Embeddings")
    settle(pg, 240_000)
    pg.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=60_000)
    body = pg.inner_text("body")
    assert f"{run_dir.name} · step 0 (base model)" in body and f"{run_dir.name} · best" in body
    shot(pg, "embeddings")

    stsb = ROOT.parent / "shared" / "data" / "stsbenchmark"
    if (stsb / "sts-dev.csv").exists():  # an earlier evaluation, stored in the run dir, is read back
        from srl_explorer.evaluation import evaluate_model, save_run_results
        save_run_results(run_dir, "best", evaluate_model(str(run_dir / "best"), ["stsb"], "dev", stsb))
    pg.goto(f"{url}/STS")
    settle(pg)
    if (stsb / "sts-dev.csv").exists():
        pg.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=30_000)
        assert f"{run_dir.name} · best" in trace_names(pg)
    shot(pg, "sts")

    csv = tmp_path / "pairs.csv"
    csv.write_text("sentence1,sentence2,score\nA man plays guitar.,A man is playing a guitar.,4.8\n"
                   "A cat sleeps.,Stock prices fell.,0.2\nA dog runs on grass.,A dog is running outside.,4.0\n"
                   "A woman slices onions.,Someone is cutting an onion.,4.2\nThe sky is blue.,I like pasta.,0.0\n")
    pg.goto(f"{url}/Similarity")
    settle(pg)
    pg.locator("input[type=file]").set_input_files(str(csv))
    pg.wait_for_function("document.body.innerText.includes('Spearman × 100')", timeout=90_000)
    settle(pg)
    pg.wait_for_selector(".js-plotly-plot", timeout=30_000)
    shot(pg, "similarity")

    bad = tmp_path / "bad.csv"
    bad.write_bytes("sentence1,sentence2\ncaf\xe9,th\xe9\n".encode("latin-1"))
    pg.locator("input[type=file]").set_input_files(str(bad))
    pg.wait_for_function("document.body.innerText.includes('not valid UTF-8')", timeout=30_000)
    settle(pg)
    huge = tmp_path / "huge.csv"  # over server.maxUploadSize (50 MB): refused before it is sent
    with open(huge, "wb") as f:
        f.truncate(51 * 1024 * 1024)
    pg.locator("input[type=file]").set_input_files(str(huge))
    pg.wait_for_function("document.body.innerText.includes('or smaller')", timeout=30_000)
    settle(pg)
    assert "Similarity" in pg.inner_text("h1")  # the app is still up

    if (ROOT / "pages" / "6_Paper.py").exists():
        pg.goto(f"{url}/Paper")
        settle(pg, 180_000)
        shot(pg, "paper")
