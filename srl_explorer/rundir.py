"""The run folder: every file name in it, the run states, the checkpoint root and the data locations.

Layout of a run directory (one per run under :func:`checkpoint_root`)::

    config.json                the training configuration (TrainConfig as a dict, plus world_size)
    status.json                {state, step, max_steps, best, pid, host, error, ...}; replaced atomically
    metrics.jsonl              one JSON object per line, flushed per line
    metrics.superseded.jsonl   lines of steps redone after a resume (never lost)
    STOP                       a stop request (created by the UI or CLI)
    train.log                  stdout and stderr of a run launched by the app
    launch.json                {pid, started, command} of a run launched by the app
    corpus.txt                 an uploaded training corpus
    sts_results.json           evaluation-suite results for this run's checkpoints
    step0/ best/ final/        model checkpoints (Hugging Face format), each written to a temp dir and renamed
    last/                      the latest resumable checkpoint (model + trainer_state.pt); a finished run
                               keeps only the checkpoints of its ``--keep`` (default best and final)
    note.md                    the user's free-text note on the run

A folder holding ``reproduction.json`` groups the runs of one reproduction.

Only this module spells those names: everything else asks a :class:`RunDir`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# --------------------------------------------------------------------------- states
RUNNING, FINISHED, FAILED, CANCELLED = "running", "finished", "failed", "cancelled"
KILLED = "killed"  # read, never written: status says running but the process is gone
UNKNOWN = "unknown"  # no readable status file
LIVE = RUNNING  # the only state in which a process owns the folder

# --------------------------------------------------------------------------- file names
CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
METRICS_SUPERSEDED = "metrics.superseded.jsonl"
STOP_FILE = "STOP"
LOG = "train.log"
LAUNCH = "launch.json"
CORPUS = "corpus.txt"
STS_RESULTS = "sts_results.json"
REPRODUCTION = "reproduction.json"
TRAINER_STATE = "trainer_state.pt"
NOTE = "note.md"
CHECKPOINTS = ("step0", "best", "final", "last")  # the named model checkpoints, in training order
MODEL_CONFIG = "config.json"  # a Hugging Face model folder's config (inside a checkpoint), not the run's
KEEPABLE = ("best", "final", "last")  # the checkpoints --keep chooses from ("all": every one)


def parse_keep(text: str) -> frozenset[str]:
    """``--keep``: ``"best,final"`` -> {"best", "final"}; ``"all"`` -> every checkpoint of :data:`KEEPABLE`."""
    names = {n.strip() for n in str(text).split(",") if n.strip()}
    if names == {"all"}:
        return frozenset(KEEPABLE)
    unknown = names - set(KEEPABLE)
    if not names or unknown:
        raise ValueError(f"--keep must be 'all' or a comma-separated list of {', '.join(KEEPABLE)}; got {text!r}")
    return frozenset(names)


# --------------------------------------------------------------------------- locations
def checkpoint_root(create: bool = False) -> Path:
    """Where runs live, the same rule for the CLI and the app: ``$SRL_CHECKPOINTS`` if set, else
    ``./checkpoints`` of the current working directory."""
    root = Path(os.environ.get("SRL_CHECKPOINTS") or Path.cwd() / "checkpoints")
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


def data_dir() -> Path | None:
    """``$SRL_DATA_DIR``, a user-provided folder with STS-B (``sts-dev.csv``, ``sts-train.csv``) or a
    SentEval layout; None when unset (callers then use the sample shipped with the package)."""
    value = os.environ.get("SRL_DATA_DIR")
    return Path(value).expanduser() if value else None


STSB_LAYOUTS = ("STS/STSBenchmark", "STSBenchmark", ".", "downstream/STS/STSBenchmark")  # SentEval's first


def stsb_name(split: str) -> str:
    """The STS Benchmark's file name for ``split`` (train, dev, test)."""
    return f"sts-{split}.csv"


def find_stsb(root: str | os.PathLike, split: str = "dev") -> Path | None:
    """``sts-<split>.csv`` of STS Benchmark under ``root`` (flat or SentEval layout), or None."""
    for sub in STSB_LAYOUTS:
        path = Path(root) / sub / stsb_name(split)
        if path.is_file():
            return path.resolve()
    return None


def stsb_file(split: str = "dev") -> Path | None:
    """``sts-<split>.csv`` of STS Benchmark in :func:`data_dir`, or None."""
    root = data_dir()
    return None if root is None else find_stsb(root, split)


