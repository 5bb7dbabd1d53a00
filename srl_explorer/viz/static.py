"""Draw a :class:`~srl_explorer.viz.model.Chart` as a static PNG with matplotlib (the report's images)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .model import Chart, Line

_MPL_DASH = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.", "longdash": (0, (8, 3))}


def _floats(values) -> np.ndarray:
    """None (a gap in a line) -> NaN, which matplotlib also draws as a gap."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _draw(ax, line: Line, k: int, n_bars: int):
    x, y = list(line.x), _floats(line.y)
    if line.kind == "bar":
        pos = np.arange(len(x)) + (k - (n_bars - 1) / 2) * 0.8 / max(n_bars, 1)
        ax.set_xticks(np.arange(len(x)), [str(v) for v in x])
        return ax.bar(pos, y, width=0.8 / max(n_bars, 1), color=line.color, label=line.name)
    x = _floats(x)
    if line.kind == "points":
        return ax.scatter(x, y, s=(line.size or 5) * 2, c=line.color_values if line.color_values is not None
                          else line.color, label=line.name)
    h, = ax.plot(x, y, color=line.color, label=line.name, linestyle=_MPL_DASH.get(line.dash, "-"),
                 marker="o" if line.markers else None, markersize=3, linewidth=line.width or 1.3)
    return h


def save_png(chart: Chart, path: str | os.PathLike) -> Path:
    """A static PNG drawn with matplotlib's Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    rows, cols = chart.grid()
    fig = Figure(figsize=(6.4 * cols, 4.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    handles = {}
    for ax, p in zip(axes, chart.panels, strict=False):
        bars = [line for line in p.lines if line.kind == "bar"]
        for line in p.lines:
            h = _draw(ax, line, next((i for i, b in enumerate(bars) if b is line), 0), len(bars))
            if line.legend:
                handles.setdefault(line.name, h)
        if p.log_y and any(np.nanmax(_floats(line.y), initial=0) > 0 for line in p.lines):
            ax.set_yscale("log", nonpositive="mask")
        for x in p.vlines:
            ax.axvline(x, color="grey", linestyle=":")
        ax.set_title(p.title, fontsize=9)
        ax.set_xlabel(p.xlabel)
        ax.set_ylabel(p.ylabel)
        ax.grid(alpha=0.3)
        if not chart.axes:
            ax.set_axis_off()
        if p.x_range is not None:
            ax.set_xlim(*p.x_range)
        if not p.lines:
            ax.text(0.5, 0.5, p.note or "no data", ha="center", va="center", transform=ax.transAxes, color="grey",
                    wrap=True)
    for ax in axes[len(chart.panels):]:
        ax.set_visible(False)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right center", fontsize=8)
    fig.suptitle(chart.title, fontsize=11, wrap=True)
    fig.savefig(Path(path), dpi=110)
    return Path(path)
