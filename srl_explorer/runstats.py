"""What a run's metric records say about it, with one definition each, used by the trainer's status, the
Train and Compare pages, the checkpoint pickers, the Paper page and the report.

- **start**: the dev evaluation at step 0, the model before any training;
- **best**: the best dev evaluation *after training began* (step > 0), never the start, so the ``best/``
  checkpoint is never the untrained model;
- **did not train**: every logged training step (step >= 1) had a loss of exactly 0, a parameter gradient
  of exactly 0, or no active hinge (``active_frac`` 0). Each of these means a zero gradient, so AdamW
  (without weight decay) did not move the parameters: such a run is not evidence of anything, and never
  counts as a tie with another loss.

Pure Python on the records of ``metrics.jsonl`` (no torch, no numpy), so any page can use it.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

DEV_METRIC = "stsb_dev_spearman"
IDLE_KEYS = ("loss", "grad_norm", "active_frac")  # a step is idle when any of these is exactly 0
DID_NOT_TRAIN = ("did not train: every logged step had a zero loss, a zero parameter gradient or no active "
                 "hinge, so the parameters did not move")


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def evaluations(records: Iterable[dict], key: str = DEV_METRIC) -> list[tuple[int, float]]:
    """(step, value) of every finite ``key`` in the records, in order."""
    return [(int(r.get("step", 0)), float(r[key])) for r in records if _finite(r.get(key))]


def start_eval(records: Iterable[dict], key: str = DEV_METRIC) -> float | None:
    """The evaluation at step 0 (the starting model), or None."""
    return next((v for s, v in evaluations(records, key) if s == 0), None)


def best_eval(records: Iterable[dict], key: str = DEV_METRIC) -> tuple[float, int] | None:
    """(value, step) of the best evaluation after training began (step > 0); the first one on ties; None
    before the first such evaluation."""
    trained = [(v, s) for s, v in evaluations(records, key) if s > 0]
    if not trained:
        return None
    best = max(v for v, _ in trained)
    return next((v, s) for v, s in trained if v == best)


def is_idle_step(record: dict) -> bool:
    """A training step whose gradient was exactly zero (see the module docstring)."""
    return any(_finite(record.get(k)) and record[k] == 0 for k in IDLE_KEYS)


def did_not_train(records: Sequence[dict]) -> bool:
    """True when the run has logged training steps and every one of them was idle; False before the first
    training step is logged (nothing to say yet)."""
    steps = [r for r in records if r.get("step", 0) >= 1 and any(_finite(r.get(k)) for k in IDLE_KEYS)]
    return bool(steps) and all(is_idle_step(r) for r in steps)


def eval_summary(records: Sequence[dict]) -> str:
    """One line for the Train page: the start and the best after training began, e.g.
    ``STS dev Spearman: 79.73 at step 0 (the start); best after training began 83.74 at step 50.``"""
    start, best = start_eval(records), best_eval(records)
    if start is None and best is None:
        return "No dev evaluation yet."
    parts = [f"{start:.2f} at step 0 (the start)" if start is not None else "step 0 not evaluated"]
    parts.append(f"best after training began {best[0]:.2f} at step {best[1]}" if best is not None else
                 "no evaluation after training began yet")
    return f"STS dev Spearman: {'; '.join(parts)}."
