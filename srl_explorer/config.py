"""The training configuration: every field's default, type and help, in one place.

The ``train`` command line (:func:`add_arguments`), the app's launched command (:func:`to_args`),
``reproduce``'s command and the Train page's help texts (:func:`help_texts`) are generated from
:class:`TrainConfig`, so adding a field is one line here::

    warmup_ratio: float = opt(0.0, "fraction of steps for linear warm-up", SCHEDULE)

Booleans become switch pairs, ``--name`` and ``--no-name``; the launched command writes the one that differs
from the default.
"""
from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from . import DEFAULT_MODEL, POOLERS
from .losses.registry import LOSSES, hparam_cli_help

WHAT, LOSS_HPARAMS, SCHEDULE, OUTPUT, HARDWARE = (
    "what to train", "loss hyperparameters (default: the paper's value for the chosen loss)", "schedule",
    "evaluation and output", "hardware")
GROUPS = (WHAT, LOSS_HPARAMS, SCHEDULE, OUTPUT, HARDWARE)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def opt(default: Any, help: str, group: str, choices: tuple | None = None) -> Any:  # noqa: A002 - argparse's name
    """A config field: its default, one line of help (shown by ``--help`` and the Train page), its
    ``--help`` group, and the allowed values if they are a fixed list."""
    return field(default=default, metadata={"help": help, "group": group, "choices": choices})


