"""AppTest for every page, with a finished tiny run (real training) and a run in progress
(status running with the pid of a live process, and some metric lines)."""
from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_explorer import projection, rundir
from srl_explorer.config import TrainConfig
from srl_explorer.training import train

from .conftest import markdown_tables

st_testing = pytest.importorskip("streamlit.testing.v1")
ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/1_Train.py", "pages/2_Compare.py", "pages/3_Embeddings.py", "pages/4_STS.py", "pages/5_Similarity.py"]
LIVE_RECORDS = [
    {"step": 0, "elapsed_s": 0, "lr": 3e-5, "stsb_dev_spearman": 10.0, "dev_align": 0.5, "dev_uniform": -2.0},
    {"step": 1, "elapsed_s": 1.0, "loss": 2.0, "pos_prob": 0.2, "grad_norm": 1.0, "grad_norm_z": 0.5,
     "grad_norm_align": 0.4, "grad_norm_uniform": 0.3, "align": 0.3, "uniform": -2.1},
    {"step": 2, "elapsed_s": 2.0, "loss": 1.5, "pos_prob": 0.4, "grad_norm": 0.8, "grad_norm_z": 0.4,
     "grad_norm_align": 0.3, "grad_norm_uniform": 0.3, "align": 0.3, "uniform": -2.2}]


def best_label(root: Path) -> str:
    """The pickers' label of done-mpt's best checkpoint: it carries the step (issue 14)."""
    step = rundir.read_status(root / "done-mpt")["best_step"]
    assert step > 0  # best is after training began
    return f"done-mpt · best (step {step})"


def fake_live_run(root: Path, name: str, pid: int) -> Path:
    """A run in progress as the trainer leaves it: config, status (running, live pid), metric lines."""
    live = root / name
    live.mkdir()
    rundir.atomic_write_json(live / "config.json",
                             {"loss": "infonce", "model": "unused", "pooler": "avg", "max_steps": 100})
    rundir.atomic_write_json(live / "status.json", {"state": "running", "pid": pid, "step": 2, "max_steps": 100,
                                                  "started": time.time(), "loss_name": "infonce"})
    (live / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LIVE_RECORDS))
    return live


