"""Chart builders from metric records (lists of dicts from a run's metrics file), for the app's pages and
the reproduction report alike. Each returns a :class:`~srl_explorer.viz.model.Chart`. No streamlit here."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .model import Chart, Line, Panel, series, smooth

Transform = Callable[[np.ndarray], np.ndarray] | None
PANELS: dict[str, list[tuple[str, str, Transform]]] = {  # title -> [(metric, label, transform)]
    "Loss": [("loss", "loss", None)],
    "Gradient norms": [("grad_norm", "params (total)", None), ("grad_norm_z", "∂L/∂z", None),
                       ("grad_norm_align", "align part", None), ("grad_norm_uniform", "uniform part", None)],
    "Dissipation": [("pos_prob", "1 − pos_prob", lambda v: 1 - v), ("active_frac", "active_frac", None)],
    "Alignment & uniformity": [("align", "batch align", None), ("uniform", "batch uniform", None),
                               ("dev_align", "dev align", None), ("dev_uniform", "dev uniform", None)],
    "STS dev Spearman × 100": [("stsb_dev_spearman", "STS dev", None)],
}
PALETTE = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF",
           "#FECB52")  # plotly's qualitative "Plotly" palette


def run_color(i: int) -> str:
    """The i-th run's colour, shared by every comparison chart."""
    return PALETTE[i % len(PALETTE)]


def _colors(names, colors: dict[str, str | None] | None) -> dict[str, str | None]:
    return {n: (colors or {}).get(n) or run_color(i) for i, n in enumerate(names)}


def live_panels(records: list[dict]) -> Chart:
    """The Train page's grid: loss, gradient norms, dissipation, align/uniform, STS dev."""
    panels = []
    for title, items in PANELS.items():
        lines = []
        for key, label, fn in items:
            x, y = series(records, key)
            if len(x):
                lines.append(Line(label, x, fn(y) if fn else y, markers=len(x) < 30))
        panels.append(Panel(title, lines))
    return Chart("live", "", panels, cols=2, height=820, legend="h")


def overlay(runs_records: dict[str, list[dict]], key: str, x: str = "step", weight: float = 0.0,
            colors: dict[str, str | None] | None = None, markers: bool = False, title: str = "",
            ylabel: str | None = None) -> Chart:
    """One line per run of metric ``key`` against ``x`` (step or elapsed_s), EMA-smoothed with ``weight``."""
    color = _colors(runs_records, colors)
    lines = []
    for name, recs in runs_records.items():
        xs, ys = series(recs, key, x)
        if len(xs):
            lines.append(Line(name, xs, smooth(ys, weight), color=color[name], markers=markers))
    panel = Panel("", lines, xlabel="wall time (s)" if x == "elapsed_s" else "step",
                  ylabel=key if ylabel is None else ylabel)
    return Chart(f"overlay_{key}", title, [panel], height=None if title else 450)


def align_uniform_plane(runs_records: dict[str, list[dict]], colors: dict[str, str | None] | None = None,
                        title: str = "") -> Chart:
    """Wang & Isola's plane: x = dev_uniform, y = dev_align (lower-left is better); arrows show direction
    and an open circle marks each run's first evaluation."""
    color = _colors(runs_records, colors)
    lines = []
    for name, recs in runs_records.items():
        pts = [(r["dev_uniform"], r["dev_align"], r.get("step", 0)) for r in recs
               if isinstance(r.get("dev_uniform"), (int, float)) and isinstance(r.get("dev_align"), (int, float))]
        if not pts:
            continue
        u, a, s = (list(v) for v in zip(*pts, strict=True))
        lines.append(Line(name, u, a, color=color[name], markers=True, symbol="arrow", size=11,
                          text=[f"step {k}" for k in s],
                          hovertemplate="%{text}<br>uniform %{x:.3f}<br>align %{y:.3f}"))
        lines.append(Line(name, u[:1], a[:1], color=color[name], kind="points", symbol="circle-open", size=12,
                          legend=False, hover=False))
    panel = Panel("", lines, xlabel="dev uniformity (lower = more uniform)", ylabel="dev alignment (lower = better)")
    return Chart("au_plane", title, [panel], height=None if title else 480)


def scatter_2d(coords: np.ndarray, text: list[str], color, color_title: str,
               pairs: list[tuple[int, int]] | None = None, title: str = "") -> Chart:
    """A 2-D map of sentences (N, 2), coloured by ``color`` (N,); ``pairs`` joins the two sentences of a pair."""
    lines = []
    if pairs:
        xs, ys = [], []
        for i, j in pairs:
            xs += [coords[i, 0], coords[j, 0], None]
            ys += [coords[i, 1], coords[j, 1], None]
        lines.append(Line("pairs", xs, ys, color="rgba(120,120,120,0.35)", width=0.5, hover=False, legend=False,
                          webgl=True))
    lines.append(Line("sentences", coords[:, 0], coords[:, 1], kind="points", text=text, size=5,
                      hovertemplate="%{text}<extra></extra>", color_values=color, color_title=color_title,
                      legend=False, webgl=True))
    return Chart("map", title, [Panel("", lines, xlabel="", ylabel="")], height=520, axes=False)


def sts_bars(results: dict[str, dict]) -> Chart:
    """Grouped bars: one group per task, one bar per model; ``results[model] = {task: value}``."""
    lines = [Line(model, list(vals), list(vals.values()), kind="bar") for model, vals in results.items()]
    return Chart("sts", "", [Panel("", lines, xlabel="", ylabel="Spearman × 100")], height=420)


def gold_scatter(gold, cosine, text: list[str]) -> Chart:
    """Scored pairs: x = gold score, y = the model's cosine, ``text`` on hover (one per pair)."""
    points = Line("pairs", list(gold), list(cosine), kind="points", text=text, size=7, legend=False,
                  hovertemplate="%{text}<br>gold %{x}<br>cosine %{y:.3f}<extra></extra>")
    return Chart("gold_scatter", "cosine vs gold score", [Panel("", [points], xlabel="score", ylabel="cosine")],
                 height=450)
