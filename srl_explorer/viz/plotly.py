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
    """A plotly Figure of ``chart`` (subplots in a grid, one legend entry per name; with ``legend="panel"``
    a compact legend beside each panel, listing that panel's lines)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    rows, cols = chart.grid()
    titles = [p.title for p in chart.panels] if any(p.title for p in chart.panels) else None
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=min(0.12, 0.5 / rows))
    per_panel = chart.legend == "panel"
    shown: set[str] = set()
    for k, p in enumerate(chart.panels):
        r, c = divmod(k, cols)
        if per_panel:
            shown = set()
        if not p.lines:  # an empty subplot draws no axes: keep them (and the note's frame) with an empty trace
            fig.add_trace(go.Scatter(x=[], y=[], showlegend=False, hoverinfo="skip"), row=r + 1, col=c + 1)
            fig.update_yaxes(showticklabels=False, row=r + 1, col=c + 1)
        for line in p.lines:
            t = trace(line, shown)
            if per_panel:
                t.legend = "legend" if k == 0 else f"legend{k + 1}"
            fig.add_trace(t, row=r + 1, col=c + 1)
        if k + cols >= len(chart.panels):  # x title on the bottom panel of each column only
            fig.update_xaxes(title_text=p.xlabel, row=r + 1, col=c + 1)
        fig.update_yaxes(title_text=p.ylabel, type="log" if p.log_y else "linear", row=r + 1, col=c + 1,
                         **({"exponentformat": "power", "nticks": 6} if p.log_y else {}))
        if p.x_range is not None:
            fig.update_xaxes(range=list(p.x_range), row=r + 1, col=c + 1)
        for x in p.vlines:
            fig.add_vline(x=x, line_dash="dot", line_color="grey", row=r + 1, col=c + 1)
        if p.note and not p.lines:
            n = "" if k == 0 else str(k + 1)
            fig.add_annotation(text=_wrap(p.note), xref=f"x{n} domain", yref=f"y{n} domain", x=0.5, y=0.5,
                               showarrow=False, font=dict(color="#666666", size=12))
    fig.update_layout(title=chart.title or None, height=chart.height or max(380, 300 * rows),
                      template="plotly_white", barmode=chart.barmode,
                      margin=dict(t=80 if chart.title else 40, l=60, r=20, b=50))
    if per_panel:
        _panel_legends(fig, chart, cols)
    elif chart.legend == "h":
        fig.update_layout(legend=dict(orientation="h"))
    if not chart.axes:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


LEGEND_ROOM = 0.14   # share of a grid column kept for its panels' legends (legend="panel")
YTITLE_ROOM = 0.07   # share of a column (after the first) kept for its panels' y-axis titles


def _panel_legends(fig, chart: Chart, cols: int) -> None:
    """Shrink each column's x domain to leave room on its right, and put each panel's legend there."""
    for k in range(len(chart.panels)):
        n = "" if k == 0 else str(k + 1)
        c = k % cols
        x0 = c / cols + (YTITLE_ROOM if c else 0)
        x1 = (c + 1) / cols - LEGEND_ROOM
        fig.layout[f"xaxis{n}"].domain = [x0, x1]
        y1 = fig.layout[f"yaxis{n}"].domain[1]
        fig.layout[f"legend{n}"] = dict(x=x1 + 0.01, y=y1, xanchor="left", yanchor="top", font=dict(size=10),
                                        bgcolor="rgba(255,255,255,0)", tracegroupgap=2)
    pending = [(k, p.title) for k, p in enumerate(chart.panels) if p.title]
    for ann in fig.layout.annotations:  # the subplot titles, in panel order: centre them on the shrunk axes
        if pending and ann.text == pending[0][1]:
            k = pending.pop(0)[0]
            ann.x = sum(fig.layout["xaxis" + ("" if k == 0 else str(k + 1))].domain) / 2


def _wrap(text: str, width: int = 48) -> str:
    """Break a note into lines of about ``width`` characters (plotly annotations do not wrap)."""
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return "<br>".join([*lines, cur])


def save_html(chart: Chart, path: str | os.PathLike) -> Path:
    """Interactive HTML; plotly.js is written once beside it (works offline)."""
    path = Path(path)
    to_plotly(chart).write_html(path, include_plotlyjs="directory", full_html=True)
    return path
