"""2-D projections (UMAP, PCA), KMeans clusters and nearest neighbours for the Embeddings page.

Results are cached by a hash of the embeddings and the settings, so re-colouring or toggling
pair lines never recomputes them. UMAP runs in one long-lived worker process: numba's
compiled kernels live there, and compiling them never holds the GIL of the app's server.
``warm_up_umap()`` starts that worker and compiles the kernels in the background when the app
starts, so the first map does not wait for it.

UMAP gets exact cosine neighbours from chunked BLAS products (``cosine_knn``). Left to itself,
umap-learn calls a numba distance once per pair from Python below 4,096 points (4,000 points:
27 s of 31 s) and compiles NN-descent above (~20 s on first use here).
"""
from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import sys
import threading
import time
import types
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from .data import Pairs, sentence_index

METHODS = ("UMAP", "PCA")
MAX_UMAP_POINTS = 20_000
_CACHE_SIZE = 64
_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_lock = threading.Lock()
_warm_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_warm: Future | None = None
_warm_started = 0.0


# --------------------------------------------------------------------------- cache
def content_key(x: np.ndarray, *settings) -> str:
    """sha1 of the array's bytes, shape and the settings."""
    x = np.ascontiguousarray(x)
    h = hashlib.sha1(x.tobytes())
    h.update(repr((x.shape, str(x.dtype), settings)).encode())
    return h.hexdigest()


def _cached(key: str, compute) -> np.ndarray:
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    out = compute()
    out.flags.writeable = False  # shared between sessions
    with _lock:
        _cache[key] = out
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return out


def cache_info() -> int:
    """Number of cached results."""
    with _lock:
        return len(_cache)


# --------------------------------------------------------------------------- UMAP worker
def _watch_parent(parent: int) -> None:
    """Worker initializer: run at a lower CPU priority than the app's server (its numba compile at
    start-up must not slow the first pages), and exit when the app's process is gone (never an orphan)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2.0)
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


def cosine_knn(x: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of each row of ``x`` (N, d) by cosine distance 1 - cos, the row itself
    first at distance 0: (indices (N, k) int64, distances (N, k) float32, ascending). One BLAS product
    per chunk of rows, so memory stays at chunk x N."""
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    idx, dist = np.empty((n, k), np.int64), np.empty((n, k), np.float32)
    for s in range(0, n, chunk):
        d = np.clip(1.0 - x[s:s + chunk] @ x.T, 0.0, 2.0)  # (c, N), clamped: rounding gives -1e-7
        rows = np.arange(len(d))
        d[rows, s + rows] = 0.0
        part = np.argpartition(d, k - 1, axis=1)[:, :k]  # (c, k) unordered
        pd = np.take_along_axis(d, part, 1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx[s:s + chunk], dist[s:s + chunk] = np.take_along_axis(part, order, 1), np.take_along_axis(pd, order, 1)
    return idx, dist


def _umap_reducer(x: np.ndarray, seed: int, n_neighbors: int, n_epochs: int | None = None):
    """A fitted umap.UMAP (cosine geometry, exact neighbours, single-threaded, seeded) and its
    2-D embedding (N, 2) float32 of ``x`` (N, d)."""
    import warnings

    import umap
    k = min(n_neighbors, len(x) - 1)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, metric="cosine", precomputed_knn=cosine_knn(x, k),
                        random_state=seed, n_jobs=1, n_epochs=n_epochs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(knn_search_index|n_jobs|transform).*")
        y = reducer.fit_transform(x)
    return reducer, np.asarray(y, dtype=np.float32)


def _umap_fit(x: np.ndarray, seed: int, n_neighbors: int, n_epochs: int | None = None) -> np.ndarray:
    """Runs in the worker: (N, d) -> (N, 2) float32."""
    return _umap_reducer(x, seed, n_neighbors, n_epochs)[1]


def _umap_warm() -> float:
    """Runs in the worker: compile umap-learn's kernels on random normalized data; returns seconds."""
    t0 = time.time()
    x = np.random.default_rng(0).normal(size=(300, 64)).astype(np.float32)
    _umap_fit(x / np.linalg.norm(x, axis=1, keepdims=True), 0, 15, n_epochs=30)
    return time.time() - t0


@contextlib.contextmanager
def _neutral_main():
    """Streamlit installs the page script as ``__main__``; a spawned child would re-run it.
    The worker is started (on submit) with an empty ``__main__`` in its place."""
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


def _submit(fn, *args) -> Future:
    pool = _get_pool()
    with _lock, _neutral_main():
        return pool.submit(fn, *args)


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_watch_parent, initargs=(os.getpid(),))
        return _pool


def stop_worker() -> None:
    """Kill the worker, do not wait for it: when the app's server shuts down (its lifespan, ui.page) and when the
    interpreter does. ``concurrent.futures`` otherwise joins its pools at exit, and its worker finishes the task
    at hand first: the ~40 s numba compile of :func:`warm_up_umap` held the server for up to 18 s. Registered
    with ``threading._register_atexit`` (as ``concurrent.futures`` is, and after it, so it runs before that
    join); plain ``atexit`` would run after it. (uvicorn ends the server on SIGTERM or Ctrl-C by raising the
    signal again once it has shut down, so no exit hook runs there: the lifespan's shutdown stops the worker.)"""
    with _lock:
        pool = _pool
    if pool is None:
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):  # already gone
            proc.kill()
    _reset_pool()


threading._register_atexit(stop_worker)  # noqa: SLF001 - the stdlib hook concurrent.futures uses


def _reset_pool() -> None:
    global _pool, _warm
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool, _warm = None, None


