"""The one number formatter for tables, reports and command-line output."""
from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence


def fmt_num(x, spec: str = ".2f") -> str:
    """``format(x, spec)``, or "–" when ``x`` is None, not a number, NaN or infinite."""
    if x is None or isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        return "–"
    return format(x, spec)


_MD_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|$~:])")


def md_text(text) -> str:
    """``text`` as literal Markdown inline text: punctuation backslash-escaped (no emphasis, links, HTML,
    LaTeX or shortcodes from a user's sentence), newlines as spaces."""
    return _MD_PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))


def markdown_table(rows: Sequence[Mapping[str, object]], formats: Mapping[str, str] | None = None) -> str:
    """A Markdown table of ``rows`` (dicts with the same keys; the first row's order is the column order).
    A number is written with ``formats[column]`` (default ``.2f``; ``fmt_num``: "–" when missing) and
    right-aligned; anything else is escaped text (:func:`md_text`). Drawn by ``st.markdown`` it is a static
    table, which a browser draws with none of the data grid's or ``st.table``'s code (issue 15)."""
    formats = formats or {}
    cols = list(rows[0]) if rows else []
    numeric = {c: all(isinstance(r.get(c), numbers.Real) and not isinstance(r.get(c), bool) or r.get(c) is None
                      for r in rows) and any(r.get(c) is not None for r in rows) for c in cols}

    def cell(c: str, v) -> str:
        return fmt_num(v, formats.get(c, ".2f")) if numeric[c] else md_text("" if v is None else v)

    out = ["| " + " | ".join(md_text(c) for c in cols) + " |",
           "|" + "|".join("---:" if numeric[c] else "---" for c in cols) + "|"]
    out += ["| " + " | ".join(cell(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)
