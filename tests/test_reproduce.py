"""The reproduce command (tiny model), the report, the claim verdicts and the Paper page."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from srl_explorer import paper, rundir
from srl_explorer.cli import main
from srl_explorer.config import TrainConfig
from srl_explorer.encoder import DEFAULT_MODEL
from srl_explorer.losses import LOSSES, dissipating_losses, loss_label
from srl_explorer.paper import RunMetrics, evaluate_claims, reproduce

from .conftest import SHARED_STSB, markdown_tables, needs_stsb

ROOT = Path(__file__).resolve().parents[1]
CHARTS = ("dev_sts", "grad_norm", "dissipation", "au_plane")
LOSSES2 = ["infonce", "align_uniform"]


def tiny_args(tiny_model, out, *extra) -> list[str]:
    return ["reproduce", "--model", tiny_model, "--losses", *LOSSES2, "--max-steps", "3", "--batch-size", "8",
            "--eval-every", "2", "--train-file", "sample", "--dev-file", "sample", "--output-dir", str(out),
            "--seeds", "1", *extra]


@pytest.fixture(scope="module")
def repro(tiny_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("checkpoints") / "repro-tiny"
    assert main(tiny_args(tiny_model, out)) == 0
    return out


# --------------------------------------------------------------------------- the command
def test_report_and_every_plot_file_exist(repro):
    md = (repro / "report.md").read_text()
    for key in CHARTS:
        png, html = repro / f"{key}.png", repro / f"{key}.html"
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", key
        assert html.stat().st_size > 1000 and "plotly" in html.read_text(), key
        assert f"({key}.png)" in md and f"({key}.html)" in md
    assert (repro / "plotly.min.js").stat().st_size > 100_000  # offline: plotly.js sits beside the HTML
    assert "| InfoNCE | finished | 3 |" in md and "| A&U | finished | 3 |" in md
    assert md.count("Verdict: **") == 3


def test_runs_share_everything_but_the_loss(repro):
    manifest = json.loads((repro / "reproduction.json").read_text())
    assert manifest["state"] == "finished" and manifest["losses"] == LOSSES2
    assert manifest["command"].startswith("python -m srl_explorer reproduce --preset cpu-small")
    configs = {n: json.loads((repro / n / "config.json").read_text()) for n in LOSSES2}
    assert {n: c.pop("loss") for n, c in configs.items()} == {n: n for n in LOSSES2}
    for c in configs.values():
        c.pop("output_dir")
    assert configs["infonce"] == configs["align_uniform"]
    assert configs["infonce"]["max_steps"] == 3 and configs["infonce"]["seed"] == 42
    for n in LOSSES2:
        assert rundir.read_status(repro / n)["state"] == "finished"
        assert manifest["runs"][n]["state"] == "finished"
        assert [r["step"] for r in rundir.read_metrics(repro / n / "metrics.jsonl")[0]] == [0, 1, 2, 3]


def test_reproduction_runs_are_listed_as_normal_runs(repro):
    listed = {r.name: r.path for r in rundir.list_runs(repro.parent)}
    assert listed == {f"repro-tiny/{n}": repro / n for n in LOSSES2}
    assert {r.name for r in rundir.list_runs(repro)} == set(LOSSES2)


def test_rerun_skips_finished_losses_and_refuses_other_settings(repro, tiny_model, capsys):
    before = (repro / "infonce" / "metrics.jsonl").read_bytes()
    assert main(tiny_args(tiny_model, repro)) == 0
    manifest = json.loads((repro / "reproduction.json").read_text())
    assert all(manifest["runs"][n].get("skipped") for n in LOSSES2)
    assert (repro / "infonce" / "metrics.jsonl").read_bytes() == before
    capsys.readouterr()
    assert main(tiny_args(tiny_model, repro, "--seed", "7")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "other settings" in err and err.count("\n") == 1


def test_report_only_rewrites_the_report(repro):
    (repro / "report.md").unlink()
    assert main(["reproduce", "--report-only", "--output-dir", str(repro)]) == 0
    assert (repro / "report.md").stat().st_size > 0


@pytest.mark.parametrize("args,message", [
    (["--train-file", "/nonexistent/corpus.txt"], "no such file"),
    (["--dev-file", "/nonexistent/dev.tsv"], "no such file"),
    (["--max-steps", "0"], "--max-steps must be at least 1"),
    (["--report-only"], "not a reproduction directory"),
    (["--threads", "0"], "--threads must be at least 1"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "repro"
    assert main(["reproduce", "--output-dir", str(out), "--losses", "infonce", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_paper_preset_is_the_papers_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no wiki1m_for_simcse.txt here
    assert main(["reproduce", "--preset", "paper", "--output-dir", str(tmp_path / "r")]) == 2
    assert "wiki1m" in capsys.readouterr().err
    cfg = reproduce.preset_config("paper", train_file="wiki1m_for_simcse.txt")
    assert (cfg.model, cfg.pooler, cfg.mlp_only_train) == ("bert-base-uncased", "cls", True)
    assert (cfg.batch_size, cfg.lr, cfg.max_seq_length, cfg.epochs, cfg.max_steps, cfg.eval_every) == \
        (64, 3e-5, 32, 1.0, None, 125)
    (tmp_path / "wiki1m_for_simcse.txt").write_text("a sentence\n")
    assert reproduce.preset_config("paper").train_file == str(tmp_path / "wiki1m_for_simcse.txt")


def test_cpu_small_preset():
    cfg = reproduce.preset_config("cpu-small", max_steps=7)
    # issue 14: SimCSE's start (cls + MLP in training only), no longer the sentence-tuned avg pooling
    assert (cfg.model, cfg.pooler, cfg.mlp_only_train, cfg.batch_size, cfg.lr, cfg.max_seq_length, cfg.max_steps) == \
        (DEFAULT_MODEL, "cls", True, 64, 3e-5, 32, 7)
    assert reproduce.CPU_SMALL_STEPS % cfg.eval_every == 0  # the last step is also an evaluation
    tuned = reproduce.preset_config("cpu-tuned")
    assert (tuned.model, tuned.pooler, tuned.mlp_only_train, tuned.lr) == (DEFAULT_MODEL, "avg", False, 3e-5)
    assert reproduce.PRESET_SEEDS == {"cpu-small": 3, "cpu-tuned": 3, "paper": 1}
    # the Train page and `train` start where cpu-small does
    default = TrainConfig()
    assert all(getattr(default, k) == getattr(cfg, k) for k in ("model", "pooler", "mlp_only_train", "batch_size",
                                                                "lr", "max_seq_length"))
    with pytest.raises(ValueError, match="unknown preset"):
        reproduce.preset_config("huge")


@needs_stsb
def test_cpu_small_uses_stsb_when_present(monkeypatch):
    monkeypatch.setenv("SRL_DATA_DIR", str(SHARED_STSB))
    cfg = reproduce.preset_config("cpu-small")
    assert Path(cfg.train_file).resolve() == (SHARED_STSB / "sts-train.csv").resolve()
    assert Path(cfg.dev_file).resolve() == (SHARED_STSB / "sts-dev.csv").resolve()


# --------------------------------------------------------------------------- verdicts
def fake_run(loss: str, sts: dict[int, float], grad: list[float] | None = None, pos_prob: float | None = None):
    """A run's metric records: dev STS at the given steps, one grad_norm_z per step from step 1."""
    records = [{"step": s, "stsb_dev_spearman": v, "dev_align": 0.2, "dev_uniform": -2.0} for s, v in sts.items()]
    for i, g in enumerate(grad or [], 1):
        records.append({"step": i, "grad_norm_z": g, **({"pos_prob": pos_prob} if pos_prob is not None else {})})
    records.sort(key=lambda r: r["step"])
    return RunMetrics(loss, loss, Path(loss), records, "finished")


