"""``python -m srl_explorer eval``: score a model on the STS benchmarks and/or a user file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..rundir import RunDir
from .results import format_table, json_summary, run_and_checkpoint, save_run_results
from .scoring import evaluate_model
from .sources import ALL_TASKS, SPLITS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="run dir, checkpoint (run/best), local path or hub id (default: the packaged all-MiniLM-L6-v2)")
    from .. import POOLERS
    p.add_argument("--pooler", default=None, choices=POOLERS,
                   help="pooler (default: the checkpoint's, else avg)")
    p.add_argument("--tasks", default=None,
                   help=f"comma-separated, from {','.join(ALL_TASKS)} (default: the seven benchmarks; none with "
                        "--file); 'sample' is the pairs shipped with the package (works offline)")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="STS-B/SICK-R split: test, or dev (STS-B dev, SICK trial); STS12-16 are always test")
    p.add_argument("--data-dir", default=None,
                   help="SentEval data folder (STS/STS12-en-test …, STS/STSBenchmark, SICK) or a folder with "
                        "sts-dev.csv/sts-test.csv; default: download from the Hugging Face hub")
    p.add_argument("--file", default=None, metavar="USER_PAIRS",
                   help="also score a CSV/TSV with columns sentence1, sentence2, score (or a hub dataset id)")
    p.add_argument("--json", default=None, metavar="OUT", help="write one key per task plus avg as JSON")
    p.add_argument("--batch-size", type=int, default=128, help="encoding batch size (default %(default)s)")
    p.add_argument("--max-seq-length", type=int, default=None,
                   help="truncate inputs at this many tokens (default: the model's limit, ≤ 512, as SentEval)")


def run(args: argparse.Namespace) -> int:
    result = evaluate_model(args.model, args.tasks, args.split, args.data_dir, args.pooler, args.batch_size,
                            progress=sys.stderr.isatty(), user_file=args.file, max_seq_length=args.max_seq_length)
    print(format_table(result))
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(json_summary(result), indent=2) + "\n")
        print(f"wrote {args.json}")
    if (rc := run_and_checkpoint(args.model)) is not None:
        save_run_results(rc[0], rc[1], result)
        print(f"stored in {RunDir(rc[0]).sts_results_file} under {rc[1]!r}")
    return 0
