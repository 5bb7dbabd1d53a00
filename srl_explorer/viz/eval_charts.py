"""Chart builders for the evaluation pages: STS scores as labelled bars, and 2-D sentence maps coloured by
cluster (one discrete colour per cluster). Each returns a :class:`~srl_explorer.viz.model.Chart`; no streamlit."""
from __future__ import annotations

import math

import numpy as np

from .charts import pair_lines
from .model import Chart, Line, Panel, needs_webgl

CLUSTER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf", "#393b79", "#ad494a")  # qualitative (d3 category10 + 2)


def cluster_color(c: int) -> str:
    """The colour of cluster ``c`` (0-based), the same on every map."""
    return CLUSTER_COLORS[c % len(CLUSTER_COLORS)]


def cluster_map(coords: np.ndarray, text: list[str], labels: np.ndarray,
                pairs: list[tuple[int, int]] | None = None, title: str = "") -> Chart:
    """A 2-D map of sentences (N, 2) with one trace per cluster (``labels`` (N,) int, 0-based), named
    "cluster 1".."cluster k" in a legend, each in its fixed :func:`cluster_color`; the sentence on hover."""
    labels = np.asarray(labels)
    lines = pair_lines(coords, pairs)
    for c in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == c)
        lines.append(Line(f"cluster {c + 1}", coords[idx, 0], coords[idx, 1], kind="points", color=cluster_color(c),
                          text=[text[i] for i in idx], size=6, webgl=needs_webgl(len(coords)),
                          hovertemplate=f"%{{text}}<extra>cluster {c + 1}</extra>"))
    return Chart("map", title, [Panel("", lines, xlabel="", ylabel="")], height=520, axes=False)


def score_range(values, pad: float = 0.2, min_span: float = 2.0) -> tuple[float, float]:
    """A y range zoomed to ``values`` (Spearman × 100), with room above for the printed values:
    [min − pad·span, max + pad·span] where span ≥ ``min_span``, clipped to [−100, 100]."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return 0.0, 100.0
    lo, hi = min(vals), max(vals)
    span = max(hi - lo, min_span)
    return max(-100.0, lo - pad * span), min(100.0, hi + pad * span)


def sts_score_bars(results: dict[str, dict[str, float]], labels: dict[str, str] | None = None) -> Chart:
    """Grouped bars, one group per task (``labels`` renames them), one bar per model, each bar printing its
    value; ``results[model] = {task: Spearman × 100}``. Zoom the y axis with :func:`score_range`."""
    labels = labels or {}
    lines = [Line(model, [labels.get(t, t) for t in vals], list(vals.values()), kind="bar",
                  text=[f"{v:.2f}" if v is not None and math.isfinite(v) else "n/a" for v in vals.values()],
                  hovertemplate="%{x}: %{y:.2f}<extra>%{fullData.name}</extra>")
             for model, vals in results.items()]
    return Chart("sts", "", [Panel("", lines, xlabel="", ylabel="Spearman × 100")], height=420, legend="h")
