"""Page setup, the first thing every page runs: page config, the sidebar and the server's start-up work.
Light on purpose (streamlit, the standard library and ``rundir``; no pandas, plotly or torch): a page calls
:func:`setup_page` before its other imports, so its sidebar reaches the browser within a few tens of
milliseconds of the script run's start.
"""
from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import importlib.util
import os
import threading
import time
from pathlib import Path

import streamlit as st

from .. import DEFAULT_MODEL, rundir

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
FIRST_PAGE_WAIT_S = 10.0  # at most this long for the first page's script run before starting the background work
BUSY_RECHECK_S = 10.0  # while a run trains (small machine), check this often whether it has ended
RENDER_GRACE_S = 3.0  # then this long, for the browser to draw that page (2 cores: it needs one of them)


@st.cache_resource(show_spinner=False)
def _start_background_work() -> bool:
    """Once per server: compile UMAP in its worker, and import the heavy modules in a thread so
    the first visit to a page that needs them does not pay for it (no page needs them to render). Both start
    once the first page's script run is over and the browser has had RENDER_GRACE_S to draw it, or at once
    when a page asks for a model, so they do not compete with the first page for the cores and the GIL
    (measured: they added 1-2 s to the first page's load when they started as its script run ended).

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
    _heavy_wanted.wait(RENDER_GRACE_S)
    while _training_on_a_small_machine() and not _heavy_wanted.is_set():
        _heavy_wanted.wait(BUSY_RECHECK_S)
    if os.environ.get("SRL_UMAP_WARMUP", "1") != "0":
        from ..projection import warm_up_umap
        warm_up_umap()
    _preimport()


def _training_on_a_small_machine() -> bool:
    """While a run of the runs folder trains on a machine of few cores, the start-up work waits (until a page
    needs a model, or the run ends): it is speculative, and on 2 cores it slowed other sessions' page loads
    (bench/README.md). A page that needs it then pays it once (a few seconds for the first model)."""
    from ..jobs import SMALL_MACHINE_CORES
    return (os.cpu_count() or 1) <= SMALL_MACHINE_CORES and _a_run_is_training()


def _a_run_is_training() -> bool:
    """Whether a run of the runs folder is training now."""
    return any(r.state == rundir.LIVE for r in rundir.list_runs(checkpoint_root()))


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
        busy = os.getloadavg()[0] >= cpus or _a_run_is_training()
        n = max(1, cpus // 2) if busy else cpus
    if torch.get_num_threads() != int(n):
        torch.set_num_threads(int(n))


# --------------------------------------------------------------------------- server start
@contextlib.asynccontextmanager
async def lifespan(app: st.App):
    """Start-up of the server that ``streamlit run app.py`` starts (the ``st.App`` in app.py): load the pages'
    modules and draw one plotly figure before the server answers. Measured on a cold Train load: its script
    run took 0.85 s without this and 0.3-0.45 s with it; started in a thread instead, the imports held the
    GIL while the browser fetched Streamlit's frontend and delayed its mount by 0.15-0.6 s. Costs about 0.5 s of
    start-up before the URL is printed. At shutdown (SIGTERM, Ctrl-C) it stops the UMAP worker."""
    warm_page_modules(Path(app.script_path).resolve().parent)
    try:
        yield None
    finally:
        from ..projection import stop_worker
        stop_worker()


def page_imports(folder: Path) -> list[str]:
    """The modules that app.py and pages/*.py in ``folder`` import (from their import statements)."""
    names: dict[str, None] = {}
    for page in [folder / "app.py", *sorted((folder / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(page.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names[node.module] = None  # and `from pkg import module`:
                names.update({f"{node.module}.{a.name}": None for a in node.names if _is_module(node.module, a.name)})
            elif isinstance(node, ast.Import):
                names.update(dict.fromkeys(a.name for a in node.names))
    return list(names)


def _is_module(package: str, name: str) -> bool:
    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(f"{package}.{name}") is not None
    return False


def warm_page_modules(folder: Path) -> None:
    """Import every module a page imports, and build and serialize a plotly figure (plotly loads its
    template and validators on the first one). A module that fails to import is left to the page that
    imports it, which shows the error."""
    for name in page_imports(folder):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from ..viz import Chart, Line, Panel, to_plotly
        to_plotly(Chart("warm-up", "", [Panel("", [Line("a", [0, 1], [1, 2])], log_y=True)], legend="panel")).to_json()
