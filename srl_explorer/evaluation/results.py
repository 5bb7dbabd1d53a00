"""Evaluation results: stored per checkpoint in a run's STS results file (:attr:`RunDir.sts_results_file`),
the ``--json`` summary, and the plain-text table the CLI prints."""
from __future__ import annotations

import math
import os
from pathlib import Path

from ..fmt import fmt_num
from ..rundir import RunDir, atomic_write_json, read_json
from .scoring import aggregate_tasks
from .sources import TASKS


def run_and_checkpoint(model: str | os.PathLike | None) -> tuple[Path, str] | None:
    """``(run_dir, checkpoint name)`` when ``model`` is a trainer run directory (its best, else final,
    else last checkpoint) or a checkpoint inside one (``run/best``); else ``None``."""
    from ..encoder import resolve_model
    if model is None:
        return None
    p = Path(model).expanduser()
    run, parent = RunDir(p), RunDir(p.parent)
    if run.status_file.is_file() and run.checkpoints():
        return p, Path(resolve_model(p)).name
    if p.parent != p and parent.status_file.is_file() and p.name in parent.checkpoints():
        return p.parent, p.name
    return None


def save_run_results(run_dir: str | os.PathLike, checkpoint: str, result: dict) -> dict:
    """Store ``result`` in the run's STS results file under ``checkpoint`` and return the stored entry.

    A new evaluation of the same checkpoint, split and pooler adds its tasks to the stored ones
    (re-scored tasks are replaced, the average is recomputed); otherwise it replaces the entry.
    """
    run_dir = Path(run_dir)
    stored = load_run_results(run_dir)
    old = stored.get(checkpoint)
    entry = {**result, "tasks": dict(result["tasks"])}
    if isinstance(old, dict) and old.get("split") == result["split"] and old.get("pooler") == result.get("pooler"):
        merged = {**old.get("tasks", {}), **result["tasks"]}
        entry["tasks"] = {t: merged[t] for t in sorted(merged, key=lambda t: (TASKS + (t,)).index(t))}
        entry["avg"], entry["avg_label"] = aggregate_tasks(entry["tasks"])
    stored[checkpoint] = entry
    atomic_write_json(RunDir(run_dir).sts_results_file, _finite(stored))
    return entry


def load_run_results(run_dir: str | os.PathLike) -> dict[str, dict]:
    """Stored results of a run, ``{checkpoint: result}`` (``{"best": {...}, "final": {...}}``), each shaped as
    :func:`evaluate_model`'s return (``tasks``, ``split``, ``avg``, ``timestamp``, …); ``{}`` when none."""
    stored = read_json(RunDir(run_dir).sts_results_file, {})
    return {k: v for k, v in stored.items() if isinstance(v, dict) and "tasks" in v} if isinstance(stored, dict) else {}


def _finite(obj):
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_summary(result: dict) -> dict:
    """The ``--json`` file: one key per task plus ``avg``.

    Each task: ``{"spearman": headline number, "mean_over_subsets", "split", "n", "subsets": {name: spearman}}``.
    """
    out = {name: {"spearman": r["all"], "mean_over_subsets": r["mean"], "split": r["split"], "n": r["n"],
                  "subsets": {k: v["spearman"] for k, v in r["subsets"].items()}}
           for name, r in result["tasks"].items()}
    return _finite({**out, "avg": result["avg"]})


def format_table(result: dict) -> str:
    """Plain-text table: one row per task (with its subsets indented for STS12-16), then the average."""
    lines = [f"{'task':<14} {'split':<5} {'Spearman':>8} {'mean/subsets':>12} {'pairs':>6}"]
    for name, r in result["tasks"].items():
        multi = len(r["subsets"]) > 1
        mean = fmt_num(r["mean"]) if multi else ""
        lines.append(f"{name:<14} {r['split']:<5} {fmt_num(r['all']):>8} {mean:>12} {r['n']:>6}")
        for sub, s in r["subsets"].items() if multi else ():
            lines.append(f"  {sub:<18} {fmt_num(s['spearman']):>8} {'':>12} {s['n']:>6}")
    if result.get("avg_label"):
        lines.append(f"{result['avg_label']:<14} {'':<5} {fmt_num(result['avg']):>8}")
    lines.append("Spearman x 100 of cosine similarity. STS12-16: 'Spearman' is over all pairs of the year "
                 "together (SentEval 'all', the papers' number); 'mean/subsets' is the mean of the subset values.")
    return "\n".join(lines)