def test_claims_agree_when_the_runs_behave_as_in_the_paper():
    fading = [1.0] * 5 + [0.5] * 10 + [0.1] * 5
    flat = [1.0] * 20
    metrics = [fake_run("infonce", {0: 60, 10: 75, 20: 76}, fading, pos_prob=0.9),
               fake_run("align_uniform", {0: 60, 10: 72, 20: 68}, flat),
               *[fake_run(n, {0: 60, 20: 76.2 + i}) for i, n in enumerate(dissipating_losses())]]
    c1, c2, c3 = evaluate_claims(metrics)
    assert (c1.verdict, c2.verdict, c3.verdict) == ("agrees", "agrees", "agrees")
    assert c1.numbers["gap"] == pytest.approx(4.0) and c1.numbers["au_drop"] == pytest.approx(4.0)
    assert c2.numbers["infonce_ratio"] == pytest.approx(0.1) and c2.numbers["au_ratio"] == pytest.approx(1.0)
    assert c3.numbers["diffs"]["mat"] == pytest.approx(3.2)
    assert "4.00 points below" in c1.evidence


def test_claims_disagree_when_the_runs_do_not():
    metrics = [fake_run("infonce", {0: 80, 20: 70}, [1.0] * 20, pos_prob=0.5),
               fake_run("align_uniform", {0: 80, 20: 79.9}, [1.0] * 5 + [0.1] * 15),
               fake_run("mpt", {0: 80, 20: 60}), fake_run("met", {0: 80, 20: 60})]
    c1, c2, c3 = evaluate_claims(metrics)
    assert (c1.verdict, c2.verdict, c3.verdict) == ("disagrees", "disagrees", "disagrees")


