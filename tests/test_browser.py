"""End to end in a real headless Chromium (Debian's package) driven by Playwright, one test per page flow.

One `streamlit run app.py` serves every test, over a checkpoints folder that holds a finished tiny run
(trained directly, with its STS results stored); the Train test launches its own run from the page. Each
test saves a screenshot of its page under test-artifacts/screenshots/.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import pytest

from bench._browser import CHROMIUM, free_port, launch_chromium, start_app, wait_idle
from srl_explorer import rundir

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "screenshots"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")
PAIRS_CSV = ("sentence1,sentence2,score\nA man plays guitar.,A man is playing a guitar.,4.8\n"
             "A cat sleeps.,Stock prices fell.,0.2\nA dog runs on grass.,A dog is running outside.,4.0\n"
             "A woman slices onions.,Someone is cutting an onion.,4.2\nThe sky is blue.,I like pasta.,0.0\n")


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser-checkpoints")


@pytest.fixture(scope="module")
def done_run(ckpts, tiny_model) -> Path:
    """A finished tiny run (real training) whose best checkpoint has stored STS results on the shipped pairs."""
    from srl_explorer.config import TrainConfig
    from srl_explorer.data import sample_pairs_path
    from srl_explorer.evaluation import evaluate_model, save_run_results
    from srl_explorer.training import train
    run = Path(train(TrainConfig(model=tiny_model, loss="mpt", max_steps=4, batch_size=8, eval_every=2,
                                 max_train_sentences=100, output_dir=str(ckpts / "done-mpt"))))
    save_run_results(run, "best", evaluate_model(str(run / "best"), user_file=sample_pairs_path()))
    return run


@contextlib.contextmanager
def serve(ckpts: Path):
    """The app on a free port with its runs in ``ckpts``. On exit the server stops, and so does any run a
    test left training (a failed test must not leave a 100,000-step run on the CPU)."""
    proc = start_app(ckpts, port := free_port())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for run in rundir.list_runs(ckpts):
            if run.state == rundir.LIVE and run.status.get("pid"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.status["pid"], signal.SIGTERM)


@pytest.fixture(scope="module")
def url(ckpts, done_run):
    with serve(ckpts) as u:
        yield u


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield pg
    pg.close()


def settle(pg, timeout: float = 120_000) -> None:
    """Wait until the script run is over and painted; fail on any exception box."""
    wait_idle(pg, timeout)
    errors = pg.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()


def open_page(pg, url: str, path: str = "", timeout: float = 120_000) -> str:
    """Go to a page, wait for it, and return its text."""
    pg.goto(f"{url}/{path}")
    settle(pg, timeout)
    return pg.inner_text("body")


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_plots(pg, n: int, timeout: float = 60_000) -> None:
    pg.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {n}", timeout=timeout)


def traces(pg) -> list[dict]:
    """Name, x and y of every plotly trace on the page."""
    return pg.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .flatMap(p => p._fullData.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])})))""")


def loss_curve(pg) -> list[float]:
    """y values of the 'loss' trace of the first plotly chart on the page."""
    return pg.evaluate("""() => {
        const plot = document.querySelector('.js-plotly-plot');
        const t = plot && plot._fullData.find(t => t.name === 'loss');
        return t ? Array.from(t.y) : [];
    }""")


LOSS_COUNT = """() => {
    const plot = document.querySelector('.js-plotly-plot');
    const t = plot && plot._fullData && plot._fullData.find(t => t.name === 'loss');
    return t ? t.y.length : 0;
}"""  # points of the first chart's 'loss' trace: wait_for_function(f"({LOSS_COUNT})() === 3")


def step_of(pg) -> int | None:
    bars = pg.locator("[data-testid='stProgress']")
    m = re.search(r"step (\d+)/", bars.first.inner_text()) if bars.count() else None
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


def fill(pg, label: str, value: str) -> None:
    box = pg.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    settle(pg)


def fill_new_run_form(pg, url: str, model: str, eval_every: int) -> None:
    """Open Train, unfold "New run" and fill it for a long tiny run (8 per batch) from a local model."""
    open_page(pg, url, "Train")
    pg.get_by_text("New run", exact=True).click()  # folded while other runs exist
    settle(pg)
    pg.get_by_text("Local path", exact=True).click()
    settle(pg)
    fill(pg, "Model id or path", model)
    for label, value in (("Steps", "100000"), ("Batch size (per process)", "8"),
                         ("Eval every (steps)", str(eval_every))):
        fill(pg, label, value)