@contextlib.contextmanager
def live_run_of(root: Path, name: str):
    """A fake run in progress whose pid is a live sleeping process, for as long as the block lasts."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    try:
        yield fake_live_run(root, name, sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.fixture(scope="module")
def ckpt_root(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    train(TrainConfig(model=tiny_model, loss="mpt", max_steps=3, batch_size=8, eval_every=2,
                      max_train_sentences=100, output_dir=str(root / "done-mpt")))
    with live_run_of(root, "live-infonce"):
        yield root


@pytest.fixture
def app(ckpt_root, monkeypatch):
    monkeypatch.setenv("SRL_CHECKPOINTS", str(ckpt_root))
    monkeypatch.setenv("SRL_UMAP_WARMUP", "0")  # UMAP has its own test; the pages default to PCA until warm
    monkeypatch.chdir(ROOT)
    at = st_testing.AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(at, page: str):
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def open_form(at):
    """Train with its "New run" form unfolded (it is drawn only then; folded while runs exist)."""
    at.session_state["new-run-open"] = True
    return open_page(at, "pages/1_Train.py")


def charts(at) -> list:
    return at.get("plotly_chart")


def test_home_lists_runs(app):
    table = app.dataframe[0].value
    assert set(table["run"]) == {"done-mpt", "live-infonce"}
    row = table.set_index("run").loc["done-mpt"]
    assert "finished" in row["status"] and row["step"] == "3/3" and row["loss fn"] == "mpt"
    assert "running" in table.set_index("run").loc["live-infonce", "status"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app, page):
    open_page(app, page)


def test_train_page_shows_live_run_and_commands(app):
    open_form(app)
    codes = [c.value for c in app.code]
    assert any(c.startswith("python -m srl_explorer train --loss infonce") for c in codes)
    assert any(c.startswith("torchrun --nproc_per_node=2 -m srl_explorer train --loss infonce") for c in codes)
    run_box = next(s for s in app.selectbox if s.label == "Run")
    assert run_box.value == "live-infonce"  # a fresh session (a reloaded tab) finds the live run
    assert any("step 2/100" in str(p.proto) for p in app.get("progress"))
    assert [b for b in app.button if b.label == "Stop run"]
    assert len(charts(app)) == 1


def test_train_page_hyperparameters_follow_the_loss(app):
    open_form(app)
    next(s for s in app.selectbox if s.label == "Loss").select("align_uniform").run()
    assert {n.label: n.value for n in app.number_input if n.label in ("lam", "alpha", "t")} == \
        {"lam": 0.5, "alpha": 2.0, "t": 2.0}
    assert any("--lam 0.5 --alpha 2.0 --t 2.0" in c.value for c in app.code)
    next(n for n in app.number_input if n.label == "Nodes").set_value(2).run()
    assert any("--nnodes=2" in c.value and "--rdzv-endpoint=HOST:29500" in c.value for c in app.code)


def test_a_folded_form_is_not_drawn_and_keeps_its_values(app):
    """While runs exist the form starts folded and is not drawn (no widgets, no code boxes for the browser to
    load); what the user entered survives folding it and the runs in between."""
    open_page(app, "pages/1_Train.py")
    assert not app.code and not [b for b in app.button if b.label == "Start training"]
    open_form(app)
    next(n for n in app.number_input if n.label == "Steps").set_value(123).run()
    next(s for s in app.selectbox if s.label == "Loss").select("mpt").run()
    next(n for n in app.number_input if n.label == "margin").set_value(0.25).run()
    app.session_state["new-run-open"] = False
    app.run()
    app.run()  # a second run without the form
    assert not [n for n in app.number_input if n.label == "Steps"]
    app.session_state["new-run-open"] = True
    app.run()
    assert next(n for n in app.number_input if n.label == "Steps").value == 123
    assert next(s for s in app.selectbox if s.label == "Loss").value == "mpt"
    command = next(c.value for c in app.code if c.value.startswith("python -m srl_explorer train"))
    assert "--loss mpt" in command and "--max-steps 123" in command and "--margin 0.25" in command


@pytest.fixture
def scratch(ckpt_root):
    """Names of extra runs a test adds to the shared root; removed afterwards."""
    names: list[str] = []
    yield names
    for n in names:
        shutil.rmtree(ckpt_root / n, ignore_errors=True)


def test_stop_button_requests_a_stop(app, ckpt_root, scratch):
    scratch.append("live-to-stop")
    with live_run_of(ckpt_root, "live-to-stop") as run:
        app.query_params["run"] = "live-to-stop"
        open_page(app, "pages/1_Train.py")
        assert next(s for s in app.selectbox if s.label == "Run").value == "live-to-stop"
        next(b for b in app.button if b.label == "Stop run").click().run()
        assert not app.exception
        assert rundir.stop_requested(run)
        assert any("Stopping" in c.value for c in app.caption)


def test_train_page_failed_run_shows_error(app, ckpt_root, scratch):
    scratch.append("failed-run")
    bad = ckpt_root / "failed-run"
    bad.mkdir()
    rundir.atomic_write_json(bad / "status.json", {"state": "failed", "error": "non-finite loss at step 4: loss=nan",
                                                 "step": 4, "max_steps": 10, "started": 1.0})
    open_page(app, "pages/1_Train.py")
    next(s for s in app.selectbox if s.label == "Run").select("failed-run").run()
    assert [e.value for e in app.error] == ["Run failed: non-finite loss at step 4: loss=nan"]  # said once
    assert not [i for i in app.info if "Waiting for the first metrics" in i.value]  # and nothing else


def test_compare_rebuilds_its_charts_only_on_a_new_metric_line(app, ckpt_root, scratch):
    """Compare's live fragment hands back the same overlay and plane until a picked run writes a new line."""
    from srl_explorer.ui.charts import BUILDS_KEY
    scratch.append("live-compare")
    with live_run_of(ckpt_root, "live-compare") as run:
        open_page(app, "pages/2_Compare.py")
        next(m for m in app.multiselect if m.label == "Runs").set_value(["live-compare"]).run()
        builds, specs = app.session_state[BUILDS_KEY], [c.proto.spec for c in charts(app)]
        assert len(specs) == 2
        for _ in range(2):  # polls that find no new line
            app.run()
            assert app.session_state[BUILDS_KEY] == builds and [c.proto.spec for c in charts(app)] == specs
        with open(run / "metrics.jsonl", "a") as f:
            f.write(json.dumps({**LIVE_RECORDS[0], "step": 3, "elapsed_s": 3.0, "stsb_dev_spearman": 30.0}) + "\n")
        app.run()
        assert app.session_state[BUILDS_KEY] == builds + 2  # the overlay and the plane, once each
        overlay = json.loads(charts(app)[0].proto.spec)
        assert next(t for t in overlay["data"] if t["name"] == "live-compare")["y"][-1] == 30.0