def stsb_dev_file() -> Path | None:
    """STS-B's ``sts-dev.csv`` in :func:`data_dir`, or None."""
    return stsb_file("dev")


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


def link_tree(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Fill folder ``dst`` with hard links to the files under ``src`` (copies where linking fails), for
    two checkpoints that hold the same model; :func:`disk_usage` counts the shared files once."""
    src, dst = Path(src), Path(dst)
    for f in src.rglob("*"):
        target = dst / f.relative_to(src)
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


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


class MetricSink(Protocol):
    """Anything that takes the metric records too (TensorBoard, W&B, MLflow, ...)."""

    def write(self, record: dict) -> None: ...

    def close(self) -> None: ...


class MetricsWriter:
    """Appends one JSON line per record and flushes it, so readers and crashes see whole lines.

    ``sinks`` receive every record after the line is written, and are closed with the writer.
    """

    def __init__(self, path: str | os.PathLike, sinks: Sequence[MetricSink] = ()):
        self.path = Path(path)
        self.sinks = list(sinks)
        repair_jsonl(self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record, allow_nan=True, default=_json_default) + "\n")
        self._f.flush()
        for sink in self.sinks:
            sink.write(record)

    def close(self) -> None:
        self._f.close()
        for sink in self.sinks:
            sink.close()


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
    """A run name safe to use as one path component under the checkpoint root."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:80]
    if not clean:
        raise ValueError(f"invalid run name {name!r}")
    return clean


def new_run_name(loss: str, root: str | os.PathLike | None = None) -> str:
    """``<time>-<loss>``, with a counter when that folder exists under ``root`` already."""
    root = Path(root) if root is not None else checkpoint_root()
    base = sanitize_name(f"{time.strftime('%Y%m%d-%H%M%S')}-{loss}")
    name, k = base, 1
    while (root / name).exists():
        k += 1
        name = f"{base}-{k}"
    return name


def run_dir_for(name: str, root: str | os.PathLike | None = None) -> Path:
    """``root/name`` with the name sanitized; never escapes ``root``."""
    root = Path(root if root is not None else checkpoint_root()).resolve()
    path = (root / sanitize_name(name)).resolve()
    if path.parent != root:
        raise ValueError(f"run name {name!r} escapes {root}")
    return path


# --------------------------------------------------------------------------- processes
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


# --------------------------------------------------------------------------- one run
class RunDir:
    """One run folder: the paths of its files and the reads and writes of its status.

    ``RunDir(path).metrics_file`` is the metrics file, ``.checkpoint("best")`` a checkpoint folder,
    ``.status()`` the status as it is (a dead process's ``running`` reads as ``killed``).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ files
    config_file = property(lambda self: self.path / CONFIG)
    status_file = property(lambda self: self.path / STATUS)
    metrics_file = property(lambda self: self.path / METRICS)
    superseded_file = property(lambda self: self.path / METRICS_SUPERSEDED)
    stop_file = property(lambda self: self.path / STOP_FILE)
    log_file = property(lambda self: self.path / LOG)
    launch_file = property(lambda self: self.path / LAUNCH)
    corpus_file = property(lambda self: self.path / CORPUS)
    sts_results_file = property(lambda self: self.path / STS_RESULTS)
    reproduction_file = property(lambda self: self.path / REPRODUCTION)
    note_file = property(lambda self: self.path / NOTE)

    def checkpoint(self, name: str) -> Path:
        """The folder of checkpoint ``name`` (one of :data:`CHECKPOINTS`)."""
        if name not in CHECKPOINTS:
            raise ValueError(f"unknown checkpoint {name!r}; one of {', '.join(CHECKPOINTS)}")
        return self.path / name

    @staticmethod
    def trainer_state(checkpoint: str | os.PathLike) -> Path:
        """The optimizer/scheduler/RNG state file inside a resumable checkpoint folder."""
        return Path(checkpoint) / TRAINER_STATE

    def checkpoints(self) -> dict[str, Path]:
        """Named model checkpoints that exist: step0, best, final, last."""
        return {n: self.path / n for n in CHECKPOINTS if (self.path / n / MODEL_CONFIG).exists()}

    # ------------------------------------------------------------------ reads and writes
    def is_run(self) -> bool:
        return self.path.is_dir() and (self.status_file.exists() or self.config_file.exists())

    def is_reproduction(self) -> bool:
        return self.path.is_dir() and self.reproduction_file.exists()

    def read_config(self) -> dict:
        """config.json as a dict ({} when missing or unreadable)."""
        return read_json(self.config_file, {}) or {}

    def write_config(self, config: dict) -> None:
        atomic_write_json(self.config_file, config)

    def read_metrics(self, offset: int = 0) -> tuple[list[dict], int]:
        return read_metrics(self.metrics_file, offset)

    def raw_status(self) -> dict | None:
        """status.json as written (None when missing or unreadable), without the liveness check."""
        status = read_json(self.status_file, None)
        return status if isinstance(status, dict) else None

    def status(self) -> dict:
        """status.json, with a run that claims to be running but whose process is gone reported as ``killed``."""
        status = self.raw_status()
        if status is None:
            return {"state": UNKNOWN, "error": f"{STATUS} missing or unreadable"}
        if status.get("state") == LIVE and not pid_alive(status.get("pid"), status.get("host")):
            error = f"process {status.get('pid')} ended without updating its status (killed?)"
            status = {**status, "state": KILLED, "error": status.get("error") or error}
        return status

    def write_status(self, **fields: Any) -> dict:
        """Merge ``fields`` into status.json (atomically) and stamp ``updated``."""
        status = self.raw_status() or {}
        status.update(fields, updated=time.time())
        atomic_write_json(self.status_file, status)
        return status

    def request_stop(self) -> None:
        """Ask a live run to stop at its next check step (it ends with state ``cancelled``)."""
        self.stop_file.touch()

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def clear_stop(self) -> None:
        self.stop_file.unlink(missing_ok=True)


# Thin functions for callers holding a plain path.
def read_status(run_dir: str | os.PathLike) -> dict:
    """:meth:`RunDir.status` of ``run_dir``."""
    return RunDir(run_dir).status()


def write_status(run_dir: str | os.PathLike, **fields: Any) -> dict:
    return RunDir(run_dir).write_status(**fields)


def request_stop(run_dir: str | os.PathLike) -> None:
    RunDir(run_dir).request_stop()


def stop_requested(run_dir: str | os.PathLike) -> bool:
    return RunDir(run_dir).stop_requested()


def checkpoints_of(run_dir: str | os.PathLike) -> dict[str, Path]:
    return RunDir(run_dir).checkpoints()


# --------------------------------------------------------------------------- listing
@dataclass
class RunInfo:
    name: str
    path: Path
    status: dict
    config: dict

    @property
    def state(self) -> str:
        return self.status.get("state", UNKNOWN)


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Runs under ``root`` (default :func:`checkpoint_root`), newest first: any folder with a config or
    status file; the runs of a reproduction are listed as ``<reproduction>/<run>``."""
    root = Path(root) if root is not None else checkpoint_root()
    if not root.is_dir():
        return []
    out = []
    for d in map(RunDir, root.iterdir()):
        if d.is_reproduction():
            out += [RunInfo(f"{d.name}/{r.name}", r.path, r.status, r.config) for r in list_runs(d.path)]
        elif not d.name.startswith(".") and d.is_run():
            out.append(RunInfo(d.name, d.path, d.status(), d.read_config()))
    return sorted(out, key=lambda r: r.status.get("started", r.path.stat().st_mtime), reverse=True)


# --------------------------------------------------------------------------- managing runs
class RunError(ValueError):
    """A refused run action (live run, name taken, not a run...): one line for the user."""


def _managed(run_dir: str | os.PathLike, root: str | os.PathLike | None) -> Path:
    """``run_dir`` resolved, checked to be a run or a reproduction strictly inside ``root``."""
    root = Path(root if root is not None else checkpoint_root()).resolve()
    path = Path(run_dir).resolve()
    if root not in path.parents:
        raise RunError(f"{path} is not inside the runs folder {root}")
    d = RunDir(path)
    if not (d.is_run() or d.is_reproduction()):
        raise RunError(f"{path.name}: not a run folder (no {STATUS} or {CONFIG})")
    return path


def live_runs(run_dir: str | os.PathLike) -> list[Path]:
    """The live runs in ``run_dir``: itself when its status is running and its process alive, or the
    live runs of a reproduction folder."""
    d = RunDir(run_dir)
    if d.is_reproduction():
        return [r.path for r in list_runs(d.path) if r.state == LIVE]
    return [d.path] if d.status().get("state") == LIVE else []


def refuse_live(path: Path, action: str) -> None:
    """Raise :class:`RunError` ("cannot delete X: it is training (pid N); stop it first") when ``path``
    is, or holds, a live run."""
    live = live_runs(path)
    if live:
        pid = RunDir(live[0]).status().get("pid")
        what = path.name if live[0] == path else f"{path.name}/{live[0].name}"
        raise RunError(f"cannot {action} {what}: it is training (pid {pid}); stop it first")


def delete_run(run_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
    """Delete a run (or a whole reproduction) under ``root`` (default :func:`checkpoint_root`); refuses a
    live run. The folder is first renamed to a hidden name, so a half-deleted run is never listed.
    Callers ask the user for confirmation first."""
    path = _managed(run_dir, root)
    refuse_live(path, "delete")
    trash = path.with_name(f".deleting-{path.name}-{os.getpid()}-{time.time_ns()}")
    os.replace(path, trash)
    shutil.rmtree(trash)


def rename_run(run_dir: str | os.PathLike, new_name: str, root: str | os.PathLike | None = None) -> Path:
    """Rename a run (or a reproduction) within its folder; returns the new path. The name is sanitized;
    a name in use, a live run, or a run inside a reproduction (named after its loss, which the
    reproduction relies on) are refused. Paths to the run's own files recorded in its JSON files
    (``output_dir``, an uploaded corpus, evaluated checkpoints) follow the rename, so ``--resume`` works."""
    path = _managed(run_dir, root)
    if RunDir(path.parent).is_reproduction():
        raise RunError(f"{path.parent.name}/{path.name}: runs of a reproduction keep their loss's name; "
                       f"rename the reproduction {path.parent.name} instead")
    try:
        clean = sanitize_name(new_name)
    except ValueError:
        raise RunError(f"{new_name!r} is not a usable run name (letters, digits, '.', '_' and '-')") from None
    target = path.with_name(clean)
    if target == path:
        return path
    if target.exists():
        raise RunError(f"a run named {clean} already exists")
    refuse_live(path, "rename")
    os.rename(path, target)
    for d in [target, *(r.path for r in list_runs(target))] if RunDir(target).is_reproduction() else [target]:
        _rebase_paths(RunDir(d), path, target)
    return target


def _rebase_paths(run: RunDir, old: Path, new: Path) -> None:
    """Rewrite path strings under ``old`` to ``new`` in the run's JSON files."""
    def fix(obj: Any) -> Any:
        if isinstance(obj, str) and (obj == str(old) or obj.startswith(str(old) + os.sep)):
            return str(new) + obj[len(str(old)):]
        if isinstance(obj, dict):
            return {k: fix(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fix(v) for v in obj]
        return obj

    for f in (run.config_file, run.status_file, run.launch_file, run.sts_results_file, run.reproduction_file):
        data = read_json(f, None)
        if data is not None and (fixed := fix(data)) != data:
            atomic_write_json(f, fixed)


def read_note(run_dir: str | os.PathLike) -> str:
    """The run's note ("" when there is none)."""
    try:
        return RunDir(run_dir).note_file.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return ""


def write_note(run_dir: str | os.PathLike, text: str) -> None:
    """Replace the run's note atomically; an empty (or blank) note removes the file. A live run can
    have its note edited (the trainer never touches it)."""
    d = RunDir(run_dir)
    if not d.path.is_dir():
        raise RunError(f"{d.path}: no such run")
    if not text.strip():
        d.note_file.unlink(missing_ok=True)
        return
    fd, tmp = tempfile.mkstemp(dir=d.path, prefix=f".{NOTE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text.rstrip() + "\n")
        os.replace(tmp, d.note_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def disk_usage(path: str | os.PathLike) -> int:
    """Bytes on disk under ``path`` (allocated blocks, like ``du``; a file linked twice counts once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [Path(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return total


def format_bytes(n: int | float | None) -> str:
    """``93_400_000`` -> ``89.1 MB`` (binary units, one decimal)."""
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # pragma: no cover


def run_summary(run: RunInfo) -> dict:
    """What the runs table (Home page, ``runs list``) shows of one run: name, state, loss, steps, last
    loss, best dev STS, note (first line) and bytes on disk."""
    s = run.status
    note = read_note(run.path).strip().splitlines()
    return {"run": run.name, "state": run.state, "loss": run.config.get("loss", s.get("loss_name")),
            "step": s.get("step", 0), "max_steps": s.get("max_steps"), "last_loss": s.get("last_loss"),
            "best": s.get("best"), "note": note[0] if note else "", "disk": disk_usage(run.path),
            "started": s.get("started")}
