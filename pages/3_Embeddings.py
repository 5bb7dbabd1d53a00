"""Embeddings: 2-D maps of one or two checkpoints side by side, coloured by gold score or cluster."""
import numpy as np
import streamlit as st

from srl_explorer.data import DataError, parse_pairs, read_pairs
from srl_explorer.plots import scatter_2d
from srl_explorer.projection import METHODS, clusters, nearest, project, warm_up_state
from srl_explorer.ui.common import SHARED_STSB_DEV, checkpoint_choices, get_encoder, setup_page

setup_page("Embeddings", "🗺️")
st.title("Embeddings")
choices = checkpoint_choices()
labels = list(choices)
c1, c2 = st.columns(2)
best = next((lb for lb in labels if lb.endswith("· best")), None)
base = best.replace("· best", "· step 0 (base model)") if best else None
left = c1.selectbox("Checkpoint A", labels, index=labels.index(base) if base in labels else 0)
right = c2.selectbox("Checkpoint B (optional)", ["—"] + labels, index=labels.index(best) + 1 if best else 0)

sources = ["Sample pairs (shipped)"] + (["STS-B dev"] if SHARED_STSB_DEV.exists() else []) + ["Upload"]
c1, c2, c3, c4 = st.columns(4)
source = c1.selectbox("Sentences", sources)
max_pairs = c2.slider("Max pairs", 20, 1500, 400, 20)
warm = bool(warm_up_state().get("done"))
method = c3.radio("Projection", METHODS, index=0 if warm else 1, horizontal=True,
                  help="PCA is instant; UMAP shows neighbourhoods better (PCA is preselected until UMAP has compiled)")
color_by = c4.radio("Colour", ["gold score", "cluster"], horizontal=True)
show_lines = st.checkbox("Join the two sentences of each pair")
if method == "UMAP" and not warm:
    st.caption("UMAP is still compiling in the background (first start only); the first map may take longer.")

try:
    if source == "Upload":
        up = st.file_uploader("Pairs (CSV/TSV with sentence1, sentence2[, score])", type=["csv", "tsv", "txt"])
        if up is None:
            st.stop()
        pairs = parse_pairs(up.getvalue(), up.name)
    else:
        pairs = read_pairs(SHARED_STSB_DEV if source == "STS-B dev" else None)
except DataError as e:
    st.error(str(e))
    st.stop()

n = min(max_pairs, len(pairs))
s1, s2 = pairs.s1[:n], pairs.s2[:n]
sentences = list(dict.fromkeys(s1 + s2))
index = {s: i for i, s in enumerate(sentences)}
gold = np.full(len(sentences), np.nan)
if pairs.scores is not None:
    for a, b, g in zip(s1, s2, pairs.scores[:n]):
        gold[index[a]] = gold[index[b]] = g
pair_idx = [(index[a], index[b]) for a, b in zip(s1, s2)] if show_lines else None


@st.cache_data(show_spinner="Encoding…", max_entries=16)
def embed(model: str, pooler, sents: tuple[str, ...]) -> np.ndarray:
    enc = get_encoder(model, pooler)
    return enc.encode(list(sents)) if enc is not None else np.zeros((0, 1), np.float32)


panels = [left] + ([right] if right != "—" else [])
cols = st.columns(len(panels))
embs = {}
for col, label in zip(cols, panels):
    emb = embed(*choices[label], tuple(sentences))
    if len(emb) == 0:
        continue
    embs[label] = emb
    with col, st.spinner(f"{method} projection…"):
        try:
            xy = project(emb, method)
        except ValueError as e:
            st.error(str(e))
            continue
        colour = gold if color_by == "gold score" and not np.isnan(gold).all() else clusters(emb)
        st.plotly_chart(scatter_2d(xy, sentences, colour, "gold" if color_by == "gold score" else "cluster",
                                   pair_idx, title=label), width="stretch", key=f"map-{label}")

st.subheader("Nearest neighbours")
query = st.text_input("Type a sentence", value=sentences[0] if sentences else "")
if query and embs:
    cols = st.columns(len(embs))
    for col, (label, emb) in zip(cols, embs.items()):
        enc = get_encoder(*choices[label])
        if enc is None:
            continue
        idx, sims = nearest(enc.encode([query])[0], emb, k=8)
        col.markdown(f"**{label}**")
        col.dataframe({"sentence": [sentences[i] for i in idx], "cosine": np.round(sims, 3)}, hide_index=True)
