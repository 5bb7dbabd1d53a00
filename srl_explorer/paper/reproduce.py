"""Reproduce the paper's comparison: the chosen losses one after another, with the same seed,
data, model and schedule, then a report.

    python -m srl_explorer reproduce --preset cpu-small      # all seven losses, 3 seeds, on 2 CPU cores
    python -m srl_explorer reproduce --preset paper --train-file wiki1m_for_simcse.txt   # the paper's setting, on a GPU

Each loss and seed trains in-process with :func:`srl_explorer.training.train` in ``<repro_dir>/<loss>/`` (one
seed) or ``<repro_dir>/<loss>-seed<N>/`` (``--seeds`` > 1), a normal run directory (``rundir.list_runs`` lists it
as ``<repro>/<run>``). The starting model is evaluated once and its step-0 record shared by every run that starts
from it. The reproduction's manifest is :attr:`RunDir.reproduction_file`; ``report.md`` with PNG and HTML plots is
written at the end (see :mod:`.report`). Re-running into the same ``--output-dir`` skips finished runs and
resumes resumable ones.
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
from ..fmt import fmt_num
from ..losses import LOSSES
from ..rundir import RunDir
from ..training import Hooks, TrainingError, train
from ..training.cli import add_nice_argument
from .report import REPORT, write_report

# cpu-small budget on this 2-core machine (batch 64, max length 32, STS-B dev): ~1.2 s per step with torch's
# default threads (one per core) when the machine is idle, ~1.9 s with one thread; when other jobs keep the
# cores busy, one thread is ~3x faster than two (--threads 1). A dev evaluation costs ~8-13 s. Step 0 is
# evaluated once and shared by every run (same model, same evaluation), so one seed of the seven losses costs
# 7 x (100 steps + 4 evaluations) + loading/saving.
CPU_SMALL_STEPS, CPU_SMALL_EVAL = 100, 25
PRESET_SEEDS = {"cpu-small": 3, "cpu-tuned": 3, "paper": 1}  # --seeds default

_CPU = dict(model=DEFAULT_MODEL, batch_size=64, lr=3e-5, max_seq_length=32, max_steps=CPU_SMALL_STEPS,
            eval_every=CPU_SMALL_EVAL, save_every=10**9)  # the resumable checkpoint (~260 MB) only at the end
PRESETS: dict[str, dict] = {
    # SimCSE's recipe on the packaged model: its [CLS] vector was never tuned for sentences, so InfoNCE's
    # p_pos starts well below 1 (0.85) and the hinge losses are active at step 0 -- the paper's dynamics show.
    "cpu-small": dict(**_CPU, pooler="cls", mlp_only_train=True),
    # The packaged model as it was tuned (mean pooling over ~1B sentence pairs): p_pos is ~1 from the first
    # step, InfoNCE's gradient is dissipated before training begins and no hinge is ever active.
    "cpu-tuned": dict(**_CPU, pooler="avg", mlp_only_train=False),
    "paper": dict(model="bert-base-uncased", pooler="cls", mlp_only_train=True, batch_size=64, lr=3e-5,
                  max_seq_length=32, epochs=1.0, max_steps=None, eval_every=125, save_every=1000),
}
WIKI1M = "wiki1m_for_simcse.txt"


def default_train_file(preset: str) -> str | None:
    """cpu-small, cpu-tuned: STS-B train in ``$SRL_DATA_DIR`` if present, else None (the shipped sample);
    paper: a local wiki1m file (current folder, ``./data`` or ``$SRL_DATA_DIR``)."""
    if preset.startswith("cpu-"):
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


def _check_inputs(cfg: TrainConfig, senteval_dir: str | os.PathLike | None = None) -> None:
    """Fail in one line before anything is written: unreadable data, too few sentences, or a SentEval folder
    without the seven tasks."""
    n = len(load_corpus(cfg.train_file, cfg.max_train_sentences))
    if n < cfg.batch_size:
        raise DataError(f"the corpus has {n} sentences, fewer than the batch size {cfg.batch_size}")
    read_pairs(cfg.dev_file)
    if senteval_dir is not None:
        from ..evaluation import TASKS, load_task
        for task in TASKS:
            load_task(task, "test", senteval_dir)


def run_key(loss: str, seed: int, seeds: list[int]) -> str:
    """A run's folder in a reproduction: ``<loss>`` with one seed, ``<loss>-seed<N>`` with several."""
    return loss if len(seeds) == 1 else f"{loss}-seed{seed}"


