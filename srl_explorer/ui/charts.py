"""Streamlit glue for the charts of the Train and Compare pages: the live panels, redrawn only when new
metric lines arrived; the log toggles; scrolling to the charts after Start; chart and CSV downloads.

A chart re-emitted with a byte-identical figure is not redrawn by the browser (Streamlit memoises the parsed
figure on its spec), so the live fragment hands back the figure built for the current number of records
until a new line arrives; that figure is built once for every session watching the run.
"""
from __future__ import annotations

import threading
import time

import streamlit as st
import streamlit.components.v1 as components

from .. import rundir
from ..losses import LOSSES
from ..runstats import DEV_METRIC
from ..viz import live_panels, to_plotly
from .common import thin_records

LOG_KEY = "live-log-y"
BUILDS_KEY = "live-chart-builds"  # figures this session asked for anew (tests count them)
LIVE_REDRAW_S = 3.0  # a live run's chart is redrawn at most this often, and at once for a dev evaluation
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "svg", "scale": 1}}


def loss_meta(loss: str | None) -> tuple[str | None, str | None, str | None]:
    """(label, colour, dissipation diagnostic) of loss ``loss`` from the loss registry; the diagnostic is
    "" (unknown) when the loss is not registered."""
    spec = LOSSES.get(loss or "")
    return (spec.label, spec.color, spec.diagnostic) if spec else (loss, None, "")


def log_toggle(key: str = LOG_KEY, label: str = "Log scale for gradient norms and dissipation") -> bool:
    return st.toggle(label, value=True, key=key)


@st.cache_resource(show_spinner=False)
def _shared_figures() -> tuple[threading.Lock, dict]:
    """Process-wide: the latest live figure per (run, log axis), shared by every session watching it."""
    return threading.Lock(), {}


def live_figure(run_key: str, records: list[dict], loss: str | None, eval_every: int | None, log_y: bool,
                live: bool = False):
    """The live panels of a run, built once per (run, record count, log axis) for all sessions: building one
    is most of the server's work while a session watches a run (py-spy: ~2/3; 0.1-0.4 s a figure), so a
    second session watching the same run reuses it. Streamlit only reads the figure.

    While the run is ``live`` a figure younger than :data:`LIVE_REDRAW_S` is shown again unless a dev
    evaluation arrived: each new figure costs every watching browser a redraw (~0.2 s of CPU for the five
    panels), which at one step a second took a quarter of a core from other sessions' page loads."""
    last = records[-1] if records else {}
    sig = (run_key, len(records), last.get("step"), last.get("elapsed_s"), log_y, loss, eval_every)
    lock, shared = _shared_figures()
    with lock:
        hit = shared.get((run_key, log_y))
    if live and hit is not None and _recent(hit, sig, records):
        sig = hit[0]
    return session_figure("live-figure", sig, lambda: _shared_live_figure(sig, records, loss, eval_every, log_y))


def _recent(hit: tuple, sig: tuple, records: list[dict]) -> bool:
    """Whether the shared figure ``hit`` (sig, figure, built at) is younger than LIVE_REDRAW_S and only
    training lines (no evaluation) arrived since it was built, for the same settings."""
    old_sig, _, built = hit
    if old_sig[4:] != sig[4:] or old_sig[1] > sig[1]:
        return False
    return time.monotonic() - built < LIVE_REDRAW_S and not any(DEV_METRIC in r for r in records[old_sig[1]:])


def _shared_live_figure(sig: tuple, records: list[dict], loss: str | None, eval_every: int | None, log_y: bool):
    lock, shared = _shared_figures()
    run_key = sig[0]
    with lock:  # a second session arriving meanwhile waits for this build instead of repeating it
        hit = shared.get((run_key, log_y))
        if hit is not None and hit[0] == sig:
            return hit[1]
        label, _, diagnostic = loss_meta(loss)
        fig = to_plotly(live_panels(thin_records(records[:sig[1]]), label, diagnostic, log_y=log_y,
                                    eval_every=eval_every))
        shared[(run_key, log_y)] = (sig, fig, time.monotonic())
        return fig


def session_figure(key: str, sig: tuple, build):
    """``build()``'s figure, rebuilt only when ``sig`` changes (kept per session under ``key``): a live
    fragment re-emits the same figure until a run writes a new line, so the browser does not redraw it."""
    cached = st.session_state.get(key)
    if cached is not None and cached[0] == sig:
        return cached[1]
    fig = build()
    st.session_state[key] = (sig, fig)
    st.session_state[BUILDS_KEY] = st.session_state.get(BUILDS_KEY, 0) + 1
    return fig


def show_live_charts(run_key: str, records: list[dict], config: dict, state: str) -> None:
    """The live panels, or one line saying why there are none yet (nothing for a failed run: its error
    is shown once, above)."""
    if any("loss" in r or "stsb_dev_spearman" in r for r in records):
        fig = live_figure(run_key, records, config.get("loss"), config.get("eval_every"),
                          st.session_state.get(LOG_KEY, True), live=state == rundir.LIVE)
        st.plotly_chart(fig, width="stretch", key=f"live-{run_key}", config=PLOTLY_CONFIG)
        st.caption("Hover a point for its step, wall time and value. Dissipation: 1 − p_pos (InfoNCE family) "
                   "or the fraction of active hinges (margin losses); it shrinks as the gradient on the positive "
                   "pair fades.")
    elif state == rundir.LIVE:
        st.info("Waiting for the first metrics (loading the model and the corpus)…")
    elif state not in (rundir.FAILED, rundir.KILLED):
        st.info("This run logged no metrics.")


def scroll_to(anchor: str) -> None:
    """Scroll the page to the element with id ``anchor`` once it is drawn (a zero-height script frame)."""
    components.html(f"""<script>
      const go = (n) => {{
        const el = window.parent.document.getElementById({anchor!r});
        if (el) {{ el.scrollIntoView({{behavior: "instant", block: "start"}}); }}
        else if (n > 0) {{ setTimeout(() => go(n - 1), 100); }}
      }};
      go(50);
    </script>""", height=0)


# --------------------------------------------------------------------------- downloads
@st.cache_data(show_spinner=False, max_entries=8)
def _image(fig_json: str, fmt: str) -> bytes:
    import plotly.io as pio
    return pio.from_json(fig_json).to_image(format=fmt, width=1200, height=600, scale=2 if fmt == "png" else 1)


def chart_downloads(fig, stem: str, columns) -> None:
    """PNG and SVG download buttons for ``fig``, drawn server-side by kaleido (Chromium) only when clicked."""
    spec = fig.to_json()
    for col, fmt, mime in ((columns[0], "png", "image/png"), (columns[1], "svg", "image/svg+xml")):
        col.download_button(f"Chart as {fmt.upper()}", lambda fmt=fmt: _image(spec, fmt), file_name=f"{stem}.{fmt}",
                            mime=mime, on_click="ignore", key=f"dl-{stem}-{fmt}")