def warm_up_umap() -> Future:
    """Start the UMAP worker and compile its kernels in the background (once per process)."""
    global _warm, _warm_started
    with _warm_lock:
        if _warm is None:
            _warm_started = time.time()
            _warm = _submit(_umap_warm)
        return _warm


def warm_up_state() -> dict:
    """{started, done, seconds (compile time in the worker), error}."""
    with _lock:
        fut = _warm
    if fut is None:
        return {"started": False, "done": False, "seconds": None, "error": None}
    if not fut.done():
        return {"started": True, "done": False, "seconds": time.time() - _warm_started, "error": None}
    err = fut.exception()
    return {"started": True, "done": True, "seconds": None if err else fut.result(),
            "error": None if err is None else f"{type(err).__name__}: {err}"}


def shutdown_worker() -> None:
    """Stop the UMAP worker (it also exits on its own when this process ends)."""
    _reset_pool()


def _umap(x: np.ndarray, seed: int, n_neighbors: int) -> np.ndarray:
    for attempt in (1, 2):
        try:
            return _submit(_umap_fit, x, seed, n_neighbors).result()
        except BrokenProcessPool:  # the worker died (e.g. out of memory): start a fresh one once
            _reset_pool()
            if attempt == 2:
                raise RuntimeError("the UMAP worker process crashed; try PCA or fewer sentences") from None
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- public API
def project(x: np.ndarray, method: str = "UMAP", seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """(N, d) embeddings -> (N, 2) coordinates, cached by content. UMAP uses the cosine metric."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose UMAP or PCA")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"need at least 3 sentences to project, got {len(x)}")
    if method == "UMAP" and len(x) > MAX_UMAP_POINTS:
        raise ValueError(f"UMAP is limited to {MAX_UMAP_POINTS:,} sentences here, got {len(x):,}; "
                         "use PCA or fewer pairs")

    def compute() -> np.ndarray:
        if method == "PCA":  # numpy's SVD: no sklearn import on a page's first visit (~1 s here)
            centred = x - x.mean(0)  # (N, d)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (min(N, d), d), by singular value
            axes = vt[:2] * np.where(vt[:2].max(1) >= -vt[:2].min(1), 1.0, -1.0)[:, None]  # largest loading > 0
            return (centred @ axes.T).astype(np.float32)  # (N, 2)
        return _umap(x, seed, n_neighbors)

    return _cached(content_key(x, method, seed, n_neighbors), compute)


def clusters(x: np.ndarray, k: int = 8, seed: int = 0) -> np.ndarray:
    """KMeans labels (N,) int of the (N, d) embeddings, cached by content."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = max(1, min(k, len(x)))

    def compute() -> np.ndarray:
        from sklearn.cluster import KMeans
        return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(x).astype(np.int32)

    return _cached(content_key(x, "kmeans", k, seed), compute)


def joint_clusters(embeddings: list[np.ndarray], k: int = 8, seed: int = 0) -> np.ndarray:
    """One KMeans label (N,) per sentence from several checkpoints' embeddings of the *same* N sentences
    (each (N, d_i), L2-normalized; the d_i may differ), so a cluster means the same on every map.

    The features are the checkpoints' embeddings side by side, (N, Σ d_i): the squared distance between two
    sentences is then the sum of their squared distances in each checkpoint, so every checkpoint weighs the
    same and a sentence gets one label, not one per map. With one checkpoint this is :func:`clusters`."""
    if not embeddings:
        raise ValueError("joint_clusters needs at least one embedding matrix")
    n = {len(e) for e in embeddings}
    if len(n) != 1:
        raise ValueError(f"joint_clusters needs the same sentences in every matrix, got row counts {sorted(n)}")
    return clusters(np.hstack([np.asarray(e, dtype=np.float32) for e in embeddings]), k, seed)


def map_table(sentences: list[str], coords: np.ndarray, labels: np.ndarray | None = None,
              gold: np.ndarray | None = None):
    """The export of a map: a DataFrame with one row per sentence, its 2-D coordinates ``x``, ``y``, its
    ``cluster`` (1-based, as in the legend) and its ``gold score`` (empty without)."""
    import pandas as pd
    table = pd.DataFrame({"sentence": sentences, "x": coords[:, 0], "y": coords[:, 1]})
    if labels is not None:
        table["cluster"] = np.asarray(labels) + 1
    table["gold score"] = gold if gold is not None else np.nan
    return table


def nearest(query: np.ndarray, x: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of L2-normalized ``x`` (N, d) by cosine to a normalized ``query`` (d,):
    (indices (k,), cosines (k,)), most similar first."""
    sims = x @ query  # (N,)
    k = min(k, len(sims))
    idx = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    return idx, sims[idx]


def sentence_set(s1: list[str], s2: list[str], scores: np.ndarray | None = None,
                 max_pairs: int | None = None) -> tuple[list[str], np.ndarray, list[tuple[int, int]]]:
    """The unique sentences of the first ``max_pairs`` pairs (first-seen order), each one's gold
    score (N,) float (NaN without scores; a sentence in several pairs keeps its first pair's score),
    and the (i, j) sentence indices of every pair."""
    n = len(s1) if max_pairs is None else min(max_pairs, len(s1))
    sentences, [(i1, i2)] = sentence_index(Pairs(s1[:n], s2[:n]))
    gold = np.full(len(sentences), np.nan)
    pairs = list(zip(i1.tolist(), i2.tolist()))
    if scores is not None:
        for (i, j), g in zip(reversed(pairs), scores[:n][::-1]):
            gold[i] = gold[j] = g
    return sentences, gold, pairs