def _open_manifest(base: TrainConfig, repro_dir: Path, **fields) -> dict:
    path = RunDir(repro_dir).reproduction_file
    manifest = rundir.read_json(path, None)
    if isinstance(manifest, dict) and manifest.get("settings") != _settings(base):
        raise ValueError(f"{repro_dir} holds a reproduction with other settings; choose another --output-dir")
    manifest = manifest if isinstance(manifest, dict) else {"created": time.time(), "runs": {}, "seconds": 0.0}
    losses = list(dict.fromkeys([*manifest.get("losses", []), *fields.pop("losses")]))
    seeds = sorted({*manifest.get("seeds", []), *fields.pop("seeds")})
    command = fields.pop("command") or manifest.get("command")
    manifest.update(losses=losses, seeds=seeds, settings=_settings(base), command=command, state="running",
                    pid=os.getpid(), host=socket.gethostname(), started=time.time(), **fields)
    rundir.atomic_write_json(path, manifest)
    return manifest


def reproduce(base: TrainConfig, losses: list[str], repro_dir: str | os.PathLike, preset: str = "custom",
              command: str | None = None, seeds: int = 1, senteval_dir: str | os.PathLike | None = None) -> dict:
    """Train ``base`` with each loss under ``seeds`` seeds (``base.seed``, ``base.seed + 1``, ...) in
    ``repro_dir/<run>/``, optionally score each best checkpoint on SentEval, then write the report;
    returns the manifest. Runs go seed by seed, so an interrupted reproduction has whole seeds first."""
    losses = list(dict.fromkeys(losses))
    for name in losses:
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; choose from: {', '.join(LOSSES)}")
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    base.validate()
    _check_inputs(base, senteval_dir)
    repro_dir = Path(repro_dir)
    repro_dir.mkdir(parents=True, exist_ok=True)
    seed_list = [base.seed + k for k in range(seeds)]
    manifest = _open_manifest(base, repro_dir, losses=losses, seeds=seed_list, preset=preset, command=command)
    plan = [(loss, seed) for seed in seed_list for loss in losses]
    t_start, seconds_before = time.time(), manifest.get("seconds") or 0.0
    try:
        _run_plan(base, plan, seed_list, repro_dir, manifest)
        if senteval_dir is not None:
            manifest["senteval_dir"] = str(senteval_dir)
            score_senteval(repro_dir, manifest, senteval_dir)
    except BaseException as e:
        manifest.update(state="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())}")
        raise
    finally:
        manifest["seconds"] = seconds_before + time.time() - t_start  # wall time over every invocation
        rundir.atomic_write_json(RunDir(repro_dir).reproduction_file, manifest)
    manifest["report"] = write_report(repro_dir).name  # after a failure: --report-only
    rundir.atomic_write_json(RunDir(repro_dir).reproduction_file, manifest)
    return manifest


def _run_plan(base: TrainConfig, plan: list[tuple[str, int]], seeds: list[int], repro_dir: Path,
              manifest: dict) -> None:
    """Train every (loss, seed) of ``plan`` in turn, sharing the step-0 evaluation; updates ``manifest``."""
    path = RunDir(repro_dir).reproduction_file
    line = ProgressLine(len(plan))
    starts: dict = {}  # step-0 record by start_key: the starting model is evaluated once
    for i, (loss, seed) in enumerate(plan):
        key = run_key(loss, seed, seeds)
        cfg = replace(base, loss=loss, seed=seed)
        line.begin(i, loss, seed, repro_dir / key)
        info = _run_one(cfg, repro_dir / key, Hooks(starts.get(_start_key(cfg)), line.record))
        if starts.get(_start_key(cfg)) is None:
            starts[_start_key(cfg)] = _step0_record(repro_dir / key)
        manifest["runs"][key] = {**manifest["runs"].get(key, {}), **info, "loss": loss, "seed": seed}
        rundir.atomic_write_json(path, manifest)
        if info["state"] == "cancelled" and str(info.get("error") or "").startswith("terminated by signal"):
            manifest["state"] = "cancelled"
            return
    keys = [run_key(loss, seed, seeds) for loss, seed in plan]
    done = all(manifest["runs"].get(k, {}).get("state") == "finished" for k in keys)
    manifest["state"] = "finished" if done else "finished with failures"


def _start_key(cfg: TrainConfig) -> tuple:
    """Runs with equal keys start from the same evaluated model: the dev evaluation of step 0 depends on the
    model and the pooler, and on the seed only when a freshly initialised MLP head is used at evaluation."""
    return (cfg.model, cfg.pooler, cfg.mlp_only_train, cfg.dev_file, cfg.max_seq_length,
            cfg.seed if cfg.pooler == "cls" and not cfg.mlp_only_train else None)


