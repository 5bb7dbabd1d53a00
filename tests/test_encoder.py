"""Encoder: poolers, encode() order/normalization, save/load in Hugging Face format, loading errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel

from srl_explorer.encoder import POOLERS, Encoder, ModelLoadError, resolve_model

SENTS = ["a b", "a much longer sentence with many more tokens in it than the others", "mid length one here", "x"]


@pytest.mark.parametrize("pooler", POOLERS)
def test_encode_is_normalized_float32_in_input_order(tiny_model, pooler):
    enc = Encoder.from_pretrained(tiny_model, pooler=pooler)
    out = enc.encode(SENTS, batch_size=2)
    assert out.dtype == np.float32 and out.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # one at a time (no padding, no sorting) gives the same rows in the same order
    single = np.concatenate([enc.encode([s]) for s in SENTS])
    np.testing.assert_allclose(out, single, atol=1e-5)
    assert not enc.training


def test_encode_restores_training_mode_and_needs_no_grad(tiny_model):
    enc = Encoder.from_pretrained(tiny_model).train()
    enc.encode(SENTS)
    assert enc.training
    assert enc.encode([]).shape == (0, 32)


def test_avg_pooling_ignores_padding(tiny_model):
    enc = Encoder.from_pretrained(tiny_model, pooler="avg").eval()
    tok = enc.tokenize(["short", "a considerably longer sentence"])
    with torch.no_grad():
        batched = enc(**tok)[0]
        alone = enc(**enc.tokenize(["short"]))[0]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_cls_mlp_only_train(tiny_model):
    enc = Encoder.from_pretrained(tiny_model, pooler="cls", mlp_only_train=True)
    tok = enc.tokenize(["hello world"])
    enc.train()
    enc.backbone.eval()  # no dropout, so only the MLP differs
    with torch.no_grad():
        with_mlp = enc(**tok)
        enc.eval()
        without = enc(**tok)
        raw = enc.backbone(**tok).last_hidden_state[:, 0]
    torch.testing.assert_close(without, raw)
    torch.testing.assert_close(with_mlp, torch.tanh(enc.mlp.dense(raw)))


def test_save_and_load_roundtrip(tiny_model, tmp_path):
    enc = Encoder.from_pretrained(tiny_model, pooler="cls", max_seq_length=16)
    with torch.no_grad():
        enc.mlp.dense.weight.add_(0.5)
    enc.save(tmp_path / "ckpt")
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"config.json", "model.safetensors", "srl_pooling.json", "mlp_head.safetensors"} <= files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    assert json.loads((tmp_path / "ckpt" / "srl_pooling.json").read_text())["pooler"] == "cls"
    AutoModel.from_pretrained(tmp_path / "ckpt")  # plain transformers can load it
    again = Encoder.from_pretrained(tmp_path / "ckpt")
    assert again.pooler == "cls" and again.max_seq_length == 16
    np.testing.assert_allclose(again.encode(SENTS), enc.encode(SENTS), atol=1e-6)


def test_run_directory_resolves_to_best_checkpoint(tiny_model, tmp_path):
    Encoder.from_pretrained(tiny_model).save(tmp_path / "run" / "final")
    assert resolve_model(tmp_path / "run").endswith("final")
    Encoder.from_pretrained(tiny_model).save(tmp_path / "run" / "best")
    assert resolve_model(tmp_path / "run").endswith("best")


def test_unknown_pooler_and_models_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown pooler"):
        Encoder.from_pretrained(None, pooler="max")
    with pytest.raises(ModelLoadError, match="cannot load model 'no-such-org/no-such-model'"):
        Encoder.from_pretrained("no-such-org/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="cannot load model"):
        Encoder.from_pretrained(tmp_path / "empty")


def test_hub_path_is_real_transformers_loading_offline(monkeypatch):
    """The hub id goes through transformers' real download code, which fails offline with one line."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as e:
        Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    assert "\n" not in str(e.value) and "hub" in str(e.value)


def test_pickle_weights_are_refused(tiny_model, tmp_path):
    src, dst = Path(tiny_model), tmp_path / "bin"
    dst.mkdir()
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (dst / f).write_bytes((src / f).read_bytes())
    torch.save(AutoModel.from_pretrained(src).state_dict(), dst / "pytorch_model.bin")
    with pytest.raises(ModelLoadError):
        Encoder.from_pretrained(tmp_path / "bin")


def test_encode_takes_mteb_keyword_arguments(tiny_model):
    """MTEB calls encode(sentences, task_name=..., prompt_name=..., batch_size=..., show_progress_bar=...)."""
    enc = Encoder.from_pretrained(tiny_model)
    plain = enc.encode(SENTS)
    mteb = enc.encode(SENTS, task_name="STSBenchmark", prompt_name=None, prompt_type="query",
                      show_progress_bar=False, convert_to_tensor=False, batch_size=1)
    np.testing.assert_allclose(mteb, plain, atol=1e-6)
    np.testing.assert_allclose(enc.encode("x"), enc.encode(["x"]), atol=0)  # a string is one sentence


def test_eval_max_length_is_the_model_limit_not_the_training_length(tiny_model):
    enc = Encoder.from_pretrained(tiny_model, max_seq_length=8)
    assert enc.eval_max_length == 64  # the tiny BERT has 64 positions; its tokenizer allows 512
    long = " ".join(["word"] * 40)
    full = enc.encode([long])
    np.testing.assert_allclose(full, enc.encode([long], max_length=64), atol=1e-6)
    assert np.abs(full - enc.encode([long], max_length=8)).max() > 1e-3  # training length would differ
    enc.tokenizer.model_max_length = 16
    assert enc.eval_max_length == 16
