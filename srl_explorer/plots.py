"""Plotly figures built from metric records (lists of dicts from metrics.jsonl). No streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.colors as px_colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PANELS = {  # title -> [(metric, label, transform)]
    "Loss": [("loss", "loss", None)],
    "Gradient norms": [("grad_norm", "params (total)", None), ("grad_norm_z", "∂L/∂z", None),
                       ("grad_norm_align", "align part", None), ("grad_norm_uniform", "uniform part", None)],
    "Dissipation": [("pos_prob", "1 − pos_prob", lambda v: 1 - v), ("active_frac", "active_frac", None)],
    "Alignment & uniformity": [("align", "batch align", None), ("uniform", "batch uniform", None),
                               ("dev_align", "dev align", None), ("dev_uniform", "dev uniform", None)],
    "STS dev Spearman × 100": [("stsb_dev_spearman", "STS dev", None)],
}


def series(records: list[dict], key: str, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
    pts = [(r.get(x, 0), r[key]) for r in records if isinstance(r.get(key), (int, float))]
    if not pts:
        return np.array([]), np.array([])
    xs, ys = zip(*pts)
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def smooth(y: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style exponential moving average with debiasing; weight in [0, 1)."""
    if weight <= 0 or len(y) == 0:
        return y
    out, last, n = np.empty_like(y), 0.0, 0
    for i, v in enumerate(y):
        last = weight * last + (1 - weight) * v
        n += 1
        out[i] = last / (1 - weight ** n)
    return out


def live_panels(records: list[dict]) -> go.Figure:
    """The Train page's grid: loss, gradient norms, dissipation, align/uniform, STS dev."""
    fig = make_subplots(rows=3, cols=2, subplot_titles=list(PANELS), vertical_spacing=0.1)
    for i, (title, items) in enumerate(PANELS.items()):
        row, col = divmod(i, 2)
        for key, label, fn in items:
            x, y = series(records, key)
            if len(x):
                fig.add_trace(go.Scatter(x=x, y=fn(y) if fn else y, name=label, mode="lines+markers" if len(x) < 30 else "lines",
                                         legendgroup=title), row=row + 1, col=col + 1)
    fig.update_layout(height=820, margin=dict(l=40, r=20, t=40, b=30), legend=dict(orientation="h"))
    fig.update_xaxes(title_text="step")
    return fig


def run_color(i: int) -> str:
    """The i-th run's colour, shared by every comparison chart."""
    palette = px_colors.qualitative.Plotly
    return palette[i % len(palette)]


def overlay(runs_records: dict[str, list[dict]], key: str, x: str = "step", weight: float = 0.0) -> go.Figure:
    fig = go.Figure()
    for i, (name, recs) in enumerate(runs_records.items()):
        xs, ys = series(recs, key, x)
        if len(xs):
            fig.add_trace(go.Scatter(x=xs, y=smooth(ys, weight), name=name, mode="lines", line=dict(color=run_color(i))))
    fig.update_layout(xaxis_title="wall time (s)" if x == "elapsed_s" else "step", yaxis_title=key, height=450,
                      margin=dict(l=40, r=20, t=30, b=40))
    return fig


def align_uniform_plane(runs_records: dict[str, list[dict]]) -> go.Figure:
    """Wang & Isola's plane: x = dev_uniform, y = dev_align (lower-left is better); arrows show direction."""
    fig = go.Figure()
    for i, (name, recs) in enumerate(runs_records.items()):
        pts = [(r["dev_uniform"], r["dev_align"], r["step"]) for r in recs
               if isinstance(r.get("dev_uniform"), (int, float)) and isinstance(r.get("dev_align"), (int, float))]
        if not pts:
            continue
        u, a, s = map(np.asarray, zip(*pts))
        color = run_color(i)  # the same colour as the run's line in overlay()
        fig.add_trace(go.Scatter(x=u, y=a, mode="lines+markers", name=name, text=[f"step {k}" for k in s],
                                 line=dict(color=color), marker=dict(size=11, symbol="arrow", angleref="previous"),
                                 hovertemplate="%{text}<br>uniform %{x:.3f}<br>align %{y:.3f}"))
        fig.add_trace(go.Scatter(x=[u[0]], y=[a[0]], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(size=12, symbol="circle-open", color=color)))
    fig.update_layout(xaxis_title="dev uniformity (lower = more uniform)", yaxis_title="dev alignment (lower = better)",
                      height=480, margin=dict(l=40, r=20, t=30, b=40))
    return fig


def scatter_2d(coords: np.ndarray, text: list[str], color, color_title: str, pairs: list[tuple[int, int]] | None = None,
               title: str = "") -> go.Figure:
    fig = go.Figure()
    if pairs:
        xs, ys = [], []
        for i, j in pairs:
            xs += [coords[i, 0], coords[j, 0], None]
            ys += [coords[i, 1], coords[j, 1], None]
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line=dict(width=0.5, color="rgba(120,120,120,0.35)"),
                                   hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", text=text, hovertemplate="%{text}<extra></extra>",
                               marker=dict(size=5, color=color, colorscale="Viridis", showscale=True,
                                           colorbar=dict(title=color_title)), showlegend=False))
    fig.update_layout(title=title, height=520, margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(visible=False),
                      yaxis=dict(visible=False))
    return fig


def sts_bars(results: dict[str, dict]) -> go.Figure:
    """Grouped bars: one group per task, one bar per model; ``results[model] = {task: value}``."""
    fig = go.Figure()
    for model, vals in results.items():
        fig.add_trace(go.Bar(name=model, x=list(vals), y=list(vals.values())))
    fig.update_layout(barmode="group", yaxis_title="Spearman × 100", height=420, margin=dict(l=40, r=20, t=30, b=40))
    return fig
