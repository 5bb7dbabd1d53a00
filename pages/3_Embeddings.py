"""Embeddings: 2-D maps of one or two checkpoints side by side, coloured by gold score or by clusters shared
by both maps, with PNG/CSV exports and nearest neighbours. Logic: srl_explorer.ui.embeddings, .projection."""
import streamlit as st

from srl_explorer.ui.page import setup_page

setup_page("Embeddings", ":material/scatter_plot:")
# setup_page first: the sidebar reaches the browser before the imports below run (ui/page.py)
import numpy as np

from srl_explorer.data import DataError
from srl_explorer.projection import METHODS, warm_up_state
from srl_explorer.ui.common import checkpoint_choices
from srl_explorer.ui.embeddings import (
    DEFAULT_PAIRS,
    draw_maps,
    embed_all,
    load_sentences,
    neighbours,
    source_names,
)

st.title("Embeddings")
choices = checkpoint_choices()
labels = list(choices)
best = next((lb for lb in labels if " · best" in lb), None)  # "<run> · best (step N)"
base = best.rsplit("·", 1)[0] + "· step 0 (base model)" if best else None
c1, c2 = st.columns(2)
left = c1.selectbox("Checkpoint A", labels, index=labels.index(base) if base in labels else 0)
right = c2.selectbox("Checkpoint B (optional)", ["—"] + labels, index=labels.index(best) + 1 if best else 0)

c1, c2, c3, c4 = st.columns(4)
source = c1.selectbox("Sentences", source_names())
max_pairs = c2.slider("Max pairs", 20, 1500, DEFAULT_PAIRS, 20,
                      help="Each map encodes about two sentences a pair; UMAP of 3,000 sentences takes about 3 s "
                           "here (PCA: instant)")
warm = warm_up_state()
method = c3.radio("Projection", METHODS, index=0 if warm["done"] else 1, horizontal=True,
                  help="UMAP keeps neighbourhoods; PCA is instant (preselected until UMAP has compiled)")
color_by = c4.radio("Colour", ["gold score", "cluster"], horizontal=True,
                    help="Clusters: k-means (k = 8) on both checkpoints' embeddings side by side, so a colour is "
                         "the same group of sentences on both maps")
show_lines = st.checkbox("Join the two sentences of each pair")
if method == "UMAP" and warm["started"] and not warm["done"]:
    st.caption("UMAP is still compiling in the background (once per server start); the first map waits for it.")

try:
    s = load_sentences(source, max_pairs)
except DataError as e:
    st.error(str(e))
    st.stop()
if color_by == "gold score" and (s.gold is None or np.isnan(s.gold).all()):
    st.caption("These sentences have no gold scores: coloured by cluster.")
    color_by = "cluster"
st.caption(f"{len(s.text)} sentences from {len(s.pairs) or len(s.text)} {'pairs' if s.pairs else 'lines'}.")

embs = embed_all([left] + ([right] if right != "—" else []), choices, s.text)
draw_maps(embs, s, method, color_by == "cluster", show_lines)
neighbours(embs, choices, s.text)
