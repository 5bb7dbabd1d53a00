"""Score sentence pairs with an encoder: cosine table plus Spearman/Pearson when gold exists."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

from .data import Pairs


def score_pairs(encoder, pairs: Pairs, batch_size: int = 128) -> pd.DataFrame:
    """DataFrame with sentence1, sentence2, cosine[, score]; unique sentences are encoded once."""
    sents = pairs.sentences()
    index = {s: i for i, s in enumerate(sents)}
    emb = encoder.encode(sents, batch_size=batch_size)  # (U, d)
    a = emb[[index[s] for s in pairs.s1]]
    b = emb[[index[s] for s in pairs.s2]]
    df = pd.DataFrame({"sentence1": pairs.s1, "sentence2": pairs.s2, "cosine": (a * b).sum(1).round(6)})
    if pairs.scores is not None:
        df["score"] = pairs.scores
    return df


def correlations(df: pd.DataFrame) -> dict[str, float] | None:
    """Spearman and Pearson (x 100) of cosine vs gold score; None without scores or with < 3 pairs."""
    if "score" not in df or len(df) < 3 or np.ptp(df["score"].to_numpy()) == 0:
        return None
    return {"spearman": float(spearmanr(df["cosine"], df["score"]).statistic) * 100,
            "pearson": float(pearsonr(df["cosine"], df["score"]).statistic) * 100, "n": len(df)}
