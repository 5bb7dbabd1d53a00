"""STS evaluation suite: STS12-16, STS-B and SICK-R, scored and aggregated exactly as SentEval does.

Sources
    * a SentEval data folder (``data_dir``): ``STS/STS12-en-test`` … ``STS16-en-test`` with
      ``STS.input.<subset>.txt`` / ``STS.gs.<subset>.txt``, ``STS/STSBenchmark/sts-{train,dev,test}.csv``
      and ``SICK/SICK_{train,trial,test_annotated}.txt``; for ``stsb`` also a folder that holds
      ``sts-dev.csv``/``sts-test.csv`` directly (e.g. ``../shared/data/stsbenchmark``);
    * the Hugging Face hub through ``datasets`` when no folder is given (``HUB_IDS``); gold scores
      are normalized to the 0-5 STS scale;
    * a user CSV/TSV with ``sentence1``, ``sentence2``, ``score`` (or a hub dataset id), see ``user_file``.

Aggregation (SentEval; the SimCSE and ICLR 2023 tables)
    * STS12-16: ``all`` = Spearman over every pair of the year concatenated (the number in the
      papers' tables); ``mean`` = mean of the per-subset Spearman values (reported, labelled, not used);
    * STS-B and SICK-R: the test split (``split="dev"``: STS-B dev and SICK trial); STS12-16 only have test;
    * 7-task avg = mean of the seven ``all``/test numbers. Spearman is × 100, on cosine similarity.

Speed: sentences are deduplicated across all tasks and encoded once by
:meth:`Encoder.encode` (sorted by token count, under ``inference_mode``), without truncation
below the model's limit (as SentEval/SimCSE evaluate).

Python API (the app calls these): :func:`evaluate_model`, :func:`load_run_results`,
:func:`save_run_results`, :func:`run_and_checkpoint`, :func:`format_table`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from scipy.stats import pearsonr, spearmanr

from .data import (
    DataError,
    Pairs,
    decode_text,
    looks_like_path,
    parse_pairs,
    parse_score,
    parse_stsb,
    read_bytes,
    sentence_index,
)

TASKS = ("sts12", "sts13", "sts14", "sts15", "sts16", "stsb", "sickr")
SPLITS = ("test", "dev")
SENTEVAL_STS = {  # folder, subsets (SentEval's lists; a subset whose input file is missing is skipped)
    "sts12": ("STS12-en-test", ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"]),
    "sts13": ("STS13-en-test", ["FNWN", "headlines", "OnWN", "SMT"]),
    "sts14": ("STS14-en-test", ["deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"]),
    "sts15": ("STS15-en-test", ["answers-forums", "answers-students", "belief", "headlines", "images"]),
    "sts16": ("STS16-en-test", ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"]),
}
SICK_FILES = {"test": "SICK_test_annotated.txt", "dev": "SICK_trial.txt"}
SICK_COLUMNS = ("sentence_A", "sentence_B", "relatedness_score")
HUB_IDS = {"sts12": "mteb/sts12-sts", "sts13": "mteb/sts13-sts", "sts14": "mteb/sts14-sts",
           "sts15": "mteb/sts15-sts", "sts16": "mteb/sts16-sts", "stsb": "mteb/stsbenchmark-sts",
           "sickr": "mteb/sickr-sts"}
HUB_COLUMNS = (("sentence1", "sentence2", "score"), ("sentence_A", "sentence_B", "relatedness_score"))
RESULTS_FILE = "sts_results.json"
MAX_EVAL_LENGTH = 512  # tokens; SentEval/SimCSE do not truncate, so only the model's limit applies
OFFLINE_HINT = "pass --data-dir with a SentEval data folder (or set HF_HUB_OFFLINE=1 to use a cached copy)"


@dataclass
class Task:
    """One benchmark: named subsets of scored pairs (one subset for STS-B, SICK-R and user files)."""

    name: str
    subsets: dict[str, Pairs]
    split: str = "test"
    source: str = ""


def parse_tasks(spec: str | Iterable[str] | None) -> list[str]:
    """``"sts12, STSB"`` -> ``["sts12", "stsb"]``; ``None`` -> all seven; unknown names are a one-line error."""
    if spec is None:
        return list(TASKS)
    names = [t.strip().lower() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from: {', '.join(TASKS)}")
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- SentEval folders
def _lines(path: Path) -> list[str]:
    """Lines of a strict UTF-8 text file (a final newline adds no empty line)."""
    lines = decode_text(read_bytes(path), path.name).split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def load_sts_subset(inp: Path, gs: Path, name: str) -> Pairs:
    """One STS12-16 subset: ``inp`` holds two tab-separated sentences a line, ``gs`` one gold score a line.

    Pairs whose gold line is empty are skipped (SentEval); whitespace is normalized as SentEval's split/join.
    """
    lines, gold = _lines(inp), _lines(gs)
    if len(lines) != len(gold):
        raise DataError(f"{inp.name} has {len(lines)} lines but {gs.name} has {len(gold)}; they must match line by line")
    s1, s2, scores = [], [], []
    for n, (line, g) in enumerate(zip(lines, gold), 1):
        if not g.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataError(f"{inp.name}: line {n} needs two tab-separated sentences")
        scores.append(parse_score(g, f"{gs.name}: line {n}"))
        s1.append(" ".join(parts[0].split()))
        s2.append(" ".join(parts[1].split()))
    if not s1:
        raise DataError(f"{gs.name}: no scored pairs (every gold line is empty)")
    return Pairs(s1, s2, np.asarray(scores, dtype=np.float64), name=name)


def load_senteval_sts(data_dir: Path, task: str) -> Task:
    """STS12-16 from ``DIR/STS/STSxx-en-test/``; a subset whose input file is missing is skipped."""
    folder, subsets = SENTEVAL_STS[task]
    path = _find_dir(data_dir, [f"STS/{folder}", folder])
    out = {}
    for sub in subsets:
        inp, gs = path / f"STS.input.{sub}.txt", path / f"STS.gs.{sub}.txt"
        if not inp.exists():
            continue  # e.g. STS13 SMT: gold scores only (licensing)
        if not gs.exists():
            raise DataError(f"{gs}: gold-score file missing for subset {sub}")
        out[sub] = load_sts_subset(inp, gs, f"{task}/{sub}")
    if not out:
        raise DataError(f"{path}: no STS.input.<subset>.txt files for {task} (expected {', '.join(subsets)})")
    return Task(task, out, "test", str(path))


def load_senteval_stsb(data_dir: Path, split: str) -> Task:
    """STS-B from ``DIR/STS/STSBenchmark/sts-<split>.csv``, or ``DIR/sts-<split>.csv``."""
    fname = f"sts-{split}.csv"
    path = _find_dir(data_dir, ["STS/STSBenchmark", "STSBenchmark", "."], fname,
                     hint=" (use --split dev)" if split == "test" and (data_dir / "sts-dev.csv").exists() else "")
    f = path / fname
    return Task("stsb", {split: parse_stsb(decode_text(read_bytes(f), f.name), f.name)}, split, str(f))


def load_senteval_sick(data_dir: Path, split: str) -> Task:
    """SICK-R from ``DIR/SICK/SICK_test_annotated.txt`` (dev: ``SICK_trial.txt``): tab-separated with a header
    pair_ID, sentence_A, sentence_B, relatedness_score, entailment_judgment."""
    fname = SICK_FILES[split]
    f = _find_dir(data_dir, ["SICK", "."], fname) / fname
    rows = [r.split("\t") for r in _lines(f) if r.strip()]
    header = [h.strip() for h in rows[0]]
    missing = [c for c in SICK_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{f.name}: missing column(s) {', '.join(missing)}; expected a header with pair_ID, "
                        f"sentence_A, sentence_B, relatedness_score, entailment_judgment (found: {', '.join(header)[:120]})")
    ia, ib, isc = (header.index(c) for c in SICK_COLUMNS)
    s1, s2, scores = [], [], []
    for n, row in enumerate(rows[1:], 2):
        if len(row) <= max(ia, ib, isc):
            raise DataError(f"{f.name}: row {n} has {len(row)} fields, expected {len(header)}")
        s1.append(row[ia].strip())
        s2.append(row[ib].strip())
        scores.append(parse_score(row[isc], f"{f.name}: row {n}"))
    if not s1:
        raise DataError(f"{f.name}: only a header, no sentence pairs")
    return Task("sickr", {split: Pairs(s1, s2, np.asarray(scores), name=f.name)}, split, str(f))


def _find_dir(root: Path, candidates: list[str], must_hold: str | None = None, hint: str = "") -> Path:
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    for c in candidates:
        p = root / c
        if p.is_dir() and (must_hold is None or (p / must_hold).is_file()):
            return p
    want = f"{candidates[0]}/{must_hold}" if must_hold else candidates[0]
    raise DataError(f"{root}: no {want} (SentEval layout expected){hint}")


# --------------------------------------------------------------------------- hub
def normalize_scores(scores: np.ndarray, name: str) -> np.ndarray:
    """Gold scores on the 0-5 STS scale: a 0-1 scale (e.g. sentence-transformers/stsb) is multiplied by 5."""
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise DataError(f"{name}: gold scores contain NaN or infinite values")
    if scores.size and scores.min() >= 0 and scores.max() <= 1:
        scores = scores * 5.0
    if scores.size and (scores.min() < 0 or scores.max() > 5):
        raise DataError(f"{name}: gold scores span [{scores.min():g}, {scores.max():g}], not a 0-1 or 0-5 scale")
    return scores


@contextlib.contextmanager
def _quiet_hub_logs():
    """Hide the hub's per-retry warnings so a failure stays one line."""
    loggers = [logging.getLogger(n) for n in ("huggingface_hub", "datasets", "fsspec")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached right now (``None``: it can, or offline mode lets ``datasets`` use its cache).

    One quick TCP connect instead of ``datasets``' minute of retries; skipped behind a proxy.
    """
    if any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return None
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"{host}:{port} ({e.strerror or type(e).__name__})"
    return None


def load_hub_pairs(dataset_id: str, split: str, task: str | None = None) -> Pairs:
    """Scored pairs of a hub dataset (columns sentence1/sentence2/score or SICK's sentence_A/sentence_B/
    relatedness_score); ``split`` test -> ``test``, dev -> ``validation``; scores normalized to 0-5."""
    hub_split = "validation" if split == "dev" else "test"
    what = f"{dataset_id!r} ({hub_split} split)" + (f" for {task}" if task else "")
    if (why := hub_unreachable()) is not None:
        raise DataError(f"cannot load {what}: the Hugging Face hub cannot be reached from here [{why}]; {OFFLINE_HINT}")
    try:
        import datasets
        with _quiet_hub_logs():
            ds = datasets.load_dataset(dataset_id, split=hub_split)
    except Exception as e:  # noqa: BLE001 - offline, unknown id, missing split: all become one line
        text = " ".join(str(e).split())
        if isinstance(e, ConnectionError) or any(w in text.lower() for w in ("offline", "couldn't reach", "connect")):
            raise DataError(f"cannot load {what}: the Hugging Face hub cannot be reached ({text[:120]}); "
                            f"pass --data-dir with a SentEval data folder") from None
        raise DataError(f"cannot load {what} from the Hugging Face hub: {text[:200]}; "
                        f"or pass --data-dir with a SentEval data folder") from None
    cols = next((c for c in HUB_COLUMNS if all(x in ds.column_names for x in c)), None)
    if cols is None:
        raise DataError(f"{dataset_id}: expected columns sentence1, sentence2, score "
                        f"(found: {', '.join(ds.column_names)[:120]})")
    s1, s2 = [str(s).strip() for s in ds[cols[0]]], [str(s).strip() for s in ds[cols[1]]]
    return Pairs(s1, s2, normalize_scores(ds[cols[2]], dataset_id), name=dataset_id)


def load_hub_task(task: str, split: str = "test") -> Task:
    """A benchmark from the hub (``HUB_IDS``); STS12-16 always use their test split."""
    split = split if task in ("stsb", "sickr") else "test"
    return Task(task, {split: load_hub_pairs(HUB_IDS[task], split, task)}, split, HUB_IDS[task])


# --------------------------------------------------------------------------- dispatch
def load_task(task: str, split: str = "test", data_dir: str | os.PathLike | None = None) -> Task:
    """Load benchmark ``task`` from a SentEval folder when ``data_dir`` is given, else from the hub."""
    if split not in SPLITS:
        raise ValueError(f"split must be test or dev, got {split!r}")
    task = parse_tasks([task])[0]
    if data_dir is None:
        return load_hub_task(task, split)
    root = Path(data_dir).expanduser()
    if task == "stsb":
        return load_senteval_stsb(root, split)
    if task == "sickr":
        return load_senteval_sick(root, split)
    return load_senteval_sts(root, task)  # STS12-16 have test data only


def load_user_task(source: str | os.PathLike, split: str = "test") -> Task:
    """A user CSV/TSV (``sentence1``, ``sentence2``, ``score``; or STS-B rows) or, when ``source`` is not a
    path, a hub dataset id. The task is named after the file stem or the dataset id."""
    p = Path(source).expanduser()
    if looks_like_path(source) or "/" not in str(source):  # hub ids are owner/name
        pairs, name, split = parse_pairs(read_bytes(p), p.name), p.stem, "file"
        name = f"{name}-file" if name in TASKS else name  # never shadows a benchmark's result
    else:
        pairs, name = load_hub_pairs(str(source), split), str(source)
    if pairs.scores is None:
        raise DataError(f"{pairs.name}: a score column is needed to evaluate (header: sentence1, sentence2, score)")
    return Task(name, {name: pairs}, split, str(source))


# --------------------------------------------------------------------------- scoring
def correlations(cos: np.ndarray, gold: np.ndarray, name: str) -> tuple[float, float]:
    """(Spearman, Pearson) × 100 of cosine similarities (n,) against gold scores (n,); NaN when cos is constant."""
    if len(gold) < 2 or np.ptp(gold) == 0:
        raise DataError(f"{name}: Spearman needs at least two different gold scores")
    if np.ptp(cos) == 0:  # a fully collapsed encoder: undefined, reported as NaN
        return math.nan, math.nan
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
            sp, pe = correlations(cos, p.scores, f"{t.name}/{name}")
            subsets[name] = {"spearman": sp, "pearson": pe, "n": len(p)}
            cos_parts.append(cos)
            gold_parts.append(p.scores)
        sp, pe = correlations(np.concatenate(cos_parts), np.concatenate(gold_parts), t.name)
        results[t.name] = {"all": sp, "mean": float(np.mean([s["spearman"] for s in subsets.values()])),
                           "pearson": pe, "n": sum(s["n"] for s in subsets.values()), "split": t.split,
                           "source": t.source, "subsets": subsets}
    return results


def summarize(task_results: dict[str, dict]) -> tuple[float, str]:
    """(average of the tasks' ``all`` numbers, its label: "7-task avg" for exactly the seven benchmarks)."""
    avg = float(np.mean([r["all"] for r in task_results.values()])) if task_results else math.nan
    return avg, "7-task avg" if set(task_results) == set(TASKS) else f"avg of {len(task_results)}"


def eval_max_length(encoder) -> int:
    """Longest input the model takes (≤ 512 tokens): evaluation does not truncate at the training length."""
    limits = [MAX_EVAL_LENGTH, getattr(encoder.backbone.config, "max_position_embeddings", MAX_EVAL_LENGTH),
              getattr(encoder.tokenizer, "model_max_length", MAX_EVAL_LENGTH)]
    return int(min(x for x in limits if isinstance(x, int) and x > 0))


def evaluate_model(model, tasks: str | Iterable[str] | None = None, split: str = "test",
                   data_dir: str | os.PathLike | None = None, pooler: str | None = None, batch_size: int = 128,
                   progress: bool = False, user_file: str | os.PathLike | None = None,
                   max_seq_length: int | None = None) -> dict:
    """Score ``model`` on STS benchmarks (and/or a user file), SentEval-style.

    Args:
        model: an :class:`~srl_explorer.encoder.Encoder` (used as is, never modified), or anything
            ``Encoder.from_pretrained`` takes: ``None`` (packaged MiniLM), a run dir, a checkpoint, a hub id.
        tasks: names from ``TASKS`` (list or comma-separated); ``None``: all seven, or none when ``user_file`` is given.
        split: ``"test"`` or ``"dev"`` (STS-B dev, SICK trial; STS12-16 always test).
        data_dir: SentEval data folder; ``None``: the Hugging Face hub.
        pooler: pooler when loading ``model`` (default: the checkpoint's, else avg).
        user_file: CSV/TSV with sentence1, sentence2, score (or a hub dataset id), scored as one more task.
        max_seq_length: truncation length (default: the model's limit, ≤ 512, as SentEval/SimCSE).

    Returns:
        ``{"model", "pooler", "split", "tasks": {task: score_tasks entry}, "avg", "avg_label",
        "n_sentences", "elapsed_s", "timestamp"}``. Numbers are Spearman × 100; NaN when undefined.
    """
    from .encoder import Encoder
    t0 = time.time()
    if split not in SPLITS:
        raise ValueError(f"split must be test or dev, got {split!r}")
    names = parse_tasks(tasks) if tasks is not None or user_file is None else []
    loaded = [load_task(n, split, data_dir) for n in names]  # data errors surface before the model loads
    if user_file is not None:
        loaded.append(load_user_task(user_file, split))
    if not loaded:
        raise ValueError("nothing to evaluate: give --tasks or --file")
    enc = model if isinstance(model, Encoder) else Encoder.from_pretrained(model, pooler=pooler)
    length = max_seq_length or eval_max_length(enc)
    n_sentences = []

    def embed(sentences: list[str]) -> np.ndarray:
        n_sentences.append(len(sentences))
        return enc.encode(sentences, batch_size=batch_size, progress=progress, max_length=length)

    res = score_tasks(loaded, embed)
    avg, label = summarize(res)
    return {"model": getattr(enc, "source", str(model)), "pooler": enc.pooler, "split": split, "tasks": res,
            "avg": avg, "avg_label": label, "max_seq_length": length, "n_sentences": n_sentences[0],
            "elapsed_s": round(time.time() - t0, 2), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# --------------------------------------------------------------------------- run directories
def run_and_checkpoint(model: str | os.PathLike | None) -> tuple[Path, str] | None:
    """``(run_dir, checkpoint name)`` when ``model`` is a trainer run directory (its best, else final,
    else last checkpoint) or a checkpoint inside one (``run/best``); else ``None``."""
    from .encoder import resolve_model
    from .runs import checkpoints_of
    if model is None:
        return None
    p = Path(model).expanduser()
    if (p / "status.json").is_file() and checkpoints_of(p):
        return p, Path(resolve_model(p)).name
    if p.parent != p and (p.parent / "status.json").is_file() and p.name in checkpoints_of(p.parent):
        return p.parent, p.name
    return None


def save_run_results(run_dir: str | os.PathLike, checkpoint: str, result: dict) -> dict:
    """Store ``result`` in ``run_dir/sts_results.json`` under ``checkpoint`` and return the stored entry.

    A new evaluation of the same checkpoint, split and pooler adds its tasks to the stored ones
    (re-scored tasks are replaced, the average is recomputed); otherwise it replaces the entry.
    """
    from .runs import atomic_write_json
    run_dir = Path(run_dir)
    stored = load_run_results(run_dir)
    old = stored.get(checkpoint)
    entry = {**result, "tasks": dict(result["tasks"])}
    if isinstance(old, dict) and old.get("split") == result["split"] and old.get("pooler") == result.get("pooler"):
        merged = {**old.get("tasks", {}), **result["tasks"]}
        entry["tasks"] = {t: merged[t] for t in sorted(merged, key=lambda t: (TASKS + (t,)).index(t))}
        entry["avg"], entry["avg_label"] = summarize(entry["tasks"])
    stored[checkpoint] = entry
    atomic_write_json(run_dir / RESULTS_FILE, _finite(stored))
    return entry


def load_run_results(run_dir: str | os.PathLike) -> dict[str, dict]:
    """Stored results of a run, ``{checkpoint: result}`` (``{"best": {...}, "final": {...}}``), each shaped as
    :func:`evaluate_model`'s return (``tasks``, ``split``, ``avg``, ``timestamp``, …); ``{}`` when none."""
    from .runs import read_json
    stored = read_json(Path(run_dir) / RESULTS_FILE, {})
    return {k: v for k, v in stored.items() if isinstance(v, dict) and "tasks" in v} if isinstance(stored, dict) else {}


def _finite(obj):
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- output
def json_summary(result: dict) -> dict:
    """The ``--json`` file: one key per task plus ``avg``.

    Each task: ``{"spearman": headline number, "mean_over_subsets", "split", "n", "subsets": {name: spearman}}``.
    """
    out = {name: {"spearman": r["all"], "mean_over_subsets": r["mean"], "split": r["split"], "n": r["n"],
                  "subsets": {k: v["spearman"] for k, v in r["subsets"].items()}}
           for name, r in result["tasks"].items()}
    return _finite({**out, "avg": result["avg"]})


def _num(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}"


def format_table(result: dict) -> str:
    """Plain-text table: one row per task (with its subsets indented for STS12-16), then the average."""
    lines = [f"{'task':<14} {'split':<5} {'Spearman':>8} {'mean/subsets':>12} {'pairs':>6}"]
    for name, r in result["tasks"].items():
        multi = len(r["subsets"]) > 1
        lines.append(f"{name:<14} {r['split']:<5} {_num(r['all']):>8} {_num(r['mean']) if multi else '':>12} {r['n']:>6}")
        for sub, s in r["subsets"].items() if multi else ():
            lines.append(f"  {sub:<18} {_num(s['spearman']):>8} {'':>12} {s['n']:>6}")
    lines.append(f"{result['avg_label']:<14} {'':<5} {_num(result['avg']):>8}")
    lines.append("Spearman x 100 of cosine similarity. STS12-16: 'Spearman' is over all pairs of the year "
                 "together (SentEval 'all', the papers' number); 'mean/subsets' is the mean of the subset values.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="run dir, checkpoint (run/best), local path or hub id (default: the packaged all-MiniLM-L6-v2)")
    from .encoder import POOLERS
    p.add_argument("--pooler", default=None, choices=POOLERS,
                   help="pooler (default: the checkpoint's, else avg)")
    p.add_argument("--tasks", default=None,
                   help=f"comma-separated, from {','.join(TASKS)} (default: all seven; none with --file)")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="STS-B/SICK-R split: test, or dev (STS-B dev, SICK trial); STS12-16 are always test")
    p.add_argument("--data-dir", default=None,
                   help="SentEval data folder (STS/STS12-en-test …, STS/STSBenchmark, SICK) or a folder with "
                        "sts-dev.csv/sts-test.csv; default: download from the Hugging Face hub")
    p.add_argument("--file", default=None, metavar="USER_PAIRS",
                   help="also score a CSV/TSV with columns sentence1, sentence2, score (or a hub dataset id)")
    p.add_argument("--json", default=None, metavar="OUT", help="write one key per task plus avg as JSON")
    p.add_argument("--batch-size", type=int, default=128, help="encoding batch size (default %(default)s)")
    p.add_argument("--max-seq-length", type=int, default=None,
                   help="truncate inputs at this many tokens (default: the model's limit, ≤ 512, as SentEval)")


def run(args: argparse.Namespace) -> int:
    result = evaluate_model(args.model, args.tasks, args.split, args.data_dir, args.pooler, args.batch_size,
                            progress=sys.stderr.isatty(), user_file=args.file, max_seq_length=args.max_seq_length)
    print(format_table(result))
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(json_summary(result), indent=2) + "\n")
        print(f"wrote {args.json}")
    if (rc := run_and_checkpoint(args.model)) is not None:
        save_run_results(rc[0], rc[1], result)
        print(f"stored in {rc[0] / RESULTS_FILE} under {rc[1]!r}")
    return 0
