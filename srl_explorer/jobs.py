"""Launch, describe and stop training runs as separate processes (never threads of the UI server).

A run is owned by its directory: the process writes status.json and metrics.jsonl there,
so closing or reloading the browser never kills or orphans it.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import runs

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FLAG_ORDER = ("loss", "model", "pooler", "train_file", "dev_file", "max_steps", "batch_size", "lr",
              "max_seq_length", "eval_every", "seed", "temp", "margin", "lam", "alpha", "t", "dropout", "output_dir")


def train_args(cfg: dict[str, Any]) -> list[str]:
    """``python -m srl_explorer train`` arguments for a config dict (``None`` values are left out)."""
    args: list[str] = []
    for key in FLAG_ORDER:
        value = cfg.get(key)
        if value is None or value == "":
            continue
        args += [f"--{key.replace('_', '-')}", str(value)]
    if cfg.get("mlp_only_train"):
        args.append("--mlp-only-train")
    return args


def cli_command(cfg: dict[str, Any]) -> str:
    return shlex.join(["python", "-m", "srl_explorer", "train", *train_args(cfg)])


def torchrun_command(cfg: dict[str, Any], nproc_per_node: int = 2, nnodes: int = 1,
                     rdzv_endpoint: str | None = None) -> str:
    """The matching multi-GPU command; ``batch_size`` stays per process (global = N x batch)."""
    from .distributed import torchrun_command as build
    return shlex.join(build(train_args(cfg), nproc_per_node, nnodes, rdzv_endpoint))


def launch(cfg: dict[str, Any], run_dir: str | os.PathLike) -> subprocess.Popen:
    """Start the trainer in its own session; output goes to ``<run_dir>/train.log``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = {**cfg, "output_dir": str(run_dir)}
    log = open(run_dir / "train.log", "ab")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "srl_explorer", "train", *train_args(cfg)], cwd=PROJECT_ROOT,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    log.close()
    runs.atomic_write_json(run_dir / "launch.json", {"pid": proc.pid, "started": time.time(),
                                                     "command": cli_command(cfg)})
    return proc


def wait_for_status(run_dir: str | os.PathLike, timeout: float = 60.0) -> dict:
    """Wait until the launched process has written status.json (or died); returns the status."""
    run_dir, deadline = Path(run_dir), time.time() + timeout
    launched = runs.read_json(run_dir / "launch.json", {}) or {}
    while time.time() < deadline:
        if (run_dir / "status.json").exists():
            return runs.read_status(run_dir)
        if launched.get("pid") and not runs.pid_alive(launched["pid"]):
            return {"state": "failed", "error": last_log_line(run_dir)}
        time.sleep(0.2)
    return {"state": "unknown", "error": "the trainer did not start in time"}


def last_log_line(run_dir: str | os.PathLike) -> str:
    try:
        lines = [ln for ln in Path(run_dir, "train.log").read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return ""
    return lines[-1] if lines else ""


def stop(run_dir: str | os.PathLike, grace: float = 30.0) -> None:
    """Ask the run to stop (STOP file); if its process is still alive after ``grace`` s, SIGTERM it."""
    run_dir = Path(run_dir)
    runs.request_stop(run_dir)
    status = runs.read_status(run_dir)
    pid = status.get("pid")
    if not pid or status.get("state") != "running":
        return
    deadline = time.time() + grace
    while time.time() < deadline and runs.pid_alive(pid):
        if runs.read_status(run_dir).get("state") != "running":
            return
        time.sleep(0.2)
    if runs.pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