# --------------------------------------------------------------------------- one test per page
def test_home_lists_the_runs(page, url, done_run):
    body = open_page(page, url)
    assert "SRL Explorer" in body and "No runs yet" not in body
    assert page.locator("[data-testid='stDataFrame']").count() == 1  # the runs table (a canvas: no text to read)
    shot(page, "home")


def test_train_refuses_a_short_upload_then_streams_a_live_run_to_two_sessions(page, browser, url, ckpts,
                                                                              tiny_model, tmp_path):
    fill_new_run_form(page, url, tiny_model, eval_every=40)
    short = tmp_path / "short.txt"  # fewer sentences than one batch
    short.write_text("one sentence\ntwo sentences\nthree\n")
    page.get_by_text("Upload .txt", exact=True).click()
    settle(page)
    page.locator("input[type=file]").set_input_files(str(short))
    # the upload is over (its chip is drawn) before Start: the upload's own rerun can begin after a first settle
    page.locator("[data-testid='stFileChip']", has_text="short.txt").wait_for(timeout=30_000)
    settle(page)
    before = {p.name for p in ckpts.iterdir() if p.is_dir()}
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("document.body.innerText.includes('fewer than the batch size 8')", timeout=30_000)
    settle(page)
    assert {p.name for p in ckpts.iterdir() if p.is_dir()} == before  # nothing was launched
    page.get_by_text("Sample (shipped)", exact=True).click()
    settle(page)
    body = page.inner_text("body")
    assert f"--model {tiny_model}" in body and "torchrun --nproc_per_node=2 -m srl_explorer train" in body
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("document.body.innerText.includes('in its own process')", timeout=60_000)
    settle(page)
    [new] = {p.name for p in ckpts.iterdir() if p.is_dir()} - before
    run_dir = ckpts / new
    wait_step_rises(page)

    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # a second session
    open_page(other, url, "Train")
    assert other.url.endswith(f"?run={new}")  # the live run is selected by default
    wait_step_rises(other)
    wait_plots(page, 1, 30_000)
    assert page.locator("[data-testid='stExpander'] details").first.get_attribute("open") is None  # folded on Start
    shot(page, "train")

    page.get_by_role("button", name="Stop run").click()
    for pg in (page, other):
        pg.wait_for_function("document.body.innerText.includes('cancelled')", timeout=90_000)
        settle(pg)
    assert rundir.read_status(run_dir)["state"] == "cancelled"
    final, _ = rundir.RunDir(run_dir).read_metrics()
    losses = [r["loss"] for r in final if "loss" in r]
    assert 0 < len(final) < 1500  # short enough that the chart is not thinned: every logged loss is drawn
    for pg in (page, other):  # the last poll may still be on its way
        pg.wait_for_function(f"({LOSS_COUNT})() === {len(losses)}", timeout=30_000)
    assert loss_curve(page) == pytest.approx(losses) and loss_curve(other) == loss_curve(page)
    other.context.close()


def test_compare_overlays_the_runs(page, url, done_run):
    body = open_page(page, url, "Compare")
    wait_plots(page, 2, 30_000)  # the overlay and the alignment-uniformity plane
    assert done_run.name in body
    dev = [r["stsb_dev_spearman"] for r in done_run_records(done_run) if "stsb_dev_spearman" in r]
    overlay = next(t for t in traces(page) if t["name"] == done_run.name)  # default metric: STS dev
    assert overlay["y"] == pytest.approx(dev)
    shot(page, "compare")


def done_run_records(run: Path) -> list[dict]:
    return rundir.RunDir(run).read_metrics()[0]


def test_embeddings_maps_base_against_best(page, url, done_run):
    body = open_page(page, url, "Embeddings", 240_000)
    wait_plots(page, 2)
    best = re.search(r"(\S+) · best", body)
    assert best is not None and f"{best.group(1)} · step 0 (base model)" in body
    maps = [t for t in traces(page) if t["name"] == "sentences"]
    assert len(maps) == 2 and len(maps[0]["x"]) == len(maps[1]["x"]) > 0  # the same sentences on both maps
    page.get_by_text("cluster", exact=True).click()
    page.wait_for_function("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(p => (p._fullData || []).some(t => (t.name || '').startsWith('cluster '))).length >= 2""",
                           timeout=120_000)  # both maps redrawn (the rerun may not have begun at the click)
    settle(page)
    names = [t["name"] for t in traces(page)]
    clusters = sorted({n for n in names if n.startswith("cluster ")})
    assert len(clusters) > 1 and all(names.count(c) == 2 for c in clusters)  # one legend, the same on both maps
    assert page.get_by_text("Coordinates (CSV)").count() == 2 and page.get_by_text("Map (PNG)").count() == 2
    shot(page, "embeddings")


