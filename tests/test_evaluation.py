"""STS evaluation suite: SentEval-format fixtures with known Spearman values, sources, aggregation, errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from srl_explorer.cli import main
from srl_explorer.evaluation import (TASKS, evaluate_model, format_table, load_run_results, load_task, parse_tasks,
                                     score_tasks)

# Each sentence maps to a fixed 2-D direction, so cosines (and thus Spearman values) are known by hand.
ANGLE = {f"s{i}": i * 10.0 for i in range(19)}


def fake_embed(sentences):
    a = np.radians([ANGLE[s] for s in sentences])
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def cos(a, b):
    return float(np.cos(np.radians(ANGLE[a] - ANGLE[b])))


def write_sts_year(root: Path, folder: str, subsets: dict[str, list[tuple[str, str, str]]]) -> None:
    d = root / "STS" / folder
    d.mkdir(parents=True)
    for name, rows in subsets.items():
        if rows is None:  # gold only, input missing (like STS13 SMT)
            (d / f"STS.gs.{name}.txt").write_text("1\n2\n")
            continue
        (d / f"STS.input.{name}.txt").write_text("".join(f"{a}\t{b}\n" for a, b, _ in rows))
        (d / f"STS.gs.{name}.txt").write_text("".join(f"{g}\n" for _, _, g in rows))


@pytest.fixture
def senteval(tmp_path) -> Path:
    # STS13 with SentEval's subset names: FNWN (one empty gold line), headlines, SMT missing its input
    write_sts_year(tmp_path, "STS13-en-test", {
        "FNWN": [("s0", "s1", "5"), ("s0", "s9", "0"), ("s0", "s3", ""), ("s0", "s5", "2")],
        "headlines": [("s2", "s4", "1.5"), ("s2", "s8", "0.5"), ("s2", "s6", "1.0")],
        "SMT": None,
    })
    sb = tmp_path / "STS" / "STSBenchmark"
    sb.mkdir(parents=True)
    rows = [("s0", "s1", 5.0), ("s0", "s4", 3.2), ("s0", "s8", 0.4), ("s3", "s5", 4.1)]
    for split in ("dev", "test"):
        (sb / f"sts-{split}.csv").write_text("".join(
            f"main-captions\tMSRvid\t2012test\t{i:04d}\t{g}\t{a}\t{b}\n" for i, (a, b, g) in enumerate(rows)))
    (tmp_path / "SICK").mkdir()
    (tmp_path / "SICK" / "SICK_test_annotated.txt").write_text(
        "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
        "1\ts0\ts2\t4.5\tENTAILMENT\n2\ts0\ts7\t1.0\tNEUTRAL\n3\ts1\ts3\t3.0\tNEUTRAL\n")
    return tmp_path


def test_senteval_sts_year_skips_empty_gold_and_missing_input(senteval):
    task = load_task("sts13", data_dir=senteval)
    assert list(task.subsets) == ["FNWN", "headlines"]  # SMT has no input file
    assert task.subsets["FNWN"].s2 == ["s1", "s9", "s5"]  # the empty gold line is skipped


def test_all_versus_mean_aggregation(senteval):
    res = score_tasks([load_task("sts13", data_dir=senteval)], fake_embed)["sts13"]
    fnwn_cos = [cos("s0", "s1"), cos("s0", "s9"), cos("s0", "s5")]
    head_cos = [cos("s2", "s4"), cos("s2", "s8"), cos("s2", "s6")]
    fnwn = spearmanr(fnwn_cos, [5, 0, 2]).statistic * 100
    head = spearmanr(head_cos, [1.5, 0.5, 1.0]).statistic * 100
    every = spearmanr(fnwn_cos + head_cos, [5, 0, 2, 1.5, 0.5, 1.0]).statistic * 100
    assert fnwn == pytest.approx(100.0) and head == pytest.approx(100.0)  # each subset perfectly ranked
    assert res["subsets"]["FNWN"]["spearman"] == pytest.approx(fnwn)
    assert res["mean"] == pytest.approx(100.0)
    assert res["all"] == pytest.approx(every)
    assert res["all"] < 99  # concatenation mixes the subsets' scales: all != mean
    assert res["n"] == 6


def test_stsb_and_sick_splits(senteval):
    res = score_tasks([load_task("stsb", "test", senteval), load_task("sickr", "test", senteval)], fake_embed)
    expected = spearmanr([cos("s0", "s1"), cos("s0", "s4"), cos("s0", "s8"), cos("s3", "s5")],
                         [5.0, 3.2, 0.4, 4.1]).statistic * 100
    assert res["stsb"]["all"] == pytest.approx(expected)
    assert res["sickr"]["all"] == pytest.approx(
        spearmanr([cos("s0", "s2"), cos("s0", "s7"), cos("s1", "s3")], [4.5, 1.0, 3.0]).statistic * 100)
    assert list(load_task("stsb", "dev", senteval).subsets) == ["dev"]


def test_stsb_from_a_plain_folder(stsb_dir):
    task = load_task("stsb", "dev", stsb_dir)
    assert len(task.subsets["dev"]) == 1500


def test_cli_eval_writes_json_and_run_results(tiny_model, senteval, tmp_path, capsys):
    from srl_explorer.train import TrainConfig, train
    run = train(TrainConfig(model=tiny_model, max_steps=2, batch_size=8, eval_every=5, max_train_sentences=100,
                            output_dir=str(tmp_path / "run")))
    out = tmp_path / "res.json"
    code = main(["eval", "--model", str(run / "final"), "--tasks", "sts13,stsb,sickr", "--data-dir", str(senteval),
                 "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert "avg of 3" in format_table(data["details"])
    assert set(data) >= {"sts13", "stsb", "sickr", "avg"}
    assert data["avg"] == pytest.approx(np.mean([data["sts13"], data["stsb"], data["sickr"]]))
    stored = load_run_results(run)
    assert stored["final"]["tasks"]["stsb"]["all"] == pytest.approx(data["stsb"])


def test_user_file(tiny_model, tmp_path):
    f = tmp_path / "mine.csv"
    f.write_text("sentence1,sentence2,score\na cat,a dog,2\na car,a car,5\nthe sun,a desk,0\n")
    res = evaluate_model(tiny_model, tasks=None, user_file=str(f))
    assert list(res["tasks"]) == ["mine"] and res["tasks"]["mine"]["n"] == 3


@pytest.mark.parametrize("argv, message", [
    (["--data-dir", "/no/such/folder", "--tasks", "stsb"], "data folder not found"),
    (["--tasks", "sts12,sts99"], "unknown task(s) sts99"),
    (["--file", "{bad_cols}"], "missing column(s) sentence1, sentence2"),
    (["--file", "{bad_score}"], "'high' is not a number"),
    (["--file", "{latin1}"], "not valid UTF-8"),
    (["--tasks", "sts12"], "cannot load 'mteb/sts12-sts'"),  # offline hub
])
def test_eval_bad_inputs_are_one_line(tiny_model, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    (tmp_path / "cols.csv").write_text("a,b\nx,y\n")
    (tmp_path / "score.csv").write_text("sentence1,sentence2,score\nx,y,high\n")
    (tmp_path / "latin1.csv").write_bytes("sentence1,sentence2,score\ncaf\xe9,th\xe9,1\n".encode("latin-1"))
    argv = [a.format(bad_cols=tmp_path / "cols.csv", bad_score=tmp_path / "score.csv", latin1=tmp_path / "latin1.csv")
            for a in argv]
    code = main(["eval", "--model", tiny_model, *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    if "mteb" in message:
        assert "--data-dir" in err


def test_parse_tasks():
    assert parse_tasks(None) == list(TASKS)
    assert parse_tasks("STSB, sickr") == ["stsb", "sickr"]


@pytest.mark.slow
def test_stsb_dev_minilm_matches_independent_scipy(stsb_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from srl_explorer.data import read_pairs
    from srl_explorer.encoder import default_model_path
    res = evaluate_model(None, "stsb", "dev", stsb_dir, pooler="avg")
    pairs = read_pairs(stsb_dir / "sts-dev.csv")
    tok = AutoTokenizer.from_pretrained(default_model_path())
    model = AutoModel.from_pretrained(default_model_path()).eval()

    def embed(sents):
        with torch.no_grad():
            b = tok(sents, padding=True, truncation=True, max_length=32, return_tensors="pt")
            h, m = model(**b).last_hidden_state, b["attention_mask"].unsqueeze(-1).float()
            return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1)
    c = torch.cat([(embed(pairs.s1[i:i + 100]) * embed(pairs.s2[i:i + 100])).sum(1) for i in range(0, 1500, 100)])
    expected = spearmanr(c.numpy(), pairs.scores).statistic * 100
    assert res["tasks"]["stsb"]["all"] == pytest.approx(expected, abs=0.05)
