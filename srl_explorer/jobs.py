"""Launch, describe, watch and stop training runs as separate processes (never threads of the UI).

A run is owned by its directory, not by whoever started it: the trainer writes its status and
metrics there and runs in its own session, so closing or reloading the browser, or restarting the
app, never kills or orphans it. Anyone can find it again with ``rundir.list_runs`` and stop it
with :func:`stop`.

    proc = launch({"loss": "mpt", "max_steps": 200}, "checkpoints/my-run")
    cli_command(cfg)                     # python -m srl_explorer train --loss mpt --max-steps 200
    torchrun_shell_command(cfg, 4)       # torchrun --nproc_per_node=4 -m srl_explorer train ...
    stop("checkpoints/my-run")           # STOP file, then SIGTERM if it is still alive after a grace period
"""
from __future__ import annotations

import functools
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import rundir
from .data import DataError, looks_like_path, parse_lines
from .rundir import RunDir

if TYPE_CHECKING:  # config imports the losses, hence torch: the Home page must not pay for it
    from .config import TrainConfig

PACKAGE_PARENT = Path(__file__).resolve().parents[1]  # the folder holding srl_explorer/
STOP_GRACE_S = 30.0
TRAINER_NICE = 10  # a launched run yields the CPU to the app's server, so pages stay responsive while it trains
SMALL_MACHINE_CORES = 4  # up to this many cores, a launched run leaves one core to the server


# --------------------------------------------------------------------------- commands
def train_args(cfg: dict[str, Any], cls: type[TrainConfig] | None = None) -> list[str]:
    """``python -m srl_explorer train`` arguments for a config dict (``None``/empty values are left out);
    generated from the config's fields, so every field has its flag."""
    from . import config
    return config.to_args(cfg, cls)


def cli_command(cfg: dict[str, Any], cls: type[TrainConfig] | None = None) -> str:
    """The shell command that trains ``cfg`` in one process."""
    return shlex.join(["python", "-m", "srl_explorer", "train", *train_args(cfg, cls)])


def torchrun_command(train_args: list[str], nproc_per_node: int, nnodes: int = 1,
                     rdzv_endpoint: str | None = None) -> list[str]:
    """argv of ``torchrun ... -m srl_explorer train <train_args>``.

    One node: ``torchrun --nproc_per_node=N -m srl_explorer train ...``. Several nodes add the
    c10d rendezvous; run the same command on every node (ranks are assigned at rendezvous;
    ``HOST:29500`` stands in for a missing endpoint). ``--batch-size`` in ``train_args`` is
    per process: the global batch is nnodes * nproc_per_node * batch size.
    """
    if nproc_per_node < 1 or nnodes < 1:
        raise ValueError(f"nproc_per_node and nnodes must be at least 1, got {nproc_per_node} and {nnodes}")
    cmd = ["torchrun", f"--nproc_per_node={nproc_per_node}"]
    if nnodes > 1:
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint or 'HOST:29500'}",
                "--rdzv-id=srl"]
    return cmd + ["-m", "srl_explorer", "train", *train_args]


def torchrun_shell_command(cfg: dict[str, Any], nproc_per_node: int = 2, nnodes: int = 1,
                           rdzv_endpoint: str | None = None) -> str:
    """The matching multi-GPU (and multi-node) shell command for a config dict; ``batch_size`` stays
    per process, so the global batch is nproc_per_node x nnodes x batch_size."""
    return shlex.join(torchrun_command(train_args(cfg), nproc_per_node, nnodes, rdzv_endpoint))


# --------------------------------------------------------------------------- checks
def preflight(cfg: dict[str, Any]) -> None:
    """Fail fast, with one line, on what the trainer would reject: bad numbers, missing local files."""
    from . import config
    config.TrainConfig.from_dict({k: v for k, v in cfg.items() if v is not None}).validate()
    model = cfg.get("model")
    if model and looks_like_path(str(model)) and not Path(str(model)).expanduser().is_dir():
        raise DataError(f"{model}: no such model directory")
    for key in ("train_file", "dev_file"):
        value = cfg.get(key)
        if value and looks_like_path(str(value)) and not Path(str(value)).expanduser().is_file():
            raise DataError(f"{value}: no such file ({key.replace('_', ' ')})")


def corpus_from_upload(raw: bytes, name: str, batch_size: int) -> list[str]:
    """Sentences of an uploaded ``.txt`` (one per line); refuses fewer sentences than one batch."""
    lines = parse_lines(raw, name)
    if len(lines) < batch_size:
        raise DataError(f"{name}: {len(lines)} sentence(s), fewer than the batch size {batch_size}; "
                        f"upload more lines or lower the batch size")
    return lines


