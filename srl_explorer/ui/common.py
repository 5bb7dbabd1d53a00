"""Shared Streamlit state: the checkpoint root, live metric tails, cached encoders, run pickers."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import streamlit as st

from .. import runs
from ..data import DataError
from ..encoder import DEFAULT_MODEL, Encoder, ModelLoadError
from ..projection import warm_up_umap

ROOT = Path(__file__).resolve().parents[2]
SHARED_STSB_DEV = ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-dev.csv"
POLL_SECONDS = 1.0


def checkpoint_root() -> Path:
    root = Path(os.environ.get("SRL_CHECKPOINTS", ROOT / "checkpoints"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def setup_page(title: str, icon: str = "🧭") -> None:
    """Page config plus process-wide start-up work (UMAP warm-up, once per server)."""
    st.set_page_config(page_title=f"{title} · SRL Explorer", page_icon=icon, layout="wide")
    _start_background_work()


@st.cache_resource(show_spinner=False)
def _start_background_work() -> bool:
    warm_up_umap()
    return True


class MetricsTail:
    """Incrementally read a run's metrics.jsonl from a byte offset; shared by every session (thread-safe)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.records = path, 0, []
        self._lock = threading.Lock()

    def refresh(self) -> list[dict]:
        with self._lock:
            if self.path.exists() and self.path.stat().st_size < self.offset:  # rewritten (resume): start over
                self.offset, self.records = 0, []
            new, self.offset = runs.read_metrics(self.path, self.offset)
            self.records.extend(new)
            return list(self.records)


@st.cache_resource(show_spinner=False)
def metrics_tail(path: str) -> MetricsTail:
    return MetricsTail(Path(path))


def run_records(run_dir: Path) -> list[dict]:
    return metrics_tail(str(run_dir / "metrics.jsonl")).refresh()


@st.cache_resource(show_spinner="Loading model…", max_entries=6)
def load_encoder(model: str, pooler: str | None = None) -> Encoder:
    return Encoder.from_pretrained(model, pooler=pooler)


def get_encoder(model: str, pooler: str | None = None) -> Encoder | None:
    """Cached encoder, or an error box (never an exception) when it cannot be loaded."""
    try:
        return load_encoder(model, pooler)
    except (ModelLoadError, ValueError, OSError) as e:
        st.error(str(e))
        return None


def checkpoint_choices(root: Path | None = None) -> dict[str, tuple[str, str | None]]:
    """Label -> (model path, pooler) for the packaged model and every run's checkpoints (and its base model)."""
    out = {"packaged all-MiniLM-L6-v2 (avg)": (DEFAULT_MODEL, "avg")}
    for r in runs.list_runs(root or checkpoint_root()):
        pooler = r.config.get("pooler")
        ckpts = runs.checkpoints_of(r.path)
        if ckpts and r.config.get("model"):
            out[f"{r.name} · step 0 (base model)"] = (str(r.config["model"]), pooler)
        for name, path in ckpts.items():
            out[f"{r.name} · {name}"] = (str(path), None)
    return out


def state_badge(state: str) -> str:
    return {"running": "● running", "finished": "✓ finished", "cancelled": "■ cancelled",
            "failed": "✗ failed", "killed": "✗ killed"}.get(state, state)


def runs_table(root: Path):
    import pandas as pd
    rows = []
    for r in runs.list_runs(root):
        s = r.status
        rows.append({"run": r.name, "status": state_badge(r.state), "loss fn": r.config.get("loss", s.get("loss_name")),
                     "step": f"{s.get('step', 0)}/{s.get('max_steps') or '?'}",
                     "last loss": s.get("last_loss"), "best STS dev": s.get("best"),
                     "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(s["started"])) if s.get("started") else ""})
    return pd.DataFrame(rows)


def show_data_error(e: Exception) -> None:
    st.error(str(e) if isinstance(e, (DataError, ValueError)) else f"{type(e).__name__}: {e}")
