"""Shared fixtures: a tiny random BERT (built from a config, saved like a real model dir)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED_STSB = ROOT.parent / "shared" / "data" / "stsbenchmark"

needs_stsb = pytest.mark.skipif(not (SHARED_STSB / "sts-dev.csv").exists(),
                                reason="../shared/data/stsbenchmark is not present")


def make_tiny_bert(directory: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random BERT with the packaged MiniLM tokenizer, saved to ``directory``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from srl_explorer.encoder import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture
def stsb_dir() -> Path:
    if not (SHARED_STSB / "sts-dev.csv").exists():
        pytest.skip("../shared/data/stsbenchmark is not present")
    return SHARED_STSB