# --------------------------------------------------------------------------- launching
def launch(cfg: dict[str, Any], run_dir: str | os.PathLike) -> subprocess.Popen:
    """Start the trainer in its own session with ``cfg`` into ``run_dir``; stdout and stderr go to the
    run's log. It runs in this process's working directory, so relative paths (and ``./checkpoints``)
    mean the same for the app and the command line. The run is listed (state running) as soon as this
    returns.

    The trainer runs at a lower priority (:data:`TRAINER_NICE`) and, on a small machine, with one torch
    thread fewer than the cores (:func:`trainer_threads`), so the app's pages stay responsive while it
    trains. ``launch.json`` records the equivalent shell command (``nice -n 10 env OMP_NUM_THREADS=1 ...``)."""
    run = RunDir(Path(run_dir).resolve())
    run.path.mkdir(parents=True, exist_ok=True)
    cfg = {**cfg, "output_dir": str(run.path)}
    command = [sys.executable, "-m", "srl_explorer", "train", *train_args(cfg)]
    run.write_config(cfg)  # the trainer rewrites it in full
    env, threads = _child_env(), trainer_threads()
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    with open(run.log_file, "ab") as log:
        proc = subprocess.Popen(command, cwd=Path.cwd(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    nice = _lower_priority(proc.pid)
    prefix = (["nice", "-n", str(nice)] if nice else []) + (["env", f"OMP_NUM_THREADS={threads}"] if threads else [])
    rundir.atomic_write_json(run.launch_file, {"pid": proc.pid, "started": time.time(), "nice": nice,
                                               "torch_threads": threads,
                                               "command": shlex.join(prefix) + " " * bool(prefix) + cli_command(cfg)})
    if not run.status_file.exists():  # the trainer needs seconds to import torch first
        run.write_status(state=rundir.RUNNING, pid=proc.pid, host=socket.gethostname(), started=time.time(),
                         step=0, max_steps=cfg.get("max_steps"), loss_name=cfg.get("loss"))
    return proc


def trainer_threads(cores: int | None = None, environ: dict[str, str] | None = None) -> int | None:
    """Torch threads for a launched run: one fewer than the cores on a machine of at most
    :data:`SMALL_MACHINE_CORES` cores (at least one), so the server keeps a core; None (torch's own
    choice) on bigger machines, or when the user set ``OMP_NUM_THREADS`` themselves."""
    cores = cores or os.cpu_count() or 1
    environ = os.environ if environ is None else environ
    if environ.get("OMP_NUM_THREADS") or cores > SMALL_MACHINE_CORES:
        return None
    return max(1, cores - 1)


def _lower_priority(pid: int) -> int:
    """Renice the just-started trainer to this process's niceness + :data:`TRAINER_NICE` (its threads,
    created later, inherit it); returns the increment applied (0 where that is not possible)."""
    try:
        own = os.getpriority(os.PRIO_PROCESS, 0)
        target = min(19, own + TRAINER_NICE)
        os.setpriority(os.PRIO_PROCESS, pid, target)
        return target - own
    except (OSError, AttributeError):  # the process is already gone, or no setpriority (Windows)
        return 0


def _child_env() -> dict[str, str]:
    """This environment, unbuffered; the package's folder joins PYTHONPATH only when a child started in
    the working directory would not import this same ``srl_explorer`` otherwise (a source checkout that
    is not installed, run from elsewhere)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not _importable_from(str(Path.cwd()), os.environ.get("PYTHONPATH", "")):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))
    return env


@functools.lru_cache(maxsize=8)
def _importable_from(cwd: str, pythonpath: str) -> bool:
    """Whether ``python -m`` started in ``cwd`` finds this package (the same folder) by itself."""
    probe = "import importlib.util as u; s = u.find_spec('srl_explorer'); print(s.origin if s else '')"
    env = {**os.environ, "PYTHONPATH": pythonpath}
    found = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True)
    origin = found.stdout.strip()
    return bool(origin) and Path(origin).resolve().parent == PACKAGE_PARENT / "srl_explorer"


def start_run(cfg: dict[str, Any], root: str | os.PathLike, upload: tuple[bytes, str] | None = None,
              registry: JobRegistry | None = None) -> Path:
    """Check ``cfg``, create a fresh run directory under ``root`` (an uploaded ``.txt`` corpus,
    ``(raw bytes, file name)``, is saved into it as corpus.txt) and launch the trainer there."""
    cfg = dict(cfg)
    lines = corpus_from_upload(upload[0], upload[1], int(cfg.get("batch_size") or 64)) if upload else None
    preflight(cfg)
    root = Path(root)
    while True:  # two sessions may start a run in the same second
        run_dir = rundir.run_dir_for(rundir.new_run_name(cfg.get("loss", "run"), root), root)
        try:
            run_dir.mkdir(parents=True)
            break
        except FileExistsError:
            continue
    if lines is not None:
        corpus = RunDir(run_dir).corpus_file
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cfg["train_file"] = str(corpus)
    (registry.launch if registry is not None else launch)(cfg, run_dir)
    return run_dir


class JobRegistry:
    """Processes launched by this app process (thread-safe). Only used to reap finished children;
    whether a run is alive is always read from its directory, never from here."""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def launch(self, cfg: dict[str, Any], run_dir: str | os.PathLike) -> subprocess.Popen:
        proc = launch(cfg, run_dir)
        with self._lock:
            self._procs[str(Path(run_dir).resolve())] = proc
        return proc

    def reap(self) -> int:
        """Collect exited children (no zombies); returns how many are still running."""
        with self._lock:
            for key, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    del self._procs[key]
            return len(self._procs)


# --------------------------------------------------------------------------- watching
def last_log_line(run_dir: str | os.PathLike) -> str:
    """The last non-empty line of the run's log ("" when there is none)."""
    try:
        with open(RunDir(run_dir).log_file, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 8192))
            tail = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    lines = [ln.strip() for ln in tail.replace("\r", "\n").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def status_with_log_error(run_dir: str | os.PathLike) -> dict:
    """:meth:`RunDir.status` plus the reason from the run's log when the process died before the
    trainer could record one (e.g. a bad command-line argument)."""
    status = RunDir(run_dir).status()
    if status.get("state") in (rundir.KILLED, rundir.UNKNOWN):
        line = last_log_line(run_dir)
        if line.startswith("error:"):
            status = {**status, "state": rundir.FAILED, "error": line.removeprefix("error:").strip()}
    return status


def eta_seconds(records: list[dict], step: int, max_steps: int | None) -> float | None:
    """Remaining seconds from the mean wall time per training step so far (evaluations included)."""
    timed = [(r["step"], r["elapsed_s"]) for r in records
             if "loss" in r and isinstance(r.get("elapsed_s"), (int, float)) and isinstance(r.get("step"), int)]
    if not max_steps or len(timed) < 2 or step >= max_steps:
        return None
    (s0, t0), (s1, t1) = timed[0], timed[-1]
    return (t1 - t0) / max(1, s1 - s0) * (max_steps - step)


def format_duration(seconds: float) -> str:
    """``95`` -> ``1 min 35 s``, ``7300`` -> ``2 h 01 min``, ``200000`` -> ``2 d 7 h``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


# --------------------------------------------------------------------------- stopping
def _signal(pid: int, sig: int) -> None:
    """Signal the process group when ``pid`` leads one (launched here), else the process."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _terminate_after(run_dir: Path, pid: int, host: str | None, grace: float) -> bool:
    """Wait up to ``grace`` s for the run to end by itself, then SIGTERM it. True if it was signalled."""
    deadline = time.time() + grace
    while time.time() < deadline:
        if not rundir.pid_alive(pid, host) or rundir.read_status(run_dir).get("state") != rundir.LIVE:
            return False
        time.sleep(0.2)
    if host and host != socket.gethostname():
        return False  # cannot signal another machine; the STOP file is all we can do
    if rundir.pid_alive(pid):
        _signal(pid, signal.SIGTERM)
        return True
    return False


def _request(run_dir: Path) -> tuple[int, str | None] | None:
    """Write the STOP file; (pid, host) of the process to watch, or None when it is not running."""
    rundir.request_stop(run_dir)
    status = rundir.read_status(run_dir)
    if status.get("state") != rundir.LIVE or not status.get("pid"):
        return None
    return status["pid"], status.get("host")


def stop(run_dir: str | os.PathLike, grace: float = STOP_GRACE_S) -> bool:
    """Ask a run to stop: a STOP file (it ends as ``cancelled`` after its current step), then
    SIGTERM (also ``cancelled``) if it is still alive after ``grace`` seconds. Blocks; returns
    whether SIGTERM was needed."""
    target = _request(Path(run_dir))
    return bool(target) and _terminate_after(Path(run_dir), *target, grace)


def stop_async(run_dir: str | os.PathLike, grace: float = STOP_GRACE_S) -> threading.Thread | None:
    """:func:`stop` for the UI: the STOP file is written now, the SIGTERM fallback waits in a
    daemon thread (returned; None when the run is not running)."""
    target = _request(Path(run_dir))
    if not target:
        return None
    t = threading.Thread(target=_terminate_after, args=(Path(run_dir), *target, grace),
                         name=f"stop-{Path(run_dir).name}", daemon=True)
    t.start()
    return t
