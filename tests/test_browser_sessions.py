"""Two people on one server while a run trains, in headless Chromium (Debian's package) through Playwright.

A command-line run trains into the app's runs folder, as a user starts it from a shell. Session A watches it
on Train; session B, in another browser context, loads every page meanwhile. Both must stay correct: no
exception box in either, the live step counter rises in both, and each session's loss curve is the run's
``metrics.jsonl`` so far. The second test deletes a finished run from the Home page (with its confirmation)
and checks a live run's delete is refused.

No assertion is about speed (``bench/app_latency.py`` measures it); timeouts are generous liveness bounds
for a loaded 2-core machine.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench._browser import CHROMIUM
from srl_explorer import rundir
from tests.test_browser import (  # noqa: F401 - browser is a fixture
    LOSS_COUNT,
    browser,
    loss_curve,
    open_page,
    serve,
    settle,
    shot,
    step_of,
    wait_plots,
    wait_step_rises,
)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")
PAGES = ("", "Train", "Compare", "Embeddings", "STS", "Similarity", "Paper")
LOAD_TIMEOUT = 240_000  # ms: liveness under load, not a speed target
LIVE = "cli-live"


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("session-checkpoints")


@pytest.fixture(scope="module")
def done_run(ckpts, tiny_model) -> Path:
    """A finished tiny run (real training)."""
    from srl_explorer.config import TrainConfig
    from srl_explorer.training import train
    return Path(train(TrainConfig(model=tiny_model, loss="mpt", max_steps=4, batch_size=8, eval_every=2,
                                  max_train_sentences=100, output_dir=str(ckpts / "done-mpt"))))


@pytest.fixture(scope="module")
def url(ckpts, done_run):
    with serve(ckpts) as u:
        yield u


@pytest.fixture
def live_run(ckpts, tiny_model):
    """A command-line run training into the runs folder (train's default priority, as from a shell) until the test
    ends; yields its folder once it has logged a loss."""
    run = ckpts / f"{LIVE}-{sum(1 for _ in ckpts.iterdir())}"  # a new folder per test
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "srl_explorer", "train", "--model", tiny_model, "--loss", "infonce",
                             "--max-steps", "1000000", "--batch-size", "8", "--eval-every", "25",
                             "--output-dir", str(run)], cwd=ckpts.parent, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: any("loss" in r for r in metric_lines(run)), 180, "the run logged no loss")
        yield run, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def wait_for(cond, timeout: float, what: str) -> None:
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.5)
    pytest.fail(what)


def metric_lines(run: Path) -> list[dict]:
    return rundir.RunDir(run).read_metrics()[0] if rundir.RunDir(run).metrics_file.exists() else []


def curve_is_a_prefix(pg, run: Path) -> None:
    """The session's loss curve is the first losses of the run's metrics.jsonl (the run has gone on since)."""
    pg.wait_for_function(f"({LOSS_COUNT})() >= 1", timeout=60_000)  # not mid-redraw (CI once read no trace)
    curve = loss_curve(pg)
    losses = [r["loss"] for r in metric_lines(run) if "loss" in r]
    assert curve and len(curve) <= len(losses) and curve == pytest.approx(losses[:len(curve)])


def test_two_sessions_stay_correct_while_a_cli_run_trains(browser, url, done_run, live_run):
    run, proc = live_run
    a = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    b = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        open_page(a, url, f"Train?run={run.name}", LOAD_TIMEOUT)
        wait_step_rises(a)
        for path in PAGES:  # B tours the app while A keeps polling the live run
            open_page(b, url, path, LOAD_TIMEOUT)
            assert a.locator("[data-testid='stException']").count() == 0
        first_a, _ = wait_step_rises(a)  # A's live fragment survived B's tour
        assert first_a > 0
        open_page(b, url, f"Train?run={run.name}", LOAD_TIMEOUT)
        wait_step_rises(b)
        wait_plots(a, 1, 60_000)
        wait_plots(b, 1, 60_000)
        for pg in (a, b):
            curve_is_a_prefix(pg, run)
        shot(b, "two-sessions-b-train")

        os.kill(proc.pid, signal.SIGTERM)  # the trainer ends the run as cancelled
        for pg in (a, b):
            pg.wait_for_function("document.body.innerText.includes('cancelled')", timeout=120_000)
            settle(pg, LOAD_TIMEOUT)
        assert rundir.read_status(run)["state"] == "cancelled"
        losses = [r["loss"] for r in metric_lines(run) if "loss" in r]
        for pg in (a, b):  # once over, both sessions draw every logged loss, and nothing else
            pg.wait_for_function(f"({LOSS_COUNT})() === {len(losses)}", timeout=30_000)
            assert loss_curve(pg) == pytest.approx(losses)
        assert step_of(a) == step_of(b)
    finally:
        a.context.close()
        b.context.close()


def until(pg, text: str, present: bool = True) -> None:
    """Wait until the page shows ``text`` (or no longer does), then until it is idle: the rerun that an
    action caused is over (the Home page's live fragment reruns every 2 s, so the script state alone
    does not tell)."""
    pg.wait_for_function("([t, p]) => document.body.innerText.includes(t) === p", arg=[text, present],
                         timeout=LOAD_TIMEOUT)
    settle(pg, LOAD_TIMEOUT)


def pick(pg, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label``."""
    pg.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
    pg.get_by_role("option", name=option, exact=True).click()


@pytest.fixture
def doomed(ckpts, tiny_model) -> Path:
    """A finished tiny run, to delete."""
    from srl_explorer.config import TrainConfig
    from srl_explorer.training import train
    return Path(train(TrainConfig(model=tiny_model, loss="infonce", max_steps=2, batch_size=8, eval_every=2,
                                  max_train_sentences=100, output_dir=str(ckpts / "to-delete"))))


def test_home_deletes_a_finished_run_after_confirmation_and_refuses_a_live_one(browser, url, ckpts, doomed,
                                                                              live_run):
    run, _ = live_run  # started after `doomed`: the newest run, selected by default
    pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        open_page(pg, url, "", LOAD_TIMEOUT)
        pg.get_by_role("button", name="Delete…").click()  # the live run: refused, nothing asked, nothing deleted
        until(pg, f"cannot delete {run.name}: it is training")
        assert "Yes, delete" not in pg.inner_text("body") and rundir.RunDir(run).status_file.exists()

        pick(pg, "Run", doomed.name)
        until(pg, "cannot delete", present=False)  # the rerun of the pick is over (the message was said once)
        pg.get_by_role("button", name="Delete…").click()  # asks first
        until(pg, f"Delete {doomed.name} (")
        assert doomed.is_dir()
        pg.get_by_role("button", name="Cancel").click()  # a second thought: still there
        until(pg, "Yes, delete", present=False)
        assert doomed.is_dir()
        pg.get_by_role("button", name="Delete…").click()
        until(pg, "Yes, delete")
        pg.get_by_role("button", name="Yes, delete").click()
        until(pg, f"Deleted {doomed.name}")
        assert not doomed.exists() and not list(ckpts.glob(f".deleting-{doomed.name}*"))
        assert run.is_dir() and rundir.read_status(run)["state"] == "running"  # the live run is untouched
        names = {r.name for r in rundir.list_runs(ckpts)}
        assert doomed.name not in names and run.name in names
        shot(pg, "home-delete")
    finally:
        pg.context.close()
