"""2-D projections (UMAP, PCA), clusters and nearest neighbours for the Embeddings page.

Projections are cached by a hash of the embeddings and settings, so re-colouring never
recomputes them. ``warm_up_umap`` compiles umap-learn's numba code in the background
when the app starts (a cold first UMAP costs ~40 s here).
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

import numpy as np

METHODS = ("UMAP", "PCA")
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_LOCK = threading.Lock()
_WARM = {"started": False, "done": False, "seconds": None, "error": None}


def _key(x: np.ndarray, *settings) -> str:
    h = hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(repr(settings).encode())
    return h.hexdigest()


def project(x: np.ndarray, method: str = "UMAP", seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """(N, d) embeddings -> (N, 2) coordinates, cached. UMAP uses the cosine metric."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose UMAP or PCA")
    if len(x) < 3:
        raise ValueError("need at least 3 sentences to project")
    key = _key(x, method, seed, n_neighbors)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    if method == "PCA":
        from sklearn.decomposition import PCA
        out = PCA(n_components=2, random_state=seed).fit_transform(x)
    else:
        import umap
        out = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x) - 1), metric="cosine",
                        random_state=seed, n_jobs=1).fit_transform(x)
    out = np.asarray(out, dtype=np.float32)
    with _LOCK:
        _CACHE[key] = out
        while len(_CACHE) > 32:
            _CACHE.popitem(last=False)
    return out


def clusters(x: np.ndarray, k: int = 8, seed: int = 0) -> np.ndarray:
    """KMeans labels (N,) on the embeddings."""
    from sklearn.cluster import KMeans
    k = max(1, min(k, len(x)))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(x)


def nearest(query: np.ndarray, x: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of normalized ``x`` (N, d) by cosine to ``query`` (d,): (indices, cosines)."""
    sims = x @ query
    idx = np.argsort(-sims)[:k]
    return idx, sims[idx]


def warm_up_umap(n: int = 4500, dim: int = 32) -> threading.Thread | None:
    """Compile UMAP's numba kernels in a daemon thread (once per process). Uses > 4096 points so the
    nearest-neighbour-descent path that large sets take is compiled too."""
    with _LOCK:
        if _WARM["started"]:
            return None
        _WARM["started"] = True

    def work():
        t0 = time.time()
        try:
            import umap
            rng = np.random.default_rng(0)
            umap.UMAP(n_components=2, metric="cosine", random_state=0, n_jobs=1, n_epochs=20).fit_transform(
                rng.normal(size=(n, dim)).astype(np.float32))
        except Exception as e:  # noqa: BLE001 - warm-up is best effort; the real call reports errors
            _WARM["error"] = str(e)
        _WARM.update(done=True, seconds=time.time() - t0)

    t = threading.Thread(target=work, name="umap-warmup", daemon=True)
    t.start()
    return t


def warm_up_state() -> dict:
    return dict(_WARM)
