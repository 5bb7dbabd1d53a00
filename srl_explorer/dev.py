"""Dev-set evaluator used during training: STS Spearman, alignment and uniformity."""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr

from .data import Pairs, sentence_index
from .metrics import align_loss, uniform_loss

POSITIVE_THRESHOLD = 4.0  # gold >= 4.0 (as floats) counts as a positive pair for dev_align


class DevEvaluator:
    """``__call__(encoder) -> {stsb_dev_spearman, dev_align, dev_uniform}``.

    Sentences are deduplicated once; each call encodes them once (sorted by length,
    under ``inference_mode``). Spearman is × 100, as SentEval reports it. Sentences are
    encoded whole, up to ``encoder.eval_max_length`` (not the training length), exactly as
    ``python -m srl_explorer eval --tasks stsb --split dev`` does, so both print the same number.
    """

    primary_metric = "stsb_dev_spearman"

    def __init__(self, pairs: Pairs, batch_size: int = 128):
        if pairs.scores is None:
            raise ValueError(f"{pairs.name}: the dev set needs gold scores")
        self.pairs, self.batch_size = pairs, batch_size
        self.sentences, [(self.i1, self.i2)] = sentence_index(pairs)
        self.positive = pairs.scores >= POSITIVE_THRESHOLD  # float comparison (the official code truncates)

    def __call__(self, encoder) -> dict[str, float]:
        emb = encoder.encode(self.sentences, batch_size=self.batch_size,
                             max_length=encoder.eval_max_length)  # (U, d), normalized
        return self.compute(emb)

    def compute(self, emb: np.ndarray) -> dict[str, float]:
        a, b = emb[self.i1], emb[self.i2]  # (N, d) each
        cos = (a * b).sum(1)
        out = {"stsb_dev_spearman": float(spearmanr(cos, self.pairs.scores).statistic) * 100}
        x = torch.from_numpy(emb)
        if self.positive.any():
            out["dev_align"] = float(align_loss(torch.from_numpy(a[self.positive]), torch.from_numpy(b[self.positive])))
        out["dev_uniform"] = float(uniform_loss(x))
        return out
