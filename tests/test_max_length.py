"""One max sequence length: the dev STS logged during training is what ``eval --split dev`` prints.

Both encode whole sentences up to the model's limit (SentEval/SimCSE), not the training length (32).
Uses STS-B dev (``SRL_DATA_DIR`` or ../shared/data/stsbenchmark), else the shipped sample pairs
written as an STS-B ``sts-dev.csv``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from srl_explorer.cli import main
from srl_explorer.data import read_pairs
from srl_explorer.encoder import Encoder

from .conftest import SHARED_STSB


def _dev_folder(tmp_path: Path) -> Path:
    for d in (os.environ.get("SRL_DATA_DIR"), SHARED_STSB):
        if d and (Path(d) / "sts-dev.csv").exists():
            return Path(d)
    pairs = read_pairs(None)  # the shipped sample pairs, in STS-B's tab-separated layout
    folder = tmp_path / "stsb"
    folder.mkdir()
    (folder / "sts-dev.csv").write_text("".join(
        f"main-captions\tsample\tdev\t{i:04d}\t{score:.3f}\t{a}\t{b}\n"
        for i, (a, b, score) in enumerate(zip(pairs.s1, pairs.s2, pairs.scores))), encoding="utf-8")
    return folder


def _train(**kw):
    from srl_explorer.config import TrainConfig
    from srl_explorer.training import train
    return train(TrainConfig(**kw))


def test_logged_dev_sts_equals_eval_split_dev(tmp_path):
    """With a vanishing learning rate the best checkpoint holds the step-0 weights (to float noise), so the
    step-0 dev STS and the best one must both be what ``eval --split dev`` prints for it."""
    data = _dev_folder(tmp_path)
    run = _train(dev_file=str(data / "sts-dev.csv"), max_steps=1, batch_size=4, eval_every=100, lr=1e-9,
                 max_train_sentences=16, max_seq_length=32, output_dir=str(tmp_path / "run"))
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = {r["step"]: r["stsb_dev_spearman"] for r in recs if "stsb_dev_spearman" in r}
    config = json.loads((run / "config.json").read_text())
    assert config["max_seq_length"] == 32
    assert config["eval_max_seq_length"] == Encoder.from_pretrained(run / "best").eval_max_length == 512

    out = tmp_path / "best.json"
    assert main(["eval", "--model", str(run / "best"), "--tasks", "stsb", "--split", "dev",
                 "--data-dir", str(data), "--json", str(out)]) == 0
    printed = json.loads(out.read_text())["stsb"]["spearman"]
    print(f"\nlogged dev STS: step 0 {evals[0]:.4f}, best {max(evals.values()):.4f}; "
          f"eval --split dev on best/: {printed:.4f} ({data})")
    assert printed == pytest.approx(evals[0], abs=0.01)
    assert printed == pytest.approx(max(evals.values()), abs=0.01)