def test_sts_shows_stored_results(page, url, done_run):
    open_page(page, url, "STS")
    wait_plots(page, 1, 30_000)
    stored = rundir.read_json(rundir.RunDir(done_run).sts_results_file)["best"]
    bars = next(t for t in traces(page) if t["name"].startswith(f"{done_run.name} · best"))  # + "(step n)"
    from srl_explorer.ui.sts import TASK_LABELS
    assert bars["x"] == [TASK_LABELS.get(t, t) for t in stored["tasks"]] and bars["y"] == pytest.approx(
        [v["all"] for v in stored["tasks"].values()])
    shot(page, "sts")


def test_sts_evaluates_the_shipped_sample_offline(page, url, done_run):
    """No data folder and no hub: the sample task is scored from the page; the benchmarks ask once for a folder."""
    from srl_explorer.evaluation import evaluate_model
    open_page(page, url, "STS")
    fill(page, "Data folder", "")
    # the rerun after Enter may start after settle() saw the previous run's end: wait for its text
    page.wait_for_function("document.body.innerText.includes('The shipped sample task works offline')",
                           timeout=60_000)
    page.get_by_role("button", name="STS12", exact=True).click()  # a benchmark that needs the hub
    settle(page)
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_function("document.body.innerText.includes('Done: 1 checkpoint(s) on 1 task(s)')", timeout=120_000)
    settle(page)
    wait_plots(page, 1, 30_000)
    errors = page.locator("[data-testid='stAlertContentError']")
    assert errors.count() == 1 and "Fill in Data folder above" in errors.first.inner_text()
    assert "--data-dir" not in page.inner_text("body")
    expected = evaluate_model(None, ["sample"])["tasks"]["sample"]["all"]
    bars = next(t for t in traces(page) if t["name"].startswith("packaged all-MiniLM-L6-v2"))
    assert bars["x"] == ["sample (shipped)"] and bars["y"] == pytest.approx([expected])
    page.set_viewport_size({"width": 1400, "height": 1500})  # the app scrolls inside itself: show the bars too
    page.wait_for_timeout(500)
    shot(page, "sts")


def test_similarity_scores_an_upload_and_refuses_bad_files(page, url, done_run, tmp_path):
    open_page(page, url, "Similarity")
    csv = tmp_path / "pairs.csv"
    csv.write_text(PAIRS_CSV)
    page.locator("input[type=file]").set_input_files(str(csv))
    page.wait_for_function("document.body.innerText.includes('Spearman × 100')", timeout=90_000)
    settle(page)
    wait_plots(page, 1, 30_000)
    [scatter] = traces(page)
    assert scatter["x"] == pytest.approx([4.8, 0.2, 4.0, 4.2, 0.0])  # gold scores against cosines
    shot(page, "similarity")

    bad = tmp_path / "bad.csv"
    bad.write_bytes("sentence1,sentence2\ncaf\xe9,th\xe9\n".encode("latin-1"))
    page.locator("input[type=file]").set_input_files(str(bad))
    page.wait_for_function("document.body.innerText.includes('not valid UTF-8')", timeout=30_000)
    settle(page)
    huge = tmp_path / "huge.csv"  # over server.maxUploadSize (50 MB): refused before it is sent
    with open(huge, "wb") as f:
        f.truncate(51 * 1024 * 1024)
    page.locator("input[type=file]").set_input_files(str(huge))
    page.wait_for_function("document.body.innerText.includes('or smaller')", timeout=30_000)
    settle(page)
    chips = page.locator("[data-testid='stFileChip']")  # the refused file only: no stale chip beside an accepted one
    assert chips.count() == 1 and page.locator("[data-testid='stFileChipIconError']").count() == 1
    assert "Scoring pairs.csv (5 pairs)" in page.inner_text("body")  # the accepted file is still scored
    assert "Similarity" in page.inner_text("h1")  # the app is still up


def test_paper_shows_three_claims_and_the_explorer(page, url):
    from srl_explorer.losses import LOSSES, loss_label
    body = open_page(page, url, "Paper", 180_000)
    for i in (1, 2, 3):
        assert f"Claim {i}" in body
    assert "No reproduction yet" in body and "Gradient-dissipation explorer" in body
    wait_plots(page, 1)
    names = {t["name"] for t in traces(page)}
    assert {loss_label(n) for n in LOSSES} <= names  # one explorer curve per loss
    shot(page, "paper")
