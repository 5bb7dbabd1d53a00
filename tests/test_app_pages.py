"""AppTest for every page, with a finished tiny run and a run in progress."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_explorer import runs
from srl_explorer.train import TrainConfig, train

st_testing = pytest.importorskip("streamlit.testing.v1")
ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/1_Train.py", "pages/2_Compare.py", "pages/3_Embeddings.py", "pages/4_STS.py", "pages/5_Similarity.py"]


@pytest.fixture(scope="module")
def ckpt_root(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    train(TrainConfig(model=tiny_model, loss="mpt", max_steps=3, batch_size=8, eval_every=2,
                      max_train_sentences=100, output_dir=str(root / "done-mpt")))
    live = root / "live-infonce"
    live.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    runs.atomic_write_json(live / "config.json", {"loss": "infonce", "model": tiny_model, "pooler": "avg", "max_steps": 100})
    runs.atomic_write_json(live / "status.json", {"state": "running", "pid": sleeper.pid, "step": 2, "max_steps": 100,
                                                  "started": time.time()})
    (live / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"step": 0, "elapsed_s": 0, "stsb_dev_spearman": 10.0, "dev_align": 0.5, "dev_uniform": -2.0},
        {"step": 1, "elapsed_s": 1.0, "loss": 2.0, "pos_prob": 0.2, "grad_norm": 1.0, "align": 0.3, "uniform": -2.1},
        {"step": 2, "elapsed_s": 2.0, "loss": 1.5, "pos_prob": 0.4, "grad_norm": 0.8, "align": 0.3, "uniform": -2.2}]))
    yield root
    sleeper.kill()


@pytest.fixture
def app(ckpt_root, monkeypatch):
    monkeypatch.setenv("SRL_CHECKPOINTS", str(ckpt_root))
    monkeypatch.chdir(ROOT)
    return st_testing.AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def test_home_lists_runs(app):
    app.run()
    assert not app.exception
    table = app.dataframe[0].value
    assert set(table["run"]) == {"done-mpt", "live-infonce"}
    assert any("running" in s for s in table["status"])


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app, page):
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception


def test_train_page_shows_live_run_and_commands(app):
    app.run()
    app.switch_page("pages/1_Train.py").run()
    assert not app.exception
    codes = [c.value for c in app.code]
    assert any(c.startswith("python -m srl_explorer train") for c in codes)
    assert any(c.startswith("torchrun --nproc_per_node=2") for c in codes)
    run_box = [s for s in app.selectbox if s.label == "Run"][0]
    assert run_box.value == "live-infonce"  # the live run is shown by default
    assert any("step 2/100" in str(p.proto) for p in app.get("progress"))


def test_train_page_failed_run_shows_error(app, ckpt_root):
    bad = ckpt_root / "failed-run"
    bad.mkdir(exist_ok=True)
    runs.atomic_write_json(bad / "status.json", {"state": "failed", "error": "non-finite loss at step 4: loss=nan",
                                                 "step": 4, "max_steps": 10, "started": 1.0})
    app.run()
    app.switch_page("pages/1_Train.py").run()
    [s for s in app.selectbox if s.label == "Run"][0].select("failed-run").run()
    assert any("loss=nan" in e.value for e in app.error)


def test_upload_validation_on_train_page(app):
    app.run()
    app.switch_page("pages/1_Train.py").run()
    app.radio[0].set_value("Local path").run()
    app.button[0].click().run()
    assert any("enter a model id or path" in e.value for e in app.error)
    assert not app.exception


def test_similarity_scores_pasted_pairs(app):
    app.run()
    app.switch_page("pages/5_Similarity.py").run()
    app.text_area[0].input("sentence1,sentence2,score\na,a b,4\nc,d e f,1\ng h,g,3\n").run()
    assert not app.exception
    assert len(app.metric) == 3 and app.dataframe[0].value.shape[0] == 3
    app.text_area[0].input("text,label\nfoo,1\n").run()
    assert any("missing column(s) sentence1, sentence2" in e.value for e in app.error)
