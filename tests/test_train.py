"""The trainer end to end with the tiny BERT: metric stream, checkpoints, status, resume, NaN, stop."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.stats import spearmanr
from transformers import AutoModel

from srl_explorer import rundir
from srl_explorer.cli import main
from srl_explorer.config import TrainConfig
from srl_explorer.losses import LOSSES
from srl_explorer.training import TrainingError, batch_indices, linear_schedule, train

from .conftest import ROOT, needs_stsb

STEP_FIELDS = {"step", "elapsed_s", "lr", "loss", "loss_align", "loss_uniform", "grad_norm", "grad_norm_z",
               "grad_norm_align", "grad_norm_uniform", "align", "uniform"}
EVAL_FIELDS = {"stsb_dev_spearman", "dev_align", "dev_uniform"}


def tiny_cfg(tiny_model, out, **kw) -> TrainConfig:
    base = dict(model=tiny_model, max_steps=3, batch_size=8, eval_every=2, eval_batch_size=64,
                output_dir=str(out), max_train_sentences=200)
    return TrainConfig(**{**base, **kw})


def records(run_dir) -> list[dict]:
    return rundir.read_metrics(run_dir / "metrics.jsonl")[0]


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_trains_and_writes_every_field(tiny_model, tmp_path, loss):
    run = train(tiny_cfg(tiny_model, tmp_path / loss, loss=loss))
    recs = records(run)
    assert [r["step"] for r in recs] == [0, 1, 2, 3]
    assert EVAL_FIELDS <= set(recs[0])
    for r in recs[1:]:
        assert STEP_FIELDS <= set(r), STEP_FIELDS - set(r)
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float))
        if loss in ("infonce", "dcl", "dcl_hinge"):
            assert 0 < r["pos_prob"] < 1
        if loss in ("dcl_hinge", "mpt", "met", "mat"):
            assert 0 <= r["active_frac"] <= 1
    assert EVAL_FIELDS <= set(recs[2]) and EVAL_FIELDS <= set(recs[3])  # eval_every=2 and the end
    status = rundir.read_status(run)
    assert status["state"] == "finished" and status["step"] == 3
    # issue 14: best is over the evaluations after training began (step > 0), never the start
    assert status["best"] == pytest.approx(max(r["stsb_dev_spearman"] for r in recs[1:] if "stsb_dev_spearman" in r))
    assert status["best_step"] > 0 and status["start"] == pytest.approx(recs[0]["stsb_dev_spearman"])
    for ckpt in ("best", "final"):
        AutoModel.from_pretrained(run / ckpt)
    assert not (run / "last").exists()  # --keep best,final: a finished run drops its resumable checkpoint
    assert json.loads((run / "config.json").read_text())["loss"] == loss


def test_logged_gradient_norms_are_consistent(tiny_model, tmp_path):
    run = train(tiny_cfg(tiny_model, tmp_path / "r", loss="align_uniform", lam=0.5))
    for r in records(run)[1:]:
        # g_z = 0.5 g_align + 0.5 g_uniform, and the logged parts are already weighted
        assert r["grad_norm_z"] <= r["grad_norm_align"] + r["grad_norm_uniform"] + 1e-6
        assert r["loss"] == pytest.approx(0.5 * r["loss_align"] + 0.5 * r["loss_uniform"], rel=1e-5)


def test_best_is_never_the_starting_model(tiny_model, tmp_path, monkeypatch):
    """The start scores highest (a dev metric that falls with every step): status, ``best/`` and the records
    still agree that *best* is the best evaluation after step 0."""
    from srl_explorer.dev import DevEvaluator
    calls = []

    def falling(self, encoder):
        calls.append(1)
        return {"stsb_dev_spearman": 90.0 - 10 * len(calls), "dev_align": 0.1, "dev_uniform": -1.0}

    monkeypatch.setattr(DevEvaluator, "__call__", falling)
    run = train(tiny_cfg(tiny_model, tmp_path / "r", max_steps=4, eval_every=2))
    status = rundir.read_status(run)
    assert [r["stsb_dev_spearman"] for r in records(run) if "stsb_dev_spearman" in r] == [80.0, 70.0, 60.0]
    assert (status["start"], status["best"], status["best_step"]) == (80.0, 70.0, 2)
    card = (run / "best" / "README.md").read_text()
    assert "**Steps:** 2 of 4" in card and "70.00" in card


def test_schedule_and_batches_are_pure_functions_of_the_step():
    assert linear_schedule(0, 0, 10) == 1.0 and linear_schedule(5, 0, 10) == 0.5 and linear_schedule(10, 0, 10) == 0
    assert linear_schedule(0, 2, 10) == 0.5
    a, b = batch_indices(7, 100, 16, 1), batch_indices(7, 100, 16, 1)
    assert torch.equal(a, b) and len(set(a.tolist())) == 16
    epoch = torch.cat([batch_indices(s, 100, 16, 1) for s in range(6)])
    assert len(set(epoch.tolist())) == 96  # no repeats within an epoch


def test_resume_continues_exactly(tiny_model, tmp_path):
    full = train(tiny_cfg(tiny_model, tmp_path / "full", max_steps=6, save_every=3, eval_every=3))
    paused = train(tiny_cfg(tiny_model, tmp_path / "paused", max_steps=6, save_every=3, eval_every=3, stop_after=4))
    assert rundir.read_status(paused)["state"] == "cancelled"
    assert rundir.read_status(paused)["step"] == 4
    assert main(["train", "--resume", str(paused)]) == 0
    assert rundir.read_status(paused)["state"] == "finished"
    steps = [r["step"] for r in records(paused)]
    assert steps == [0, 1, 2, 3, 4, 5, 6]  # the step count carries on, no duplicates
    a, b = load_file(str(full / "final" / "model.safetensors")), load_file(str(paused / "final" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)
    la = [r["loss"] for r in records(full)[1:]]
    lb = [r["loss"] for r in records(paused)[1:]]
    np.testing.assert_allclose(la, lb, rtol=1e-5)


def test_nan_loss_fails_the_run_without_a_nan_checkpoint(tiny_model, tmp_path):
    from srl_explorer.encoder import Encoder
    enc = Encoder.from_pretrained(tiny_model)
    with torch.no_grad():
        enc.backbone.embeddings.LayerNorm.weight[0] = float("nan")
    enc.save(tmp_path / "nan-model")
    with pytest.raises(TrainingError, match="non-finite loss or gradient at step 1: loss=nan"):
        train(tiny_cfg(str(tmp_path / "nan-model"), tmp_path / "run"))
    status = rundir.read_status(tmp_path / "run")
    assert status["state"] == "failed" and "step 1" in status["error"] and "loss=nan" in status["error"]
    assert rundir.checkpoints_of(tmp_path / "run") == {}
    assert all(isinstance(r, dict) for r in records(tmp_path / "run"))


def test_stop_request_cancels_cleanly(tiny_model, tmp_path):
    import threading
    import time
    run_dir = tmp_path / "run"

    def stopper():
        while not (run_dir / "metrics.jsonl").exists():
            time.sleep(0.05)
        rundir.request_stop(run_dir)

    threading.Thread(target=stopper, daemon=True).start()
    train(tiny_cfg(tiny_model, run_dir, max_steps=500, eval_every=1000))
    status = rundir.read_status(run_dir)
    assert status["state"] == "cancelled" and status["step"] < 500
    assert (run_dir / "last" / "trainer_state.pt").exists()


@pytest.mark.parametrize("argv, message", [
    (["--loss", "nope"], "invalid choice"),
    (["--max-steps", "0"], "--max-steps must be at least 1"),
    (["--batch-size", "1"], "--batch-size must be at least 2"),
])
def test_cli_rejects_bad_arguments(tiny_model, tmp_path, capsys, argv, message):
    try:
        code = main(["train", "--model", tiny_model, "--output-dir", str(tmp_path / "r"), *argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@needs_stsb
@pytest.mark.slow
def test_step0_spearman_matches_independent_scipy(stsb_dir, tmp_path):
    """Packaged MiniLM, avg pooling: logged step-0 STS-B dev Spearman vs plain transformers + scipy
    (sentences whole, up to the model's limit, as the dev evaluator encodes them)."""
    from transformers import AutoTokenizer

    from srl_explorer.data import read_pairs
    from srl_explorer.encoder import default_model_path
    run = train(TrainConfig(train_file=str(stsb_dir / "sts-train.csv"), dev_file=str(stsb_dir / "sts-dev.csv"),
                            max_steps=1, batch_size=4, eval_every=100, output_dir=str(tmp_path / "r"),
                            max_train_sentences=64, pooler="avg", mlp_only_train=False))
    logged = records(run)[0]["stsb_dev_spearman"]
    pairs = read_pairs(stsb_dir / "sts-dev.csv")
    tok = AutoTokenizer.from_pretrained(default_model_path())
    model = AutoModel.from_pretrained(default_model_path()).eval()
    limit = min(512, model.config.max_position_embeddings, tok.model_max_length)

    def embed(sents):
        out = []
        with torch.no_grad():
            for i in range(0, len(sents), 64):
                b = tok(sents[i:i + 64], padding=True, truncation=True, max_length=limit, return_tensors="pt")
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).float()
                out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1))
        return torch.cat(out)
    cos = (embed(pairs.s1) * embed(pairs.s2)).sum(1).numpy()
    expected = spearmanr(cos, pairs.scores).statistic * 100
    assert logged == pytest.approx(expected, abs=0.01)


