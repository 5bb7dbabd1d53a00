"""STS: score checkpoints on STS12–16, STS-B and SICK-R; earlier results come from the run directories."""
import pandas as pd
import streamlit as st

from srl_explorer import rundir
from srl_explorer.evaluation import TASKS, evaluate_model, load_run_results, run_and_checkpoint, save_run_results
from srl_explorer.ui.common import checkpoint_choices, checkpoint_root, get_encoder, setup_page
from srl_explorer.viz import sts_bars, to_plotly

setup_page("STS", "📊")
st.title("STS benchmarks")
st.markdown("Spearman × 100, aggregated as SentEval does (STS12–16: all pairs of a year together; the average "
            "over all seven tasks is the paper's number). Give a SentEval data folder (or a folder holding "
            "STS-B's `sts-dev.csv`), or leave it empty to download the tasks from the Hugging Face hub.")
choices = checkpoint_choices()
picked = st.multiselect("Checkpoints", list(choices), default=list(choices)[:1])
c1, c2, c3 = st.columns([2, 1, 2])
stsb_dev = rundir.stsb_dev_file()  # in $SRL_DATA_DIR, if set
default_dir = str(stsb_dev.parent) if stsb_dev else ""
tasks = c1.multiselect("Tasks", TASKS, default=["stsb"] if default_dir else list(TASKS))
split = c2.radio("Split", ["dev", "test"], index=0 if default_dir else 1, horizontal=True,
                 help="STS-B and SICK-R split; STS12–16 only have test data")
data_dir = c3.text_input("SentEval data folder", value=default_dir)

session_results = st.session_state.setdefault("sts_results", {})  # checkpoints outside any run folder
if st.button("Evaluate", type="primary", disabled=not (picked and tasks)):
    for label in picked:
        path, pooler = choices[label]
        enc = get_encoder(path, pooler)
        if enc is None:
            continue
        try:
            with st.spinner(f"Evaluating {label}…"):
                res = evaluate_model(enc, tasks, split, data_dir.strip() or None)
        except (ValueError, OSError) as e:
            st.error(str(e))
            continue
        in_run = run_and_checkpoint(path) if pooler is None else None  # a run's own checkpoint
        if in_run:
            save_run_results(in_run[0], in_run[1], res)
        else:
            session_results[f"{label} · {split}"] = res

results = {}
for r in rundir.list_runs(checkpoint_root()):
    for ckpt, res in load_run_results(r.path).items():
        results[f"{r.name} · {ckpt}"] = res
results.update(session_results)
if not results:
    st.info("No results yet: pick checkpoints and press Evaluate.")
    st.stop()
rows = []
for label, res in results.items():
    row = {"checkpoint": label, "split": res.get("split")}
    row.update({t: round(v["all"], 2) for t, v in res["tasks"].items()})
    row[res.get("avg_label", "avg")] = round(res["avg"], 2)
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
bars = sts_bars({label: {t: v["all"] for t, v in res["tasks"].items()} for label, res in results.items()})
st.plotly_chart(to_plotly(bars), width="stretch")