def test_peak_at_step_zero_and_dissipated_start_are_partial():
    metrics = [fake_run("infonce", {0: 85, 20: 84.9}, [1e-3] * 20, pos_prob=0.999),
               fake_run("align_uniform", {0: 85, 10: 80, 20: 78}, [1.0] * 20),
               fake_run("mpt", {0: 85, 20: 84.8}), fake_run("mat", {0: 85, 20: 80})]
    c1, c2, c3 = evaluate_claims(metrics)
    assert c1.verdict == "partly agrees" and "starting model" in c1.evidence
    # issue 14: InfoNCE did not fade and A&U did not fade less (a tie): the conjunction disagrees (was "partly")
    assert c2.verdict == "disagrees" and "already dissipated" in c2.evidence
    assert c3.verdict == "partly agrees" and c3.numbers["never_active"] == []
    still = fake_run("dcl_hinge", {0: 85, 20: 85})
    still.records += [{"step": i, "active_frac": 0.0} for i in (1, 2, 3)]
    c3 = evaluate_claims([*metrics, still])[2]
    assert c3.numbers["never_active"] == ["dcl_hinge"] and "did not change" in c3.evidence


def test_a_start_that_dissipates_within_the_first_window_is_not_called_dissipated():
    """p_pos 0.85 at step 1 and 0.99 from step 2: the first 20 % of steps has a median 1 - p_pos of 0.01,
    but the start (step 1) was not dissipated, and the evidence says so with the step-1 value."""
    inf = fake_run("infonce", {0: 80, 20: 84}, [1.0] * 20, pos_prob=0.99)
    next(r for r in inf.records if r["step"] == 1)["pos_prob"] = 0.85
    c2 = evaluate_claims([inf, fake_run("align_uniform", {0: 80, 20: 83}, [1.0] * 20)])[1]
    assert "already dissipated" not in c2.evidence
    assert "1 − p_pos: 0.15 at step 1, median 0.01 over the first 20% of steps and 0.01 over the last" in c2.evidence


def seeded(loss: str, bests: list[float], grads: list[list[float]] | None = None) -> list[RunMetrics]:
    """One run per seed: best dev STS ``b`` at step 10, then 2 points lower for A&U (it overfits), else b - 1."""
    runs = []
    for k, b in enumerate(bests):
        r = fake_run(loss, {0: 60, 10: b, 20: b - (2 if loss == "align_uniform" else 1)}, grads[k] if grads else None)
        runs.append(RunMetrics(loss if k == 0 else f"{loss} · seed {42 + k}", loss, r.path, r.records, "finished",
                               42 + k))
    return runs


