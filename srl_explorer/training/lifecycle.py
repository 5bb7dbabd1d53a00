"""A run's life outside the step maths: its folder and status, signals, checkpoints and resume.

Only rank 0 writes files. :class:`RunGuard` makes sure every way out of :func:`~.loop.train` -- the end,
a stop request, SIGTERM/SIGINT, an exception -- leaves ``status.json`` with the right state.
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import distributed as D
from .. import rundir
from ..config import TrainConfig
from ..data import DataError
from ..encoder import Encoder
from ..reporting import sinks_for_run
from ..rundir import CANCELLED, FAILED, FINISHED, RUNNING, RunDir


class TrainingError(RuntimeError):
    """A run that must stop as failed (non-finite loss or gradient, ...)."""


class Terminated(Exception):
    """SIGTERM/SIGINT received: end as cancelled."""


# --------------------------------------------------------------------------- progress
@dataclass
class Progress:
    """Where the run is: what status.json and trainer_state.pt record."""

    step: int = 0
    best: float = -math.inf  # best dev Spearman so far
    best_step: int | None = None
    state: str = FAILED  # until the run ends otherwise
    error: str | None = None

    @property
    def best_or_none(self) -> float | None:
        return self.best if self.best > -math.inf else None

    def improves(self, score: float) -> bool:
        """Record ``score`` at the current step if it beats the best; True when it did. Step 0 (the untrained
        model) never does: *best* is the best evaluation after training began (:mod:`srl_explorer.runstats`)."""
        if self.step > 0 and math.isfinite(score) and score > self.best:
            self.best, self.best_step = score, self.step
            return True
        return False


# --------------------------------------------------------------------------- signals
def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _on_signal(signum, frame):  # noqa: ARG001
    hold_signals()  # a second SIGTERM (torchrun sends one to every rank) must not cut the status write short
    raise Terminated(f"terminated by signal {signal.Signals(signum).name}")


def hold_signals() -> None:
    """Ignore SIGTERM/SIGINT while the final status is written; :class:`RunGuard` restores the handlers."""
    if _main_thread():
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)


# --------------------------------------------------------------------------- the run folder
def open_run_dir(cfg: TrainConfig, run_dir: str | os.PathLike | None, resume: bool,
                 dist_info: D.DistInfo) -> RunDir:
    """The run folder (every rank gets rank 0's name); rank 0 creates it, clears an old STOP request,
    writes the config (not on resume) and the ``running`` status."""
    if run_dir is None:
        root = Path(cfg.output_dir).parent if cfg.output_dir else rundir.checkpoint_root()
        name = Path(cfg.output_dir).name if cfg.output_dir else rundir.new_run_name(cfg.loss, root)
        run_dir = D.broadcast_object(str(Path(root) / name))
    run = RunDir(run_dir)
    if dist_info.master:
        run.path.mkdir(parents=True, exist_ok=True)
        run.clear_stop()
        if not resume:
            run.write_config({**asdict(cfg), "world_size": dist_info.world_size})
        run.write_status(state=RUNNING, pid=os.getpid(), host=socket.gethostname(), started=time.time(), step=0,
                         max_steps=cfg.max_steps, error=None, loss_name=cfg.loss, world_size=dist_info.world_size)
    return run


class RunGuard:
    """``with RunGuard(run, dist_info) as guard:`` around the training. On the way out it records the
    final state (``finished``/``cancelled`` as the loop set it, ``cancelled`` on SIGTERM/SIGINT,
    ``failed`` with the error on any exception, which is re-raised), closes the metrics file,
    restores the signal handlers and leaves the process group."""

    def __init__(self, run: RunDir, dist_info: D.DistInfo):
        self.run, self.dist_info, self.master = run, dist_info, dist_info.master
        self.progress = Progress()
        self.writer: rundir.MetricsWriter | None = None
        self._old_handlers: dict = {}

    def open_metrics(self, on_record: Callable[[dict], None] | None = None) -> rundir.MetricsWriter:
        """The metrics writer, with the run's reporting sinks and ``on_record`` (if any) called on each record."""
        extra = [CallbackSink(on_record)] if on_record is not None else []
        self.writer = rundir.MetricsWriter(self.run.metrics_file, sinks=[*sinks_for_run(self.run.path), *extra])
        return self.writer

    def __enter__(self) -> RunGuard:
        if _main_thread():
            self._old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        p = self.progress
        try:
            if isinstance(exc, Terminated):
                p.state, p.error = CANCELLED, str(exc)
            elif exc is not None:
                hold_signals()  # under torchrun a failure here is followed by SIGTERM: write the status first
                p.state = FAILED
                p.error = str(exc) if isinstance(exc, (DataError, TrainingError)) else f"{kind.__name__}: {exc}"
                if self.master:
                    self.run.write_status(state=p.state, step=p.step, error=p.error)
        finally:
            hold_signals()
            if self.writer is not None:
                self.writer.close()
            if self.master and p.state != FAILED:
                self.run.write_status(state=p.state, step=p.step, error=p.error, best=p.best_or_none)
            for s, h in self._old_handlers.items():
                signal.signal(s, h)
            D.teardown(self.dist_info)
        return isinstance(exc, Terminated)  # a signal ends the run as cancelled, not with a traceback


class CallbackSink:
    """A metric sink that hands each record to a function (``reproduce``'s progress line)."""

    def __init__(self, fn: Callable[[dict], None]):
        self.fn = fn

    def write(self, record: dict) -> None:
        self.fn(record)

    def close(self) -> None:
        pass


def end_state(stop_requested: bool) -> str:
    return CANCELLED if stop_requested else FINISHED


# --------------------------------------------------------------------------- checkpoints
class Checkpoints:
    """The run's model checkpoints: ``best/`` and ``final/`` (the encoder), and the resumable ``last/``
    (the encoder plus optimizer, scheduler, RNG and progress). Each is written to a temporary folder
    and renamed, so a crash never leaves a half-written one.

    ``keep`` (``--keep``) says which survive a finished run (:meth:`finish`). ``last/`` is written at every
    ``--save-every`` whatever it says, and only a *finished* run drops it, so a stopped, failed or killed
    run can always ``--resume``."""

    def __init__(self, run: RunDir, encoder: Encoder, optim, device: torch.device, keep: str = "all"):
        self.run, self.encoder, self.optim, self.device = run, encoder, optim, device
        self.keep = rundir.parse_keep(keep)

    def save_best(self) -> None:
        rundir.atomic_save_dir(self.run.checkpoint("best"), self.encoder.save)

    def save_final(self) -> None:
        rundir.atomic_save_dir(self.run.checkpoint("final"), self.encoder.save)

    def finish(self, progress: Progress) -> None:
        """The end of the loop (rank 0, ``progress.state`` set): write ``final/`` when kept, or when a finished
        run would otherwise be left without any model; then a finished run drops ``last/`` unless kept. When
        the best step is the last one, ``final/`` hard-links ``best/``'s files instead of a second copy."""
        finished = progress.state == FINISHED
        has_best = "best" in self.run.checkpoints()
        if "final" in self.keep or (finished and not has_best and "last" not in self.keep):
            if has_best and progress.best_step == progress.step:
                rundir.atomic_save_dir(self.run.checkpoint("final"),
                                       functools.partial(rundir.link_tree, self.run.checkpoint("best")))
            else:
                self.save_final()
        if finished and "last" not in self.keep:
            shutil.rmtree(self.run.checkpoint("last"), ignore_errors=True)

    def save_resumable(self, progress: Progress) -> None:
        state = {"optimizer": self.optim.optimizer.state_dict(), "scheduler": self.optim.scheduler.state_dict(),
                 "rng_cpu": torch.get_rng_state(), "step": progress.step, "best": progress.best,
                 "best_step": progress.best_step}
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        rundir.atomic_save_dir(self.run.checkpoint("last"),
                               functools.partial(_write_resumable, encoder=self.encoder, state=state))

    def resume(self, progress: Progress, master: bool) -> None:
        """Load ``last/`` into the encoder, optimizer, scheduler and RNG, and ``progress``; rank 0 repairs
        a checkpoint left half-renamed by a crash, and moves the metric lines of steps that will be redone
        to the superseded file."""
        last = D.broadcast_object(rundir.recover_dir(self.run.checkpoint("last")) if master else None)
        if last is None or not RunDir.trainer_state(last).exists():
            raise FileNotFoundError(f"{self.run.path}: no resumable checkpoint (last/) to resume from; a finished "
                                    "run keeps it only with --keep last or all")
        ckpt_encoder = Encoder.from_pretrained(last)
        self.encoder.load_state_dict(ckpt_encoder.state_dict())
        del ckpt_encoder
        ts = torch.load(RunDir.trainer_state(last), map_location="cpu", weights_only=True)
        self.optim.optimizer.load_state_dict(ts["optimizer"])
        self.optim.scheduler.load_state_dict(ts["scheduler"])
        torch.set_rng_state(ts["rng_cpu"])
        if self.device.type == "cuda" and "rng_cuda" in ts:
            torch.cuda.set_rng_state(ts["rng_cuda"], self.device)
        progress.step, progress.best, progress.best_step = int(ts["step"]), float(ts["best"]), ts.get("best_step")
        if master:
            truncate_metrics_after(self.run, progress.step)


def _write_resumable(folder: Path, encoder: Encoder, state: dict) -> None:
    encoder.save(folder)
    torch.save(state, RunDir.trainer_state(folder))


def last_elapsed(run: RunDir) -> float:
    """Wall time of the last logged step (a resumed run's clock continues from it)."""
    records, _ = run.read_metrics()
    return float(records[-1].get("elapsed_s", 0.0)) if records else 0.0


def truncate_metrics_after(run: RunDir, step: int) -> None:
    """On resume, keep metric lines up to the checkpointed step; later lines (of steps that will
    be redone) move to the superseded file, so nothing is lost."""
    path = run.metrics_file
    if not path.exists():
        return
    rundir.repair_jsonl(path)
    keep, drop = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            drop.append(line)
            continue
        (keep if isinstance(rec, dict) and rec.get("step", 0) <= step else drop).append(line)
    if drop:
        with open(run.superseded_file, "a", encoding="utf-8") as f:
            f.write("\n".join(drop) + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(x + "\n" for x in keep), encoding="utf-8")
    os.replace(tmp, path)


def progress_bar(master: bool, initial: int, total: int):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True,
                disable=not (master and sys.stderr.isatty()))
