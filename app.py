"""SRL Explorer. Start with: streamlit run app.py

``streamlit run`` imports this file to find the server to start (``app``, whose start-up loads the pages'
modules: :func:`srl_explorer.ui.page.lifespan`); each browser session then runs it as its Home page."""
import streamlit as st

from srl_explorer.ui.page import lifespan, setup_page


def home() -> None:
    setup_page("Home")
    # setup_page first: the sidebar reaches the browser before the imports below run (ui/page.py)
    from srl_explorer import rundir
    from srl_explorer.ui.common import POLL_SECONDS, checkpoint_root
    from srl_explorer.ui.runs import manage_runs, show_table

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

    Headless: `python -m srl_explorer train --help`; `python -m srl_explorer runs list` lists the runs below.
    """
    )
    st.subheader("Runs")
    root = checkpoint_root()
    # Refresh the table while a run is live; a static table otherwise. The actions sit outside the fragment.
    live = any(r.state == rundir.LIVE for r in rundir.list_runs(root))
    (st.fragment(run_every=2 * POLL_SECONDS)(show_table) if live else show_table)(root)
    st.markdown("**Manage a run** — rename it, keep a note with it, or delete it")
    manage_runs(root)


if __name__ == "__main__":  # a browser session
    home()
else:  # `streamlit run app.py`
    app = st.App(__file__, lifespan=lifespan)