def test_a_difference_within_the_seed_spread_is_inconclusive():
    fading, flat = [1.0] * 5 + [0.3] * 15, [1.0] * 20
    tight = [*seeded("infonce", [76.0, 76.2, 75.8], [fading] * 3), *seeded("align_uniform", [72.0, 72.3, 71.7],
                                                                          [flat] * 3)]
    c1 = evaluate_claims(tight)[0]
    assert c1.numbers["gap"] == pytest.approx(4.0) and "over 3 seeds" in c1.evidence and "76.00 ± 0.20" in c1.evidence
    noisy = [*seeded("infonce", [76.0, 80.0, 72.0], [fading] * 3), *seeded("align_uniform", [74.0, 70.0, 78.0],
                                                                          [flat] * 3)]
    c1, c2, _ = evaluate_claims(noisy)
    assert c1.verdict == "inconclusive" and c1.numbers["threshold"] > abs(c1.numbers["gap"])
    assert c2.verdict == "agrees"  # the fade ratios are the same in every seed: no spread
    grads = [[1.0] * 5 + [0.3] * 15, [1.0] * 5 + [1.2] * 15, [1.0] * 5 + [0.5] * 15]
    c2 = evaluate_claims([*seeded("infonce", [76] * 3, grads), *seeded("align_uniform", [72] * 3, grads)])[1]
    assert c2.verdict == "inconclusive" and c2.numbers["infonce_ratio_sd"] > 0.3


def test_an_all_zero_run_did_not_train_and_is_never_a_tie():
    from srl_explorer.runstats import did_not_train
    zero = [{"step": 0, "stsb_dev_spearman": 80.0}, *({"step": s, "loss": 0.0, "grad_norm": 0.0, "active_frac": 0.0}
                                                       for s in (1, 2, 3)), {"step": 3, "stsb_dev_spearman": 80.0}]
    assert did_not_train(zero) and not did_not_train(zero[:1])  # nothing logged yet: nothing to say
    assert not did_not_train([*zero, {"step": 4, "loss": 0.3, "grad_norm": 0.1}])
    inf = fake_run("infonce", {0: 80, 3: 80}, [1.0, 0.5, 0.2])
    idle = RunMetrics("mpt", "mpt", Path("mpt"), zero, "finished")
    c3 = evaluate_claims([inf, idle])[2]
    assert c3.verdict == "not enough evidence" and "did not train" in c3.evidence
    assert c3.numbers["did_not_train"] == ["mpt"]
    row = paper.summarize_run(idle)
    assert row["trained"] is False and row["best"] == 80.0  # the numbers stay visible, flagged
    assert "**did not train**" in paper.report.table_markdown([row])


def test_no_runs_is_not_enough_evidence():
    assert [c.verdict for c in evaluate_claims([])] == ["not enough evidence"] * 3


# --------------------------------------------------------------------------- the Paper page
@pytest.fixture
def paper_page(repro, monkeypatch):
    st_testing = pytest.importorskip("streamlit.testing.v1")
    monkeypatch.setenv("SRL_CHECKPOINTS", str(repro.parent))
    monkeypatch.chdir(ROOT)
    at = st_testing.AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    return at.switch_page("pages/6_Paper.py")


def explorer_table(at):
    """The gradient-dissipation explorer's table (a Markdown table: the one with a "why" column)."""
    return next(t for t in markdown_tables(at) if "why" in t)


def test_paper_page_shows_claims_verdicts_and_explorer(paper_page):
    at = paper_page.run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["Claim 1", "Claim 2", "Claim 3"]
    assert at.selectbox[0].value.name == "repro-tiny"
    text = " ".join(m.value for m in at.markdown)
    for claim in paper.CLAIMS.values():
        assert claim in text
    boxes = [b.value for kind in ("success", "warning", "error", "info") for b in getattr(at, kind)]
    assert sum("Evidence: **" in b for b in boxes) == 3
    assert len(at.dataframe[0].value) == 2  # the summary table: one row per loss
    explorer = explorer_table(at)
    assert list(explorer["loss"]) == [loss_label(n) for n in LOSSES]
    assert "starting model" in text.lower()


