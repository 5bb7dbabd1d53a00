"""Similarity: score your own sentence pairs with any checkpoint."""
import streamlit as st

from srl_explorer.ui.page import setup_page

setup_page("Similarity", ":material/join_inner:")
# setup_page first: the sidebar reaches the browser before the imports below run (ui/page.py)
from srl_explorer.similarity import gold_correlations, score_pairs
from srl_explorer.ui.common import checkpoint_choices, get_encoder
from srl_explorer.ui.pairs_input import pasted_pairs, uploaded_pairs
from srl_explorer.viz import gold_scatter, to_plotly

st.title("Similarity")
st.markdown("Upload a CSV or TSV with columns `sentence1`, `sentence2` and optionally `score` (0–5), "
            "or paste pairs below.")
choices = checkpoint_choices()
label = st.selectbox("Checkpoint", list(choices))
pairs = uploaded_pairs("Pairs file")
pasted = pasted_pairs()
pairs = pairs if pairs is not None else pasted  # a kept upload first (Clear file to score the paste)
if pairs is None:
    st.stop()
enc = get_encoder(*choices[label])
if enc is None:
    st.stop()
df = score_pairs(enc, pairs)
stats = gold_correlations(df)
if stats:
    a, b, c = st.columns(3)
    a.metric("Spearman × 100", f"{stats['spearman']:.2f}")
    b.metric("Pearson × 100", f"{stats['pearson']:.2f}")
    c.metric("pairs", stats["n"])
st.dataframe(df, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(df)))
st.download_button("Download CSV", df.to_csv(index=False).encode(), "similarities.csv", "text/csv")
if stats:
    hover = [f"{a} | {b}" for a, b in zip(df["sentence1"], df["sentence2"], strict=True)]
    st.plotly_chart(to_plotly(gold_scatter(df["score"], df["cosine"], hover)), width="stretch")