def test_live_charts_are_built_once_per_new_metric_line(app, ckpt_root, scratch, monkeypatch):
    """Polls without a new line hand the browser the same figure (no rebuild, no redraw); a new line builds
    one new figure. The panels have one colour per metric, a legend and a y title each, log gradient axes."""
    from srl_explorer.ui import charts as ui_charts
    from srl_explorer.ui.charts import BUILDS_KEY
    from srl_explorer.viz import METRIC_COLORS
    monkeypatch.setattr(ui_charts, "LIVE_REDRAW_S", 0.0)  # no rate limit here (next test)
    scratch.append("live-poll")
    with live_run_of(ckpt_root, "live-poll") as run:
        app.query_params["run"] = "live-poll"
        open_page(app, "pages/1_Train.py")
        builds, spec = app.session_state[BUILDS_KEY], charts(app)[0].proto.spec
        for _ in range(3):  # polls that find no new line
            app.run()
            assert app.session_state[BUILDS_KEY] == builds and charts(app)[0].proto.spec == spec
        with open(run / "metrics.jsonl", "a") as f:
            f.write(json.dumps({**LIVE_RECORDS[2], "step": 3, "elapsed_s": 3.0, "loss": 1.2}) + "\n")
        app.run()
        assert app.session_state[BUILDS_KEY] == builds + 1
        fig = json.loads(charts(app)[0].proto.spec)
        loss = next(t for t in fig["data"] if t["name"] == "loss")
        assert loss["y"] == [2.0, 1.5, 1.2] and loss["line"]["color"] == METRIC_COLORS["loss"]
        assert "wall" in loss["text"][0] and "step" in loss["hovertemplate"]
        assert len({t.get("legend", "legend") for t in fig["data"] if t.get("showlegend") is not False}) == 5
        assert fig["layout"]["yaxis"]["title"]["text"] == "loss (nats)"
        assert fig["layout"]["yaxis2"]["type"] == "log"  # gradient norms
        assert fig["layout"]["xaxis5"]["range"][1] >= 10  # STS from step 0: not -1..1
        next(t for t in app.toggle if t.label.startswith("Log scale")).set_value(False).run()
        assert json.loads(charts(app)[0].proto.spec)["layout"]["yaxis2"]["type"] == "linear"


