"""The chart model shared by the app's pages and the reproduction report: a :class:`Chart` is a grid of
:class:`Panel` s, each holding :class:`Line` s (lines, point clouds or bars). Renderer-neutral: drawn by
:func:`srl_explorer.viz.plotly.to_plotly` (the app, HTML) and :func:`srl_explorer.viz.static.save_png`."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Line:
    """One trace. ``kind``: ``line`` (x/y joined; ``None`` in x and y breaks the line), ``points``
    (markers only, optionally coloured by ``color_values`` on a colour scale) or ``bar``."""

    name: str
    x: Sequence
    y: Sequence
    color: str | None = None
    dash: str = "solid"            # solid | dash | dot
    markers: bool = False          # line kind: markers on the points too
    kind: str = "line"             # line | points | bar
    width: float | None = None     # line width
    symbol: str | None = None      # marker symbol (plotly names, e.g. "arrow", "circle-open")
    size: float | None = None      # marker size
    text: Sequence[str] | None = None      # per-point hover text
    hovertemplate: str | None = None
    hover: bool = True             # False: no hover box
    legend: bool = True            # False: never listed in the legend
    color_values: Sequence[float] | None = None  # points: colour each by a value (Viridis)
    color_title: str = ""
    webgl: bool = False            # many points: draw with WebGL in the browser (see :func:`needs_webgl`)


WEBGL_POINTS = 2000  # a map of at most this many points is drawn as SVG


def needs_webgl(n_points: int) -> bool:
    """Draw ``n_points`` with WebGL? Only for big maps: SVG draws a few thousand points fast, and a WebGL
    context costs a browser without a GPU (headless Chromium here: software GL) far more. Measured on the
    Embeddings page (2 maps of ~400 sentences, cold load): see bench/README.md."""
    return n_points > WEBGL_POINTS


@dataclass
class Panel:
    title: str
    lines: list[Line]
    xlabel: str = "step"
    ylabel: str = ""
    log_y: bool = False
    vlines: list[float] = field(default_factory=list)
    note: str = ""                            # said inside the panel when it has nothing to draw (and why)
    x_range: tuple[float, float] | None = None  # pinned x range (e.g. a single point at step 0)


@dataclass
class Chart:
    """A renderer-neutral figure: ``key`` is its file stem, panels are drawn in a grid."""

    key: str
    title: str
    panels: list[Panel]
    cols: int | None = None      # grid columns; None: 1 panel -> 1, up to 4 -> 2, more -> 3
    height: int | None = None    # pixels in the browser; None: 300 a row (at least 380)
    legend: str = "v"            # v: at the right; h: below the grid; panel: a compact legend in each panel
    axes: bool = True            # False: hide both axes (2-D maps)
    barmode: str = "group"

    @property
    def empty(self) -> bool:
        return not any(len(line.x) for p in self.panels for line in p.lines)

    def grid(self) -> tuple[int, int]:
        """(rows, cols) of the panel grid."""
        n = len(self.panels)
        cols = self.cols or (1 if n <= 1 else 2 if n <= 4 else 3)
        return math.ceil(max(n, 1) / cols), cols


# --------------------------------------------------------------------------- data helpers
def series(records: list[dict], key: str, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
    """(x, values) of the records that hold a number under ``key``; (N,) float arrays each."""
    pts = [(r.get(x, 0), r[key]) for r in records if isinstance(r.get(key), (int, float))]
    if not pts:
        return np.array([]), np.array([])
    xs, ys = zip(*pts, strict=True)
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