def _step0_record(run_dir: Path) -> dict | None:
    """The step-0 record of a run, without its own step, time and learning rate (the loop writes those)."""
    records, _ = RunDir(run_dir).read_metrics()
    rec = next((r for r in records if r.get("step") == 0 and "stsb_dev_spearman" in r), None)
    return None if rec is None else {k: v for k, v in rec.items() if k not in ("step", "elapsed_s", "lr")}


class ProgressLine:
    """``[reproduce] infonce · seed 42 (run 3/21) · step 40/100 · about 12 min left in total``, about ten times
    per run. The time left is the reproduction's: the mean time per trained step so far (evaluations included)
    times the steps to go, plus the mean time a run spends outside its steps (loading, saving) per run to go."""

    def __init__(self, n_runs: int):
        self.n_runs, self.t0, self.trained, self.step_time, self.started = n_runs, time.time(), 0, 0.0, 0
        self.index, self.loss, self.seed, self.run_dir, self.total = 0, "", 0, Path(), None
        self.last_step: int | None = None
        self.last_time = self.t0

    def begin(self, index: int, loss: str, seed: int, run_dir: Path) -> None:
        self.index, self.loss, self.seed, self.last_step, self.run_dir = index, loss, seed, None, run_dir
        self.started += 1

    def record(self, record: dict) -> None:
        step, now = int(record.get("step", 0)), time.time()
        if self.last_step is None:  # the first record of a run: step 0, or the step it resumed from
            self.last_step, self.last_time = step, now
            self.total = (RunDir(self.run_dir).raw_status() or {}).get("max_steps")  # written before it
            return
        self.trained += max(0, step - self.last_step)
        self.step_time += now - self.last_time
        self.last_step, self.last_time = step, now
        total = self.total or step
        if step % max(1, total // 10) == 0 or step == total:
            print(self.text(step, total), flush=True)

    def text(self, step: int, total: int) -> str:
        per_step = self.step_time / max(1, self.trained)
        per_run = max(0.0, time.time() - self.t0 - self.step_time) / max(1, self.started)  # outside the steps
        runs_left = self.n_runs - self.index - 1
        left = per_step * ((total - step) + runs_left * total) + per_run * runs_left
        return (f"[reproduce] {self.loss} · seed {self.seed} (run {self.index + 1}/{self.n_runs}) · step "
                f"{step}/{total} · about {format_minutes(left)} left in total")


def format_minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _run_one(cfg: TrainConfig, run_dir: Path, hooks: Hooks) -> dict:
    """Train ``cfg`` in ``run_dir``; returns its manifest entry."""
    run = RunDir(run_dir)
    name = f"{cfg.loss} · seed {cfg.seed}"
    status = run.status() if run.status_file.exists() else {}
    if status.get("state") == "finished":
        print(f"[reproduce] {name}: already finished in {run_dir}", flush=True)
        return {"dir": run_dir.name, "state": "finished", "best": status.get("best"), "skipped": True}
    resume = bool(status) and RunDir.trainer_state(run.checkpoint("last")).exists()
    if status and not resume and run.metrics_file.exists():
        raise ValueError(f"{run_dir}: an unfinished run without a resumable checkpoint; delete it or choose "
                         f"another --output-dir")
    print(f"[reproduce] {name}: {'resuming' if resume else 'training'} in {run_dir}", flush=True)
    t0 = time.time()
    try:
        train(replace(cfg, output_dir=str(run_dir)), run_dir=run_dir if resume else None, resume=resume,
              hooks=hooks)
    except TrainingError as e:  # a diverged loss is a result, not a reason to stop the others
        print(f"[reproduce] {name}: failed: {e}", flush=True)
    status = run.status()
    seconds = time.time() - t0
    print(f"[reproduce] {name}: {status.get('state')} in {seconds / 60:.1f} min; best dev Spearman after "
          f"step 0: {fmt_num(status.get('best'))} (step {status.get('best_step')})", flush=True)
    return {"dir": run_dir.name, "state": status.get("state"), "seconds": seconds, "best": status.get("best"),
            "best_step": status.get("best_step"), "error": status.get("error")}


def score_senteval(repro_dir: Path, manifest: dict, senteval_dir: str | os.PathLike) -> None:
    """Score each run's ``best`` checkpoint on STS12-16, STS-B test and SICK-R with the ``eval`` code, and store
    the result in the run (``sts_results.json``, under ``best``); a 7-task result newer than the checkpoint is kept."""
    from ..evaluation import evaluate_model, load_run_results, save_run_results
    for key, info in manifest.get("runs", {}).items():
        run = RunDir(repro_dir / info.get("dir", key))
        best = run.checkpoints().get("best")
        if best is None:
            continue
        old = load_run_results(run.path).get("best", {})
        if old.get("avg_label") == "7-task avg" and run.sts_results_file.stat().st_mtime > best.stat().st_mtime:
            continue
        print(f"[reproduce] {key}: STS12-16, STS-B test and SICK-R on best/", flush=True)
        save_run_results(run.path, "best", evaluate_model(str(best), None, "test", senteval_dir))


# --------------------------------------------------------------------------- command line
NOT_SHARED = ("loss", "output_dir", "stop_after")  # set per run, or reproduce's own flags


def shared_fields() -> tuple[str, ...]:
    """The TrainConfig fields every run of a reproduction shares: each is a ``reproduce`` flag."""
    return tuple(o.name for o in config.options() if o.name not in NOT_SHARED)


class LossList(argparse.Action):
    """``--losses a b`` and ``--losses a,b`` (or a mix): one list, duplicates dropped, each name checked."""

    def __call__(self, parser, namespace, values, option_string=None):
        names = [n.strip() for v in values for n in v.split(",") if n.strip()]
        bad = [n for n in names if n not in LOSSES]
        if bad or not names:
            parser.error(f"argument --losses: invalid choice: {bad[0] if bad else ''!r} "
                         f"(choose from {', '.join(LOSSES)})")
        setattr(namespace, self.dest, list(dict.fromkeys(names)))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu-small", choices=list(PRESETS),
                   help=f"cpu-small: packaged MiniLM with SimCSE's cls pooler + MLP in training, on STS-B train "
                        f"sentences, {CPU_SMALL_STEPS} steps per loss and seed; cpu-tuned: the same with the "
                        "model's own mean pooling (a start already tuned for sentences); paper: bert-base-uncased "
                        "on wiki1m, 1 epoch, cls pooler + MLP in training (default %(default)s). Every training "
                        "flag below defaults to the preset's value")
    p.add_argument("--losses", nargs="+", default=list(LOSSES), action=LossList, metavar="LOSS",
                   help=f"losses to run, in order, space- or comma-separated (default: all seven: {' '.join(LOSSES)})")
    p.add_argument("--seeds", type=int, default=None,
                   help="run every loss under this many seeds (--seed, --seed + 1, ...); the report gives mean ± sd "
                        f"(default: {', '.join(f'{k} {v}' for k, v in PRESET_SEEDS.items())})")
    p.add_argument("--senteval-dir", default=None, metavar="DIR",
                   help="SentEval data folder (STS/STS12-en-test …, STS/STSBenchmark, SICK): add the paper's table, "
                        "each loss's best checkpoint on STS12-16, STS-B test and SICK-R")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's, one per core, fastest on an idle machine; 1 is ~3x "
                        "faster than 2 on a 2-core machine that other jobs keep busy)")
    p.add_argument("--output-dir", default=None,
                   help="reproduction directory (default checkpoints/repro-<time>); re-use it to continue")
    p.add_argument("--report-only", action="store_true", help="only rewrite the report of --output-dir")
    add_nice_argument(p)
    config.add_arguments(p, only=shared_fields(), none_defaults=True)