def test_a_live_chart_is_redrawn_at_most_every_few_seconds_but_at_once_for_an_evaluation(app, ckpt_root, scratch,
                                                                                       monkeypatch):
    """While a run trains, training lines within LIVE_REDRAW_S of the last figure do not make a new one (every
    watching browser would redraw five panels); a dev evaluation does at once, and so does the next line once
    the interval has passed."""
    from srl_explorer.ui import charts as ui_charts
    from srl_explorer.ui.charts import BUILDS_KEY
    monkeypatch.setattr(ui_charts, "LIVE_REDRAW_S", 3600.0)
    scratch.append("live-rate")

    def append(record: dict) -> None:
        with open(run / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def loss_steps() -> list:
        fig = json.loads(charts(app)[0].proto.spec)
        return next(t for t in fig["data"] if t["name"] == "loss")["x"]

    with live_run_of(ckpt_root, "live-rate") as run:
        app.query_params["run"] = "live-rate"
        open_page(app, "pages/1_Train.py")
        builds, steps = app.session_state[BUILDS_KEY], loss_steps()
        append({**LIVE_RECORDS[2], "step": 3, "elapsed_s": 3.0, "loss": 1.2})
        app.run()
        assert app.session_state[BUILDS_KEY] == builds and loss_steps() == steps  # within the interval
        append({"step": 3, "elapsed_s": 3.5, "stsb_dev_spearman": 31.0, "dev_align": 0.4, "dev_uniform": -2.1})
        app.run()
        assert app.session_state[BUILDS_KEY] == builds + 1 and loss_steps() == [*steps, 3]  # an evaluation
        monkeypatch.setattr(ui_charts, "LIVE_REDRAW_S", 0.0)  # the interval has passed
        append({**LIVE_RECORDS[2], "step": 4, "elapsed_s": 4.0, "loss": 1.1})
        app.run()
        assert app.session_state[BUILDS_KEY] == builds + 2 and loss_steps() == [*steps, 3, 4]


def test_live_panel_says_why_a_loss_has_no_dissipation():
    from srl_explorer.viz import live_panels
    records = [{"step": 1, "elapsed_s": 1.0, "loss": 1.0, "grad_norm_z": 0.1, "align": 0.3, "uniform": -2.0}]
    panel = next(p for p in live_panels(records, "A&U", None).panels if p.title == "Dissipation")
    assert not panel.lines and "A&U" in panel.note and "by design" in panel.note
    sts = next(p for p in live_panels(records, "InfoNCE", "pos_prob", eval_every=20).panels if "STS" in p.title)
    assert sts.note == "no dev evaluation yet (every 20 steps)"


def test_train_page_best_is_after_step_0_and_idle_runs_are_flagged(app, ckpt_root, scratch):
    status = rundir.read_status(ckpt_root / "done-mpt")
    records = rundir.read_metrics(ckpt_root / "done-mpt" / "metrics.jsonl")[0]
    app.query_params["run"] = "done-mpt"
    open_page(app, "pages/1_Train.py")
    text = " ".join(c.value for c in app.caption)
    assert f"{records[0]['stsb_dev_spearman']:.2f} at step 0 (the start)" in text
    assert f"best after training began {status['best']:.2f} at step {status['best_step']}" in text
    assert status["best_step"] > 0
    scratch.append("idle-mpt")  # a run whose hinge is met everywhere: zero loss and gradient at every step
    idle = ckpt_root / "idle-mpt"
    idle.mkdir()
    rundir.atomic_write_json(idle / "config.json", {"loss": "mpt", "model": "unused", "max_steps": 3})
    rundir.atomic_write_json(idle / "status.json", {"state": "finished", "step": 3, "max_steps": 3, "started": 1.0})
    (idle / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"step": 0, "stsb_dev_spearman": 92.4},
        *({"step": k, "loss": 0.0, "grad_norm": 0.0, "active_frac": 0.0} for k in (1, 2, 3))]))
    app.query_params["run"] = "idle-mpt"
    open_page(app, "pages/1_Train.py")
    assert next(s for s in app.selectbox if s.label == "Run").value == "idle-mpt"
    assert any("did not train" in w.value for w in app.warning)
    assert any("92.40 at step 0 (the start); no evaluation after training began yet" in c.value for c in app.caption)


def test_picker_labels_carry_the_step_and_the_base_model_is_the_evaluated_start(ckpt_root):
    from srl_explorer.ui.common import checkpoint_choices
    choices = checkpoint_choices(ckpt_root)
    status = rundir.read_status(ckpt_root / "done-mpt")
    assert best_label(ckpt_root) in choices and f"done-mpt · final (step {status['step']})" in choices
    assert choices[best_label(ckpt_root)][0] == str(ckpt_root / "done-mpt" / "best")
    # trained with the default start (cls + MLP in training only): step 0 was evaluated without the head
    assert choices["done-mpt · step 0 (base model)"][1] == "cls_before_pooler"


