"""The charts of the Train and Compare pages in a real headless Chromium: the form folds and the page scrolls to
the live charts after Start; a live chart redraws only when a metric line arrives (counted with plotly's
``plotly_afterplot`` events, never timed); Compare's CSV download has one row per metrics.jsonl line, and its
PNG/SVG downloads are images. Screenshots go to test-artifacts/screenshots/ (train_live*, compare*).
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench._browser import CHROMIUM
from srl_explorer import rundir
from tests.test_browser import (  # noqa: F401 - browser and page are fixtures
    LOSS_COUNT,
    browser,
    fill_new_run_form,
    open_page,
    page,
    serve,
    settle,
    shot,
    traces,
    wait_plots,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")

AU_RECORDS = [{"step": 0, "elapsed_s": 0.0, "stsb_dev_spearman": 61.0, "dev_align": 0.62, "dev_uniform": -2.1}] + [
    {"step": s, "elapsed_s": 0.7 * s, "loss": 1.6 - 0.02 * s, "grad_norm": 1.5, "grad_norm_z": 4e-3 / s,
     "grad_norm_align": 5.0 - 0.02 * s, "grad_norm_uniform": 4.6, "align": 0.4, "uniform": -2.2 - 0.01 * s}
    for s in range(1, 41)] + [{"step": 40, "elapsed_s": 29.0, "stsb_dev_spearman": 66.0, "dev_align": 0.5,
                               "dev_uniform": -2.4}]


def write_run(root: Path, name: str, records: list[dict], status: dict, loss: str = "infonce") -> Path:
    d = root / name
    d.mkdir()
    rundir.atomic_write_json(d / "config.json", {"loss": loss, "model": "unused", "pooler": "avg", "max_steps": 40,
                                                 "eval_every": 20, "lr": 3e-5, "batch_size": 8})
    rundir.atomic_write_json(d / "status.json", {"max_steps": 40, "started": time.time(), "loss_name": loss,
                                                 **status})
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return d


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chart-checkpoints")
    write_run(root, "au-finished", AU_RECORDS, {"state": "finished", "step": 40}, loss="align_uniform")
    write_run(root, "cancelled-one-point", AU_RECORDS[:1], {"state": "cancelled", "step": 0})
    return root


@pytest.fixture(scope="module")
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def url(ckpts):
    with serve(ckpts) as u:
        yield u


# Per plot element (Streamlit mounts a new one when a figure changes; each is hooked as soon as it is
# inserted), the number of plotly "afterplot" events (draws). A mounted chart draws once and then once more
# when react-plotly applies the same figure, so one figure change is one new element with 1-2 draws.
COUNT_REDRAWS = """() => {
    window.__draws = [];
    const hook = (p) => {
        if (p.__slot !== undefined) return;
        if (!p.on) { setTimeout(() => hook(p), 0); return; }
        p.__slot = window.__draws.length;
        window.__draws.push(0);
        p.on('plotly_afterplot', () => { window.__draws[p.__slot] += 1; });
    };
    document.querySelectorAll('.js-plotly-plot').forEach(hook);
    new MutationObserver(() => document.querySelectorAll('.js-plotly-plot').forEach(hook))
        .observe(document.body, {childList: true, subtree: true});
}"""


def test_live_chart_redraws_only_when_a_metric_line_arrives(page, url, ckpts, sleeper):
    records = AU_RECORDS[:3]
    run = write_run(ckpts, "live-quiet", records, {"state": "running", "pid": sleeper.pid, "step": 2})
    open_page(page, url, "Train?run=live-quiet")
    wait_plots(page, 1, 30_000)
    page.evaluate(COUNT_REDRAWS)
    for step in (3, 4, 5):  # the fragment polls (the progress bar follows status.json) but no metric line came
        rundir.write_status(run, step=step)
        page.wait_for_function(f"document.body.innerText.includes('step {step}/40')", timeout=30_000)
    assert page.evaluate("window.__draws") == [0]  # the chart on the page, never redrawn
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps(AU_RECORDS[3]) + "\n")
    page.wait_for_function(f"({LOSS_COUNT})() === 3", timeout=30_000)
    rundir.write_status(run, step=6)  # one more poll after the new line
    page.wait_for_function("document.body.innerText.includes('step 6/40')", timeout=30_000)
    draws = page.evaluate("window.__draws")
    assert draws[0] == 0 and len(draws) == 2 and draws[1] in (1, 2)  # one new chart for one new line, and
    # the poll after it (step 6) drew nothing more
    rundir.write_status(run, state="cancelled")


def test_au_run_panels_say_why_dissipation_is_empty(page, url):
    body = open_page(page, url, "Train?run=au-finished")
    wait_plots(page, 1, 30_000)
    assert "nothing dissipates by design" in page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot .annotation-text')).map(a => a.textContent)"
        ".join(' ')")
    assert "Waiting for the first metrics" not in body
    chart_shot(page, "train_live_au")


def test_failed_run_says_its_error_once(page, url, ckpts):
    write_run(ckpts, "failed-early", [], {"state": "failed", "error": "ModelLoadError: no such model", "step": 0})
    body = open_page(page, url, "Train?run=failed-early")
    assert body.count("ModelLoadError: no such model") == 1 and "Waiting for the first metrics" not in body


def test_start_folds_the_form_and_scrolls_to_the_live_charts(page, url, ckpts, tiny_model):
    fill_new_run_form(page, url, tiny_model, eval_every=25)
    before = {p.name for p in ckpts.iterdir()}
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("document.body.innerText.includes('in its own process')", timeout=60_000)
    settle(page)
    [new] = {p.name for p in ckpts.iterdir()} - before
    # the form folds (on the rerun that follows the launch; wait for it rather than race it)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stExpander'] details\").open",
                           timeout=60_000)
    # the live charts' heading is in the top half of the window (scrolled to it, or the page is short enough)
    page.wait_for_function("() => { const t = document.getElementById('live-charts').getBoundingClientRect().top;"
                           " return t >= -5 && t < window.innerHeight / 2; }", timeout=15_000)
    wait_plots(page, 1, 120_000)
    page.wait_for_function(f"({LOSS_COUNT})() >= 30", timeout=180_000)
    shot(page, "train_live")
    page.get_by_role("button", name="Stop run").click()
    page.wait_for_function("document.body.innerText.includes('cancelled')", timeout=90_000)
    settle(page)
    assert rundir.read_status(ckpts / new)["state"] == "cancelled"
    chart_shot(page, "train_live_charts")


def chart_shot(pg, name: str, index: int = 0, tries: int = 3) -> None:
    """A screenshot of one chart (Streamlit scrolls inside its main block, so a full-page shot misses it). A rerun
    can replace the chart's element between finding and shooting it ("not attached to the DOM"): find it again."""
    from playwright.sync_api import Error as PlaywrightError
    for attempt in range(tries):
        plot = pg.locator("[data-testid='stPlotlyChart']").nth(index)
        try:
            plot.scroll_into_view_if_needed()
            plot.screenshot(path=str(Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
                                     / f"{name}.png"))
            return
        except PlaywrightError:
            if attempt == tries - 1:
                raise
            settle(pg)


