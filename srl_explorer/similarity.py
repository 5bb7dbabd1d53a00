"""Score sentence pairs with an encoder: cosine table plus Spearman/Pearson when gold exists."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Pairs, sentence_index
from .evaluation import cosine_correlations


def score_pairs(encoder, pairs: Pairs, batch_size: int = 128) -> pd.DataFrame:
    """DataFrame with sentence1, sentence2, cosine[, score]; unique sentences are encoded once."""
    sentences, [(i1, i2)] = sentence_index(pairs)
    emb = encoder.encode(sentences, batch_size=batch_size)  # (U, d)
    df = pd.DataFrame({"sentence1": pairs.s1, "sentence2": pairs.s2, "cosine": (emb[i1] * emb[i2]).sum(1).round(6)})
    if pairs.scores is not None:
        df["score"] = pairs.scores
    return df


def gold_correlations(df: pd.DataFrame) -> dict[str, float] | None:
    """Spearman and Pearson (x 100) of cosine vs gold score; None without scores or with < 3 pairs."""
    if "score" not in df or len(df) < 3 or np.ptp(df["score"].to_numpy()) == 0:
        return None
    spearman, pearson = cosine_correlations(df["cosine"].to_numpy(), df["score"].to_numpy(), "pairs")
    return {"spearman": spearman, "pearson": pearson, "n": len(df)}
