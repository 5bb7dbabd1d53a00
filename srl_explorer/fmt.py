"""The one number formatter for tables, reports and command-line output."""
from __future__ import annotations

import math
import numbers


def fmt_num(x, spec: str = ".2f") -> str:
    """``format(x, spec)``, or "–" when ``x`` is None, not a number, NaN or infinite."""
    if x is None or isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        return "–"
    return format(x, spec)
