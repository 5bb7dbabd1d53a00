"""Reproduce the paper's comparison: the chosen losses one after another, with the same seed,
data, model and schedule, then a report.

    python -m srl_explorer reproduce --preset cpu-small      # all seven losses, < 45 min on 2 CPU cores
    python -m srl_explorer reproduce --preset paper --train-file wiki1m_for_simcse.txt   # the paper's setting, on a GPU

Each loss trains in-process with :func:`srl_explorer.train.train` in ``<repro_dir>/<loss>/``, a normal
run directory (``rundir.list_runs`` lists it as ``<repro>/<loss>``). The reproduction's manifest is
:attr:`RunDir.reproduction_file`; ``report.md`` with PNG and HTML plots is written at the end (see :mod:`.report`).
Re-running into the same ``--output-dir`` skips finished losses and resumes resumable ones.
"""
from __future__ import annotations

import argparse
import os
import shlex
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import torch

from .. import config, rundir
from ..config import TrainConfig
from ..data import DataError, load_corpus, read_pairs
from ..encoder import DEFAULT_MODEL
from ..losses import LOSSES
from ..rundir import RunDir
from ..training import TrainingError, train
from .report import REPORT, write_report

# cpu-small budget, measured on this 2-core machine (MiniLM, batch 64, max length 32, STS-B dev, 2910
# sentences) while other jobs kept it busy (load ~5): 1 torch thread ~2.6 s per step and ~13 s per dev
# evaluation; 2 threads 8.5 s and 31 s (they fight the other jobs). Idle, 2 threads: ~1.75 s and ~7 s
# (project notes).
# So cpu-small uses 1 thread: 7 x (100 steps + 5 evaluations + ~20 s loading/saving) ~ 40 min.
CPU_SMALL_STEPS, CPU_SMALL_EVAL = 100, 25
PRESET_THREADS = {"cpu-small": 1}  # torch threads; other presets: torch's default

PRESETS: dict[str, dict] = {
    "cpu-small": dict(model=DEFAULT_MODEL, pooler="avg", mlp_only_train=False, batch_size=64, lr=3e-5,
                      max_seq_length=32, max_steps=CPU_SMALL_STEPS, eval_every=CPU_SMALL_EVAL,
                      save_every=10**9),  # the resumable checkpoint (~260 MB) only at the end
    "paper": dict(model="bert-base-uncased", pooler="cls", mlp_only_train=True, batch_size=64, lr=3e-5,
                  max_seq_length=32, epochs=1.0, max_steps=None, eval_every=125, save_every=1000),
}
WIKI1M = "wiki1m_for_simcse.txt"


def default_train_file(preset: str) -> str | None:
    """cpu-small: STS-B train in ``$SRL_DATA_DIR`` if present, else None (the shipped sample);
    paper: a local wiki1m file (current folder, ``./data`` or ``$SRL_DATA_DIR``)."""
    if preset == "cpu-small":
        train = rundir.stsb_file("train")
        return str(train) if train else None
    folders = [Path.cwd(), Path.cwd() / "data", *([rundir.data_dir()] if rundir.data_dir() else [])]
    for c in (f / WIKI1M for f in folders):
        if c.exists():
            return str(c)
    raise ValueError(f"the paper preset trains on wiki1m: pass --train-file path/to/{WIKI1M} (one sentence a "
                     f"line, from the SimCSE repository) or a Hugging Face dataset id")


def default_dev_file() -> str | None:
    """STS-B dev in ``$SRL_DATA_DIR`` if present, else None (the shipped sample pairs)."""
    dev = rundir.stsb_dev_file()
    return str(dev) if dev else None


def preset_config(preset: str, **overrides) -> TrainConfig:
    """The TrainConfig every run of a preset shares (``loss`` is set per run); ``None`` overrides are ignored."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "train_file" not in given:
        given["train_file"] = default_train_file(preset)
    if "dev_file" not in given:
        given["dev_file"] = default_dev_file()
    return TrainConfig(**{**PRESETS[preset], **given})


def new_repro_dir(root: Path | None = None) -> Path:
    root = rundir.checkpoint_root() if root is None else root
    base = rundir.sanitize_name(f"repro-{time.strftime('%Y%m%d-%H%M%S')}")
    name, k = base, 1
    while (Path(root) / name).exists():
        k += 1
        name = f"{base}-{k}"
    return Path(root) / name


def _settings(cfg: TrainConfig) -> dict:
    """What every run shares: the config without the loss and the output dir."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("loss", "output_dir", "stop_after")}


def _check_inputs(cfg: TrainConfig) -> None:
    """Fail in one line before anything is written: unreadable data, or too few sentences."""
    n = len(load_corpus(cfg.train_file, cfg.max_train_sentences))
    if n < cfg.batch_size:
        raise DataError(f"the corpus has {n} sentences, fewer than the batch size {cfg.batch_size}")
    read_pairs(cfg.dev_file)


