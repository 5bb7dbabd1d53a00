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