def test_paper_page_sliders_and_picked_runs(paper_page):
    at = paper_page.run()
    cos = [s for s in at.slider if s.label == "cosine of the positive pair"][0]
    cos.set_value(0.95).run()
    assert not at.exception, at.exception
    table = explorer_table(at).set_index("loss")
    assert table.loc["MPT", "pull"] == 0 and table.loc["DCL", "pull"] == pytest.approx(20.0)
    [s for s in at.slider if s.label.startswith("τ")][0].set_value(0.1).run()
    assert explorer_table(at).set_index("loss").loc["DCL", "pull"] == pytest.approx(10.0)
    at.radio[0].set_value("runs I pick").run()
    at.multiselect[0].set_value(["repro-tiny/infonce", "repro-tiny/align_uniform"]).run()
    assert not at.exception, at.exception
    assert set(at.dataframe[0].value["label"]) == {"repro-tiny/infonce", "repro-tiny/align_uniform"}


def test_paper_page_without_runs(tmp_path, monkeypatch):
    st_testing = pytest.importorskip("streamlit.testing.v1")
    monkeypatch.setenv("SRL_CHECKPOINTS", str(tmp_path))
    monkeypatch.chdir(ROOT)
    at = st_testing.AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/6_Paper.py").run()
    assert not at.exception, at.exception
    assert any("No reproduction yet" in i.value for i in at.info)
    assert sum("not enough evidence" in i.value for i in at.info) == 3


# --------------------------------------------------------------------------- seeds, shared start, SentEval table
FIXTURES = Path(__file__).parent / "fixtures" / "senteval"


@pytest.fixture(scope="module")
def seeded_repro(tiny_model, tmp_path_factory):
    """2 losses (given comma-separated) x 2 seeds, with the SentEval table; counts dev evaluations."""
    from srl_explorer.dev import DevEvaluator
    out = tmp_path_factory.mktemp("checkpoints") / "repro-seeds"
    calls, original = [], DevEvaluator.__call__

    def counting(self, encoder):
        calls.append(1)
        return original(self, encoder)

    mp = pytest.MonkeyPatch()
    mp.setattr(DevEvaluator, "__call__", counting)
    try:
        rc = main(["reproduce", "--model", tiny_model, "--losses", "infonce,mpt", "--seeds", "2", "--max-steps", "2",
                   "--batch-size", "8", "--eval-every", "2", "--train-file", "sample", "--dev-file", "sample",
                   "--senteval-dir", str(FIXTURES), "--output-dir", str(out)])
    finally:
        mp.undo()
    assert rc == 0
    return out, len(calls)


def test_seeds_run_every_loss_and_share_one_start(seeded_repro, capsys):
    out, n_evals = seeded_repro
    manifest = json.loads((out / "reproduction.json").read_text())
    keys = ["infonce-seed42", "mpt-seed42", "infonce-seed43", "mpt-seed43"]
    assert manifest["losses"] == ["infonce", "mpt"] and manifest["seeds"] == [42, 43]
    assert list(manifest["runs"]) == keys and all(manifest["runs"][k]["state"] == "finished" for k in keys)
    assert [json.loads((out / k / "config.json").read_text())["seed"] for k in keys] == [42, 42, 43, 43]
    starts = [rundir.read_metrics(out / k / "metrics.jsonl")[0][0] for k in keys]
    assert all(s["step"] == 0 and "stsb_dev_spearman" in s for s in starts)
    assert len({json.dumps({k: v for k, v in s.items() if k != "lr"}, sort_keys=True) for s in starts}) == 1
    assert n_evals == 1 + len(keys)  # the start once, then each run's evaluation at its last step
    md = (out / "report.md").read_text()
    assert "## Results over seeds" in md and "| InfoNCE | 2 |" in md and " ± " in md
    first = [rundir.read_metrics(out / k / "metrics.jsonl")[0][1] for k in ("mpt-seed42", "mpt-seed43")]
    assert f"| active_frac {paper.claims.stat(r['active_frac'] for r in first).fmt('.3f')} |" in md  # at step 1
    assert [m.seed for m in paper.load_reproduction(out)] == [42, 42, 43, 43]
    per_seed = {seed: sum(manifest["runs"][f"{loss}-seed{seed}"]["seconds"] for loss in ("infonce", "mpt")) / 60
                for seed in (42, 43)}
    assert f"- wall time per seed (the sum of its runs): seed 42: {per_seed[42]:.1f} min, " \
           f"seed 43: {per_seed[43]:.1f} min" in md


