"""The run store: one directory per run under ``checkpoints/``.

Layout of a run directory::

    config.json      the training configuration
    status.json      {state, step, max_steps, best, pid, host, error, ...}; replaced atomically
    metrics.jsonl    one JSON object per line, flushed per line
    STOP             a stop request (created by the UI or CLI)
    best/ final/     model checkpoints (Hugging Face format), each written to a temp dir and renamed
    last/            the latest resumable checkpoint (model + trainer_state.pt)
    sts_results.json evaluation-suite results for this run's checkpoints
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

STATES = ("running", "finished", "failed", "cancelled", "killed")
LIVE = "running"
STOP_FILE = "STOP"
DEFAULT_ROOT = Path(os.environ.get("SRL_CHECKPOINTS", "checkpoints"))


# --------------------------------------------------------------------------- files
def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON to a temp file in the same directory, fsync, then ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=_json_default, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def atomic_save_dir(final: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmpdir)`` then rename ``tmpdir`` to ``final``; a crash never leaves a half-written ``final``."""
    final = Path(final)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    try:
        write(tmp)
        old = final.with_name(f".{final.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def recover_dir(final: str | os.PathLike) -> Path | None:
    """``final`` if it exists, else the ``.old`` copy left by a crash inside :func:`atomic_save_dir`."""
    final = Path(final)
    if final.exists():
        return final
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        os.replace(old, final)
        return final
    return None


class MetricsWriter:
    """Appends one JSON line per record and flushes it, so readers and crashes see whole lines."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        repair_jsonl(self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record, allow_nan=True, default=_json_default) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def repair_jsonl(path: Path) -> None:
    """Cut a torn last line (from a kill mid-write) so appended lines start clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        content = f.read()
        cut = content.rfind(b"\n") + 1
        f.truncate(cut)


def read_metrics(path: str | os.PathLike, offset: int = 0) -> tuple[list[dict], int]:
    """Records from byte ``offset``; returns (records, new_offset).

    Only complete lines are read: a torn last line is left for the next call.
    A malformed complete line is skipped, never fatal.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    records = []
    for line in chunk[:end].splitlines():
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records, offset + end


# --------------------------------------------------------------------------- names
def sanitize_name(name: str) -> str:
    """A run name safe to use as one path component under ``checkpoints/``."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:80]
    if not clean:
        raise ValueError(f"invalid run name {name!r}")
    return clean


def new_run_name(loss: str, root: Path = DEFAULT_ROOT) -> str:
    base = sanitize_name(f"{time.strftime('%Y%m%d-%H%M%S')}-{loss}")
    name, k = base, 1
    while (root / name).exists():
        k += 1
        name = f"{base}-{k}"
    return name


def run_dir_for(name: str, root: Path = DEFAULT_ROOT) -> Path:
    """``root/name`` with the name sanitized; never escapes ``root``."""
    root = Path(root).resolve()
    path = (root / sanitize_name(name)).resolve()
    if path.parent != root:
        raise ValueError(f"run name {name!r} escapes {root}")
    return path


# --------------------------------------------------------------------------- status
def pid_alive(pid: int | None, host: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (a zombie counts as dead)."""
    if not pid:
        return False
    if host and host != socket.gethostname():
        return True  # another machine: cannot check, trust the status
    try:
        import psutil
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def write_status(run_dir: Path, **fields: Any) -> dict:
    status = read_json(run_dir / "status.json", {}) or {}
    status.update(fields, updated=time.time())
    atomic_write_json(run_dir / "status.json", status)
    return status


def read_status(run_dir: str | os.PathLike) -> dict:
    """status.json, with a run that claims to be running but whose process is gone reported as ``killed``."""
    run_dir = Path(run_dir)
    status = read_json(run_dir / "status.json", None)
    if not isinstance(status, dict):
        return {"state": "unknown", "error": "status.json missing or unreadable"}
    if status.get("state") == LIVE and not pid_alive(status.get("pid"), status.get("host")):
        status = {**status, "state": "killed",
                  "error": status.get("error") or f"process {status.get('pid')} ended without updating its status (killed?)"}
    return status


def request_stop(run_dir: str | os.PathLike) -> None:
    """Ask a live run to stop at its next step (it ends with state ``cancelled``)."""
    Path(run_dir, STOP_FILE).touch()


def stop_requested(run_dir: Path) -> bool:
    return (run_dir / STOP_FILE).exists()


# --------------------------------------------------------------------------- listing
@dataclass
class RunInfo:
    name: str
    path: Path
    status: dict
    config: dict

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")


def list_runs(root: str | os.PathLike = DEFAULT_ROOT) -> list[RunInfo]:
    """Runs under ``root``, newest first (any directory with a config.json or status.json); the runs of a
    reproduction (a directory with reproduction.json) are listed as ``<reproduction>/<run>``."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and (d / "reproduction.json").exists():
            out += [RunInfo(f"{d.name}/{r.name}", r.path, r.status, r.config) for r in list_runs(d)]
        elif d.is_dir() and not d.name.startswith(".") and ((d / "status.json").exists() or (d / "config.json").exists()):
            out.append(RunInfo(d.name, d, read_status(d), read_json(d / "config.json", {}) or {}))
    return sorted(out, key=lambda r: r.status.get("started", r.path.stat().st_mtime), reverse=True)


def checkpoints_of(run_dir: str | os.PathLike) -> dict[str, Path]:
    """Named model checkpoints of a run that exist: step0, best, final, last."""
    run_dir = Path(run_dir)
    return {n: run_dir / n for n in ("step0", "best", "final", "last") if (run_dir / n / "config.json").exists()}


def iter_metric(records: list[dict], key: str) -> Iterator[tuple[int, float]]:
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)):
            yield r.get("step", 0), float(v)
