"""Where the Similarity page's pairs come from: an upload or a paste box.

An upload is read once and kept for the tab; the uploader is then replaced by a fresh one (its key is
bumped), so a later rejected file never leaves a red chip beside the accepted one, and a file the server
refuses is reported once above an empty uploader.
"""
from __future__ import annotations

import streamlit as st

from ..data import DataError, Pairs, parse_pairs
from .common import read_upload

PASTE_PLACEHOLDER = ("sentence1<TAB>sentence2<TAB>score (optional, 0–5) — one pair per line\n"
                     "(or comma-separated under a header line: sentence1,sentence2,score)")
_N, _KEPT, _ERROR = "pairs-upload-n", "pairs-upload-kept", "pairs-upload-error"


def with_header(text: str) -> str:
    """Pasted tab-separated pairs without a header get one (``sentence1``, ``sentence2`` [, ``score``]);
    anything else is returned as is for :func:`srl_explorer.data.parse_pairs` to read or refuse."""
    first = text.strip().split("\n", 1)[0]
    cells = first.split("\t")
    if "sentence1" in first.lower() or len(cells) not in (2, 3):
        return text
    return "\t".join(["sentence1", "sentence2", "score"][:len(cells)]) + "\n" + text.strip()


def uploaded_pairs(label: str = "Pairs file") -> Pairs | None:
    """The uploader; returns the pairs of the last accepted upload of this tab (or None)."""
    n = st.session_state.setdefault(_N, 0)
    up = st.file_uploader(label, type=["csv", "tsv", "txt"], key=f"pairs-upload-{n}")
    if up is not None:
        try:
            st.session_state[_KEPT] = parse_pairs(read_upload(up), up.name)
            st.session_state.pop(_ERROR, None)
        except DataError as e:
            st.session_state[_ERROR] = str(e)
        st.session_state[_N] = n + 1  # a fresh, empty uploader on the rerun
        st.rerun()
    if err := st.session_state.get(_ERROR):
        st.error(err)
    kept = st.session_state.get(_KEPT)
    if kept is not None:
        c1, c2 = st.columns([5, 1])
        c1.caption(f"Scoring **{kept.name}** ({len(kept)} pairs). Upload another file to replace it.")
        if c2.button("Clear file", key="pairs-upload-clear"):
            st.session_state.pop(_KEPT, None)
            st.rerun()
    return kept


def pasted_pairs() -> Pairs | None:
    """The paste box; None when empty. A malformed paste is one error message (and None)."""
    pasted = st.text_area("…or paste pairs", max_chars=1_000_000, placeholder=PASTE_PLACEHOLDER, height=120)
    if not pasted.strip():
        return None
    try:
        return parse_pairs(with_header(pasted).encode(), "pasted text")
    except DataError as e:
        st.error(str(e))
        return None
