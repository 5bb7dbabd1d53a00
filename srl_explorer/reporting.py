"""Metric sinks: TensorBoard, Weights & Biases and MLflow, next to ``metrics.jsonl``.

``metrics.jsonl`` stays the source of truth: a sink gets each record after its line is written
(``rundir.MetricsWriter(path, sinks=make_sinks(...))``) and logs every numeric field except
``step`` as a scalar of that name at that step. ``export-tb`` replays an existing run's
``metrics.jsonl`` into TensorBoard event files::

    python -m srl_explorer train --report-to tensorboard ...   # events in <run>/tb/
    python -m srl_explorer export-tb checkpoints/<run>          # the same, after the fact
    tensorboard --logdir checkpoints
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
from collections.abc import Iterable
from pathlib import Path

from .rundir import RunDir, read_metrics

TB_DIR = "tb"
REPORTERS = ("tensorboard", "wandb", "mlflow")
_PACKAGE = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


class ReportingError(ValueError):
    """A --report-to value that cannot be served (unknown, or its package is missing); one line."""


def parse_report_to(value: str | Iterable[str] | None) -> list[str]:
    """``"tensorboard,wandb"`` (or a list) -> ``["tensorboard", "wandb"]``; None/""/"none" -> [].

    Raises :class:`ReportingError` for an unknown name or one whose package is not installed.
    """
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for name in (n.strip().lower() for n in names):
        if name in ("", "none"):
            continue
        if name not in REPORTERS:
            raise ReportingError(f"--report-to {name!r} is not supported; choose from: {', '.join(REPORTERS)}")
        if importlib.util.find_spec(_PACKAGE[name]) is None:
            raise ReportingError(f"--report-to {name} needs the {_PACKAGE[name]} package, which is not installed: "
                                 f"pip install {_PACKAGE[name]}")
        if name not in out:
            out.append(name)
    return out


def scalars(record: dict) -> dict[str, float]:
    """The numeric fields of a metric record, except ``step`` (bools and strings are left out)."""
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class TensorBoardSink:
    """Scalars into TensorBoard event files (``torch.utils.tensorboard.SummaryWriter``)."""

    def __init__(self, log_dir: str | os.PathLike, flush_secs: int = 10):
        from torch.utils.tensorboard import SummaryWriter
        self.log_dir = Path(log_dir)
        self._w = SummaryWriter(log_dir=str(self.log_dir), flush_secs=flush_secs)

    def write(self, record: dict) -> None:
        step = int(record.get("step", 0))
        for key, value in scalars(record).items():
            self._w.add_scalar(key, value, global_step=step)

    def close(self) -> None:
        self._w.flush()
        self._w.close()


class WandbSink:
    """Each record as one ``wandb.log(..., step=step)``; the run's config as the W&B config."""

    def __init__(self, run_dir: str | os.PathLike, config: dict | None = None):
        import wandb
        self._wandb = wandb
        self._run = wandb.init(project=os.environ.get("WANDB_PROJECT", "srl-explorer"), name=Path(run_dir).name,
                               dir=str(run_dir), config=config or {})

    def write(self, record: dict) -> None:
        self._run.log({k: v for k, v in scalars(record).items() if math.isfinite(v)}, step=int(record.get("step", 0)))

    def close(self) -> None:
        self._run.finish()


class MlflowSink:
    """Each record as ``mlflow.log_metrics(..., step=step)``; flat config values as parameters."""

    def __init__(self, run_dir: str | os.PathLike, config: dict | None = None):
        import mlflow
        self._mlflow = mlflow
        self._run = mlflow.start_run(run_name=Path(run_dir).name)
        params = {k: v for k, v in (config or {}).items() if isinstance(v, (str, int, float, bool))}
        if params:
            mlflow.log_params(params)

    def write(self, record: dict) -> None:
        self._mlflow.log_metrics({k: v for k, v in scalars(record).items() if math.isfinite(v)},
                                 step=int(record.get("step", 0)))

    def close(self) -> None:
        self._mlflow.end_run()


def make_sinks(report_to: str | Iterable[str] | None, run_dir: str | os.PathLike,
               config: dict | None = None) -> list:
    """The sinks for ``--report-to``; TensorBoard writes to ``<run_dir>/tb/``."""
    sinks: list = []
    for name in parse_report_to(report_to):
        if name == "tensorboard":
            sinks.append(TensorBoardSink(Path(run_dir) / TB_DIR))
        elif name == "wandb":
            sinks.append(WandbSink(run_dir, config))
        else:
            sinks.append(MlflowSink(run_dir, config))
    return sinks


def sinks_for_run(run_dir: str | os.PathLike) -> list:
    """The sinks a run's ``config.json`` asks for (its ``report_to``)."""
    config = RunDir(run_dir).read_config()
    return make_sinks(config.get("report_to"), run_dir, config) if config else []


# --------------------------------------------------------------------------- export-tb
def export_tb(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Write ``<run_dir>/metrics.jsonl`` as TensorBoard event files in ``out_dir`` (default ``<run_dir>/tb``).

    Refuses (one line) to add to a folder that already holds event files unless ``force``,
    which replaces them, so a curve is never doubled.
    """
    run_dir = Path(run_dir)
    metrics = RunDir(run_dir).metrics_file
    if not metrics.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {metrics.name})")
    out = Path(out_dir) if out_dir else run_dir / TB_DIR
    old = sorted(out.glob("events.out.tfevents.*")) if out.is_dir() else []
    if old and not force:
        raise FileExistsError(f"{out} already holds TensorBoard event files; use --force to replace them")
    for f in old:
        f.unlink()
    parse_report_to("tensorboard")  # one clear line when tensorboard is missing
    sink = TensorBoardSink(out)
    try:
        for rec in read_metrics(metrics)[0]:
            sink.write(rec)
    finally:
        sink.close()
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run directory (holding metrics.jsonl)")
    p.add_argument("--out", default=None, help="folder for the event files (default: RUN/tb)")
    p.add_argument("--force", action="store_true", help="replace event files already in the folder")


def run(args: argparse.Namespace) -> int:
    out = export_tb(args.run, args.out, force=args.force)
    print(f"wrote TensorBoard event files to {out} (view with: tensorboard --logdir {out})")
    return 0


def read_tb_scalars(log_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from the event files in ``log_dir`` (for tests and checks)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
