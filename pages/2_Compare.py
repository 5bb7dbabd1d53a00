"""Compare: overlay runs, tabulate best/last values, follow runs on the alignment–uniformity plane."""
import pandas as pd
import streamlit as st

from srl_explorer import rundir
from srl_explorer.ui.common import (
    POLL_SECONDS,
    checkpoint_root,
    run_records,
    setup_page,
    show_markers,
    summary_row,
    thin_records,
)
from srl_explorer.viz import align_uniform_plane, overlay, to_plotly

setup_page("Compare", ":material/stacked_line_chart:")
st.title("Compare runs")
all_runs = {r.name: r for r in rundir.list_runs(checkpoint_root())}
if not all_runs:
    st.info("No runs yet. Start one on the Train page.")
    st.stop()

picked = st.multiselect("Runs", list(all_runs), default=list(all_runs)[:8])
if not picked:
    st.stop()
metrics = sorted({k for n in picked for r in run_records(all_runs[n].path) for k, v in r.items()
                  if isinstance(v, (int, float)) and k not in ("step", "elapsed_s")})
if not metrics:
    st.info("These runs have no metrics yet.")
    st.stop()
c1, c2, c3 = st.columns([2, 1, 1])
default_metric = metrics.index("stsb_dev_spearman") if "stsb_dev_spearman" in metrics else 0
metric = c1.selectbox("Metric", metrics, index=default_metric)
x_axis = c2.radio("x axis", ["step", "wall time"], horizontal=True)
weight = c3.slider("Smoothing", 0.0, 0.99, 0.0, 0.01, help="exponential moving average, as TensorBoard")


def render() -> None:
    records = {n: run_records(all_runs[n].path) for n in picked}
    chart = overlay({n: thin_records(r) for n, r in records.items()}, metric,
                    "elapsed_s" if x_axis == "wall time" else "step", weight)
    st.plotly_chart(show_markers(to_plotly(chart)), width="stretch")
    st.dataframe(pd.DataFrame([summary_row(all_runs[n], records[n], metric) for n in picked]),
                 hide_index=True, width="stretch")
    st.subheader("Alignment–uniformity plane")
    st.caption("Wang & Isola (2020): each point is a dev evaluation, x = dev uniformity, y = dev alignment. "
               "The open circle is step 0 and the arrowheads point along training; lower-left is better on both.")
    st.plotly_chart(to_plotly(align_uniform_plane(records)), width="stretch")


live = any(all_runs[n].state == rundir.LIVE for n in picked)
(st.fragment(run_every=2 * POLL_SECONDS)(render) if live else render)()
