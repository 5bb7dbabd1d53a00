"""Projections (PCA, UMAP in its worker process), the content cache, clusters, neighbours."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from srl_explorer import projection as P


def blobs(n_per: int = 60, d: int = 48, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k well-separated clusters on the unit sphere: (k*n_per, d) float32 and labels (k*n_per,)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 4
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.repeat(np.arange(k), n_per)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_pca_matches_the_top_two_principal_axes():
    x, _ = blobs()
    xy = P.project(x, "PCA")
    centred = x - x.mean(0)
    _, vecs = np.linalg.eigh(np.cov(centred, rowvar=False))
    expected = centred @ vecs[:, ::-1][:, :2]  # (N, 2)
    np.testing.assert_allclose(np.abs(xy), np.abs(expected), atol=1e-4)


def test_projections_are_cached_by_content_and_settings():
    x, _ = blobs(seed=1)
    first = P.project(x, "PCA")
    assert P.project(x.copy(), "PCA") is first  # same content: the cached array itself
    assert not first.flags.writeable  # shared between sessions, so read-only
    assert P.project(x, "PCA", seed=1) is not first
    y = x.copy()
    y[0, 0] += 1e-3
    assert P.project(y, "PCA") is not first
    assert P.content_key(x, "a") != P.content_key(x.reshape(len(x) * 2, -1), "a")


def test_clusters_recover_separated_groups_and_are_cached():
    x, labels = blobs(seed=2)
    found = P.clusters(x, k=3)
    assert found.shape == labels.shape and same_partition(found, labels)
    assert P.clusters(x, k=3) is found
    assert P.clusters(x[:2], k=8).max() <= 1  # k is capped at N


def test_nearest_matches_brute_force():
    x, _ = blobs(seed=3)
    q = x[5]
    idx, sims = P.nearest(q, x, k=7)
    order = np.argsort(-(x @ q), kind="stable")[:7]
    np.testing.assert_array_equal(np.sort(idx), np.sort(order))
    assert idx[0] == 5 and sims[0] == pytest.approx(1.0, abs=1e-5) and np.all(np.diff(sims) <= 0)
    assert len(P.nearest(q, x[:3], k=10)[0]) == 3


def test_bad_inputs_are_one_line_errors():
    x, _ = blobs()
    with pytest.raises(ValueError, match="unknown projection 'TSNE'"):
        P.project(x, "TSNE")
    with pytest.raises(ValueError, match="at least 3 sentences"):
        P.project(x[:2], "PCA")
    big = np.zeros((P.MAX_UMAP_POINTS + 1, 4), np.float32)
    with pytest.raises(ValueError, match="UMAP is limited"):
        P.project(big, "UMAP")


def test_sentence_set_dedupes_and_keeps_pairs_and_gold():
    s1, s2 = ["a", "b", "a", "d"], ["b", "c", "e", "f"]
    sentences, gold, pairs = P.sentence_set(s1, s2, np.array([1.0, 2.0, 3.0, 4.0]), max_pairs=3)
    assert sentences == ["a", "b", "c", "e"]
    assert pairs == [(0, 1), (1, 2), (0, 3)]
    np.testing.assert_array_equal(gold, [1.0, 1.0, 2.0, 3.0])  # a sentence keeps its first pair's score
    _, no_gold, _ = P.sentence_set(s1, s2)
    assert np.isnan(no_gold).all()


def test_umap_runs_in_a_warm_worker_even_under_a_streamlit_style_main(tmp_path):
    """Streamlit installs the page script as __main__; the spawned worker must not run it."""
    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('the page script ran inside the UMAP worker')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    saved = sys.modules["__main__"]
    P.shutdown_worker()
    sys.modules["__main__"] = fake_main
    try:
        warm = P.warm_up_umap()
        assert P.warm_up_umap() is warm  # once per process
        assert warm.result(timeout=600) > 0
    finally:
        sys.modules["__main__"] = saved
    state = P.warm_up_state()
    assert state["done"] and state["error"] is None
    x, labels = blobs(n_per=80, seed=4)
    xy = P.project(x, "UMAP")
    assert xy.shape == (len(x), 2) and np.isfinite(xy).all()
    assert same_partition(P.clusters(xy, k=3), labels)  # the groups stay apart in 2-D
    assert P.project(x, "UMAP") is xy


def test_cosine_knn_against_brute_force():
    from sklearn.neighbors import NearestNeighbors
    x, _ = blobs(n_per=50, seed=5)
    x = x * np.random.default_rng(0).uniform(0.5, 3.0, size=(len(x), 1)).astype(np.float32)  # not unit length
    idx, dist = P.cosine_knn(x, 7, chunk=33)  # chunks that do not divide N
    ref_d, ref_i = NearestNeighbors(n_neighbors=7, metric="cosine", algorithm="brute").fit(x).kneighbors(x)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, atol=1e-5)
    assert (idx[:, 0] == np.arange(len(x))).all() and (dist[:, 0] == 0).all() and (dist >= 0).all()
    assert idx.dtype == np.int64 and dist.dtype == np.float32


def test_umap_graph_equals_umap_learns_own_cosine_graph():
    """Our exact neighbours give the graph umap-learn builds with metric='cosine' itself."""
    import umap
    x, _ = blobs(n_per=60, seed=7)
    ours, _ = P._umap_reducer(x, 0, 15, n_epochs=10)
    ref = umap.UMAP(n_neighbors=15, metric="cosine", random_state=0, n_jobs=1, n_epochs=10).fit(x)
    a, b = ours.graph_.tocsr(), ref.graph_.tocsr()
    assert ((a != 0) != (b != 0)).nnz == 0  # the same neighbour edges
    assert abs(a - b).max() < 1e-3  # and memberships


def test_umap_above_umap_learns_small_data_limit():
    """4,100 points: umap-learn would switch to NN-descent; we keep exact neighbours."""
    x, labels = blobs(n_per=1367, d=16, seed=8)
    reducer, xy = P._umap_reducer(x[:4100], 0, 15, n_epochs=20)
    assert reducer._knn_search_index is None  # no NN-descent index was built
    assert xy.shape == (4100, 2) and np.isfinite(xy).all()
    assert same_partition(P.clusters(xy, k=3), labels[:4100])