def test_train_form_errors_are_messages(app):
    open_form(app)
    app.radio[0].set_value("Local path").run()
    next(b for b in app.button if b.label == "Start training").click().run()
    assert any("enter a model id or path" in e.value for e in app.error)
    next(t for t in app.text_input if t.label == "Model id or path").input("/no/such/model").run()
    next(b for b in app.button if b.label == "Start training").click().run()
    assert any("/no/such/model: no such model directory" in e.value for e in app.error)
    assert not app.exception


def test_compare_overlays_runs_and_tables_them(app):
    from srl_explorer.losses import loss_color
    open_page(app, "pages/2_Compare.py")
    assert set(app.multiselect[0].value) == {"done-mpt", "live-infonce"}
    table = markdown_tables(app)[0]
    assert list(table.columns)[:6] == ["run", "loss", "best dev STS", "at step", "last dev STS", "drop from best"]
    assert "lr" not in table  # hyperparameters are in their own table, behind an expander
    row = table.set_index("run").loc["live-infonce"]
    # issue 14: live-infonce has been evaluated at step 0 only, the start: no best yet (best is after step 0)
    assert row["loss"] == "InfoNCE" and math.isnan(row["best dev STS"]) and row["dev STS at step 0"] == 10.0
    assert not app.dataframe  # folded: not drawn
    app.session_state["compare-hparams"] = True
    app.run()
    assert "lr" in app.dataframe[0].value
    assert len(charts(app)) == 2  # overlay and the alignment-uniformity plane
    overlay = json.loads(charts(app)[0].proto.spec)
    by_name = {t["name"]: t for t in overlay["data"]}
    assert by_name["live-infonce"]["line"]["color"] == loss_color("infonce")  # the loss's colour, not trace order
    assert by_name["done-mpt"]["line"]["color"] == loss_color("mpt")
    assert all("markers" in t["mode"] for t in overlay["data"])  # a one-point run stays visible
    next(s for s in app.selectbox if s.label == "Metric").select("grad_norm_z").run()
    next(t for t in app.toggle if t.label == "Log y axis").set_value(True).run()
    assert json.loads(charts(app)[0].proto.spec)["layout"]["yaxis"]["type"] == "log"
    app.slider[0].set_value(0.6).run()
    app.radio[0].set_value("wall time").run()
    assert not app.exception


def test_embeddings_base_vs_best_and_recolour_reuses_projections(app, ckpt_root):
    BEST = best_label(ckpt_root)
    open_page(app, "pages/3_Embeddings.py")
    boxes = {s.label: s.value for s in app.selectbox}
    assert boxes["Checkpoint A"] == "done-mpt · step 0 (base model)"
    assert boxes["Checkpoint B (optional)"] == BEST
    assert len(charts(app)) == 2 and len(markdown_tables(app)) == 2  # two maps, two neighbour lists
    neighbours = markdown_tables(app)[0]
    assert list(neighbours.columns) == ["sentence", "cosine"] and len(neighbours) == 8
    assert neighbours["cosine"].iloc[0] == pytest.approx(1.0, abs=1e-3)  # the typed sentence is in the set
    cached = projection.cache_info()
    colour = next(r for r in app.radio if r.label == "Colour")
    colour.set_value("cluster").run()
    assert not app.exception
    with_clusters = projection.cache_info()
    assert with_clusters <= cached + 2  # at most one k-means per checkpoint, no new projection
    next(r for r in app.radio if r.label == "Colour").set_value("gold score").run()
    next(c for c in app.checkbox).check().run()
    next(r for r in app.radio if r.label == "Colour").set_value("cluster").run()
    assert not app.exception and projection.cache_info() == with_clusters  # nothing recomputed


def test_embeddings_bad_path_is_a_message(app):
    open_page(app, "pages/3_Embeddings.py")
    next(s for s in app.selectbox if s.label == "Sentences").select("Pairs file path").run()
    app.text_input[0].input("/no/such/pairs.csv").run()
    assert any("no such file" in e.value for e in app.error) and not app.exception


