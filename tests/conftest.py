"""Shared fixtures: a tiny random BERT (built from a config, saved like a real model dir)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench._tiny_bert import make_tiny_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED_STSB = ROOT.parent / "shared" / "data" / "stsbenchmark"
if SHARED_STSB.is_dir():  # the user-data rule of srl_explorer.rundir.data_dir(), pointed at the shared copy
    os.environ.setdefault("SRL_DATA_DIR", str(SHARED_STSB))

needs_stsb = pytest.mark.skipif(not (SHARED_STSB / "sts-dev.csv").exists(),
                                reason="../shared/data/stsbenchmark is not present")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture
def stsb_dir() -> Path:
    if not (SHARED_STSB / "sts-dev.csv").exists():
        pytest.skip("../shared/data/stsbenchmark is not present")
    return SHARED_STSB


def markdown_tables(at) -> list:
    """The Markdown tables an AppTest drew (``fmt.markdown_table`` through ``st.markdown``), as DataFrames:
    numbers parsed ("–": NaN), text cells unescaped."""
    import re

    import pandas as pd

    def cell(text: str):
        text = re.sub(r"\\(.)", r"\1", text.strip())
        try:
            return float("nan") if text == "–" else float(text)
        except ValueError:
            return text

    out = []
    for md in at.markdown:
        lines = md.value.splitlines()
        if len(lines) < 2 or not lines[0].startswith("| ") or not re.fullmatch(r"\|(-+:?\|)+", lines[1]):
            continue
        rows = [[cell(c) for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[:1] + lines[2:]]
        out.append(pd.DataFrame(rows[1:], columns=rows[0]))
    return out
