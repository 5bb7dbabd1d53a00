"""Scoring: cosine similarities of an encoder against gold scores, aggregated as SentEval does.

    * STS12-16: ``all`` = Spearman over every pair of the year concatenated (the number in the
      papers' tables); ``mean`` = mean of the per-subset Spearman values (reported, labelled, not used);
    * STS-B and SICK-R: one split each (test, or dev with ``split="dev"``);
    * 7-task avg = mean of the seven ``all``/test numbers. Spearman is × 100, on cosine similarity.

Speed: sentences are deduplicated across all tasks and encoded once by
:meth:`Encoder.encode` (sorted by token count, under ``inference_mode``), without truncation
below the model's limit (as SentEval/SimCSE evaluate).
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable

import numpy as np

from ..data import DataError, sentence_index
from .sources import SPLITS, TASKS, Task, load_task, load_user_task, parse_tasks

Progress = Callable[[int, int], None]  # on_progress(sentences encoded so far, sentences to encode)
PROGRESS_CHUNK = 256  # sentences per progress report


def cosine_correlations(cos: np.ndarray, gold: np.ndarray, name: str) -> tuple[float, float]:
    """(Spearman, Pearson) × 100 of cosine similarities (n,) against gold scores (n,); NaN when cos is constant."""
    if len(gold) < 2 or np.ptp(gold) == 0:
        raise DataError(f"{name}: Spearman needs at least two different gold scores")
    if np.ptp(cos) == 0:  # a fully collapsed encoder: undefined, reported as NaN
        return math.nan, math.nan
    from scipy.stats import pearsonr, spearmanr  # ~1 s to import: the STS and Similarity pages render without it
    return float(spearmanr(cos, gold).statistic) * 100, float(pearsonr(cos, gold).statistic) * 100


def score_tasks(tasks: list[Task], embed: Callable[[list[str]], np.ndarray]) -> dict[str, dict]:
    """Score ``tasks`` given ``embed(sentences) -> (U, d)`` L2-normalized embeddings.

    The sentences of all tasks are deduplicated and embedded in one call. Returns per task
    ``{"all", "mean", "pearson", "n", "split", "source", "subsets": {name: {"spearman", "pearson", "n"}}}``:
    ``all`` is the Spearman over every pair of the task concatenated (for STS-B/SICK-R: of the split),
    ``mean`` the mean of the subsets' Spearman values.
    """
    sentences, rows = sentence_index(*(p for t in tasks for p in t.subsets.values()))
    emb = np.asarray(embed(sentences))  # (U, d)
    rows_of = iter(rows)
    results = {}
    for t in tasks:
        cos_parts, gold_parts, subsets = [], [], {}
        for name, p in t.subsets.items():
            i1, i2 = next(rows_of)
            cos = (emb[i1] * emb[i2]).sum(1)  # (n,)
            sp, pe = cosine_correlations(cos, p.scores, f"{t.name}/{name}")
            subsets[name] = {"spearman": sp, "pearson": pe, "n": len(p)}
            cos_parts.append(cos)
            gold_parts.append(p.scores)
        sp, pe = cosine_correlations(np.concatenate(cos_parts), np.concatenate(gold_parts), t.name)
        results[t.name] = {"all": sp, "mean": float(np.mean([s["spearman"] for s in subsets.values()])),
                           "pearson": pe, "n": sum(s["n"] for s in subsets.values()), "split": t.split,
                           "source": t.source, "subsets": subsets}
    return results


def aggregate_tasks(task_results: dict[str, dict]) -> tuple[float, str]:
    """(average of the benchmarks' ``all`` numbers, its label: "7-task avg" for exactly the seven benchmarks,
    "avg of N benchmarks" for fewer). The shipped sample and user files never enter it; with fewer than two
    benchmarks there is no average: (nan, "")."""
    bench = [r["all"] for name, r in task_results.items() if name in TASKS]
    if len(bench) < 2:
        return math.nan, ""
    return float(np.mean(bench)), "7-task avg" if len(bench) == len(TASKS) else f"avg of {len(bench)} benchmarks"


def encode_in_chunks(encode: Callable[[list[str]], np.ndarray], sentences: list[str],
                     on_progress: Progress | None = None, chunk: int = PROGRESS_CHUNK) -> np.ndarray:
    """``encode(sentences)`` (N, d), reporting ``on_progress(done, N)`` after each chunk of sentences.

    Without a callback it is one call. With one, the sentences are sorted by length (longest first, as
    :meth:`Encoder.encode` batches them) before chunking, so chunks pad no more than one call would.
    """
    if on_progress is None or len(sentences) <= chunk:
        out = encode(sentences)
        if on_progress is not None:
            on_progress(len(sentences), len(sentences))
        return out
    order = np.argsort([-len(s) for s in sentences], kind="stable")  # (N,)
    parts = []
    for start in range(0, len(order), chunk):
        parts.append(np.asarray(encode([sentences[i] for i in order[start:start + chunk]])))  # (c, d)
        on_progress(min(start + chunk, len(order)), len(order))
    out = np.empty((len(sentences), parts[0].shape[1]), dtype=parts[0].dtype)
    out[order] = np.concatenate(parts)
    return out


def load_tasks(tasks: str | Iterable[str] | None, split: str = "test",
               data_dir: str | os.PathLike | None = None) -> list[Task]:
    """The named tasks (``None``: the seven benchmarks) loaded once, to score several models on them."""
    return [load_task(n, split, data_dir) for n in parse_tasks(tasks)]


def evaluate_model(model, tasks: str | Iterable[str] | Iterable[Task] | None = None, split: str = "test",
                   data_dir: str | os.PathLike | None = None, pooler: str | None = None, batch_size: int = 128,
                   progress: bool = False, user_file: str | os.PathLike | None = None,
                   max_seq_length: int | None = None, on_progress: Progress | None = None) -> dict:
    """Score ``model`` on STS benchmarks (and/or a user file), SentEval-style.

    Args:
        model: an :class:`~srl_explorer.encoder.Encoder` (used as is, never modified), or anything
            ``Encoder.from_pretrained`` takes: ``None`` (packaged MiniLM), a run dir, a checkpoint, a hub id.
        tasks: names from ``ALL_TASKS`` (list or comma-separated), or :class:`Task` s already loaded
            (:func:`load_tasks`); ``None``: all seven benchmarks, or none when ``user_file`` is given.
        split: ``"test"`` or ``"dev"`` (STS-B dev, SICK trial; STS12-16 always test).
        data_dir: SentEval data folder; ``None``: the Hugging Face hub.
        pooler: pooler when loading ``model`` (default: the checkpoint's, else avg).
        user_file: CSV/TSV with sentence1, sentence2, score (or a hub dataset id), scored as one more task.
        max_seq_length: truncation length (default: the model's limit, ≤ 512, as SentEval/SimCSE).
        progress: a tqdm bar on stderr; ``on_progress(done, total)``: called as sentences are encoded
            (the app's progress bar).

    Returns:
        ``{"model", "pooler", "split", "tasks": {task: score_tasks entry}, "avg", "avg_label",
        "n_sentences", "elapsed_s", "timestamp"}``. Numbers are Spearman × 100; NaN when undefined.
    """
    from ..encoder import Encoder
    t0 = time.time()
    if split not in SPLITS:
        raise ValueError(f"split must be test or dev, got {split!r}")
    if tasks is not None and not isinstance(tasks, str):
        tasks = list(tasks)
    if tasks and all(isinstance(t, Task) for t in tasks):
        loaded = list(tasks)
    else:  # data errors surface before the model loads
        loaded = load_tasks(tasks, split, data_dir) if tasks is not None or user_file is None else []
    if user_file is not None:
        loaded.append(load_user_task(user_file, split))
    if not loaded:
        raise ValueError("nothing to evaluate: give --tasks or --file")
    enc = model if isinstance(model, Encoder) else Encoder.from_pretrained(model, pooler=pooler)
    length = max_seq_length or enc.eval_max_length
    n_sentences = []

    def embed(sentences: list[str]) -> np.ndarray:
        n_sentences.append(len(sentences))
        return encode_in_chunks(lambda s: enc.encode(s, batch_size=batch_size, progress=progress, max_length=length),
                                sentences, on_progress)

    res = score_tasks(loaded, embed)
    avg, label = aggregate_tasks(res)
    return {"model": getattr(enc, "source", str(model)), "pooler": enc.pooler, "split": split, "tasks": res,
            "avg": avg, "avg_label": label, "max_seq_length": length, "n_sentences": n_sentences[0],
            "elapsed_s": round(time.time() - t0, 2), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
