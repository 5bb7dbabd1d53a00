"""Streamlit glue shared by the pages: live metric tails, cached encoders and embeddings, checkpoint pickers
and upload checks. Page setup, the runs folder and the server's start-up work are in :mod:`srl_explorer.ui.page`;
the charts' glue (live panels, downloads) is in :mod:`srl_explorer.ui.charts`.

Process-wide state (metric tails, the job registry, loaded encoders) lives in ``st.cache_resource``
and is thread-safe; nothing that outlives a browser tab is kept in session state.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from .. import DEFAULT_MODEL, jobs, rundir
from ..data import DataError
from .page import PAGES, _torch_threads, _wait_for_preimport, checkpoint_root  # noqa: F401 - re-exported

POLL_SECONDS = 1.0  # live charts refresh at least this often
MAX_PLOT_POINTS = 1500  # per series on live charts; evaluation records are always kept


# --------------------------------------------------------------------------- runs and metrics
class MetricsTail:
    """A run's metrics.jsonl read incrementally from a byte offset; one per file, shared by every
    session (thread-safe). Starts over when the file is replaced or shrinks (``--resume``)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.inode, self.records = path, 0, None, []
        self._lock = threading.Lock()

    def refresh(self) -> list[dict]:
        with self._lock:
            try:
                st_ = self.path.stat()
            except FileNotFoundError:
                return list(self.records)
            if st_.st_ino != self.inode or st_.st_size < self.offset:
                self.offset, self.inode, self.records = 0, st_.st_ino, []
            new, self.offset = rundir.read_metrics(self.path, self.offset)
            self.records.extend(new)
            return list(self.records)


@st.cache_resource(show_spinner=False)
def _metrics_tail(path: str) -> MetricsTail:
    return MetricsTail(Path(path))


def run_records(run_dir: Path) -> list[dict]:
    """All metric records of a run so far (only the new bytes are read)."""
    return _metrics_tail(str(rundir.RunDir(Path(run_dir).resolve()).metrics_file)).refresh()


def thin_records(records: list[dict], max_points: int = MAX_PLOT_POINTS) -> list[dict]:
    """Every k-th training record (and the last) so a series has about ``max_points`` points;
    evaluation records (with ``stsb_dev_spearman``) are all kept."""
    k = len(records) // max_points + 1
    if k == 1:
        return records
    last = len(records) - 1
    return [r for i, r in enumerate(records) if i % k == 0 or i == last or "stsb_dev_spearman" in r]


@st.cache_resource(show_spinner=False)
def job_registry() -> jobs.JobRegistry:
    """Processes launched from this server (to reap them); runs themselves live in their folders."""
    return jobs.JobRegistry()


STATE_LABELS = {rundir.RUNNING: "● running", rundir.FINISHED: "✓ finished", rundir.CANCELLED: "■ cancelled",
                rundir.FAILED: "✗ failed", rundir.KILLED: "✗ killed"}


def state_badge(state: str) -> str:
    return STATE_LABELS.get(state, state)


def runs_table(root: Path) -> pd.DataFrame:
    """One row per run: status, loss, steps, last loss, best STS dev, start time."""
    rows = []
    for r in rundir.list_runs(root):
        s = r.status
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["started"])) if s.get("started") else ""
        rows.append({"run": r.name, "status": state_badge(r.state), "loss fn": r.config.get("loss", s.get("loss_name")),
                     "step": f"{s.get('step', 0)}/{s.get('max_steps') or '?'}",
                     "last loss": s.get("last_loss"), "best STS dev": s.get("best"), "started": started})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- models
def _mtime(path: str) -> float:
    p = Path(path) / "model.safetensors"
    return p.stat().st_mtime if p.exists() else 0.0


@st.cache_resource(show_spinner="Loading model…", max_entries=6)
def _load_encoder(model: str, pooler: str | None, mtime: float):
    _wait_for_preimport()
    from ..encoder import Encoder
    return Encoder.from_pretrained(model, pooler=pooler)


def get_encoder(model: str, pooler: str | None = None):
    """Cached :class:`~srl_explorer.encoder.Encoder` (reloaded when its weights change), or None
    and an error box when it cannot be loaded (ModelLoadError is a ValueError)."""
    try:
        enc = _load_encoder(model, pooler, _mtime(model))
        _torch_threads()  # per use: a run may have started (or ended) since the last one
        return enc
    except (ValueError, OSError) as e:
        st.error(str(e))
        return None


@st.cache_data(show_spinner="Encoding sentences…", max_entries=16)
def _embed(model: str, pooler: str | None, mtime: float, sentences: tuple[str, ...], _enc) -> np.ndarray:
    return _enc.encode(list(sentences))


