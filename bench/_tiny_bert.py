"""A tiny random BERT for tests and benchmarks that need a model but not its quality."""
from __future__ import annotations

from pathlib import Path


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