def reproduce(base: TrainConfig, losses: list[str], repro_dir: str | os.PathLike, preset: str = "custom",
              command: str | None = None) -> dict:
    """Train ``base`` with each loss in ``repro_dir/<loss>/``, then write the report; returns the manifest."""
    losses = list(dict.fromkeys(losses))
    for name in losses:
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; choose from: {', '.join(LOSSES)}")
    base.validate()
    _check_inputs(base)
    repro_dir = Path(repro_dir)
    repro_dir.mkdir(parents=True, exist_ok=True)
    path = RunDir(repro_dir).reproduction_file
    manifest = rundir.read_json(path, None)
    if isinstance(manifest, dict) and manifest.get("settings") != _settings(base):
        raise ValueError(f"{repro_dir} holds a reproduction with other settings; choose another --output-dir")
    manifest = manifest if isinstance(manifest, dict) else {"created": time.time(), "runs": {}, "seconds": 0.0}
    manifest.update(preset=preset, losses=list(dict.fromkeys([*manifest.get("losses", []), *losses])),
                    settings=_settings(base), command=command or manifest.get("command"), state="running",
                    pid=os.getpid(), host=socket.gethostname(), started=time.time())
    rundir.atomic_write_json(path, manifest)
    t_start, seconds_before = time.time(), manifest.get("seconds") or 0.0
    try:
        for name in losses:
            info = _run_one(base, name, repro_dir)
            manifest["runs"][name] = {**manifest["runs"].get(name, {}), **info}
            rundir.atomic_write_json(path, manifest)
            if info["state"] == "cancelled" and str(info.get("error") or "").startswith("terminated by signal"):
                manifest["state"] = "cancelled"
                break
        else:
            done = all(manifest["runs"].get(n, {}).get("state") == "finished" for n in losses)
            manifest["state"] = "finished" if done else "finished with failures"
    except BaseException as e:
        manifest.update(state="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())}")
        raise
    finally:
        manifest["seconds"] = seconds_before + time.time() - t_start  # wall time over every invocation
        rundir.atomic_write_json(path, manifest)
    manifest["report"] = write_report(repro_dir).name  # after a failure: --report-only
    rundir.atomic_write_json(path, manifest)
    return manifest


def _run_one(base: TrainConfig, loss: str, repro_dir: Path) -> dict:
    """Train one loss in ``repro_dir/<loss>``; returns its manifest entry."""
    run = RunDir(repro_dir / loss)
    run_dir = run.path
    status = run.status() if run.status_file.exists() else {}
    if status.get("state") == "finished":
        print(f"[reproduce] {loss}: already finished in {run_dir}", flush=True)
        return {"dir": loss, "state": "finished", "best": status.get("best"), "skipped": True}
    resume = bool(status) and RunDir.trainer_state(run.checkpoint("last")).exists()
    if status and not resume and run.metrics_file.exists():
        raise ValueError(f"{run_dir}: an unfinished run without a resumable checkpoint; delete it or choose "
                         f"another --output-dir")
    print(f"[reproduce] {loss}: {'resuming' if resume else 'training'} in {run_dir}", flush=True)
    t0 = time.time()
    cfg = replace(base, loss=loss, output_dir=str(run_dir))
    try:
        train(cfg, run_dir=run_dir, resume=resume) if resume else train(cfg)
    except TrainingError as e:  # a diverged loss is a result, not a reason to stop the others
        print(f"[reproduce] {loss}: failed: {e}", flush=True)
    status = run.status()
    seconds = time.time() - t0
    print(f"[reproduce] {loss}: {status.get('state')} in {seconds / 60:.1f} min, best dev Spearman "
          f"{status.get('best')}", flush=True)
    return {"dir": loss, "state": status.get("state"), "seconds": seconds, "best": status.get("best"),
            "error": status.get("error")}


# --------------------------------------------------------------------------- command line
NOT_SHARED = ("loss", "output_dir", "stop_after")  # set per run, or reproduce's own flags


def shared_fields() -> tuple[str, ...]:
    """The TrainConfig fields every run of a reproduction shares: each is a ``reproduce`` flag."""
    return tuple(o.name for o in config.options() if o.name not in NOT_SHARED)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu-small", choices=list(PRESETS),
                   help=f"cpu-small: packaged MiniLM on STS-B train sentences, {CPU_SMALL_STEPS} steps each (< 45 "
                        "min on 2 CPU cores); paper: bert-base-uncased on wiki1m, 1 epoch, cls pooler + MLP in "
                        "training (default %(default)s). Every training flag below defaults to the preset's value")
    p.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES), metavar="LOSS",
                   help=f"losses to run, in order (default: all seven: {' '.join(LOSSES)})")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: 1 for cpu-small, which is ~3x faster than 2 on a "
                        "2-core machine that other jobs keep busy; torch's default for paper)")
    p.add_argument("--output-dir", default=None,
                   help="reproduction directory (default checkpoints/repro-<time>); re-use it to continue")
    p.add_argument("--report-only", action="store_true", help="only rewrite the report of --output-dir")
    config.add_arguments(p, only=shared_fields(), none_defaults=True)


def _command(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "srl_explorer", "reproduce", "--preset", args.preset]
    if list(args.losses) != list(LOSSES):
        parts += ["--losses", *args.losses]
    parts += config.to_args({f: getattr(args, f) for f in shared_fields()})
    for flag in ("threads", "output_dir"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return shlex.join(parts)


@contextmanager
def _torch_threads(n: int | None):
    """Run with ``n`` torch threads (None: unchanged), restored afterwards."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(args: argparse.Namespace) -> int:
    if args.report_only:
        if not args.output_dir:
            raise ValueError("--report-only needs --output-dir (a reproduction directory)")
        print(write_report(args.output_dir))
        return 0
    threads = args.threads if args.threads is not None else PRESET_THREADS.get(args.preset)
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    base = preset_config(args.preset, **{f: getattr(args, f) for f in shared_fields()})
    repro_dir = Path(args.output_dir) if args.output_dir else new_repro_dir()
    with _torch_threads(threads):
        manifest = reproduce(base, args.losses, repro_dir, preset=args.preset, command=_command(args))
    print(f"{manifest['state']}: {repro_dir} in {manifest['seconds'] / 60:.1f} min; report: "
          f"{repro_dir / manifest.get('report', REPORT)}")
    return 0 if manifest["state"] == "finished" else 1
