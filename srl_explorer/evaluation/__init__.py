"""STS evaluation suite: STS12-16, STS-B and SICK-R, scored and aggregated exactly as SentEval does.

    sources.py   where pairs come from: SentEval folders, the Hugging Face hub, user files
    scoring.py   cosine vs gold correlations, SentEval aggregation, :func:`evaluate_model`
    results.py   results stored in a run folder, the ``--json`` summary, the text table
    cli.py       the ``eval`` subcommand (``add_arguments`` and ``run``, re-exported here)

Python API (the app calls these): :func:`evaluate_model`, :func:`load_run_results`,
:func:`save_run_results`, :func:`run_and_checkpoint`, :func:`format_table`.
"""
from .cli import add_arguments, run
from .results import (
    format_table,
    json_summary,
    load_run_results,
    run_and_checkpoint,
    save_run_results,
)
from .scoring import aggregate_tasks, cosine_correlations, encode_in_chunks, evaluate_model, load_tasks, score_tasks
from .sources import (
    ALL_TASKS,
    HUB_IDS,
    SAMPLE_TASK,
    SPLITS,
    TASKS,
    HubUnavailable,
    Task,
    hub_unreachable,
    load_hub_pairs,
    load_hub_task,
    load_task,
    load_user_task,
    normalize_scores,
    parse_tasks,
    scan_data_dir,
)

__all__ = ["ALL_TASKS", "HUB_IDS", "SAMPLE_TASK", "SPLITS", "TASKS", "HubUnavailable", "Task", "add_arguments",
           "aggregate_tasks", "cosine_correlations", "encode_in_chunks", "evaluate_model", "format_table",
           "hub_unreachable", "json_summary", "load_hub_pairs", "load_hub_task", "load_run_results", "load_task",
           "load_tasks", "load_user_task", "normalize_scores", "parse_tasks", "run", "run_and_checkpoint",
           "save_run_results", "scan_data_dir", "score_tasks"]
