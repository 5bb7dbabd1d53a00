"""What the Compare page shows about a set of runs, without streamlit: one summary row per run (key columns
first, hyperparameters apart) and the runs' metric records merged into one table (a ``run`` column first)."""
from __future__ import annotations

import math

import pandas as pd

from .rundir import RunInfo

HPARAMS = ("temp", "margin", "lam", "alpha", "t", "lr", "batch_size", "pooler", "max_seq_length", "max_steps",
           "eval_every", "seed", "model")
STS = "stsb_dev_spearman"


def _numbers(records: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r.get("step", 0), float(r[key])) for r in records
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]


def summary_row(run: RunInfo, records: list[dict], loss_label: str, state_label: str) -> dict:
    """The key columns of a run: loss, best/last dev STS and the drop from the peak (the overfitting
    indicator), steps done and state."""
    sts = _numbers(records, STS)
    best_step, best = max(sts, key=lambda p: p[1]) if sts else (None, None)
    last = sts[-1][1] if sts else None
    steps = max((r.get("step", 0) for r in records), default=0)
    return {"run": run.name, "loss": loss_label, "best dev STS": best, "at step": best_step,
            "last dev STS": last, "drop from best": None if best is None else best - last,
            "steps": steps, "state": state_label}


def hparams_row(run: RunInfo) -> dict:
    """A run's hyperparameters (those it set), for the table behind the expander."""
    return {"run": run.name, **{k: run.config.get(k) for k in HPARAMS if run.config.get(k) is not None}}


def merged_metrics(runs_records: dict[str, list[dict]]) -> pd.DataFrame:
    """Every record of every run, one row each, in file order: ``run``, ``step``, ``elapsed_s``, then
    the union of the other keys (sorted); a key a record lacks is empty."""
    rows = [{"run": name, **r} for name, recs in runs_records.items() for r in recs]
    keys = sorted({k for r in rows for k in r} - {"run", "step", "elapsed_s"})
    columns = ["run", "step", "elapsed_s", *keys]
    return pd.DataFrame(rows, columns=columns)


def merged_metrics_csv(runs_records: dict[str, list[dict]]) -> str:
    """:func:`merged_metrics` as CSV text (header + one line per record)."""
    return merged_metrics(runs_records).to_csv(index=False)
