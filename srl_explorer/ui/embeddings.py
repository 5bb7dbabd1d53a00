"""The Embeddings page's parts: the sentence source, one map per checkpoint (coloured by gold score or by
clusters shared by both maps), PNG/CSV exports of each map, and nearest neighbours.

First visit (issue 15: 5-8 s before): a map's embeddings are stored on disk under the runs folder
(``.cache/embeddings``, keyed by checkpoint, its weights' mtime, pooler and sentences), so a map drawn once
needs neither torch nor the model again, even after a server restart; PCA is numpy's SVD (no sklearn). A
checkpoint never mapped before is encoded: the packaged model was loaded once in the background at server
start (``ui.common._warm_model_loading``), so its load takes ~0.1-0.2 s instead of ~2.5 s, and the default
is 200 pairs (about 400 sentences, ~0.7 s per checkpoint on this CPU).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from ..data import parse_lines, parse_pairs, read_pairs
from ..fmt import markdown_table
from ..projection import joint_clusters, map_table, nearest, project, sentence_set
from ..rundir import stsb_dev_file
from ..viz import scatter_2d, to_plotly
from ..viz.eval_charts import cluster_map
from .common import checkpoint_root, embed, get_encoder, read_upload

DEFAULT_PAIRS = 200
N_CLUSTERS = 8
STORE_ENTRIES = 48  # embedding files kept under <runs folder>/.cache/embeddings (~0.6 MB each by default)


@dataclass
class Sentences:
    """The sentences on the maps, each one's gold score (NaN without) and the pairs as index pairs."""

    text: list[str]
    gold: np.ndarray | None
    pairs: list[tuple[int, int]]


def source_names() -> list[str]:
    return (["STS-B dev"] if stsb_dev_file() else []) + ["Sample pairs (shipped)", "Pairs file path", "Upload"]


def load_sentences(source: str, max_pairs: int) -> Sentences:
    """The sentences of ``source`` (stops the page while a path or upload is awaited; DataError when bad)."""
    if source == "Upload":
        up = st.file_uploader("Pairs (CSV/TSV with sentence1, sentence2[, score]) or sentences (.txt)",
                              type=["csv", "tsv", "txt"])
        if up is None:
            st.stop()
        raw = read_upload(up)
        if up.name.lower().endswith(".txt"):
            lines = list(dict.fromkeys(parse_lines(raw, up.name)))[: 2 * max_pairs]
            return Sentences(lines, None, [])
        pairs = parse_pairs(raw, up.name)
    elif source == "Pairs file path":
        path = st.text_input("Path to STS-B rows or a CSV/TSV with sentence1, sentence2[, score]")
        if not path:
            st.stop()
        pairs = read_pairs(Path(path))
    else:
        pairs = read_pairs(stsb_dev_file() if source == "STS-B dev" else None)
    text, gold, idx = sentence_set(pairs.s1, pairs.s2, pairs.scores, max_pairs)
    return Sentences(text, gold, idx)


def _store_path(model: str, pooler: str | None, sentences: list[str]) -> Path:
    weights = Path(model) / "model.safetensors"
    mtime = weights.stat().st_mtime_ns if weights.is_file() else 0  # a replaced checkpoint gets a new key
    key = json.dumps([str(Path(model).resolve()) if Path(model).exists() else model, pooler, mtime, sentences])
    return checkpoint_root() / ".cache" / "embeddings" / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"


def stored_embed(model: str, pooler: str | None, sentences: list[str]) -> np.ndarray | None:
    """(N, d) embeddings from the disk store, else encoded (``ui.common.embed``) and stored (atomically;
    the oldest files beyond ``STORE_ENTRIES`` are removed). None when the model cannot be loaded."""
    path = _store_path(model, pooler, sentences)
    try:
        return np.load(path)
    except (OSError, ValueError):  # absent or unreadable: encode again
        pass
    emb = embed(model, pooler, sentences)
    if emb is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy.tmp", delete=False) as f:
            np.save(f, emb)
        os.replace(f.name, path)
        old = sorted(path.parent.glob("*.npy"), key=lambda p: p.stat().st_mtime)[:-STORE_ENTRIES]
        for p in old:
            p.unlink(missing_ok=True)
    except OSError:  # a read-only runs folder: the maps still work, only slower next time
        pass
    return emb


