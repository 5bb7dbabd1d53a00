"""Paper: the three claims of Nie et al. (ICLR 2023) beside this app's own evidence, and a
gradient-dissipation explorer that needs no training. Logic: srl_explorer.paper."""
import streamlit as st

from srl_explorer.ui.page import setup_page

setup_page("Paper", ":material/description:")
# setup_page first: the sidebar reaches the browser before the imports below run (ui/page.py)
import pandas as pd

from srl_explorer import paper, rundir
from srl_explorer.fmt import markdown_table
from srl_explorer.losses import loss_hyperparameters, loss_label
from srl_explorer.paper.dissipation import explain_at, sweep, sweep_chart
from srl_explorer.ui.common import checkpoint_root
from srl_explorer.viz import to_plotly

VERDICT_BOX = {"agrees": st.success, "partly agrees": st.warning, "inconclusive": st.warning, "disagrees": st.error,
               "not enough evidence": st.info}

st.title("The paper, checked")
st.markdown(
    "*On the Inadequacy of Optimizing Alignment and Uniformity in Contrastive Learning of Sentence "
    "Representations* (Nie, Zhang, Mao, ICLR 2023) makes three claims. Each is shown below beside the "
    "evidence from runs of this app, with a verdict computed from their metrics.")

# ------------------------------------------------------------------ evidence
root = checkpoint_root()
repros = paper.find_reproductions(root)
source = st.radio("Evidence from", ["a reproduction", "runs I pick"], horizontal=True)
metrics: list[paper.RunMetrics] = []
if source == "a reproduction":
    if not repros:
        st.info(f"No reproduction yet in `{root}`. Run `python -m srl_explorer reproduce --preset cpu-small` "
                "(all seven losses, three seeds, on 2 CPU cores), or pick runs.")
    else:
        chosen = st.selectbox("Reproduction (newest first)", repros, format_func=lambda p: p.name)
        manifest = paper.read_manifest(chosen)
        metrics = paper.load_reproduction(chosen)
        st.caption(f"Preset `{manifest.get('preset')}` · {manifest.get('state')} · "
                   f"{len(metrics)} of {len(manifest.get('losses', []))} losses · report: `{chosen / paper.REPORT}`")
else:
    all_runs = rundir.list_runs(root)
    picked = st.multiselect("Runs (the first of each loss is used for the verdicts)", [r.name for r in all_runs])
    metrics = [paper.load_run(r.path, label=r.name) for r in all_runs if r.name in picked]

if metrics:
    st.dataframe(pd.DataFrame(paper.summary_table(metrics)), hide_index=True, width="stretch")
    st.markdown(paper.loss_table_markdown(paper.loss_table(metrics)))
    st.caption("*best* is the best dev STS after training began (step > 0); step 0, the starting model, is "
               "reported on its own. Over several seeds: mean ± sd. A verdict agrees or disagrees only when the "
               "difference exceeds the seed spread (and a fixed tolerance); otherwise it is inconclusive. A run "
               "that did not train (zero loss or gradient at every step) never counts as a tie.")

for i, claim in enumerate(paper.evaluate_claims(metrics), 1):
    st.subheader(f"Claim {i}")
    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"**{claim.claim}**")
        VERDICT_BOX[claim.verdict](f"Evidence: **{claim.verdict}**")
        st.markdown(claim.evidence)
    with right:
        chart = paper.claim_chart(claim.key, paper.first_seed(metrics))
        if chart.empty:
            st.caption("No data for this chart yet.")
        else:
            st.plotly_chart(to_plotly(chart), width="stretch", key=f"claim-{claim.key}")

# ------------------------------------------------------------------ explorer
st.header("Gradient-dissipation explorer")
st.markdown(
    "A synthetic batch, no training: one anchor, its positive at the cosine on the x axis, and B − 1 "
    "negatives whose cosines spread around a mean. For each loss, autograd on the package's own loss module "
    "gives the pull on the positive pair, |B · dL/ds₊|, and the tangential gradient at the positive view "
    "(‖g − (g·z)z‖ × B, the part that moves it on the sphere: what training logs as grad_norm_z). "
    "InfoNCE's pull is (1 − p_pos)/τ and fades as the "
    "positive stands out; DCL and A&U keep pulling; a hinge pulls fully until its margin is met, then not at all.")


@st.cache_data(show_spinner="Computing gradients…", max_entries=64)
def cached_sweep(batch_size, spread, neg_mean, temp, mpt, met, mat):
    return sweep(batch_size=batch_size, spread=spread, neg_mean=neg_mean, temp=temp,
                 margins={"mpt": mpt, "met": met, "mat": mat})


c1, c2, c3 = st.columns(3)
pos = c1.slider("cosine of the positive pair", 0.0, 0.99, 0.5, 0.01)
spread = c1.slider("spread of the negatives' cosines (σ)", 0.0, 0.5, 0.1, 0.01)
neg_mean = c2.slider("mean of the negatives' cosines", -0.5, 0.8, 0.0, 0.05)
batch = c2.select_slider("batch size", [4, 8, 16, 32, 64, 128, 256, 512], value=64)
temp = c2.slider("τ (InfoNCE, DCL, DCL-hinge)", 0.01, 0.5, loss_hyperparameters("infonce")["temp"], 0.01)
m_mpt = c3.slider("MPT margin (cosine)", 0.0, 0.5, loss_hyperparameters("mpt")["margin"], 0.01)
m_met = c3.slider("MET margin (distance)", 0.0, 1.0, loss_hyperparameters("met")["margin"], 0.05)
m_mat = c3.slider("MAT margin (× π)", 0.0, 0.5, loss_hyperparameters("mat")["margin"], 0.01)
normalize = st.toggle("Scale each curve to its pull at cosine 0", value=True,
                      help="InfoNCE and DCL pull with 1/τ, the others with about 1: scaling makes the shapes "
                           "comparable")
sw = cached_sweep(batch, spread, neg_mean, temp, m_mpt, m_met, m_mat)
st.plotly_chart(to_plotly(sweep_chart(sw, normalize=normalize, mark=pos)), width="stretch", key="explorer")
rows = explain_at(sw, pos)
st.markdown(markdown_table([{**r, "loss": loss_label(r["loss"])} for r in rows],
                           {"pull": ".3g", "relative to c = 0": ".3f", "tangential ‖∂L/∂z₊‖ × B": ".3g"}))

# ------------------------------------------------------------------ starting model
st.header("The starting model matters")
st.markdown(paper.STARTING_MODEL_NOTE)