def stsb_dev_spearman(checkpoint: Path, stsb_dir: Path) -> float:
    """Independent reference: scipy Spearman × 100 of the checkpoint's cosines on STS-B dev (each side encoded
    on its own, no deduplication)."""
    from scipy.stats import spearmanr

    from srl_explorer.data import read_pairs
    from srl_explorer.encoder import Encoder
    pairs = read_pairs(stsb_dir / "sts-dev.csv")
    enc = Encoder.from_pretrained(str(checkpoint))
    a, b = enc.encode(pairs.s1), enc.encode(pairs.s2)
    return float(spearmanr((a * b).sum(1), pairs.scores).statistic) * 100


def test_sts_evaluates_a_checkpoint_and_stores_results(app, ckpt_root, stsb_dir, monkeypatch):  # skips without STS-B
    BEST = best_label(ckpt_root)
    monkeypatch.setenv("SRL_DATA_DIR", str(stsb_dir))  # the page's default data folder
    open_page(app, "pages/4_STS.py")
    app.multiselect[0].set_value([BEST]).run()
    next(b for b in app.button if b.label == "Evaluate").click().run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value
    assert list(table["checkpoint"]) == [BEST] and list(table["split"]) == ["dev"]
    assert table["stsb"][0] == pytest.approx(round(stsb_dev_spearman(ckpt_root / "done-mpt" / "best", stsb_dir), 2),
                                             abs=0.011)
    assert len(charts(app)) == 1
    stored = rundir.read_json(ckpt_root / "done-mpt" / "sts_results.json")
    assert stored["best"]["split"] == "dev" and "stsb" in stored["best"]["tasks"]
    fresh = st_testing.AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)  # a new session reads it back
    fresh.run()
    open_page(fresh, "pages/4_STS.py")
    assert list(fresh.dataframe[0].value["checkpoint"]) == [BEST]


def test_similarity_scores_pasted_pairs(app):
    open_page(app, "pages/5_Similarity.py")
    app.text_area[0].input("sentence1,sentence2,score\na,a b,4\nc,d e f,1\ng h,g,3\n").run()
    assert not app.exception
    assert len(app.metric) == 3 and app.dataframe[0].value.shape == (3, 4)
    assert len(charts(app)) == 1
    app.text_area[0].input("text,label\nfoo,1\n").run()
    assert any("missing column(s) sentence1, sentence2" in e.value for e in app.error)
    app.text_area[0].input("sentence1,sentence2,score\na,b,nan\n").run()
    assert any("not finite" in e.value for e in app.error) and not app.exception


def test_ui_constants_match_the_package():
    from srl_explorer import encoder
    from srl_explorer.ui import common
    # DEFAULT_MODEL lives in srl_explorer/__init__ so that the UI helpers (and the Home page) need not import
    # torch; it must still name the packaged model the encoder loads.
    assert encoder.resolve_model(common.DEFAULT_MODEL) == encoder.default_model_path()
    probe = "import sys, srl_explorer.ui.common; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    heavy = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert heavy.stdout.strip() == "[]", heavy.stdout
    listed = {Path(p).name for p, _ in common.PAGES}
    assert {p.name for p in (ROOT / "pages").glob("*.py")} <= listed  # the sidebar links every page


def test_no_page_imports_torch_to_render():
    """Importing torch is 1.3-1.5 s of a cold page load on 2 cores: every page's imports are torch-free (the
    pages import it, through the encoder, only when they load a model), and the page setup that runs first is
    lighter still (no pandas, plotly or numpy), so the sidebar reaches the browser at once."""
    from srl_explorer.ui.page import page_imports
    modules = set(page_imports(ROOT))  # the modules the server loads at start-up (ui.page.lifespan)
    assert {"srl_explorer.ui.page", "srl_explorer.paper.dissipation", "srl_explorer.compare", "pandas"} <= modules
    probe = (f"import sys, importlib; [importlib.import_module(m) for m in {sorted(modules)!r}]; "
             "print(sorted({'torch', 'transformers', 'scipy', 'sklearn'} & set(sys.modules)))")
    heavy = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert heavy.stdout.strip() == "[]", heavy.stdout
    light = ("import sys, streamlit; before = set(sys.modules); import srl_explorer.ui.page; "
             "print(sorted({'torch', 'pandas', 'plotly', 'numpy'} & (set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", light], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("[]", "['numpy']"), out.stdout  # numpy only if streamlit did not load it