def embed_all(labels: list[str], choices: dict, sentences: list[str]) -> dict[str, np.ndarray]:
    """label -> (N, d) embeddings of every checkpoint that loads (an error box for one that does not)."""
    out = {}
    for label in labels:
        emb = stored_embed(*choices[label], sentences)
        if emb is not None:
            out[label] = emb
    return out


def png_bytes(chart) -> bytes:
    """The chart as a PNG drawn on the server with matplotlib (``viz.static``): on click only."""
    from ..viz import save_png
    with tempfile.TemporaryDirectory() as tmp:
        return save_png(chart, Path(tmp) / "map.png").read_bytes()


def draw_maps(embs: dict[str, np.ndarray], s: Sentences, method: str, by_cluster: bool, lines: bool) -> None:
    """One map per checkpoint, side by side, each with PNG and CSV downloads. Clusters are computed once on
    both checkpoints' embeddings of the same sentences (:func:`~srl_explorer.projection.joint_clusters`),
    so a colour is the same cluster on both maps."""
    labels = joint_clusters(list(embs.values()), N_CLUSTERS) if by_cluster else None
    for col, (name, emb) in zip(st.columns(max(len(embs), 1)), embs.items(), strict=False):
        with col:
            try:
                with st.spinner(f"{method} projection of {name}…"):
                    xy = project(emb, method)
            except (ValueError, RuntimeError) as e:
                st.error(str(e))
                continue
            pairs = s.pairs if lines else None
            chart = (cluster_map(xy, s.text, labels, pairs, title=name) if by_cluster
                     else scatter_2d(xy, s.text, s.gold, "gold", pairs, title=name))
            st.plotly_chart(to_plotly(chart), width="stretch", key=f"map-{name}",
                            config={"toImageButtonOptions": {"format": "png", "filename": "embedding-map"}})
            stem = "map-" + "".join(c if c.isalnum() else "-" for c in name).strip("-")
            table = _table_maker(xy, s, list(embs.values()))
            a, b = st.columns(2)
            a.download_button("Map (PNG)", lambda chart=chart: png_bytes(chart), f"{stem}.png", "image/png",
                              key=f"png-{name}", on_click="ignore", icon=":material/image:")
            b.download_button("Coordinates (CSV)", lambda table=table: table().to_csv(index=False).encode(),
                              f"{stem}.csv", "text/csv", key=f"csv-{name}", on_click="ignore",
                              icon=":material/table:")


def _table_maker(xy: np.ndarray, s: Sentences, embs: list[np.ndarray]):
    """The CSV of a map, built on click: one row per sentence with x, y, its shared cluster and gold score."""
    return lambda: map_table(s.text, xy, joint_clusters(embs, N_CLUSTERS), s.gold)


def neighbours(embs: dict[str, np.ndarray], choices: dict, sentences: list[str]) -> None:
    """Nearest neighbours of a typed sentence in every map's embeddings (a sentence of the set needs no encoding)."""
    st.subheader("Nearest neighbours")
    query = st.text_input("Type a sentence", value=sentences[0] if sentences else "")
    if not (query and embs):
        return
    row = sentences.index(query) if query in sentences else None
    for col, (label, emb) in zip(st.columns(len(embs)), embs.items(), strict=True):
        if row is not None:
            q = emb[row]
        else:
            enc = get_encoder(*choices[label])
            if enc is None:
                continue
            q = enc.encode([query])[0]
        idx, sims = nearest(q, emb, k=8)
        col.markdown(f"**{label}**")
        rows = [{"sentence": sentences[i], "cosine": float(c)} for i, c in zip(idx, sims, strict=True)]
        col.markdown(markdown_table(rows, {"cosine": ".3f"}))  # static: lighter than a grid or st.table

