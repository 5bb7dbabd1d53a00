"""Embeddings: 2-D maps of one or two checkpoints side by side, coloured by gold score or cluster."""
from pathlib import Path

import numpy as np
import streamlit as st

from srl_explorer.data import DataError, parse_lines, parse_pairs, read_pairs
from srl_explorer.projection import METHODS, clusters, nearest, project, sentence_set, warm_up_state
from srl_explorer.rundir import stsb_dev_file
from srl_explorer.ui.common import checkpoint_choices, embed, get_encoder, read_upload, setup_page
from srl_explorer.viz import scatter_2d, to_plotly

setup_page("Embeddings", "🗺️")
st.title("Embeddings")
choices = checkpoint_choices()
labels = list(choices)
best = next((lb for lb in labels if lb.endswith("· best")), None)
base = best.rsplit("·", 1)[0] + "· step 0 (base model)" if best else None
c1, c2 = st.columns(2)
left = c1.selectbox("Checkpoint A", labels, index=labels.index(base) if base in labels else 0)
right = c2.selectbox("Checkpoint B (optional)", ["—"] + labels, index=labels.index(best) + 1 if best else 0)

stsb_dev = stsb_dev_file()  # in $SRL_DATA_DIR, if set
sources = (["STS-B dev"] if stsb_dev else []) + ["Sample pairs (shipped)", "Pairs file path", "Upload"]
c1, c2, c3, c4 = st.columns(4)
source = c1.selectbox("Sentences", sources)
max_pairs = c2.slider("Max pairs", 20, 1500, 400, 20,
                      help="UMAP of 3,000 sentences takes about 3 s here (PCA: instant)")
warm = warm_up_state()
method = c3.radio("Projection", METHODS, index=0 if warm["done"] else 1, horizontal=True,
                  help="UMAP keeps neighbourhoods; PCA is instant (preselected until UMAP has compiled)")
color_by = c4.radio("Colour", ["gold score", "cluster"], horizontal=True)
show_lines = st.checkbox("Join the two sentences of each pair")
if method == "UMAP" and warm["started"] and not warm["done"]:
    st.caption("UMAP is still compiling in the background (once per server start); the first map waits for it.")

try:
    if source == "Upload":
        up = st.file_uploader("Pairs (CSV/TSV with sentence1, sentence2[, score]) or sentences (.txt)",
                              type=["csv", "tsv", "txt"])
        if up is None:
            st.stop()
        raw = read_upload(up)
        if up.name.lower().endswith(".txt"):
            lines = parse_lines(raw, up.name)
            s1, s2, scores = lines, [], None
        else:
            pairs = parse_pairs(raw, up.name)
            s1, s2, scores = pairs.s1, pairs.s2, pairs.scores
    else:
        path = {"STS-B dev": stsb_dev, "Sample pairs (shipped)": None}.get(source)
        if source == "Pairs file path":
            path = st.text_input("Path to STS-B rows or a CSV/TSV with sentence1, sentence2[, score]")
            if not path:
                st.stop()
            path = Path(path)
        pairs = read_pairs(path)
        s1, s2, scores = pairs.s1, pairs.s2, pairs.scores
except DataError as e:
    st.error(str(e))
    st.stop()

sentences, gold, pair_idx = sentence_set(s1, s2, scores, max_pairs) if s2 else (
    list(dict.fromkeys(s1))[: 2 * max_pairs], None, [])
if color_by == "gold score" and (gold is None or np.isnan(gold).all()):
    st.caption("These sentences have no gold scores: coloured by cluster.")
    color_by = "cluster"
st.caption(f"{len(sentences)} sentences from {len(pair_idx) or len(sentences)} {'pairs' if pair_idx else 'lines'}.")

panels = [left] + ([right] if right != "—" else [])
embs = {}
for col, label in zip(st.columns(len(panels)), panels, strict=True):
    emb = embed(*choices[label], sentences)
    if emb is None:
        continue
    embs[label] = emb
    with col:
        try:
            with st.spinner(f"{method} projection of {label}…"):
                xy = project(emb, method)
        except (ValueError, RuntimeError) as e:
            st.error(str(e))
            continue
        colour = gold if color_by == "gold score" else clusters(emb)
        chart = scatter_2d(xy, sentences, colour, "gold" if color_by == "gold score" else "cluster",
                           pair_idx if show_lines else None, title=label)
        st.plotly_chart(to_plotly(chart), width="stretch",
                        key=f"map-{label}")

st.subheader("Nearest neighbours")
query = st.text_input("Type a sentence", value=sentences[0] if sentences else "")
if query and embs:
    for col, (label, emb) in zip(st.columns(len(embs)), embs.items(), strict=True):
        enc = get_encoder(*choices[label])
        if enc is None:
            continue
        idx, sims = nearest(enc.encode([query])[0], emb, k=8)
        col.markdown(f"**{label}**")
        col.dataframe({"sentence": [sentences[i] for i in idx], "cosine": np.round(sims, 3)}, hide_index=True,
                      width="stretch")
