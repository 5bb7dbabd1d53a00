"""What the Compare page shows about a set of runs, without streamlit: one summary row per run (key columns
first, hyperparameters apart) and the runs' metric records merged into one table (a ``run`` column first)."""
from __future__ import annotations

import pandas as pd

from .rundir import RunInfo
from .runstats import best_eval, did_not_train, evaluations, start_eval

HPARAMS = ("temp", "margin", "lam", "alpha", "t", "lr", "batch_size", "pooler", "max_seq_length", "max_steps",
           "eval_every", "seed", "model")
STS = "stsb_dev_spearman"


def summary_row(run: RunInfo, records: list[dict], loss_label: str, state_label: str) -> dict:
    """The key columns of a run: loss, best/last dev STS and the drop from the peak (the overfitting
    indicator), steps done and state, then the dev STS at step 0 (the start) and whether it trained.
    *Best* is the best evaluation after training began (:mod:`srl_explorer.runstats`), never the start."""
    best = best_eval(records, STS)
    trained = [v for s, v in evaluations(records, STS) if s > 0]
    last = trained[-1] if trained else None
    steps = max((r.get("step", 0) for r in records), default=0)
    return {"run": run.name, "loss": loss_label, "best dev STS": best[0] if best else None,
            "at step": best[1] if best else None, "last dev STS": last,
            "drop from best": None if best is None else best[0] - last,
            "steps": steps, "state": state_label, "dev STS at step 0": start_eval(records, STS),
            "trained": "did not train" if did_not_train(records) else ""}


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
