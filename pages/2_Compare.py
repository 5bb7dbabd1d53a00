"""Compare: overlay runs, tabulate best/last values, follow runs on the alignment–uniformity plane."""
import streamlit as st

from srl_explorer.ui.page import setup_page

setup_page("Compare", ":material/compare_arrows:")
# setup_page first: the sidebar reaches the browser before the imports below run (ui/page.py)
import pandas as pd

from srl_explorer import compare, rundir
from srl_explorer.fmt import markdown_table
from srl_explorer.ui.charts import PLOTLY_CONFIG, chart_downloads, loss_meta, session_figure
from srl_explorer.ui.common import POLL_SECONDS, checkpoint_root, run_records, state_badge, thin_records
from srl_explorer.viz import align_uniform_plane, loss_dashes, metric_axis, overlay, to_plotly

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
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
default_metric = metrics.index("stsb_dev_spearman") if "stsb_dev_spearman" in metrics else 0
metric = c1.selectbox("Metric", metrics, index=default_metric, format_func=lambda k: f"{k} — {metric_axis(k)}"
                      if metric_axis(k) != k else k)
x_axis = c2.radio("x axis", ["step", "wall time"], horizontal=True)
weight = c3.slider("Smoothing", 0.0, 0.99, 0.0, 0.01, help="exponential moving average, as TensorBoard")
log_y = c4.toggle("Log y axis", value=False, help="for gradient norms and dissipation factors")
losses = {n: all_runs[n].config.get("loss") or all_runs[n].status.get("loss_name") for n in picked}
meta = {n: loss_meta(loss) for n, loss in losses.items()}
colors = {n: m[1] for n, m in meta.items()}  # one colour per loss (the registry's), a dash per run of a loss
dashes = loss_dashes(losses)


def render() -> None:
    records = {n: run_records(all_runs[n].path) for n in picked}
    lines = tuple((n, len(r), r[-1].get("step") if r else None) for n, r in records.items())
    fig = session_figure("compare-overlay", (lines, metric, x_axis, weight, log_y), lambda: to_plotly(overlay(
        {n: thin_records(r) for n, r in records.items()}, metric, "elapsed_s" if x_axis == "wall time" else "step",
        weight, colors=colors, markers=True, dashes=dashes, log_y=log_y)))
    st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key="compare-overlay")
    d1, d2, d3, _ = st.columns([1, 1, 1, 3])
    chart_downloads(fig, f"compare_{metric}", (d1, d2))
    d3.download_button("Metrics as CSV", lambda: compare.merged_metrics_csv(records), file_name="metrics.csv",
                       mime="text/csv", on_click="ignore", key="dl-metrics-csv",
                       help="every metric line of the picked runs, with a run column")
    rows = [compare.summary_row(all_runs[n], records[n], meta[n][0] or "?", state_badge(all_runs[n].state))
            for n in picked]
    st.markdown(markdown_table(rows, {"at step": ".0f", "steps": ".0f"}))  # static: wraps to the page, no grid
    with st.expander("Hyperparameters", key="compare-hparams", on_change="rerun") as hp:
        if hp.open:  # drawn only when unfolded
            st.dataframe(pd.DataFrame([compare.hparams_row(all_runs[n]) for n in picked]), hide_index=True,
                         width="stretch")
    st.subheader("Alignment–uniformity plane")
    st.caption("Wang & Isola (2020): each point is a dev evaluation, x = dev uniformity, y = dev alignment. "
               "The open circle is step 0 and the arrowheads point along training; lower-left is better on both.")
    plane = session_figure("compare-plane", (lines,), lambda: to_plotly(align_uniform_plane(records, colors)))
    st.plotly_chart(plane, width="stretch", config=PLOTLY_CONFIG, key="compare-plane")


live = any(all_runs[n].state == rundir.LIVE for n in picked)
(st.fragment(run_every=2 * POLL_SECONDS)(render) if live else render)()
