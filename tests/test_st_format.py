"""Checkpoints are sentence-transformers model directories with the same vectors, and carry a model card."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel

from srl_explorer.encoder import Encoder
from srl_explorer.st_format import PACKAGED_HUB_ID, base_model_id, card_info, read_front_matter, reproduce_command

# The tiny model's limit is 64 positions: the last sentence is far longer, so both sides must truncate alike.
SENTS = ["A man is playing a guitar.", "x", "Two dogs run across a snowy field near the old barn.",
         " ".join(["a considerably longer sentence that keeps going"] * 30)]
ST_CASES = [("avg", False), ("cls_before_pooler", False), ("cls", False), ("cls", True)]


def _saved(tiny_model, tmp_path, pooler, mlp_only_train=False, **card):
    enc = Encoder.from_pretrained(tiny_model, pooler=pooler, mlp_only_train=mlp_only_train)
    if enc.mlp is not None:
        with torch.no_grad():  # a head that is not the identity-ish init, so a missing Dense would show
            enc.mlp.dense.weight.mul_(3.0).add_(0.1)
            enc.mlp.dense.bias.add_(0.2)
    d = tmp_path / f"{pooler}-{mlp_only_train}"
    enc.save(d, card=card_info(**card) if card else None)
    return enc, d


@pytest.mark.parametrize("pooler,mlp_only_train", ST_CASES)
def test_sentence_transformers_gives_the_same_vectors(tiny_model, tmp_path, pooler, mlp_only_train):
    from sentence_transformers import SentenceTransformer

    enc, d = _saved(tiny_model, tmp_path, pooler, mlp_only_train)
    assert len(enc.tokenizer(SENTS[-1])["input_ids"]) > enc.eval_max_length  # the long sentence is cut
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((d / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling"] + (["Dense"] if pooler == "cls" and not mlp_only_train else []) \
        + ["Normalize"]
    assert json.loads((d / "sentence_bert_config.json").read_text())["max_seq_length"] == enc.eval_max_length
    st = SentenceTransformer(str(d), device="cpu")
    assert st.max_seq_length == enc.eval_max_length
    ours = Encoder.from_pretrained(d).encode(SENTS)
    theirs = st.encode(SENTS, convert_to_numpy=True, batch_size=2)
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    diff = float(np.abs(ours - theirs).max())
    print(f"\nST round trip {pooler} mlp_only_train={mlp_only_train}: max |diff| = {diff:.2e}")
    assert diff <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(st.encode(SENTS), axis=1), 1.0, rtol=1e-5)  # Normalize is in
    AutoModel.from_pretrained(d)  # the backbone still loads on its own


@pytest.mark.parametrize("pooler", ["avg_first_last", "avg_top2"])
def test_layer_average_poolers_write_no_modules_json(tiny_model, tmp_path, pooler):
    enc, d = _saved(tiny_model, tmp_path, pooler)
    assert not (d / "modules.json").exists() and not (d / "1_Pooling").exists()
    card = (d / "README.md").read_text()
    assert "Not a sentence-transformers model" in card and pooler in card
    assert read_front_matter(d / "README.md")["library_name"] != "sentence-transformers"
    np.testing.assert_allclose(Encoder.from_pretrained(d).encode(SENTS), enc.encode(SENTS), atol=1e-6)


def test_resave_with_another_pooler_drops_stale_modules(tiny_model, tmp_path):
    d = tmp_path / "ck"
    Encoder.from_pretrained(tiny_model, pooler="cls").save(d)
    assert (d / "2_Dense").exists()
    Encoder.from_pretrained(tiny_model, pooler="avg_top2").save(d)
    assert not (d / "modules.json").exists() and not (d / "2_Dense").exists()


def test_model_card_front_matter_and_contents(tiny_model, tmp_path):
    cfg = {"loss": "mpt", "model": "packaged:all-MiniLM-L6-v2", "pooler": "avg", "train_file": "wiki1m.txt",
           "max_steps": 300, "batch_size": 64, "lr": 3e-5, "max_seq_length": 32, "margin": None,
           "mlp_only_train": False, "tf32": True, "output_dir": "/tmp/x", "world_size": 1}
    _, d = _saved(tiny_model, tmp_path, "avg", config=cfg, step=250, dev_score=81.234)
    meta = read_front_matter(d / "README.md")
    assert meta["library_name"] == "sentence-transformers"
    assert {"sentence-transformers", "sentence-similarity", "feature-extraction", "contrastive-learning",
            "mpt"} <= set(meta["tags"])
    assert meta["base_model"] == PACKAGED_HUB_ID
    card = (d / "README.md").read_text()
    for text in ("`mpt`", "margin = 0.09", "wiki1m.txt", "250 of 300", "81.23",
                 "python -m srl_explorer train --loss mpt", "SentenceTransformer("):
        assert text in card, text
    assert "--output-dir" not in card


def test_card_without_info_still_parses(tiny_model, tmp_path):
    _, d = _saved(tiny_model, tmp_path, "cls")
    meta = read_front_matter(d / "README.md")
    assert meta["library_name"] == "sentence-transformers" and "base_model" not in meta  # a local path


def test_reproduce_command_parses_back_to_the_same_config():
    from srl_explorer.cli import build_parser

    cfg = {"loss": "infonce", "model": "bert-base-uncased", "pooler": "cls", "mlp_only_train": True,
           "temp": 0.05, "batch_size": 64, "lr": 3e-5, "max_seq_length": 32, "seed": 7, "tf32": False,
           "output_dir": "/somewhere", "world_size": 4, "stop_after": None}
    args = build_parser().parse_args(reproduce_command(cfg).split()[3:])
    for k in ("loss", "model", "pooler", "mlp_only_train", "temp", "batch_size", "lr", "max_seq_length", "seed",
              "tf32"):
        assert getattr(args, k) == cfg[k], k
    assert args.output_dir is None


def test_base_model_id():
    assert base_model_id(None) == base_model_id("packaged:all-MiniLM-L6-v2") == PACKAGED_HUB_ID
    assert base_model_id("bert-base-uncased") == "bert-base-uncased"
    simcse = "princeton-nlp/unsup-simcse-bert-base-uncased"
    assert base_model_id(simcse) == simcse
    assert base_model_id("/tmp") is None and base_model_id("./local/model") is None
