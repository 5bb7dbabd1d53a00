"""One chart layer for the app and the report.

    model.py    Chart / Panel / Line (renderer-neutral) and the series helpers (``series``, ``smooth``)
    charts.py   chart builders from metric records: live Train panels, run overlays, the A-U plane, maps, bars
    style.py    the fixed colour of every metric and its axis title (loss colours: the loss registry)
    plotly.py   Chart -> plotly Figure (the app) and interactive HTML (the report)
    static.py   Chart -> PNG with matplotlib (the report)
"""
from .charts import (
    align_uniform_plane,
    gold_scatter,
    live_panels,
    loss_dashes,
    overlay,
    run_color,
    scatter_2d,
    sts_bars,
)
from .model import Chart, Line, Panel, series, smooth
from .plotly import save_html, to_plotly
from .static import save_png
from .style import METRIC_COLORS, metric_axis, metric_color

__all__ = ["METRIC_COLORS", "Chart", "Line", "Panel", "align_uniform_plane", "gold_scatter", "live_panels",
           "loss_dashes", "metric_axis", "metric_color", "overlay", "run_color", "save_html", "save_png", "scatter_2d",
           "series", "smooth", "sts_bars", "to_plotly"]