def test_senteval_table_uses_the_eval_code_on_each_best_checkpoint(seeded_repro):
    from srl_explorer.evaluation import TASKS, evaluate_model, load_run_results
    out, _ = seeded_repro
    md = (out / "report.md").read_text()
    table = md.split("## The paper's main table")[1].split("##")[0]
    assert "| loss | " + " | ".join(TASKS) + " | avg |" in table and paper.SENTEVAL_HINT not in md
    stored = load_run_results(out / "mpt-seed43")["best"]
    assert set(stored["tasks"]) == set(TASKS) and stored["split"] == "test"
    again = evaluate_model(str(out / "mpt-seed43" / "best"), None, "test", FIXTURES)  # the same code as `eval`
    assert again["avg"] == pytest.approx(stored["avg"])
    per_seed = [load_run_results(out / f"mpt-seed{s}")["best"]["avg"] for s in (42, 43)]
    row = next(line for line in table.splitlines() if line.startswith("| MPT |"))
    assert row.endswith(f"| {paper.claims.stat(per_seed).fmt()} |")


def test_without_senteval_the_report_says_how_to_get_the_table(repro):
    assert paper.SENTEVAL_HINT in (repro / "report.md").read_text()


def test_losses_accept_commas_and_spaces_and_refuse_unknown_names(capsys):
    from srl_explorer.cli import build_parser
    parse = build_parser().parse_args
    assert parse(["reproduce", "--losses", "infonce,align_uniform"]).losses == ["infonce", "align_uniform"]
    assert parse(["reproduce", "--losses", "infonce", "mpt,met"]).losses == ["infonce", "mpt", "met"]
    assert parse(["reproduce"]).losses == list(LOSSES)
    with pytest.raises(SystemExit):
        parse(["reproduce", "--losses", "infonce,nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_progress_line_names_loss_seed_step_and_the_time_left(seeded_repro, capsys):
    line = reproduce.ProgressLine(n_runs=4)
    line.begin(1, "mpt", 42, Path("/nonexistent"))
    line.t0 -= 10.0  # 10 s spent so far
    for step in (0, 1, 2):
        line.record({"step": step})
    text = capsys.readouterr().out.strip().splitlines()[-1]
    assert text.startswith("[reproduce] mpt · seed 42 (run 2/4) · step 2/2 · about ") and text.endswith("left in total")


def test_report_and_paper_summaries_take_the_best_after_step_0():
    """The start scores highest: the summary's best is the best evaluation after training began, and the
    report shows the start in its own column (issue 14: one definition of best)."""
    run = fake_run("infonce", {0: 92.4, 10: 90.0, 20: 91.0})
    row = paper.summarize_run(run)
    assert (row["start"], row["best"], row["best_step"], row["last"], row["drop"]) == (92.4, 91.0, 20, 91.0, 0.0)
    assert "| InfoNCE | finished | 20 | 92.40 | 91.00 (20) | 91.00 |" in paper.report.table_markdown([row])
    [stats] = paper.loss_table([run])
    assert (stats["start"].mean, stats["best"].mean, stats["best_steps"]) == (92.4, 91.0, [20])
