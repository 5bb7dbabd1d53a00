"""Command line: ``python -m srl_explorer {train,eval,reproduce} ...``.

Every user error ends with one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from .encoder import POOLERS, ModelLoadError
from .losses import LOSSES

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, ModelLoadError, OSError)

LOSS_HELP = {
    "temp": "temperature τ of infonce/dcl/dcl_hinge (default 0.05)",
    "margin": "margin m of mpt (0.09, cosine), met (0.45, distance), mat (0.15, units of π)",
    "lam": "λ, weight of uniformity in align_uniform (default 0.5)",
    "alpha": "α, exponent of the alignment distance in align_uniform (default 2)",
    "t": "t, Gaussian-potential temperature of uniformity in align_uniform (default 2)",
}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    from .train import TrainConfig
    d = TrainConfig()
    g = p.add_argument_group("what to train")
    g.add_argument("--loss", default=d.loss, choices=list(LOSSES), help="contrastive loss (default %(default)s)")
    g.add_argument("--model", default=d.model,
                   help="Hugging Face id, local path or run dir; default: the packaged all-MiniLM-L6-v2")
    g.add_argument("--pooler", default=d.pooler, choices=POOLERS, help="sentence pooling (default %(default)s)")
    g.add_argument("--mlp-only-train", action="store_true",
                   help="cls pooler: use the MLP head in training only (SimCSE unsupervised)")
    g.add_argument("--train-file", default=None,
                   help=".txt (one sentence a line), STS-format .csv/.tsv, or a hub dataset id; default: the shipped sample")
    g.add_argument("--dev-file", default=None,
                   help="STS-format scored pairs for dev Spearman; default: the shipped sample pairs")
    g.add_argument("--max-train-sentences", type=int, default=None, help="use only the first N sentences")
    g = p.add_argument_group("loss hyperparameters (default: the paper's value for the chosen loss)")
    for name, text in LOSS_HELP.items():
        g.add_argument(f"--{name}", type=float, default=None, help=text)
    g = p.add_argument_group("schedule")
    g.add_argument("--max-steps", type=int, default=None, help="optimizer steps (default: --epochs passes)")
    g.add_argument("--epochs", type=float, default=d.epochs, help="passes over the corpus when --max-steps is not set (default %(default)s)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="sentences per process and step (default %(default)s)")
    g.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate, linear decay (default %(default)s)")
    g.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="linear warm-up steps (default %(default)s)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay (default %(default)s)")
    g.add_argument("--grad-clip", type=float, default=d.grad_clip, help="max gradient L2 norm (default %(default)s)")
    g.add_argument("--max-seq-length", type=int, default=d.max_seq_length, help="tokens per sentence (default %(default)s)")
    g.add_argument("--dropout", type=float, default=None, help="override the model's dropout rate (default: the model's)")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    g = p.add_argument_group("evaluation and output")
    g.add_argument("--eval-every", type=int, default=d.eval_every, help="dev evaluation interval in steps (default %(default)s)")
    g.add_argument("--save-every", type=int, default=None, help="resumable checkpoint interval (default: --eval-every)")
    g.add_argument("--log-every", type=int, default=d.log_every, help="metric line interval in steps (default %(default)s)")
    g.add_argument("--output-dir", default=None, help="run directory (default checkpoints/<time>-<loss>)")
    g.add_argument("--stop-after", type=int, default=None,
                   help="pause after this step with a resumable checkpoint (continue with --resume)")
    g.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue RUN_DIR from its last checkpoint (optimizer, scheduler and RNG state included)")
    g = p.add_argument_group("hardware")
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N (default %(default)s)")
    g.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16", "fp16"],
                   help="autocast precision on CUDA (default %(default)s: bf16 where supported)")
    g.add_argument("--no-tf32", dest="tf32", action="store_false", help="disable TF32 matmuls on Ampere+ GPUs")


def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import runs
    from .train import TrainConfig, train
    if args.resume:
        run_dir = Path(args.resume)
        cfg_dict = runs.read_json(run_dir / "config.json")
        if not isinstance(cfg_dict, dict):
            raise FileNotFoundError(f"{run_dir}: not a run directory (no readable config.json)")
        cfg = TrainConfig.from_dict(cfg_dict)
        if args.max_steps:
            cfg.max_steps = args.max_steps
        cfg.stop_after = args.stop_after
        out = train(cfg, run_dir=run_dir, resume=True)
    else:
        names = {f.name for f in fields(TrainConfig)}
        cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
        if cfg.output_dir:
            cfg.output_dir = str(Path(cfg.output_dir))
        out = train(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        status = runs.read_status(out)
        print(f"{status.get('state')}: {out} (step {status.get('step')}, best dev Spearman "
              f"{_fmt(status.get('best'))})")
    return 0 if runs.read_status(out).get("state") in ("finished", "cancelled") or int(os.environ.get("RANK", "0")) else 1


def _fmt(x) -> str:
    return f"{x:.2f}" if isinstance(x, (int, float)) else "n/a"


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (plus a pointer to --help), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m srl_explorer",
                                description="Contrastive learning of sentence representations: train, evaluate, reproduce.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train an encoder with one loss (unsupervised SimCSE)")
    add_train_arguments(t)
    t.set_defaults(func=run_train)
    for name, module, help_text in (("eval", "evaluation", "score a model on the STS benchmarks"),
                                    ("reproduce", "reproduce", "run the paper's comparison of all losses")):
        try:
            mod = __import__(f"srl_explorer.{module}", fromlist=["add_arguments", "run"])
        except ImportError:
            continue
        s = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(s)
        s.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
