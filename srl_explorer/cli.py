"""Command line: ``python -m srl_explorer {train,eval,reproduce,runs,...} ...``.

Every user error ends with one line on stderr and exit code 2, never a traceback. Each subcommand is a
module with ``add_arguments(parser)`` and ``run(args) -> int``, listed in :data:`SUBCOMMANDS`.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .encoder import ModelLoadError

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, ModelLoadError, OSError)

SUBCOMMANDS = (  # (name, module, help); a module that fails to import is an error, never a missing command
    ("train", "srl_explorer.training.cli", "train an encoder with one loss (unsupervised SimCSE)"),
    ("eval", "srl_explorer.evaluation", "score a model on the STS benchmarks"),
    ("reproduce", "srl_explorer.paper.reproduce", "run the paper's comparison of all losses"),
    ("push", "srl_explorer.hub", "upload a run's checkpoint to the Hugging Face hub"),
    ("export-tb", "srl_explorer.reporting", "write a run's metrics.jsonl as TensorBoard event files"),
    ("runs", "srl_explorer.runs_cli", "list, delete, rename and annotate runs"),
    ("app", "srl_explorer.app_cli", "start the Streamlit app (runs of ./checkpoints or $SRL_CHECKPOINTS)"),
)


# --------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (plus a pointer to --help), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def program_name() -> str:
    """``srl-explorer`` when run through the console script, else ``python -m srl_explorer``."""
    return "srl-explorer" if os.path.basename(sys.argv[0]) == "srl-explorer" else "python -m srl_explorer"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=program_name(),
                description="Contrastive learning of sentence representations: train, evaluate, reproduce.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module, help_text in SUBCOMMANDS:
        mod = importlib.import_module(module)
        s = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(s)
        s.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; ``argv`` None: this process is the command (``python -m srl_explorer``), so
    ``train`` and ``reproduce`` lower its own CPU priority (``--nice``, ``--idle``) before torch starts its
    threads. A Python caller passing ``argv`` keeps its process's priority."""
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "nice"):
            from .priority import check_nice, lower_priority
            check_nice(args.nice)
            if argv is None:
                lower_priority(args.nice, args.idle)
        return args.func(args)
    except USER_ERRORS as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