@dataclass
class TrainConfig:
    # what to train
    loss: str = opt("infonce", "contrastive loss", WHAT, tuple(LOSSES))
    model: str = opt(DEFAULT_MODEL, "Hugging Face id, local path or run checkpoint; default: the packaged "
                     "all-MiniLM-L6-v2", WHAT)
    # Default start: SimCSE's recipe (cls + MLP head in training only). The packaged model's [CLS] vector was
    # never tuned for sentences, so InfoNCE's p_pos starts well below 1 and the hinge losses are active.
    pooler: str = opt("cls", "how token vectors become one sentence vector (SimCSE's names)", WHAT, POOLERS)
    mlp_only_train: bool = opt(True, "cls pooler: use the MLP head in training only (SimCSE unsupervised)", WHAT)
    train_file: str | None = opt(None, ".txt (one sentence a line), STS-format .csv/.tsv, or a hub dataset id; "
                                 "default: the shipped sample", WHAT)
    dev_file: str | None = opt(None, "STS-format scored pairs for dev Spearman; default: the shipped sample pairs",
                               WHAT)
    max_train_sentences: int | None = opt(None, "use only the first N sentences", WHAT)
    # loss hyperparameters (None: the paper's default for the chosen loss)
    temp: float | None = opt(None, hparam_cli_help("temp"), LOSS_HPARAMS)
    margin: float | None = opt(None, hparam_cli_help("margin"), LOSS_HPARAMS)
    lam: float | None = opt(None, hparam_cli_help("lam"), LOSS_HPARAMS)
    alpha: float | None = opt(None, hparam_cli_help("alpha"), LOSS_HPARAMS)
    t: float | None = opt(None, hparam_cli_help("t"), LOSS_HPARAMS)
    # schedule
    max_steps: int | None = opt(None, "optimizer steps; default: --epochs passes over the corpus", SCHEDULE)
    epochs: float = opt(1.0, "passes over the corpus when --max-steps is not set", SCHEDULE)
    batch_size: int = opt(64, "sentences per process and step; the global batch is world size × batch size",
                          SCHEDULE)
    lr: float = opt(3e-5, "peak AdamW learning rate, linear decay to 0", SCHEDULE)
    warmup_steps: int = opt(0, "linear warm-up steps", SCHEDULE)
    weight_decay: float = opt(0.0, "AdamW weight decay (matrices only)", SCHEDULE)
    grad_clip: float = opt(1.0, "max L2 norm of the parameter gradient", SCHEDULE)
    max_seq_length: int = opt(32, "tokens per sentence", SCHEDULE)
    dropout: float | None = opt(None, "override the model's dropout rate (the SimCSE augmentation); default: "
                                "the model's", SCHEDULE)
    seed: int = opt(42, "random seed", SCHEDULE)
    # evaluation, checkpoints, logging
    eval_every: int = opt(125, "dev evaluation interval in steps", OUTPUT)
    save_every: int | None = opt(None, "resumable checkpoint interval in steps; default: --eval-every", OUTPUT)
    eval_batch_size: int = opt(128, "sentences per batch when encoding the dev pairs", OUTPUT)
    log_every: int = opt(1, "metric line interval in steps (also the CPU-GPU sync interval)", OUTPUT)
    stop_after: int | None = opt(None, "pause after this step with a resumable checkpoint (continue with --resume)",
                                 OUTPUT)
    output_dir: str | None = opt(None, "run directory; default: <checkpoint root>/<time>-<loss>", OUTPUT)
    keep: str = opt("best,final", "checkpoints kept once the run finishes: best, final, last (resumable, with the "
                    "optimizer state) or all, comma-separated; last/ is written while training and kept by a run that "
                    "does not finish, so --resume always works", OUTPUT)
    report_to: str | None = opt(None, "also log every metric to tensorboard (<run>/tb), wandb and/or mlflow, "
                                "comma-separated; metrics.jsonl stays the record", OUTPUT)
    # hardware
    device: str = opt("auto", "auto, cpu, cuda or cuda:N", HARDWARE)
    precision: str = opt("auto", "autocast precision on CUDA (auto: bf16 where supported, else fp16)", HARDWARE,
                         PRECISIONS)
    tf32: bool = opt(True, "TF32 matmuls on Ampere and newer GPUs", HARDWARE)

    def loss_hparams(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("temp", "margin", "lam", "alpha", "t") if getattr(self, k) is not None}

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.batch_size < 2:
            raise ValueError(f"--batch-size must be at least 2 (in-batch negatives), got {self.batch_size}")
        for name in ("lr", "epochs", "max_seq_length", "eval_every", "log_every", "eval_batch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        from .rundir import parse_keep
        parse_keep(self.keep)
        from .reporting import parse_report_to
        parse_report_to(self.report_to)  # unknown, or its package missing: one line before anything starts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A config from a dict (e.g. a run's config.json); keys that are not fields are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# --------------------------------------------------------------------------- generated views
@dataclass(frozen=True)
class Option:
    """One config field as the command line and the app see it."""

    name: str
    type: type  # str, int, float or bool (``X | None`` is unwrapped to X)
    default: Any
    help: str
    group: str
    choices: tuple | None

    @property
    def flag(self) -> str:
        """The command-line switch: ``--max-steps``; for a boolean defaulting to True, ``--no-tf32``."""
        name = self.name.replace("_", "-")
        return f"--no-{name}" if self.type is bool and self.default else f"--{name}"


def options(cls: type[TrainConfig] | None = None) -> list[Option]:
    """Every field of ``cls`` (a TrainConfig or a subclass), in declaration order."""
    cls = cls or TrainConfig  # read at call time, so a subclass swapped in is used everywhere
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        kind = hints[f.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        base = args[0] if args else kind
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        out.append(Option(f.name, base, default, f.metadata.get("help", ""), f.metadata.get("group", OUTPUT),
                          f.metadata.get("choices")))
    return out


def add_arguments(parser: argparse.ArgumentParser, cls: type[TrainConfig] | None = None,
                  only: tuple[str, ...] | None = None, none_defaults: bool = False) -> None:
    """The ``train`` flags of ``cls``, in ``--help`` groups. ``only`` keeps those fields; ``none_defaults``
    makes every default None (for commands such as ``reproduce`` whose own presets fill the gaps)."""
    cls = cls or TrainConfig  # read at call time, so a subclass swapped in is used everywhere
    groups: dict[str, argparse._ArgumentGroup] = {}
    for o in options(cls):
        if only is not None and o.name not in only:
            continue
        g = groups.get(o.group) or groups.setdefault(o.group, parser.add_argument_group(o.group))
        shown = "" if o.default is None or none_defaults or "default" in o.help else " (default %(default)s)"
        if o.type is bool:  # --name / --no-name
            g.add_argument(f"--{o.name.replace('_', '-')}", dest=o.name, action=argparse.BooleanOptionalAction,
                           default=None if none_defaults else o.default,
                           help=o.help + ("" if none_defaults else f" (default: {'on' if o.default else 'off'})"))
        else:
            g.add_argument(o.flag, dest=o.name, type=o.type, default=None if none_defaults else o.default,
                           choices=list(o.choices) if o.choices else None, help=o.help + shown)


def from_args(args: argparse.Namespace, cls: type[TrainConfig] | None = None) -> TrainConfig:
    """The config of a parsed ``train`` command line."""
    cls = cls or TrainConfig  # read at call time, so a subclass swapped in is used everywhere
    return cls(**{o.name: getattr(args, o.name) for o in options(cls) if hasattr(args, o.name)})


def to_args(cfg: TrainConfig | dict[str, Any], cls: type[TrainConfig] | None = None) -> list[str]:
    """``train`` arguments that reproduce ``cfg``: every given value (``None`` and ``""`` left out),
    switches only when they differ from the default."""
    cls = cls or TrainConfig  # read at call time, so a subclass swapped in is used everywhere
    values = cfg.to_dict() if isinstance(cfg, TrainConfig) else cfg
    out: list[str] = []
    for o in options(cls):
        value = values.get(o.name)
        if value is None or value == "":
            continue
        if o.type is bool:
            if bool(value) != bool(o.default):
                out.append(o.flag)
        else:
            out += [o.flag, str(value)]
    return out


def help_texts(cls: type[TrainConfig] | None = None) -> dict[str, str]:
    """Field name -> help line (the Train page's tooltips)."""
    cls = cls or TrainConfig  # read at call time, so a subclass swapped in is used everywhere
    return {o.name: o.help for o in options(cls)}
