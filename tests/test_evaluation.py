"""STS evaluation suite: hand-built SentEval fixtures with known Spearman values, sources, CLI, run results, errors.

Fixture sentences read "a line at A degrees"; ``angle_embed`` maps them to the unit vector at angle A, so
each pair's cosine is cos(ΔA) and each Spearman value below is worked out by hand (Spearman with n
distinct ranks = 1 - 6 Σd² / (n (n² - 1))) and re-checked with scipy on literal lists.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from srl_explorer.cli import main
from srl_explorer.evaluation import (
    TASKS,
    aggregate_tasks,
    evaluate_model,
    format_table,
    load_hub_pairs,
    load_run_results,
    load_task,
    load_user_task,
    normalize_scores,
    parse_tasks,
    score_tasks,
)

FIXTURES = Path(__file__).parent / "fixtures" / "senteval"


def angle_embed(sentences: list[str]) -> np.ndarray:
    """(N, 2) unit vectors at the angle each fixture sentence names."""
    a = np.radians([float(re.search(r"at (\d+) degrees", s).group(1)) for s in sentences])
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def rho(deltas: list[float], gold: list[float]) -> float:
    """Independent reference: scipy Spearman × 100 of cos(Δ) against gold, from literal lists."""
    return spearmanr(np.cos(np.radians(deltas)), gold).statistic * 100


# Literal copies of the fixture files: (Δ angle of each kept pair, gold), and the hand-computed Spearman × 100.
STS12 = {"MSRpar": ([10, 50, 90], [5.0, 3.0, 1.0], 100.0),  # the 20° line has an empty gold line
         "MSRvid": ([20, 40, 80], [4.0, 4.5, 0.5], 50.0)}    # cos ranks 3,2,1 vs gold 2,3,1: Σd²=2
STS13 = {"FNWN": ([30, 60, 15], [2.0, 1.0, 3.5], 100.0),
         "headlines": ([25, 70, 45], [0.2, 4.8, 2.0], -100.0)}
SINGLE = {"sts14": ([5, 35, 65, 85], [4.6, 3.4, 2.2, 0.4], 100.0),
          "sts15": ([12, 42, 72], [1.0, 3.0, 2.0], -50.0),      # ranks 3,2,1 vs 1,3,2: Σd²=6
          "sts16": ([8, 28, 48, 68], [5, 4, 2, 3], 80.0),       # ranks 4,3,2,1 vs 4,3,1,2: Σd²=2
          "stsb": ([15, 45, 75, 5], [1.0, 3.0, 2.0, 4.0], 40.0),  # ranks 3,2,1,4 vs 1,3,2,4: Σd²=6
          "sickr": ([20, 50, 80], [3.0, 4.5, 1.5], 50.0)}
DEV = {"stsb": ([10, 40, 70], [4.0, 2.5, 1.0], 100.0), "sickr": ([10, 35, 60], [5.0, 3.0, 1.0], 100.0)}
STS12_ALL = 100 * (1 - 6 * 4 / (6 * 35))  # 6 pairs concatenated: cos ranks 6,3,1,5,4,2 vs gold 6,3,2,4,5,1


def year_all(subsets: dict) -> float:
    return rho([d for ds, _, _ in subsets.values() for d in ds], [g for _, gs, _ in subsets.values() for g in gs])


def expected_test() -> dict[str, float]:
    return {"sts12": STS12_ALL, "sts13": year_all(STS13)} | {t: v[2] for t, v in SINGLE.items()}


# --------------------------------------------------------------------------- loaders
def test_sts_year_skips_empty_gold_lines_and_missing_subsets():
    sts12 = load_task("sts12", data_dir=FIXTURES)
    assert list(sts12.subsets) == ["MSRpar", "MSRvid"]  # the three other STS12 subsets are absent
    assert sts12.subsets["MSRpar"].s2 == ["a line at 10 degrees", "a line at 50 degrees", "a line at 90 degrees"]
    assert sts12.subsets["MSRpar"].scores.tolist() == [5.0, 3.0, 1.0]
    assert list(load_task("sts13", data_dir=FIXTURES).subsets) == ["FNWN", "headlines"]  # SMT: gold file, no input


def test_stsb_and_sick_use_test_or_dev_splits():
    assert len(load_task("stsb", "test", FIXTURES).subsets["test"]) == 4
    assert len(load_task("stsb", "dev", FIXTURES).subsets["dev"]) == 3
    assert load_task("sickr", "dev", FIXTURES).source.endswith("SICK_trial.txt")
    assert load_task("sickr", "test", FIXTURES).source.endswith("SICK_test_annotated.txt")
    assert load_task("sts12", "dev", FIXTURES).split == "test"  # STS12-16 only have test data


def test_stsb_from_a_plain_folder(stsb_dir):
    assert len(load_task("stsb", "dev", stsb_dir).subsets["dev"]) == 1500
    with pytest.raises(ValueError, match="use --split dev"):
        load_task("stsb", "test", stsb_dir)  # ../shared/data ships no test split


# --------------------------------------------------------------------------- known values
def test_hand_computed_references():
    for table in (STS12, STS13, SINGLE, DEV):
        for deltas, gold, hand in table.values():
            assert rho(deltas, gold) == pytest.approx(hand)
    assert year_all(STS12) == pytest.approx(STS12_ALL)


def test_all_versus_mean_aggregation():
    res = score_tasks([load_task("sts12", data_dir=FIXTURES), load_task("sts13", data_dir=FIXTURES)], angle_embed)
    for name, subsets in (("sts12", STS12), ("sts13", STS13)):
        r = res[name]
        for sub, (_, _, hand) in subsets.items():
            assert r["subsets"][sub]["spearman"] == pytest.approx(hand)
        assert r["mean"] == pytest.approx(np.mean([v[2] for v in subsets.values()]))  # 75 and 0
        assert r["all"] == pytest.approx(year_all(subsets))  # SentEval "all": pairs concatenated
        assert r["n"] == 6
    assert res["sts12"]["all"] == pytest.approx(88.5714, abs=1e-4) and res["sts12"]["mean"] == pytest.approx(75.0)


@pytest.mark.parametrize("split", ["test", "dev"])
def test_seven_task_table(split):
    expected = expected_test() | ({t: v[2] for t, v in DEV.items()} if split == "dev" else {})
    res = score_tasks([load_task(t, split, FIXTURES) for t in TASKS], angle_embed)
    assert {t: r["all"] for t, r in res.items()} == pytest.approx(expected)
    avg, label = aggregate_tasks(res)
    assert label == "7-task avg" and avg == pytest.approx(np.mean(list(expected.values())))


def test_sentences_are_deduplicated_and_embedded_once():
    calls = []

    def counting_embed(sentences):
        calls.append(list(sentences))
        return angle_embed(sentences)
    tasks = [load_task(t, "test", FIXTURES) for t in TASKS]
    score_tasks(tasks, counting_embed)
    every = {s for t in tasks for p in t.subsets.values() for s in p.s1 + p.s2}
    assert len(calls) == 1 and sorted(calls[0]) == sorted(every)  # one call, each sentence once
    assert sum(2 * len(p) for t in tasks for p in t.subsets.values()) > len(every)  # the fixtures share sentences


def test_user_file_known_value(tmp_path):
    f = tmp_path / "mine.csv"
    f.write_text("sentence1,sentence2,score\n"
                 "a line at 0 degrees,a line at 30 degrees,1.0\n"
                 "a line at 0 degrees,a line at 10 degrees,2.0\n"
                 "a line at 0 degrees,a line at 60 degrees,0.5\n")
    task = load_user_task(f)
    res = score_tasks([task], angle_embed)["mine"]
    assert res["all"] == pytest.approx(rho([30, 10, 60], [1.0, 2.0, 0.5])) == pytest.approx(100.0)


def test_the_shipped_pairs_passed_as_a_file_are_the_sample_task():
    """``eval --file <the shipped sample_sts.tsv>`` stores under ``sample``, not a second ``sample_sts`` column."""
    from srl_explorer.data import sample_pairs_path
    task = load_user_task(sample_pairs_path())
    assert task.name == "sample" and list(task.subsets) == ["sample"]
    assert len(task.subsets["sample"]) == len(load_task("sample").subsets["sample"]) > 0


# --------------------------------------------------------------------------- hub code path (offline-safe)
def test_normalize_scores_to_the_sts_scale():
    assert normalize_scores([0.0, 0.5, 1.0], "st").tolist() == [0.0, 2.5, 5.0]  # sentence-transformers/stsb
    assert normalize_scores([1.0, 3.2, 5.0], "sick").tolist() == [1.0, 3.2, 5.0]  # SICK relatedness 1-5
    with pytest.raises(ValueError, match="not a 0-1 or 0-5 scale"):
        normalize_scores([0.0, 7.0], "bad")


def test_hub_loader_on_a_local_dataset(tmp_path, monkeypatch):
    import datasets
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    st, sick = tmp_path / "st", tmp_path / "sick"
    st.mkdir(), sick.mkdir()
    (st / "test.csv").write_text("sentence1,sentence2,score\na,b,0.2\nc,d,1.0\n")
    (sick / "validation.csv").write_text("sentence_A,sentence_B,relatedness_score\ne,f,4.5\ng,h,1.0\n")
    test = load_hub_pairs(str(st), "test")
    assert test.s1 == ["a", "c"] and test.scores.tolist() == pytest.approx([1.0, 5.0])  # 0-1 -> 0-5
    dev = load_hub_pairs(str(sick), "dev")
    assert dev.s2 == ["f", "h"] and dev.scores.tolist() == [4.5, 1.0]  # SICK columns, already 1-5


# --------------------------------------------------------------------------- real encoder, CLI, run results
def hf_mean_pool(model_path: str, sentences: list[str]) -> np.ndarray:
    """Independent embeddings: plain transformers, masked mean pooling, L2 normalization."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    tok, model = AutoTokenizer.from_pretrained(model_path), AutoModel.from_pretrained(model_path).eval()
    with torch.no_grad():
        b = tok(sentences, padding=True, return_tensors="pt")
        h, m = model(**b).last_hidden_state, b["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1).numpy()


def test_cli_seven_tasks_with_tiny_model_match_scipy(tiny_model, tmp_path, capsys):
    out = tmp_path / "res.json"
    assert main(["eval", "--model", tiny_model, "--pooler", "avg", "--data-dir", str(FIXTURES),
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "7-task avg" in table and "mean/subsets" in table and "MSRvid" in table
    data = json.loads(out.read_text())
    assert list(data) == [*TASKS, "avg"]
    assert data["avg"] == pytest.approx(np.mean([data[t]["spearman"] for t in TASKS]))
    stsb = load_task("stsb", "test", FIXTURES).subsets["test"]  # reference: plain transformers + scipy
    a, b = hf_mean_pool(tiny_model, stsb.s1), hf_mean_pool(tiny_model, stsb.s2)
    assert data["stsb"]["spearman"] == pytest.approx(spearmanr((a * b).sum(1), [1.0, 3.0, 2.0, 4.0]).statistic * 100)
    assert data["sts12"]["subsets"].keys() == {"MSRpar", "MSRvid"}
    assert data["sts12"]["mean_over_subsets"] == pytest.approx(np.mean(list(data["sts12"]["subsets"].values())))


def test_results_stored_in_the_run_directory(tiny_model, tmp_path, capsys):
    from srl_explorer.config import TrainConfig
    from srl_explorer.training import train
    run = train(TrainConfig(model=tiny_model, max_steps=2, batch_size=8, eval_every=5, max_train_sentences=64,
                            output_dir=str(tmp_path / "run")))
    common = ["--data-dir", str(FIXTURES), "--split", "dev"]
    assert main(["eval", "--model", str(run), "--tasks", "stsb", *common]) == 0  # run dir -> its best checkpoint
    assert main(["eval", "--model", str(run), "--tasks", "sickr", *common]) == 0  # same split: tasks merge
    assert main(["eval", "--model", str(run / "final"), "--tasks", "stsb,sickr", *common]) == 0
    assert "sts_results.json" in capsys.readouterr().out
    stored = load_run_results(run)
    assert set(stored) == {"best", "final"}
    best, final = stored["best"], stored["final"]
    assert list(best["tasks"]) == ["stsb", "sickr"] and best["split"] == "dev" and best["timestamp"]
    assert best["avg"] == pytest.approx(np.mean([best["tasks"][t]["all"] for t in ("stsb", "sickr")]))
    assert list(final["tasks"]) == ["stsb", "sickr"] and final["model"].endswith("final")
    assert main(["eval", "--model", str(run / "best"), "--tasks", "stsb", "--data-dir", str(FIXTURES)]) == 0
    assert list(load_run_results(run)["best"]["tasks"]) == ["stsb"]  # another split replaces the entry
    assert load_run_results(run)["best"]["split"] == "test"


def test_evaluate_model_api_with_an_encoder(tiny_model):
    from srl_explorer.encoder import Encoder
    enc = Encoder.from_pretrained(tiny_model, max_seq_length=4)
    res = evaluate_model(enc, ["stsb"], "dev", FIXTURES)
    assert enc.max_seq_length == 4 and res["max_seq_length"] == 64  # evaluation does not truncate; enc untouched
    assert res["avg_label"] == "" and res["tasks"]["stsb"]["split"] == "dev"  # one benchmark: no average
    assert "stsb" in format_table(res)


def test_parse_tasks():
    assert parse_tasks(None) == list(TASKS)
    assert parse_tasks("STSB, sickr,stsb") == ["stsb", "sickr"]


@pytest.mark.slow
def test_stsb_dev_minilm_matches_sentence_transformers_and_scipy(stsb_dir):
    from sentence_transformers import SentenceTransformer

    from srl_explorer.encoder import default_model_path
    res = evaluate_model(None, ["stsb"], "dev", stsb_dir, pooler="avg")
    rows = [line.split("\t") for line in (stsb_dir / "sts-dev.csv").read_text(encoding="utf-8").splitlines() if line]
    s1, s2, gold = [r[5] for r in rows], [r[6] for r in rows], [float(r[4]) for r in rows]
    st = SentenceTransformer(default_model_path(), device="cpu")
    a, b = st.encode(s1, normalize_embeddings=True), st.encode(s2, normalize_embeddings=True)
    expected = spearmanr((a * b).sum(1), gold).statistic * 100
    assert res["tasks"]["stsb"]["n"] == 1500
    assert res["tasks"]["stsb"]["all"] == pytest.approx(expected, abs=0.05)


# --------------------------------------------------------------------------- bad inputs
def corrupt_copy(tmp_path: Path, rel: str, content: bytes) -> Path:
    root = tmp_path / "senteval"
    shutil.copytree(FIXTURES, root)
    (root / rel).write_bytes(content)
    return root


BAD = {  # name: (arguments after --model, expected text); {tmp} is the test's tmp_path
    "missing folder": (["--data-dir", "{tmp}/no/such/folder", "--tasks", "stsb"], "data folder not found"),
    "no SentEval layout": (["--data-dir", "{tmp}", "--tasks", "sts12"], "no STS/STS12-en-test"),
    "unknown task": (["--tasks", "sts12,sts99"], "unknown task(s) sts99"),
    "wrong columns": (["--file", "{tmp}/cols.csv"], "missing column(s) sentence1, sentence2"),
    "wrong SICK header": (["--data-dir", "{sick}", "--tasks", "sickr"], "missing column(s) relatedness_score"),
    "non-numeric score": (["--file", "{tmp}/score.csv"], "'high' is not a number"),
    "non-numeric gold": (["--data-dir", "{gold}", "--tasks", "sts15"], "STS.gs.belief.txt: line 2: score 'n/a'"),
    "non-UTF-8 file": (["--file", "{tmp}/latin1.csv"], "not valid UTF-8"),
    "non-UTF-8 STS input": (["--data-dir", "{latin}", "--tasks", "sts14"], "STS.input.images.txt: not valid UTF-8"),
    "line counts differ": (["--data-dir", "{short}", "--tasks", "sts16"], "must match line by line"),
    "no score column": (["--file", "{tmp}/noscore.csv"], "a score column is needed"),
    "offline hub (tasks)": (["--tasks", "sts12"], "the Hugging Face hub cannot be reached"),
    "offline hub (--file id)": (["--file", "sentence-transformers/stsb"], "the Hugging Face hub cannot be reached"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_are_one_line_errors(case, tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    (tmp_path / "cols.csv").write_text("a,b\nx,y\n")
    (tmp_path / "score.csv").write_text("sentence1,sentence2,score\nx,y,high\n")
    (tmp_path / "noscore.csv").write_text("sentence1,sentence2\nx,y\n")
    (tmp_path / "latin1.csv").write_bytes("sentence1,sentence2,score\ncaf\xe9,th\xe9,1\n".encode("latin-1"))
    dirs = {"sick": ("SICK/SICK_test_annotated.txt", b"pair_ID\tsentence_A\tsentence_B\tscore\n1\ta\tb\t3\n"),
            "gold": ("STS/STS15-en-test/STS.gs.belief.txt", b"1.0\nn/a\n2.0\n"),
            "latin": ("STS/STS14-en-test/STS.input.images.txt", "caf\xe9\tth\xe9\n".encode("latin-1")),
            "short": ("STS/STS16-en-test/STS.gs.plagiarism.txt", b"5\n4\n")}
    argv, message = BAD[case]
    fill = {"tmp": tmp_path}
    for key, (rel, content) in dirs.items():
        if "{" + key + "}" in " ".join(argv):
            fill[key] = corrupt_copy(tmp_path / key, rel, content)
    code = main(["eval", "--model", tiny_model, *(a.format(**fill) for a in argv)])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2 and message in err, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    if "hub" in case:
        assert "--data-dir" in err


def test_unreachable_hub_fails_fast_in_one_line(tiny_model, capsys, monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert main(["eval", "--model", tiny_model, "--tasks", "stsb"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot be reached" in err and "127.0.0.1:9" in err and "--data-dir" in err and len(err.splitlines()) == 1
