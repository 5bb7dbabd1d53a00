"""SRL Explorer — home page. Start with: streamlit run app.py"""
import streamlit as st

from srl_explorer import rundir
from srl_explorer.ui.common import POLL_SECONDS, checkpoint_root, runs_table, setup_page

setup_page("Home")
st.title("SRL Explorer")
st.markdown(
    """
Train small sentence encoders with different **contrastive losses** and watch what each loss does to the
embedding space. Based on *On the Inadequacy of Optimizing Alignment and Uniformity in Contrastive Learning
of Sentence Representations* (Nie, Zhang, Mao — ICLR 2023): InfoNCE's gradient on the positive pair fades
as training goes on (**gradient dissipation**), joint alignment + uniformity (A&U) has no such brake and
overfits, and losses that add dissipation on purpose (DCL-hinge, MET, MAT, MPT) match or beat InfoNCE.
"""
)
st.subheader("Quick start")
st.markdown(
    """
1. **Train** — pick a model (the packaged all-MiniLM-L6-v2 works offline), a corpus and a loss, press Start.
   Training runs in its own process: close the tab whenever you like and pick the run again later.
2. **Compare** — overlay runs, and follow each one on the alignment–uniformity plane.
3. **Embeddings** — UMAP/PCA maps of checkpoints side by side, with nearest neighbours.
4. **STS** — score checkpoints on STS12–16, STS-B and SICK-R.
5. **Similarity** — upload your own sentence pairs and get cosine similarities.
6. **Paper** — the paper's three claims next to the evidence from your runs.

Headless: `python -m srl_explorer train --help`.
"""
)
st.subheader("Runs")
root = checkpoint_root()


def show_runs() -> None:
    table = runs_table(root)
    if table.empty:
        st.info(f"No runs yet in `{root}`. Start one on the Train page.")
    else:
        st.dataframe(table, hide_index=True, width="stretch")


# Refresh the table while a run is live; a static table otherwise.
live = any(r.state == rundir.LIVE for r in rundir.list_runs(root))
(st.fragment(run_every=2 * POLL_SECONDS)(show_runs) if live else show_runs)()
