"""Corpora and scored sentence pairs: the shipped sample, local files, uploads and hub datasets.

Every bad input raises :class:`DataError` with a one-line message.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

MAX_LINE_CHARS = 100_000
SCORE_RANGE = (0.0, 5.0)
SAMPLE = "sample"


class DataError(ValueError):
    """Malformed or unusable data; the message is one line."""


def sample_corpus_path() -> Path:
    """The ~1,100-sentence English corpus shipped with the package."""
    return Path(str(resources.files("srl_explorer") / "data" / "sample_corpus.txt"))


def sample_pairs_path() -> Path:
    """The scored pairs (0-5, STS style) shipped with the package; the default dev set."""
    return Path(str(resources.files("srl_explorer") / "data" / "sample_sts.tsv"))


def decode_text(raw: bytes, name: str) -> str:
    """Strict UTF-8 (a BOM is dropped, CRLF becomes LF); binary and other encodings are refused."""
    if not raw.strip():
        raise DataError(f"{name}: the file is empty")
    if b"\x00" in raw[:8192]:
        raise DataError(f"{name}: looks like a binary file, expected UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not valid UTF-8 (bad byte at offset {e.start}); re-save the file as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_bytes(path: str | os.PathLike) -> bytes:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected a file")
    return p.read_bytes()


def parse_lines(raw: bytes, name: str = "upload") -> list[str]:
    """One sentence per line; blank lines dropped, whitespace stripped."""
    lines = [ln.strip() for ln in decode_text(raw, name).split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise DataError(f"{name}: no sentences found")
    longest = max(len(ln) for ln in lines)
    if longest > MAX_LINE_CHARS:
        raise DataError(f"{name}: a line has {longest:,} characters (limit {MAX_LINE_CHARS:,}); "
                        "one sentence per line is expected")
    return lines


# --------------------------------------------------------------------------- pairs
@dataclass
class Pairs:
    """Sentence pairs with optional gold scores (same length)."""

    s1: list[str]
    s2: list[str]
    scores: np.ndarray | None = None  # (N,) float64
    name: str = ""

    def __len__(self) -> int:
        return len(self.s1)

    def sentences(self) -> list[str]:
        """Unique sentences of both columns, first-seen order."""
        return list(dict.fromkeys(self.s1 + self.s2))


def sentence_index(*pairs: Pairs) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray]]]:
    """The unique sentences of all ``pairs`` (first-seen order, each Pairs' s1 then s2) and, per Pairs,
    the rows of its s1 and s2 in that list: ((n,), (n,)) int arrays. Lets callers embed each sentence once."""
    sentences = list(dict.fromkeys(s for p in pairs for s in (*p.s1, *p.s2)))
    index = {s: i for i, s in enumerate(sentences)}
    rows = [(np.array([index[s] for s in p.s1], dtype=np.intp), np.array([index[s] for s in p.s2], dtype=np.intp))
            for p in pairs]
    return sentences, rows


def parse_score(value: str, where: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise DataError(f"{where}: score {value.strip()[:40]!r} is not a number") from None
    if not math.isfinite(x):
        raise DataError(f"{where}: score {value.strip()!r} is not finite")
    lo, hi = SCORE_RANGE
    if not lo <= x <= hi:
        raise DataError(f"{where}: score {x:g} is outside [{lo:g}, {hi:g}] (STS scale)")
    return x


def parse_stsb(text: str, name: str) -> Pairs:
    """STS Benchmark layout: tab-separated genre, file, year, id, score, sentence1, sentence2[, extra...]."""
    s1, s2, scores = [], [], []
    for n, row in enumerate(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE), 1):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 7:
            raise DataError(f"{name}: line {n} has {len(row)} tab-separated fields, STS-B rows need 7")
        scores.append(parse_score(row[4], f"{name}: line {n}"))
        s1.append(row[5].strip())
        s2.append(row[6].strip())
    if not s1:
        raise DataError(f"{name}: no sentence pairs found")
    return Pairs(s1, s2, np.asarray(scores, dtype=np.float64), name=name)


def parse_pairs(raw: bytes, name: str = "upload") -> Pairs:
    """Scored pairs from bytes. Accepts STS-B rows (7+ tab-separated fields, no header) or a
    CSV/TSV with a header naming ``sentence1``, ``sentence2`` and optionally ``score``."""
    text = decode_text(raw, name)
    longest = max(map(len, text.split("\n")))
    if longest > 2 * MAX_LINE_CHARS + 1000:
        raise DataError(f"{name}: a line has {longest:,} characters; "
                        f"a sentence over {MAX_LINE_CHARS:,} characters is not supported")
    first = text.split("\n", 1)[0]
    cells = first.split("\t")
    if len(cells) >= 5 and _is_number(cells[4]):  # STS-B rows have no header; the score is field 5
        return parse_stsb(text, name)
    delimiter = "\t" if "\t" in first else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if any(c.strip() for c in r)]
    header = [h.strip().lower() for h in rows[0]]
    dups = sorted({h for h in header if h and header.count(h) > 1})
    if dups:
        raise DataError(f"{name}: duplicate column name(s) {', '.join(dups)}")
    missing = [c for c in ("sentence1", "sentence2") if c not in header]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)}; expected a header with "
                        f"sentence1, sentence2 and optional score (found: {', '.join(header)[:120]})")
    if len(rows) < 2:
        raise DataError(f"{name}: only a header, no sentence pairs")
    i1, i2 = header.index("sentence1"), header.index("sentence2")
    isc = header.index("score") if "score" in header else None
    s1, s2, scores = [], [], []
    for n, row in enumerate(rows[1:], 2):
        need = max(i1, i2, isc if isc is not None else 0) + 1
        if len(row) < need:
            raise DataError(f"{name}: row {n} has {len(row)} fields, expected {len(header)}")
        a, b = row[i1].strip(), row[i2].strip()
        if not a or not b:
            raise DataError(f"{name}: row {n} has an empty sentence")
        if len(a) > MAX_LINE_CHARS or len(b) > MAX_LINE_CHARS:
            raise DataError(f"{name}: row {n} has a sentence over {MAX_LINE_CHARS:,} characters")
        s1.append(a)
        s2.append(b)
        if isc is not None:
            scores.append(parse_score(row[isc], f"{name}: row {n}"))
    return Pairs(s1, s2, np.asarray(scores, dtype=np.float64) if isc is not None else None, name=name)


def read_pairs(path: str | os.PathLike | None = None) -> Pairs:
    """Pairs from a file path (``None`` or ``"sample"``: the shipped sample pairs)."""
    if path is None or str(path) == SAMPLE:
        path = sample_pairs_path()
    return parse_pairs(read_bytes(path), name=Path(path).name)


def _is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- corpora
def looks_like_path(source: str | os.PathLike) -> bool:
    """Whether ``source`` names a local file (it exists, has a data-file suffix, or starts like a path)
    rather than a Hugging Face id."""
    p = Path(source).expanduser()
    return p.exists() or p.suffix.lower() in (".txt", ".csv", ".tsv") or str(source).startswith((".", "/", "~"))


def load_corpus(source: str | os.PathLike | None = None, max_sentences: int | None = None) -> list[str]:
    """Training sentences.

    ``None``/``"sample"``: the shipped sample; a ``.txt`` file: one sentence per line;
    a ``.csv``/``.tsv`` file: the unique sentences of its pairs (e.g. STS-B train);
    anything else that is not a path: a Hugging Face dataset id (its ``text`` column,
    or first string column, of the ``train`` split).
    """
    if source is None or str(source) == SAMPLE:
        sents = parse_lines(sample_corpus_path().read_bytes(), "sample corpus")
    else:
        p = Path(source).expanduser()
        if looks_like_path(source):
            raw = read_bytes(p)
            if p.suffix.lower() in (".csv", ".tsv"):
                sents = parse_pairs(raw, p.name).sentences()
            else:
                sents = parse_lines(raw, p.name)
        else:
            sents = load_hub_corpus(str(source))
    return sents[:max_sentences] if max_sentences else sents


def load_hub_corpus(dataset_id: str, split: str = "train") -> list[str]:
    """Sentences of a Hugging Face dataset (``text`` column or first string column)."""
    try:
        import datasets
        ds = datasets.load_dataset(dataset_id, split=split)
    except Exception as e:  # noqa: BLE001
        msg = " ".join(str(e).split())[:200]
        raise DataError(f"cannot load dataset {dataset_id!r} from the Hugging Face hub ({msg}); "
                        f"if you are offline, pass a local .txt file instead") from None
    cols = [c for c, f in ds.features.items() if getattr(f, "dtype", None) in ("string", "large_string")]
    if not cols:
        raise DataError(f"dataset {dataset_id!r} has no text column")
    col = "text" if "text" in cols else cols[0]
    sents = [s.strip() for s in ds[col] if isinstance(s, str) and s.strip()]
    if not sents:
        raise DataError(f"dataset {dataset_id!r}: column {col!r} is empty")
    return sents
