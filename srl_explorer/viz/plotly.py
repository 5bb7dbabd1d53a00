"""Draw a :class:`~srl_explorer.viz.model.Chart` with plotly: the app's charts and the report's HTML."""
from __future__ import annotations

import os
from pathlib import Path

from .model import Chart, Line


def trace(line: Line, shown: set[str]):
    """The plotly trace of one :class:`Line`; ``shown`` collects the names already in the legend."""
    import plotly.graph_objects as go
    legend = line.legend and line.name not in shown
    if line.legend:
        shown.add(line.name)
    common = dict(x=list(line.x), y=list(line.y), name=line.name, legendgroup=line.name, showlegend=legend)
    if line.text is not None:
        common["text"] = list(line.text)
    if line.hovertemplate:
        common["hovertemplate"] = line.hovertemplate
    if not line.hover:
        common["hoverinfo"] = "skip"
    if line.kind == "bar":
        return go.Bar(**common, marker=dict(color=line.color))
    marker = {k: v for k, v in dict(color=line.color, symbol=line.symbol, size=line.size).items() if v is not None}
    if line.symbol == "arrow":
        marker["angleref"] = "previous"
    if line.color_values is not None:
        marker.update(color=list(line.color_values), colorscale="Viridis", showscale=True,
                      colorbar=dict(title=line.color_title))
    scatter = go.Scattergl if line.webgl else go.Scatter
    if line.kind == "points":
        return scatter(**common, mode="markers", marker=marker)
    style = {k: v for k, v in dict(color=line.color, dash=line.dash, width=line.width).items() if v is not None}
    return scatter(**common, mode="lines+markers" if line.markers else "lines", line=style,
                   **({"marker": marker} if line.markers and marker else {}))


def to_plotly(chart: Chart):
    """A plotly Figure of ``chart`` (subplots in a grid, one legend entry per name)."""
    from plotly.subplots import make_subplots
    rows, cols = chart.grid()
    titles = [p.title for p in chart.panels] if any(p.title for p in chart.panels) else None
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=min(0.12, 0.5 / rows))
    shown: set[str] = set()
    for k, p in enumerate(chart.panels):
        r, c = divmod(k, cols)
        for line in p.lines:
            fig.add_trace(trace(line, shown), row=r + 1, col=c + 1)
        if k + cols >= len(chart.panels):  # x title on the bottom panel of each column only
            fig.update_xaxes(title_text=p.xlabel, row=r + 1, col=c + 1)
        fig.update_yaxes(title_text=p.ylabel, type="log" if p.log_y else "linear", row=r + 1, col=c + 1)
        for x in p.vlines:
            fig.add_vline(x=x, line_dash="dot", line_color="grey", row=r + 1, col=c + 1)
    fig.update_layout(title=chart.title or None, height=chart.height or max(380, 300 * rows),
                      template="plotly_white", barmode=chart.barmode,
                      margin=dict(t=80 if chart.title else 40, l=60, r=20, b=50))
    if chart.legend == "h":
        fig.update_layout(legend=dict(orientation="h"))
    if not chart.axes:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


def save_html(chart: Chart, path: str | os.PathLike) -> Path:
    """Interactive HTML; plotly.js is written once beside it (works offline)."""
    path = Path(path)
    to_plotly(chart).write_html(path, include_plotlyjs="directory", full_html=True)
    return path
