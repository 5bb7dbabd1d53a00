"""Streamlit glue shared by the pages: page setup and navigation, the checkpoint root, live metric
tails, cached encoders and embeddings, checkpoint pickers and upload checks. The charts' glue (live
panels, downloads) is in :mod:`srl_explorer.ui.charts`.

Process-wide state (metric tails, the job registry, loaded encoders) lives in ``st.cache_resource``
and is thread-safe; nothing that outlives a browser tab is kept in session state.
"""
from __future__ import annotations

import gc
import importlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from .. import DEFAULT_MODEL, jobs, rundir
from ..data import DataError
from ..projection import warm_up_umap

POLL_SECONDS = 1.0  # live charts refresh at least this often
MAX_PLOT_POINTS = 1500  # per series on live charts; evaluation records are always kept
PAGES = (("app.py", "Home"), ("pages/1_Train.py", "Train"), ("pages/2_Compare.py", "Compare"),
         ("pages/3_Embeddings.py", "Embeddings"), ("pages/4_STS.py", "STS"),
         ("pages/5_Similarity.py", "Similarity"), ("pages/6_Paper.py", "Paper"))


# --------------------------------------------------------------------------- page setup
def checkpoint_root() -> Path:
    """The runs folder, by the command line's rule (:func:`srl_explorer.rundir.checkpoint_root`:
    ``$SRL_CHECKPOINTS``, else ``./checkpoints``), created if missing."""
    return rundir.checkpoint_root(create=True)


def app_dir() -> Path:
    """The folder of the running main script (``app.py``), wherever the app is installed."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return Path(ctx.main_script_path).resolve().parent if ctx is not None else Path.cwd()


def setup_page(title: str, icon: str = ":material/explore:") -> None:
    """Page config, the sidebar, and process-wide start-up work (UMAP warm-up, once per server)."""
    st.set_page_config(page_title=f"{title} · SRL Explorer", page_icon=icon, layout="wide")
    _start_background_work()
    with st.sidebar:
        st.markdown("**SRL Explorer**")
        home = app_dir()
        for path, label in PAGES:
            if (home / path).exists():
                st.page_link(path, label=label)
        st.caption(f"Runs folder: `{checkpoint_root()}`")


HEAVY_MODULES = ("torch", "transformers", "srl_explorer.encoder", "srl_explorer.losses", "srl_explorer.training",
                 "transformers.models.bert.modeling_bert", "transformers.models.bert.tokenization_bert",
                 "sklearn.decomposition", "sklearn.cluster", "scipy.stats", "plotly.subplots")


_preimport_thread: threading.Thread | None = None
_heavy_wanted = threading.Event()  # a page needs the heavy modules or a model now: start at once
FIRST_PAGE_WAIT_S = 10.0  # at most this long for the first page before starting the background work


@st.cache_resource(show_spinner=False)
def _start_background_work() -> bool:
    """Once per server: compile UMAP in its worker, and import the heavy modules in a thread so
    the first visit to a page that needs them does not pay for it (Home needs none of them). Both start
    once the first page's script run is over (or a page asks for a model), so they do not compete with it
    for the cores and the GIL.

    When the server stops (SIGTERM, Ctrl-C), ``gc.freeze`` runs before the interpreter's final
    collection, which would otherwise walk every object of torch, transformers and Streamlit
    (about 1 s here) only for the process to end."""
    global _preimport_thread
    _preimport_thread = threading.Thread(target=_background_work, args=(threading.current_thread(),),
                                         name="preimport", daemon=True)
    _preimport_thread.start()
    threading._register_atexit(gc.freeze)  # noqa: SLF001 - see _start_background_work's docstring
    return True


def _background_work(first_page: threading.Thread) -> None:
    deadline = time.monotonic() + FIRST_PAGE_WAIT_S
    while first_page.is_alive() and not _heavy_wanted.is_set() and time.monotonic() < deadline:
        _heavy_wanted.wait(0.05)
    if os.environ.get("SRL_UMAP_WARMUP", "1") != "0":
        warm_up_umap()
    _preimport()


def _preimport() -> None:
    for name in HEAVY_MODULES:
        importlib.import_module(name)
    from transformers import AutoModel, AutoTokenizer  # noqa: F401 - resolves transformers' lazy attributes
    _torch_threads()
    # The ~500k objects of torch, transformers, scipy... live as long as the server: move them out of the
    # garbage collector's sight. Streamlit runs gc.collect(2) after every script run, live fragments included
    # (runner.postScriptGC, off in .streamlit/config.toml but on by default); over these objects one took
    # 0.3-1 s holding the GIL, every poll of every session watching a run. Before the warm-up model below, so
    # the dropped model is still collected.
    gc.freeze()
    _warm_model_loading()


def _warm_model_loading() -> None:
    """Load the packaged model once and encode one sentence, then drop it. The first model load of a
    process costs ~2.5 s of one-off set-up (transformers' lazy modules, tokenizer, kernels), later ones
    ~0.1-0.2 s: this moves that cost off the first visit to Embeddings, STS or Similarity."""
    from ..encoder import Encoder
    try:
        Encoder.from_pretrained(DEFAULT_MODEL, pooler="avg").encode(["warm up"])
    except (ValueError, OSError):  # no packaged model: the first page load pays instead
        pass


def _wait_for_preimport() -> None:
    """transformers' lazy attributes are not safe to resolve from two threads at once ("cannot
    import name 'AutoModel'"): model loading waits until the background imports are over."""
    _heavy_wanted.set()
    if _preimport_thread is not None and _preimport_thread is not threading.current_thread():
        _preimport_thread.join(timeout=120)


def _torch_threads() -> None:
    """Torch threads of the app's process: ``$SRL_APP_TORCH_THREADS`` if set; else every core while
    no run of the runs folder is training and the machine is not overloaded, half of them otherwise, so a
    training run keeps the rest. (On this 2-core machine under load one thread encodes 3x faster
    than two: OpenMP threads fighting other processes; idle, two encode 1.9x faster than one.)"""
    import torch
    cpus = os.cpu_count() or 2
    n = os.environ.get("SRL_APP_TORCH_THREADS")
    if n is None:
        busy = os.getloadavg()[0] >= cpus or any(r.state == rundir.LIVE for r in rundir.list_runs(checkpoint_root()))
        n = max(1, cpus // 2) if busy else cpus
    if torch.get_num_threads() != int(n):
        torch.set_num_threads(int(n))


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
