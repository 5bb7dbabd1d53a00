"""Bad inputs across the upload parsers, the loaders and the CLI: each is one clear line, never a traceback."""
from __future__ import annotations

import numpy as np
import pytest

from srl_explorer.cli import main
from srl_explorer.data import DataError, load_corpus, parse_lines, parse_pairs, read_pairs

GOOD_CSV = b"sentence1,sentence2,score\nA man plays.,A man is playing.,4.5\nA cat.,A plane lands.,0.2\n"

# (case id, raw bytes, expected message fragment)
PAIR_CASES = [
    ("empty file", b"", "empty"),
    ("whitespace only", b" \n\n \r\n", "empty"),
    ("binary file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("non-UTF-8 bytes", "sentence1,sentence2\ncaf\xe9,ol\xe9\n".encode("latin-1"), "not valid UTF-8"),
    ("missing columns", b"text,label\nhello,1\n", "missing column(s) sentence1, sentence2"),
    ("header only", b"sentence1,sentence2,score\n", "only a header"),
    ("duplicate headers", b"sentence1,sentence1,sentence2\na,b,c\n", "duplicate column"),
    ("non-numeric score", b"sentence1,sentence2,score\na,b,high\n", "'high' is not a number"),
    ("NaN score", b"sentence1,sentence2,score\na,b,nan\n", "not finite"),
    ("inf score", b"sentence1,sentence2,score\na,b,inf\n", "not finite"),
    ("out-of-range score", b"sentence1,sentence2,score\na,b,7.5\n", "outside [0, 5]"),
    ("negative score", b"sentence1\tsentence2\tscore\na\tb\t-1\n", "outside [0, 5]"),
    ("short STS-B row", b"main-captions\tMSRvid\t2012test\t0001\t5.000\tonly one sentence\n", "STS-B rows need 7"),
    ("empty sentence", b"sentence1,sentence2\n,b\n", "empty sentence"),
    ("ragged row", b"sentence1,sentence2,score\na\n", "has 1 fields"),
    ("1 MB line", b"sentence1,sentence2\n" + b"x" * 1_000_000 + b",b\n", "is not supported"),
]


@pytest.mark.parametrize("case, raw, message", PAIR_CASES, ids=[c[0] for c in PAIR_CASES])
def test_bad_pair_files(case, raw, message):
    with pytest.raises(DataError) as e:
        parse_pairs(raw, "upload.csv")
    text = str(e.value)
    assert "\n" not in text and text.startswith("upload.csv")
    assert message in text


def test_good_pairs_with_bom_and_crlf_parse():
    for raw in (GOOD_CSV, b"\xef\xbb\xbf" + GOOD_CSV, GOOD_CSV.replace(b"\n", b"\r\n"),
                GOOD_CSV.replace(b",", b"\t")):
        pairs = parse_pairs(raw, "ok.csv")
        assert pairs.s1 == ["A man plays.", "A cat."] and pairs.s2[1] == "A plane lands."
        np.testing.assert_allclose(pairs.scores, [4.5, 0.2])


def test_stsb_rows_with_extra_columns_and_quotes():
    row = 'main-news\theadlines\t2013\t0001\t3.800\tHe said "no" to it\tHe said no.\textra\tmore\n'
    pairs = parse_pairs(row.encode(), "sts.csv")
    assert pairs.s1 == ['He said "no" to it'] and pairs.scores[0] == 3.8


@pytest.mark.parametrize("raw, message", [
    (b"", "empty"), (b"\x00\x01\x02binary", "binary"), (b"\xff\xfe bad", "not valid UTF-8"),
    (b"x" * 1_000_001, "limit 100,000"),
])
def test_bad_corpus_uploads(raw, message):
    with pytest.raises(DataError, match=message):
        parse_lines(raw, "corpus.txt")


def test_corpus_with_bom_and_crlf():
    assert parse_lines(b"\xef\xbb\xbfone\r\ntwo\r\n\r\n three \n", "c.txt") == ["one", "two", "three"]


def test_loader_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a directory"):
        read_pairs(tmp_path)
    with pytest.raises(DataError, match="cannot load dataset 'no-such/dataset'.*offline"):
        load_corpus("no-such/dataset")


def run_cli(capsys, *argv) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip()


@pytest.mark.parametrize("make_args, message", [
    (lambda d, m: ["--train-file", str(d / "missing.txt")], "no such file"),
    (lambda d, m: ["--train-file", str(d / "empty.txt")], "the file is empty"),
    (lambda d, m: ["--train-file", str(d / "binary.txt")], "binary"),
    (lambda d, m: ["--train-file", str(d / "few.txt")], "fewer than the global batch size"),
    (lambda d, m: ["--dev-file", str(d / "bad_dev.csv")], "missing column(s)"),
    (lambda d, m: ["--model", "no-such-org/no-such-model"], "cannot load model"),
    (lambda d, m: ["--max-steps", "0"], "--max-steps must be at least 1"),
    (lambda d, m: ["--batch-size", "1"], "--batch-size must be at least 2"),
    (lambda d, m: ["--loss", "triplet"], "invalid choice: 'triplet'"),
    (lambda d, m: ["--batch-size", "many"], "invalid int value: 'many'"),
    (lambda d, m: ["--resume", str(d)], "not a run directory"),
])
def test_cli_bad_inputs(tiny_model, tmp_path, capsys, make_args, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 10)
    (tmp_path / "few.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "bad_dev.csv").write_text("a,b\nc,d\n")
    args = ["--model", tiny_model, "--batch-size", "8", "--max-steps", "2", "--output-dir", str(tmp_path / "run")]
    code, err = run_cli(capsys, "train", *args, *make_args(tmp_path, tiny_model))
    assert code == 2, err
    assert message in err
    assert len(err.splitlines()) == 1
