"""STS evaluation suite: STS12-16, STS-B and SICK-R, aggregated exactly as SentEval does.

Sources: a SentEval data folder (``--data-dir``), Hugging Face hub ids through ``datasets``,
or a user CSV/TSV (``--file``). Sentences are deduplicated across all tasks and encoded
once (sorted by length, under ``inference_mode``). Spearman is reported × 100.

Aggregation (SentEval): for STS12-16, ``all`` is the Spearman over every pair of that year
concatenated (the number used in the SimCSE tables); ``mean`` is the mean over subsets.
STS-B and SICK-R use their test split (``--split dev``: STS-B dev, SICK trial). The 7-task
average is the mean of the seven ``all``/test numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from .data import DataError, Pairs, decode_text, parse_pairs, parse_score, parse_stsb, read_bytes

TASKS = ("sts12", "sts13", "sts14", "sts15", "sts16", "stsb", "sickr")
SENTEVAL_STS = {  # folder, subsets (SentEval's lists; a subset whose input file is missing is skipped)
    "sts12": ("STS12-en-test", ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"]),
    "sts13": ("STS13-en-test", ["FNWN", "headlines", "OnWN", "SMT"]),
    "sts14": ("STS14-en-test", ["deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"]),
    "sts15": ("STS15-en-test", ["answers-forums", "answers-students", "belief", "headlines", "images"]),
    "sts16": ("STS16-en-test", ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"]),
}
HUB_IDS = {"sts12": "mteb/sts12-sts", "sts13": "mteb/sts13-sts", "sts14": "mteb/sts14-sts",
           "sts15": "mteb/sts15-sts", "sts16": "mteb/sts16-sts", "stsb": "mteb/stsbenchmark-sts",
           "sickr": "mteb/sickr-sts"}
RESULTS_FILE = "sts_results.json"


@dataclass
class Task:
    """One benchmark: named subsets of scored pairs (a single subset for STS-B, SICK-R and user files)."""

    name: str
    subsets: dict[str, Pairs]
    source: str = ""


def parse_tasks(spec: str | list[str] | None) -> list[str]:
    """``"sts12,stsb"`` -> ``["sts12", "stsb"]``; unknown names are a one-line error."""
    names = TASKS if not spec else [t.strip().lower() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from: {', '.join(TASKS)}")
    return list(names)


# --------------------------------------------------------------------------- SentEval folders
def load_senteval_sts(data_dir: Path, task: str) -> Task:
    """STS12-16 from ``DIR/STS/STSxx-en-test/STS.{input,gs}.<subset>.txt``; pairs with an empty gold line are skipped."""
    folder, subsets = SENTEVAL_STS[task]
    path = _find_dir(data_dir, ["STS/" + folder, folder])
    out: dict[str, Pairs] = {}
    for sub in subsets:
        inp, gs = path / f"STS.input.{sub}.txt", path / f"STS.gs.{sub}.txt"
        if not inp.exists():
            continue  # e.g. STS13 has no SMT input (licensing)
        if not gs.exists():
            raise DataError(f"{gs}: gold-score file missing for subset {sub}")
        lines = decode_text(read_bytes(inp), inp.name).split("\n")
        gold = decode_text(read_bytes(gs), gs.name).split("\n")
        s1, s2, scores = [], [], []
        for n, (line, g) in enumerate(zip(lines, gold), 1):
            if not g.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise DataError(f"{inp.name}: line {n} needs two tab-separated sentences")
            score = parse_score(g, f"{gs.name}: line {n}")
            s1.append(parts[0].strip())
            s2.append(parts[1].strip())
            scores.append(score)
        if s1:
            out[sub] = Pairs(s1, s2, np.asarray(scores), name=f"{task}/{sub}")
    if not out:
        raise DataError(f"{path}: no STS.input.<subset>.txt files for {task}")
    return Task(task, out, str(path))


def load_senteval_stsb(data_dir: Path, split: str) -> Task:
    """STS-B from ``DIR/STS/STSBenchmark/sts-<split>.csv`` (or ``DIR/sts-<split>.csv``)."""
    path = _find_dir(data_dir, ["STS/STSBenchmark", "STSBenchmark", "stsbenchmark", "."], f"sts-{split}.csv")
    f = path / f"sts-{split}.csv"
    return Task("stsb", {split: parse_stsb(decode_text(read_bytes(f), f.name), f.name)}, str(f))


def load_senteval_sick(data_dir: Path, split: str) -> Task:
    """SICK-R from ``DIR/SICK/SICK_{test_annotated,trial}.txt`` (header: pair_ID, sentence_A, sentence_B, relatedness_score, ...)."""
    fname = {"test": "SICK_test_annotated.txt", "dev": "SICK_trial.txt"}[split]
    path = _find_dir(data_dir, ["SICK", "."], fname)
    f = path / fname
    rows = [r.split("\t") for r in decode_text(read_bytes(f), f.name).split("\n") if r.strip()]
    header = [h.strip() for h in rows[0]]
    need = ["sentence_A", "sentence_B", "relatedness_score"]
    if any(c not in header for c in need):
        raise DataError(f"{f.name}: expected columns {', '.join(need)} in the header")
    ia, ib, isc = (header.index(c) for c in need)
    tsv = "sentence1\tsentence2\tscore\n" + "\n".join(f"{r[ia]}\t{r[ib]}\t{r[isc]}" for r in rows[1:] if len(r) > isc)
    return Task("sickr", {split: parse_pairs(tsv.encode(), f.name)}, str(f))


def _find_dir(root: Path, candidates: list[str], must_hold: str | None = None) -> Path:
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    for c in candidates:
        p = root / c
        if p.is_dir() and (must_hold is None or (p / must_hold).exists()):
            return p
    what = must_hold or candidates[0]
    raise DataError(f"{root}: no {what} (expected the SentEval layout, e.g. {root / candidates[0]})")


# --------------------------------------------------------------------------- hub
def load_hub_task(task: str, split: str, dataset_id: str | None = None) -> Task:
    """A task from the Hugging Face hub via ``datasets``; gold scores are normalized to 0-5."""
    dataset_id = dataset_id or HUB_IDS[task]
    hub_split = "validation" if split == "dev" else "test"
    try:
        import datasets
        ds = datasets.load_dataset(dataset_id, split=hub_split)
    except Exception as e:  # noqa: BLE001 - offline, unknown id, missing split
        text = " ".join(str(e).split())
        offline = any(w in text.lower() for w in ("offline", "connect", "resolve", "network", "couldn't reach"))
        why = "the Hugging Face hub cannot be reached" if offline else text[:160]
        raise DataError(f"cannot load {dataset_id!r} ({hub_split}) for {task}: {why}; "
                        f"pass --data-dir with a SentEval data folder instead") from None
    cols = ds.column_names
    a, b = ("sentence1", "sentence2") if "sentence1" in cols else ("sentence_A", "sentence_B")
    sc = "score" if "score" in cols else "relatedness_score"
    scores = np.asarray(ds[sc], dtype=np.float64)
    if scores.size and scores.max() <= 1.0:  # e.g. sentence-transformers/stsb stores 0-1
        scores = scores * 5.0
    return Task(task, {hub_split: Pairs(list(ds[a]), list(ds[b]), scores, name=dataset_id)}, dataset_id)


def load_task(task: str, split: str = "test", data_dir: str | os.PathLike | None = None) -> Task:
    """Load ``task`` from a SentEval folder when ``data_dir`` is given, else from the hub."""
    if split not in ("test", "dev"):
        raise ValueError(f"--split must be test or dev, got {split!r}")
    if data_dir is None:
        return load_hub_task(task, split)
    root = Path(data_dir).expanduser()
    if task == "stsb":
        return load_senteval_stsb(root, split)
    if task == "sickr":
        return load_senteval_sick(root, split)
    return load_senteval_sts(root, task)  # STS12-16 have test data only


def load_user_task(path: str | os.PathLike) -> Task:
    p = Path(path)
    pairs = parse_pairs(read_bytes(p), p.name)
    if pairs.scores is None:
        raise DataError(f"{p.name}: a score column is needed to evaluate")
    return Task(p.stem, {"all": pairs}, str(p))


# --------------------------------------------------------------------------- scoring
def spearman100(cos: np.ndarray, gold: np.ndarray) -> float:
    return float(spearmanr(cos, gold).statistic) * 100


def score_tasks(tasks: list[Task], embed) -> dict:
    """Score ``tasks`` given ``embed(sentences) -> (N, d)`` normalized embeddings.

    Sentences of all tasks are deduplicated and embedded in one call.
    """
    sentences = list(dict.fromkeys(s for t in tasks for p in t.subsets.values() for s in p.s1 + p.s2))
    index = {s: i for i, s in enumerate(sentences)}
    emb = embed(sentences)  # (U, d)
    results = {}
    for t in tasks:
        cos_all, gold_all, subsets = [], [], {}
        for name, p in t.subsets.items():
            cos = (emb[[index[s] for s in p.s1]] * emb[[index[s] for s in p.s2]]).sum(1)  # (n,)
            subsets[name] = {"spearman": spearman100(cos, p.scores),
                             "pearson": float(pearsonr(cos, p.scores).statistic) * 100, "n": len(p)}
            cos_all.append(cos)
            gold_all.append(p.scores)
        cos, gold = np.concatenate(cos_all), np.concatenate(gold_all)
        results[t.name] = {"all": spearman100(cos, gold),
                           "mean": float(np.mean([s["spearman"] for s in subsets.values()])),
                           "pearson_all": float(pearsonr(cos, gold).statistic) * 100,
                           "n": int(len(cos)), "subsets": subsets, "source": t.source}
    return results


def evaluate_model(model, tasks: list[str] | str | None = None, split: str = "test",
                   data_dir: str | os.PathLike | None = None, pooler: str | None = None,
                   batch_size: int = 128, progress: bool = False, user_file: str | None = None) -> dict:
    """Evaluate ``model`` (an :class:`~srl_explorer.encoder.Encoder`, a path, a run dir or a hub id).

    Returns ``{"model", "split", "tasks": {task: {"all", "mean", "pearson_all", "n", "subsets"}},
    "avg", "avg_label", "elapsed_s"}``; ``avg`` is the mean of the tasks' ``all`` numbers (the 7-task
    average when all seven are present).
    """
    from .encoder import Encoder
    t0 = time.time()
    names = parse_tasks(tasks) if user_file is None or tasks else []
    loaded = [load_task(n, split, data_dir) for n in names]
    if user_file:
        loaded.append(load_user_task(user_file))
    if not loaded:
        raise ValueError("nothing to evaluate: give --tasks or --file")
    enc = model if isinstance(model, Encoder) else Encoder.from_pretrained(model, pooler=pooler)
    res = score_tasks(loaded, lambda s: enc.encode(s, batch_size=batch_size, progress=progress))
    alls = [r["all"] for r in res.values()]
    return {"model": getattr(enc, "source", str(model)), "pooler": enc.pooler, "split": split,
            "tasks": res, "avg": float(np.mean(alls)),
            "avg_label": "7-task avg" if set(res) == set(TASKS) else f"avg of {len(res)}",
            "elapsed_s": time.time() - t0, "timestamp": time.time()}


# --------------------------------------------------------------------------- run directories
def run_and_checkpoint(model: str) -> tuple[Path, str] | None:
    """(run_dir, checkpoint name) when ``model`` is a trainer run directory or a checkpoint inside one."""
    p = Path(model).expanduser()
    if (p / "config.json").exists() and (p / "status.json").exists():
        from .encoder import resolve_model
        return p, Path(resolve_model(p)).name
    if p.name in ("best", "final", "last") and (p.parent / "status.json").exists():
        return p.parent, p.name
    return None


def save_run_results(run_dir: Path, checkpoint: str, result: dict) -> None:
    from .runs import atomic_write_json, read_json
    stored = read_json(run_dir / RESULTS_FILE, {}) or {}
    key = checkpoint if result["split"] == "test" else f"{checkpoint}:{result['split']}"
    stored[key] = result
    atomic_write_json(run_dir / RESULTS_FILE, stored)


def load_run_results(run_dir: str | os.PathLike) -> dict:
    """Stored results of a run: ``{checkpoint[:split]: result}`` (empty when none)."""
    from .runs import read_json
    return read_json(Path(run_dir) / RESULTS_FILE, {}) or {}


def format_table(result: dict) -> str:
    lines = [f"{'task':<8} {'all':>7} {'mean':>7} {'n':>6}  subsets"]
    for name, r in result["tasks"].items():
        subs = ", ".join(f"{k} {v['spearman']:.2f}" for k, v in r["subsets"].items()) if len(r["subsets"]) > 1 else ""
        lines.append(f"{name:<8} {r['all']:>7.2f} {r['mean']:>7.2f} {r['n']:>6}  {subs}")
    lines.append(f"{result['avg_label']:<8} {result['avg']:>7.2f}")
    lines.append("Spearman x 100. all = over all pairs of a year concatenated (SentEval); mean = mean over subsets.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="run dir, checkpoint, local path or hub id (default: packaged MiniLM)")
    p.add_argument("--pooler", default=None, help="pooler (default: the checkpoint's, else avg)")
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks (default: all seven)")
    p.add_argument("--split", default="test", choices=["test", "dev"], help="STS-B/SICK-R split (default test)")
    p.add_argument("--data-dir", default=None, help="SentEval data folder (default: the Hugging Face hub)")
    p.add_argument("--file", default=None, help="also score a CSV/TSV with sentence1, sentence2, score")
    p.add_argument("--json", default=None, metavar="OUT", help="write results as JSON")
    p.add_argument("--batch-size", type=int, default=128, help="encoding batch size (default 128)")


def run(args: argparse.Namespace) -> int:
    import sys
    tasks = args.tasks if not (args.file and args.tasks == ",".join(TASKS) and args.data_dir is None) else ""
    result = evaluate_model(args.model, tasks or None, args.split, args.data_dir, args.pooler, args.batch_size,
                            progress=sys.stderr.isatty(), user_file=args.file)
    print(format_table(result))
    flat = {name: r["all"] for name, r in result["tasks"].items()} | {"avg": result["avg"], "details": result}
    if args.json:
        Path(args.json).write_text(json.dumps(flat, indent=2))
    if args.model and (rc := run_and_checkpoint(args.model)):
        save_run_results(rc[0], rc[1], result)
        print(f"saved to {rc[0] / RESULTS_FILE} [{rc[1]}]")
    return 0
