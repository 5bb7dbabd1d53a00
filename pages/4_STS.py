"""STS: score checkpoints on STS12–16, STS-B and SICK-R; earlier results come from the run directories."""

import pandas as pd
import streamlit as st

from srl_explorer import runs
from srl_explorer.evaluation import TASKS, evaluate_model, load_run_results, run_and_checkpoint, save_run_results
from srl_explorer.plots import sts_bars
from srl_explorer.ui.common import SHARED_STSB_DEV, checkpoint_choices, checkpoint_root, get_encoder, setup_page

setup_page("STS", "📊")
st.title("STS benchmarks")
st.markdown("Spearman × 100, aggregated as SentEval does (STS12–16: all pairs of a year together). "
            "Give a SentEval data folder, or leave it empty to download from the Hugging Face hub.")
choices = checkpoint_choices()
picked = st.multiselect("Checkpoints", list(choices), default=list(choices)[:1])
c1, c2, c3 = st.columns([2, 1, 2])
default_dir = str(SHARED_STSB_DEV.parent) if SHARED_STSB_DEV.exists() else ""
tasks = c1.multiselect("Tasks", TASKS, default=["stsb"] if default_dir else list(TASKS))
split = c2.radio("Split", ["dev", "test"], horizontal=True, help="STS-B and SICK-R split; STS12–16 only have test")
data_dir = c3.text_input("SentEval data folder", value=default_dir)

if st.button("Evaluate", type="primary") and picked and tasks:
    for label in picked:
        path, pooler = choices[label]
        enc = get_encoder(path, pooler)
        if enc is None:
            continue
        with st.spinner(f"Evaluating {label}…"):
            try:
                res = evaluate_model(enc, tasks, split, data_dir or None)
            except (ValueError, OSError) as e:
                st.error(str(e))
                continue
        rc = run_and_checkpoint(path)
        if rc:
            save_run_results(rc[0], rc[1], res)
        st.session_state.setdefault("sts_results", {})[label] = res

results = dict(st.session_state.get("sts_results", {}))
for r in runs.list_runs(checkpoint_root()):
    for ckpt, res in load_run_results(r.path).items():
        results.setdefault(f"{r.name} · {ckpt}", res)
if not results:
    st.info("No results yet.")
    st.stop()
rows = []
for label, res in results.items():
    row = {"checkpoint": label, "split": res.get("split")}
    row.update({t: round(v["all"], 2) for t, v in res["tasks"].items()})
    row[res.get("avg_label", "avg")] = round(res["avg"], 2)
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.plotly_chart(sts_bars({label: {t: v["all"] for t, v in res["tasks"].items()} for label, res in results.items()}),
                width="stretch")
