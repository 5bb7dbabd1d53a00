"""Where STS benchmark pairs come from: SentEval folders, the Hugging Face hub and user files.

    * a SentEval data folder (``data_dir``): ``STS/STS12-en-test`` … ``STS16-en-test`` with
      ``STS.input.<subset>.txt`` / ``STS.gs.<subset>.txt``, ``STS/STSBenchmark/sts-{train,dev,test}.csv``
      and ``SICK/SICK_{train,trial,test_annotated}.txt``; for ``stsb`` also a folder that holds
      ``sts-dev.csv``/``sts-test.csv`` directly (e.g. the folder named by ``SRL_DATA_DIR``);
    * the Hugging Face hub through ``datasets`` when no folder is given (``HUB_IDS``); gold scores
      are normalized to the 0-5 STS scale;
    * a user CSV/TSV with ``sentence1``, ``sentence2``, ``score`` (or a hub dataset id), see :func:`load_user_task`;
    * ``sample``: the scored pairs shipped with the package (:func:`srl_explorer.data.sample_pairs_path`),
      a task of its own that needs neither a folder nor the hub (``eval --tasks sample``).

:func:`scan_data_dir` says which benchmarks and splits a folder holds without parsing them (the app
validates its data-folder field with it). A hub that cannot be reached raises :class:`HubUnavailable`.

STS-B and SICK-R have a test and a dev split (``split="dev"``: STS-B dev and SICK trial); STS12-16 only test.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .. import rundir
from ..data import (
    DataError,
    Pairs,
    decode_text,
    looks_like_path,
    parse_pairs,
    parse_score,
    parse_stsb,
    read_bytes,
    read_pairs,
    sample_pairs_path,
)

TASKS = ("sts12", "sts13", "sts14", "sts15", "sts16", "stsb", "sickr")  # the benchmarks (their mean: "7-task avg")
SAMPLE_TASK = "sample"  # the shipped pairs: works offline, never part of the 7-task average
ALL_TASKS = (*TASKS, SAMPLE_TASK)
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
OFFLINE_HINT = "pass --data-dir with a SentEval data folder (or set HF_HUB_OFFLINE=1 to use a cached copy)"


class HubUnavailable(DataError):
    """The Hugging Face hub cannot be reached (offline, firewalled): the same cause for every task and model."""


@dataclass
class Task:
    """One benchmark: named subsets of scored pairs (one subset for STS-B, SICK-R and user files)."""

    name: str
    subsets: dict[str, Pairs]
    split: str = "test"
    source: str = ""


def parse_tasks(spec: str | Iterable[str] | None) -> list[str]:
    """``"sts12, STSB"`` -> ``["sts12", "stsb"]``; ``None`` -> all seven benchmarks (``sample`` only when named);
    unknown names are a one-line error."""
    if spec is None:
        return list(TASKS)
    names = [t.strip().lower() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    unknown = [t for t in names if t not in ALL_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from: {', '.join(ALL_TASKS)}")
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
        raise DataError(f"{inp.name} has {len(lines)} lines but {gs.name} has {len(gold)}; "
                        "they must match line by line")
    s1, s2, scores = [], [], []
    for n, (line, g) in enumerate(zip(lines, gold, strict=True), 1):
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
    fname = rundir.stsb_name(split)
    hint = " (use --split dev)" if split == "test" and rundir.find_stsb(data_dir, "dev") else ""
    path = _find_dir(data_dir, list(rundir.STSB_LAYOUTS), fname, hint=hint)
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
                        f"sentence_A, sentence_B, relatedness_score, entailment_judgment "
                        f"(found: {', '.join(header)[:120]})")
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


def scan_data_dir(data_dir: str | os.PathLike) -> dict[str, list[str]]:
    """Which benchmarks a folder holds, ``{task: [splits]}`` in ``TASKS`` order, looking only at file names
    (the layouts :func:`load_task` reads: SentEval, or ``sts-dev.csv``/``sts-test.csv`` directly).
    ``{}`` when it holds none; a :class:`DataError` when it is not a folder."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder" if not root.exists() else f"{root}: not a folder")
    found: dict[str, list[str]] = {}
    for task, (folder, _) in SENTEVAL_STS.items():
        if any(any((root / c).glob("STS.input.*.txt")) for c in (f"STS/{folder}", folder) if (root / c).is_dir()):
            found[task] = ["test"]
    splits = [sp for sp in SPLITS if rundir.find_stsb(root, sp)]
    if splits:
        found["stsb"] = splits
    splits = [sp for sp in SPLITS if any((root / c / SICK_FILES[sp]).is_file() for c in ("SICK", "."))]
    if splits:
        found["sickr"] = splits
    return {t: found[t] for t in TASKS if t in found}


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
        for lg, lv in zip(loggers, levels, strict=True):
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
        raise HubUnavailable(f"cannot load {what}: the Hugging Face hub cannot be reached from here [{why}]; "
                             f"{OFFLINE_HINT}")
    try:
        import datasets
        with _quiet_hub_logs():
            ds = datasets.load_dataset(dataset_id, split=hub_split)
    except Exception as e:  # noqa: BLE001 - offline, unknown id, missing split: all become one line
        text = " ".join(str(e).split())
        if isinstance(e, ConnectionError) or any(w in text.lower() for w in ("offline", "couldn't reach", "connect")):
            raise HubUnavailable(f"cannot load {what}: the Hugging Face hub cannot be reached ({text[:120]}); "
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
    """Load benchmark ``task`` from a SentEval folder when ``data_dir`` is given, else from the hub;
    ``sample`` is always the shipped pairs (one set: the same pairs for either split)."""
    if split not in SPLITS:
        raise ValueError(f"split must be test or dev, got {split!r}")
    task = parse_tasks([task])[0]
    if task == SAMPLE_TASK:
        pairs = read_pairs(None)
        return Task(SAMPLE_TASK, {SAMPLE_TASK: pairs}, split, str(sample_pairs_path()))
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
    if p.is_file() and p.resolve() == sample_pairs_path().resolve():  # the shipped pairs: one task, one column
        return load_task(SAMPLE_TASK, split)
    if looks_like_path(source) or "/" not in str(source):  # hub ids are owner/name
        pairs, name, split = parse_pairs(read_bytes(p), p.name), p.stem, "file"
        name = f"{name}-file" if name in ALL_TASKS else name  # never shadows a benchmark's result
    else:
        pairs, name = load_hub_pairs(str(source), split), str(source)
    if pairs.scores is None:
        raise DataError(f"{pairs.name}: a score column is needed to evaluate (header: sentence1, sentence2, score)")
    return Task(name, {name: pairs}, split, str(source))