def test_log_every_thins_the_stream_but_keeps_evals_and_saves(tiny_model, tmp_path):
    run = train(tiny_cfg(tiny_model, tmp_path / "r", max_steps=7, log_every=3, eval_every=2, save_every=5))
    recs = records(run)
    assert [r["step"] for r in recs] == [0, 2, 3, 4, 5, 6, 7]  # logs, evals (every 2), saves (5), the end
    assert all(EVAL_FIELDS <= set(r) for r in recs if r["step"] in (2, 4, 6, 7))


def test_a_new_config_field_reaches_help_page_and_launched_command(monkeypatch, tmp_path):
    """Adding a field to TrainConfig is one line: it shows in ``train --help``, on the Train page (with its
    help) and in the app's launched command, with no other edit."""
    from dataclasses import dataclass

    from streamlit.testing.v1 import AppTest

    from srl_explorer import config, jobs
    from srl_explorer.cli import build_parser

    @dataclass
    class WithWarmupRatio(TrainConfig):
        warmup_ratio: float = config.opt(0.0, "fraction of the steps spent in linear warm-up", config.SCHEDULE)

    monkeypatch.setattr(config, "TrainConfig", WithWarmupRatio)
    assert "--warmup-ratio" in build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    args = build_parser().parse_args(["train", "--warmup-ratio", "0.1"])
    assert config.from_args(args).warmup_ratio == 0.1
    assert config.help_texts()["warmup_ratio"] == "fraction of the steps spent in linear warm-up"
    command = jobs.cli_command({"loss": "mpt", "warmup_ratio": 0.1})
    assert command == "python -m srl_explorer train --loss mpt --warmup-ratio 0.1"
    assert "warmup_ratio" not in jobs.cli_command({"loss": "mpt"})  # absent values stay out

    monkeypatch.setenv("SRL_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("SRL_UMAP_WARMUP", "0")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/1_Train.py").run()
    assert not at.exception, at.exception
    box = next(w for w in at.number_input if w.label == "warmup ratio")
    assert box.help == "fraction of the steps spent in linear warm-up"
    box.set_value(0.25).run()
    assert any("--warmup-ratio 0.25" in c.value for c in at.code)
