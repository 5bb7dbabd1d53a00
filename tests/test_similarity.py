"""Scoring uploaded pairs, and the app's upload checks (parsed directly: AppTest cannot upload)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from srl_explorer.data import DataError, Pairs, parse_pairs
from srl_explorer.encoder import Encoder
from srl_explorer.jobs import corpus_from_upload
from srl_explorer.similarity import gold_correlations, score_pairs

PAIRS_CSV = (b"sentence1,sentence2,score\n"
             b"A man plays guitar.,A man is playing a guitar.,4.8\n"
             b"A cat sleeps.,Stock prices fell.,0.2\n"
             b"A dog runs on grass.,A dog is running outside.,4.0\n"
             b"A man plays guitar.,Stock prices fell.,0.5\n")


@pytest.fixture(scope="module")
def encoder(tiny_model):
    return Encoder.from_pretrained(tiny_model)


def test_cosines_match_the_encoder(encoder):
    pairs = parse_pairs(PAIRS_CSV, "pairs.csv")
    df = score_pairs(encoder, pairs)
    assert list(df.columns) == ["sentence1", "sentence2", "cosine", "score"]
    a, b = encoder.encode(pairs.s1), encoder.encode(pairs.s2)
    np.testing.assert_allclose(df["cosine"], (a * b).sum(1), atol=1e-5)
    np.testing.assert_array_equal(df["score"], [4.8, 0.2, 4.0, 0.5])
    assert df.to_csv(index=False).startswith("sentence1,sentence2,cosine,score\n")


def test_correlations_match_scipy(encoder):
    df = score_pairs(encoder, parse_pairs(PAIRS_CSV, "pairs.csv"))
    stats = gold_correlations(df)
    assert stats["n"] == 4
    assert stats["spearman"] == pytest.approx(spearmanr(df["cosine"], df["score"]).statistic * 100)
    assert stats["pearson"] == pytest.approx(pearsonr(df["cosine"], df["score"]).statistic * 100)


def test_no_correlations_without_usable_gold(encoder):
    unscored = score_pairs(encoder, parse_pairs(b"sentence1\tsentence2\na\tb\nc\td\ne\tf\n", "p.tsv"))
    assert "score" not in unscored and gold_correlations(unscored) is None
    constant = score_pairs(encoder, Pairs(["a", "c", "e"], ["b", "d", "f"], np.array([2.0, 2.0, 2.0])))
    assert gold_correlations(constant) is None
    assert gold_correlations(constant.head(2)) is None


@pytest.mark.parametrize("raw, message", [
    (b"", "the file is empty"),
    (b"  \n\n", "the file is empty"),
    (b"text,label\nhello,1\n", "missing column(s) sentence1, sentence2"),
    (b"sentence1,sentence2,score\n", "only a header"),
    ("sentence1,sentence2\ncaf\xe9,th\xe9\n".encode("latin-1"), "not valid UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
    (b"sentence1,sentence2,score\na,b,seven\n", "is not a number"),
    (b"sentence1,sentence2,score\na,b,9\n", "outside [0, 5]"),
])
def test_bad_pair_uploads_are_one_line_messages(raw, message):
    with pytest.raises(DataError) as e:
        parse_pairs(raw, "upload.csv")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_corpus_upload_smaller_than_a_batch_is_refused():
    with pytest.raises(DataError, match="3 sentence\\(s\\), fewer than the batch size 32"):
        corpus_from_upload(b"one\ntwo\nthree\n", "tiny.txt", 32)


def test_uploads_over_the_size_limit_are_refused(monkeypatch):
    common = pytest.importorskip("srl_explorer.ui.common")
    from streamlit.proto.Common_pb2 import FileURLs
    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the limit comes from .streamlit/config.toml
    limit = common.upload_limit_mb()
    assert limit == 50
    small = UploadedFile(UploadedFileRec("1", "pairs.csv", "text/csv", PAIRS_CSV), FileURLs())
    assert common.read_upload(small) == PAIRS_CSV
    big = UploadedFile(UploadedFileRec("2", "huge.csv", "text/csv", b"x" * (limit * 1024 * 1024 + 1)), FileURLs())
    with pytest.raises(DataError, match=f"huge.csv: 50.0 MB is over the {limit} MB upload limit"):
        common.read_upload(big)
    with pytest.raises(DataError, match="over the 1 MB upload limit"):
        common.check_upload_size(2 * 1024 * 1024, "x.txt", limit_mb=1)