def test_long_runs_are_thinned_for_the_live_charts_but_keep_every_evaluation():
    from srl_explorer.ui.common import thin_records
    records = [{"step": i, "loss": 1.0 / (i + 1), **({"stsb_dev_spearman": 50.0} if i % 125 == 0 else {})}
               for i in range(6000)]
    thin = thin_records(records, max_points=1500)
    assert len(thin) <= 1500 + 6000 // 125 + 1
    assert [r["step"] for r in thin if "stsb_dev_spearman" in r] == list(range(0, 6000, 125))
    assert thin[-1]["step"] == 5999 and thin_records(records[:100]) == records[:100]


def test_the_start_up_work_waits_while_a_run_trains_on_a_small_machine(tmp_path, monkeypatch):
    """On a machine of few cores the speculative start-up work (UMAP compile, heavy imports, a model load)
    waits while a run trains, and starts at once when a page needs a model, or when the run ends."""
    import threading

    from srl_explorer.ui import page
    monkeypatch.setenv("SRL_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("SRL_UMAP_WARMUP", "0")
    monkeypatch.setattr(page.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(page, "RENDER_GRACE_S", 0.0)
    monkeypatch.setattr(page, "BUSY_RECHECK_S", 0.05)
    done = threading.Event()
    monkeypatch.setattr(page, "_preimport", done.set)
    first_page = threading.Thread(target=lambda: None)
    first_page.start()
    first_page.join()
    for unblock in ("a page needs a model", "the run ends"):
        monkeypatch.setattr(page, "_heavy_wanted", threading.Event())
        done.clear()
        with live_run_of(tmp_path, "training"):
            worker = threading.Thread(target=page._background_work, args=(first_page,), daemon=True)
            worker.start()
            assert not done.wait(0.5), "started while a run trains"
            if unblock == "a page needs a model":
                page._heavy_wanted.set()
                assert done.wait(5), unblock
        assert done.wait(5), unblock
        worker.join(5)
        shutil.rmtree(tmp_path / "training")
    monkeypatch.setattr(page.os, "cpu_count", lambda: 32)  # a big machine does not wait
    with live_run_of(tmp_path, "training"):
        assert not page._training_on_a_small_machine()


def test_model_loading_waits_for_the_background_imports(monkeypatch):
    """transformers' lazy attributes raced between the preimport thread and a page loading a model
    ("cannot import name 'AutoModel'"); loading now waits until the preimport is over."""
    import threading

    from srl_explorer.ui import page
    gate = threading.Event()
    t = threading.Thread(target=gate.wait, args=(30,), name="preimport", daemon=True)
    monkeypatch.setattr(page, "_preimport_thread", t)
    t.start()
    waiter = threading.Thread(target=page._wait_for_preimport)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # still waiting while the preimport runs
    gate.set()
    waiter.join(30)
    assert not waiter.is_alive() and not t.is_alive()


def test_app_encodes_on_every_core_unless_a_run_is_training(tmp_path, monkeypatch):
    import os

    import torch

    from srl_explorer.ui import page
    monkeypatch.delenv("SRL_APP_TORCH_THREADS", raising=False)
    monkeypatch.setenv("SRL_CHECKPOINTS", str(tmp_path))
    monkeypatch.setattr(page.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(page.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    before = torch.get_num_threads()
    try:
        page._torch_threads()
        assert torch.get_num_threads() == 4  # idle: every core
        live = tmp_path / "live"
        live.mkdir()
        rundir.atomic_write_json(live / "status.json", {"state": "running", "pid": os.getpid(), "step": 1})
        page._torch_threads()
        assert torch.get_num_threads() == 2  # a run is training: half, it keeps the rest
        rundir.atomic_write_json(live / "status.json", {"state": "finished", "pid": os.getpid(), "step": 1})
        monkeypatch.setattr(page.os, "getloadavg", lambda: (6.0, 6.0, 6.0))
        page._torch_threads()
        assert torch.get_num_threads() == 2  # overloaded machine: half
    finally:
        torch.set_num_threads(before)
