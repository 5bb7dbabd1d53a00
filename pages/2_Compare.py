"""Compare: overlay runs, tabulate best/last values, follow runs on the alignment–uniformity plane."""
import pandas as pd
import streamlit as st

from srl_explorer import runs
from srl_explorer.plots import align_uniform_plane, overlay
from srl_explorer.ui.common import checkpoint_root, run_records, setup_page, state_badge

setup_page("Compare", "📈")
st.title("Compare runs")
root = checkpoint_root()
all_runs = runs.list_runs(root)
if not all_runs:
    st.info("No runs yet. Start one on the Train page.")
    st.stop()

names = [r.name for r in all_runs]
picked = st.multiselect("Runs", names, default=names[: min(4, len(names))])
if not picked:
    st.stop()
records = {n: run_records(root / n) for n in picked}
metrics = sorted({k for recs in records.values() for r in recs for k, v in r.items()
                  if isinstance(v, (int, float)) and k not in ("step", "elapsed_s")})
c1, c2, c3 = st.columns([2, 1, 1])
metric = c1.selectbox("Metric", metrics, index=metrics.index("stsb_dev_spearman") if "stsb_dev_spearman" in metrics else 0)
x_axis = c2.radio("x axis", ["step", "wall time"], horizontal=True)
weight = c3.slider("Smoothing", 0.0, 0.99, 0.0, 0.01)
st.plotly_chart(overlay(records, metric, "elapsed_s" if x_axis == "wall time" else "step", weight), width="stretch")

rows = []
for r in all_runs:
    if r.name not in picked:
        continue
    vals = [x[metric] for x in records[r.name] if isinstance(x.get(metric), (int, float))]
    sts = [x["stsb_dev_spearman"] for x in records[r.name] if "stsb_dev_spearman" in x]
    hp = {k: r.config.get(k) for k in ("loss", "temp", "margin", "lam", "lr", "batch_size", "pooler", "max_steps")
          if r.config.get(k) is not None}
    rows.append({"run": r.name, "status": state_badge(r.state), **hp,
                 f"last {metric}": vals[-1] if vals else None,
                 f"min {metric}": min(vals) if vals else None, f"max {metric}": max(vals) if vals else None,
                 "best STS dev": max(sts) if sts else None, "last STS dev": sts[-1] if sts else None,
                 "drop from peak": (max(sts) - sts[-1]) if sts else None})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Alignment–uniformity plane")
st.caption("Wang & Isola (2020): each point is a dev evaluation; the open circle is step 0 and the arrows show "
           "the direction of training. Lower-left is better on both.")
st.plotly_chart(align_uniform_plane(records), width="stretch")