def _command(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "srl_explorer", "reproduce", "--preset", args.preset]
    if list(args.losses) != list(LOSSES):
        parts += ["--losses", *args.losses]
    parts += config.to_args({f: getattr(args, f) for f in shared_fields()})
    for flag in ("seeds", "senteval_dir", "threads", "output_dir"):
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
        if args.senteval_dir:  # score an existing reproduction's best checkpoints, then rewrite its report
            from .evidence import read_manifest
            score_senteval(Path(args.output_dir), read_manifest(args.output_dir), args.senteval_dir)
        print(write_report(args.output_dir))
        return 0
    threads = args.threads
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    base = preset_config(args.preset, **{f: getattr(args, f) for f in shared_fields()})
    seeds = args.seeds if args.seeds is not None else PRESET_SEEDS.get(args.preset, 1)
    repro_dir = Path(args.output_dir) if args.output_dir else new_repro_dir()
    with _torch_threads(threads):
        manifest = reproduce(base, args.losses, repro_dir, preset=args.preset, command=_command(args), seeds=seeds,
                             senteval_dir=args.senteval_dir)
    print(f"{manifest['state']}: {repro_dir} in {manifest['seconds'] / 60:.1f} min; report: "
          f"{repro_dir / manifest.get('report', REPORT)}")
    return 0 if manifest["state"] == "finished" else 1