def embed(model: str, pooler: str | None, sentences: list[str]) -> np.ndarray | None:
    """(N, d) normalized embeddings, cached per checkpoint and sentence list; None (and an error
    box) when the model cannot be loaded."""
    enc = get_encoder(model, pooler)
    return None if enc is None else _embed(model, pooler, _mtime(model), tuple(sentences), enc)


def checkpoint_label(run: rundir.RunInfo, name: str) -> str:
    """The pickers' label of checkpoint ``name`` of ``run``, with its step: ``infonce · best (step 40)``,
    ``infonce · final (step 100)``, ``infonce · step 0``. *best* is the best evaluation after step 0."""
    if name == "step0":
        return f"{run.name} · step 0"
    status = run.status
    step = status.get("best_step") if name == "best" else (
        status.get("step") if name == "final" or run.state != rundir.LIVE else None)
    return f"{run.name} · {name}" + (f" (step {step})" if step is not None else "")


def eval_pooler(config: dict) -> str | None:
    """The pooler that encodes a run's base model as its step-0 evaluation did: SimCSE's ``cls`` with the MLP
    head in training only is the [CLS] vector without the head at evaluation, i.e. ``cls_before_pooler``
    (the head is freshly initialised, so the base model has none to apply)."""
    pooler = config.get("pooler")
    return "cls_before_pooler" if pooler == "cls" and config.get("mlp_only_train") else pooler


def checkpoint_choices(root: Path | None = None) -> dict[str, tuple[str, str | None]]:
    """Label -> (model path, pooler): the packaged model, and per run its base model ("step 0",
    with the run's pooler) and its saved checkpoints (best, final, last, labelled with their step by
    :func:`checkpoint_label`; their pooler is stored)."""
    out = {"packaged all-MiniLM-L6-v2 (avg)": (DEFAULT_MODEL, "avg")}
    for r in rundir.list_runs(root or checkpoint_root()):
        ckpts = rundir.checkpoints_of(r.path)
        if r.config.get("model") and "step0" not in ckpts:
            out[f"{r.name} · step 0 (base model)"] = (str(r.config["model"]), eval_pooler(r.config))
        for name, path in ckpts.items():
            out[checkpoint_label(r, name)] = (str(path), None)
    return out


# --------------------------------------------------------------------------- uploads
def upload_limit_mb() -> int:
    """``server.maxUploadSize`` from .streamlit/config.toml (MB)."""
    return int(st.get_option("server.maxUploadSize"))


def check_upload_size(n_bytes: int, name: str, limit_mb: int | None = None) -> None:
    """Refuse files over the upload limit with one line (the browser refuses them too)."""
    limit_mb = upload_limit_mb() if limit_mb is None else limit_mb
    if n_bytes > limit_mb * 1024 * 1024:
        raise DataError(f"{name}: {n_bytes / 1024 / 1024:.1f} MB is over the {limit_mb} MB upload limit "
                        f"(server.maxUploadSize in .streamlit/config.toml)")


def read_upload(uploaded) -> bytes:
    """The bytes of a ``st.file_uploader`` file after the size check."""
    check_upload_size(uploaded.size, uploaded.name)
    return uploaded.getvalue()


# --------------------------------------------------------------------------- config forms
def keep_widget_values(prefixes: tuple[str, ...]) -> None:
    """Keep the values of the widgets whose key starts with one of ``prefixes`` through a script run that does
    not draw them (a folded form): Streamlit drops such widgets' state, unless it is written back."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefixes)]:
        st.session_state[key] = st.session_state[key]


def config_inputs(skip: set[str] | frozenset[str], columns: int = 3) -> dict:
    """One input per :class:`~srl_explorer.config.TrainConfig` field not in ``skip``, labelled with its
    name and its help from the config; returns the values that differ from the field's default."""
    from .. import config
    out = {}
    cols = st.columns(columns)
    shown = [o for o in config.options() if o.name not in skip]
    for i, o in enumerate(shown):
        col, label, key = cols[i % columns], o.name.replace("_", " "), f"cfg-{o.name}"
        if o.type is bool:
            value = col.checkbox(label, value=o.default, help=o.help, key=key)
        elif o.choices:
            value = col.selectbox(label, o.choices, index=list(o.choices).index(o.default), help=o.help, key=key)
        elif o.type is int:
            value = col.number_input(label, value=o.default, step=1, help=o.help, key=key)
        elif o.type is float:
            value = col.number_input(label, value=o.default, format="%g", help=o.help, key=key)
        else:
            value = col.text_input(label, value=o.default or "", help=o.help, key=key).strip() or None
        if value != o.default:
            out[o.name] = value
    return out
