"""The Compare page's tables without streamlit: the merged-metrics CSV against the runs' metrics.jsonl, and the
summary row's key columns."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from srl_explorer import compare, rundir

RUNS = {
    "a-infonce": [{"step": 0, "elapsed_s": 0.0, "stsb_dev_spearman": 40.0, "dev_align": 0.5, "dev_uniform": -2.0},
                  {"step": 1, "elapsed_s": 0.8, "loss": 2.5, "pos_prob": 0.1, "grad_norm_z": 0.01},
                  {"step": 2, "elapsed_s": 1.6, "loss": 2.1, "pos_prob": 0.2, "grad_norm_z": 0.02,
                   "stsb_dev_spearman": 55.5},
                  {"step": 3, "elapsed_s": 2.4, "loss": 1.9, "pos_prob": 0.3, "grad_norm_z": 0.01,
                   "stsb_dev_spearman": 51.0}],
    "b-cancelled": [{"step": 0, "elapsed_s": 0.0, "stsb_dev_spearman": 38.0}],  # one point, then cancelled
}


def write_run(root: Path, name: str, records: list[dict], loss: str) -> Path:
    d = root / name
    d.mkdir()
    rundir.atomic_write_json(d / "config.json", {"loss": loss, "lr": 3e-5, "batch_size": 8})
    rundir.atomic_write_json(d / "status.json", {"state": "finished", "step": len(records)})
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return d


def test_merged_csv_rows_equal_the_metrics_files(tmp_path):
    read = {}
    for name, recs in RUNS.items():
        d = write_run(tmp_path, name, recs, "infonce")
        read[name], _ = rundir.read_metrics(d / "metrics.jsonl")
    rows = list(csv.DictReader(io.StringIO(compare.merged_metrics_csv(read))))
    assert len(rows) == sum(len(r) for r in RUNS.values())  # guard: one CSV row per metric line
    expected = [(name, rec) for name, recs in RUNS.items() for rec in recs]
    for row, (name, rec) in zip(rows, expected, strict=True):
        assert row["run"] == name
        assert {k: float(v) for k, v in row.items() if k != "run" and v != ""} == pytest.approx(rec)
    assert list(rows[0])[:3] == ["run", "step", "elapsed_s"]


def test_summary_row_key_columns(tmp_path):
    write_run(tmp_path, "a-infonce", RUNS["a-infonce"], "infonce")
    [run] = rundir.list_runs(tmp_path)
    row = compare.summary_row(run, RUNS["a-infonce"], "InfoNCE", "finished")
    assert list(row)[:6] == ["run", "loss", "best dev STS", "at step", "last dev STS", "drop from best"]
    assert (row["best dev STS"], row["at step"], row["last dev STS"]) == (55.5, 2, 51.0)
    assert row["drop from best"] == pytest.approx(4.5) and row["steps"] == 3
    assert compare.hparams_row(run) == {"run": "a-infonce", "lr": 3e-5, "batch_size": 8}


def test_summary_row_best_is_after_step_0(tmp_path):
    """The start scores highest here: best is still the best evaluation after training began (issue 14)."""
    falling = [{"step": 0, "stsb_dev_spearman": 92.4}, {"step": 1, "loss": 0.0, "grad_norm": 0.0},
               {"step": 2, "loss": 0.0, "grad_norm": 0.0, "stsb_dev_spearman": 90.0},
               {"step": 4, "loss": 0.0, "grad_norm": 0.0, "stsb_dev_spearman": 89.0}]
    write_run(tmp_path, "c-mpt", falling, "mpt")
    [run] = rundir.list_runs(tmp_path)
    row = compare.summary_row(run, falling, "MPT", "finished")
    assert (row["best dev STS"], row["at step"], row["dev STS at step 0"]) == (90.0, 2, 92.4)
    assert row["trained"] == "did not train"
    cancelled = compare.summary_row(run, RUNS["b-cancelled"], "InfoNCE", "cancelled")
    assert cancelled["best dev STS"] is None and cancelled["dev STS at step 0"] == 38.0