def test_compare_downloads_csv_png_and_svg(page, url, ckpts):
    open_page(page, url, "Compare")
    wait_plots(page, 2, 30_000)
    names = [t["name"] for t in traces(page)]
    assert "cancelled-one-point" in names  # a one-point run is drawn (markers)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Metrics as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    picked = list(dict.fromkeys(row["run"] for row in rows))
    assert len(picked) >= 2 and set(picked) == set(names)  # the runs on the chart, each with its lines
    runs = {r.name: r for r in rundir.list_runs(ckpts)}
    expected = [(n, rec) for n in picked for rec in rundir.RunDir(runs[n].path).read_metrics()[0]]
    assert len(rows) == len(expected)
    for row, (name, rec) in zip(rows, expected, strict=True):
        assert row["run"] == name and float(row["step"]) == rec.get("step")
        assert {k: float(v) for k, v in row.items() if k != "run" and v != ""} == pytest.approx(
            {k: v for k, v in rec.items() if isinstance(v, (int, float))})
    for label, magic in (("Chart as SVG", b"<svg"), ("Chart as PNG", b"\x89PNG")):
        with page.expect_download(timeout=120_000) as dl:
            page.get_by_role("button", name=label).click()
        assert magic in Path(dl.value.path()).read_bytes()[:200]
    settle(page)
    shot(page, "compare")
    chart_shot(page, "compare_plane", 1)
