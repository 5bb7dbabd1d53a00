"""Smoke test of the benchmark harness (python bench/run.py): it runs every measurement
end to end on a tiny model and writes complete results. It never asserts on a time."""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

from srl_explorer.training import batch_indices

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "run.py"
_spec = importlib.util.spec_from_file_location("bench_run", RUN)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_every_trainer_sees_our_trainers_batches():
    sentences = [f"s{i}" for i in range(50)]
    batches = bench.step_batches(sentences, 3, 8)
    assert batches[2] == [sentences[i] for i in batch_indices(2, 50, 8, 42).tolist()]


def test_bad_section_is_one_line_error():
    p = subprocess.run([sys.executable, str(RUN), "--sections", "train,gpu"], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 2 and "unknown section(s) gpu" in p.stderr and "Traceback" not in p.stderr


def test_quick_run_writes_complete_results(tiny_model, tmp_path):
    out = tmp_path / "results.json"
    cmd = [sys.executable, str(RUN), "--quick", "--model", tiny_model, "--sections",
           "train,encode,eval,projection", "--steps", "2", "--warmup", "1", "--rounds", "1", "--batch-size", "8",
           "--sizes", "120", "--out", str(out)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads(out.read_text())
    s, h = res["sections"], res["headline"]
    train = s["train"]
    assert len(train["runs"]["train-ours"][0]["step_s"]) == 2 and len(train["runs"]["train-bare"][0]["step_s"]) == 2
    assert math.isfinite(h["train_ours_vs_bare"]) and h["train_ours_vs_bare"] > 0
    assert h["peak_rss_train_gb"] > 0 and h["peak_rss_eval_gb"] > 0
    assert bench._has_st()  # sentence-transformers[train] is in requirements.txt: the peer is always measured
    assert len(train["runs"]["train-st"][0]["step_s"]) == 2 and h["train_ours_vs_st"] > 0
    assert h["encode_ours_vs_st"] > 0
    assert s["encode"]["max_abs_diff"] < 1e-4  # the same model through both encoders
    assert s["eval"]["stsb_dev"]["n_sentences"] > 0 and "skipped" in s["eval"]["all_tasks"]
    umap = s["projection"]["umap"]["120"]
    assert umap["n"] == 120 and umap["cold_s"] > 0 and len(umap["warm_s"]) == 2
    assert s["projection"]["app_worker"]["warm_up_s"] > 0
    md = out.with_suffix(".md").read_text()
    assert "| train_ours_vs_bare |" in md and "## 4. Projection" in md


def _app_latency():
    import pytest
    pytest.importorskip("playwright.sync_api")
    sys.path.insert(0, str(ROOT))
    from bench import app_latency
    return app_latency


def test_the_floor_page_renders_and_is_reported_beside_the_pages(tmp_path):
    """The latency table's floor row (a title and two 3-point plotly charts on a server of their own) is a
    real page load; the slowest-page verdict ignores it."""
    import pytest
    app_latency = _app_latency()
    from bench._browser import CHROMIUM
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    with app_latency.sync_playwright() as p:
        browser = app_latency.launch_chromium(p)
        ctx = browser.new_context()
        try:
            took = app_latency.floor_time(ctx, tmp_path / "floor")
        finally:
            ctx.close()
            browser.close()
    assert took > 0
    pages = {k or "Home": {"median_s": 1.0, "all_s": [1.0]} for k in app_latency.PAGES}
    result = {"date": "today", "commit": "abc", "cpus": 2, "load_before": [0.1, 0.1, 0.1],
              "cold_starts": {"n": 1, "server_start_s": 1.0,
                              "pages": {**pages, app_latency.FLOOR: {"median_s": took, "all_s": [took]}}}}
    md = app_latency.markdown(result)
    assert f"| *floor: a title and two 3-point plotly charts (another server)* | {took:.2f} |" in md
    assert "slowest page 1.00 s" in md
