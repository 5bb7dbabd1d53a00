"""STS: score checkpoints on STS12–16, STS-B, SICK-R and the shipped sample pairs; earlier results come from
the run directories. Logic: srl_explorer.ui.sts and srl_explorer.evaluation."""
import streamlit as st

from srl_explorer.ui.page import setup_page

setup_page("STS", ":material/bar_chart:")
# setup_page first: the sidebar reaches the browser before the imports below run (ui/page.py)
from srl_explorer.ui.common import checkpoint_choices
from srl_explorer.ui.sts import (
    all_results,
    data_folder_field,
    evaluate_checkpoints,
    show_results,
    split_picker,
    task_picker,
)

st.title("STS benchmarks")
st.markdown("Spearman × 100 of cosine similarity, aggregated as SentEval does (STS12–16: all pairs of a year "
            "together; the average over the seven benchmarks is the paper's number). The **sample** task is "
            "the 184 scored pairs shipped with the app: it needs no download.")
choices = checkpoint_choices()
picked = st.multiselect("Checkpoints", list(choices), default=list(choices)[:1])
folder, found = data_folder_field()
tasks = task_picker(found)
split = split_picker(found, tasks)
if st.button("Evaluate", type="primary", disabled=not (picked and tasks)):
    evaluate_checkpoints(picked, choices, tasks, split, folder)

results = all_results()
if not results:
    st.info("No results yet: pick checkpoints and tasks, and press Evaluate.")
    st.stop()
show_results(results)
