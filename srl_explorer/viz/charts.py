"""Chart builders from metric records (lists of dicts from a run's metrics file), for the app's pages and
the reproduction report alike. Each returns a :class:`~srl_explorer.viz.model.Chart`. No streamlit here."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .model import Chart, Line, Panel, needs_webgl, series, smooth
from .style import DASHES, STEP_AXIS, WALL_AXIS, metric_axis, metric_color

Transform = Callable[[np.ndarray], np.ndarray] | None
# title -> (y-axis title, [(metric, legend label, transform)]); colours come from style.METRIC_COLORS
PANELS: dict[str, tuple[str, list[tuple[str, str, Transform]]]] = {
    "Loss": ("loss (nats)", [("loss", "loss", None)]),
    "Gradient norms": ("gradient L2 norm", [
        ("grad_norm", "‖∂L/∂θ‖ params", None), ("grad_norm_z", "‖∂L/∂z‖ tangential", None),
        ("grad_norm_align", "align part", None), ("grad_norm_uniform", "uniform part", None)]),
    "Dissipation": ("dissipation factor", [("pos_prob", "1 − p_pos", lambda v: 1 - v),
                                           ("active_frac", "active hinges", None)]),
    "Alignment & uniformity": ("align / uniform", [
        ("align", "align (batch)", None), ("uniform", "uniform (batch)", None),
        ("dev_align", "align (dev)", None), ("dev_uniform", "uniform (dev)", None)]),
    "STS dev Spearman": ("Spearman × 100", [("stsb_dev_spearman", "STS dev", None)]),
}
LOG_PANELS = ("Gradient norms", "Dissipation")
DISSIPATION_AXES = {"pos_prob": "1 − p_pos", "active_frac": "fraction of active hinges"}
PALETTE = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF",
           "#FECB52")  # plotly's qualitative "Plotly" palette: runs when no loss colour is given
HOVER = "step %{x}<br>%{text}<br>%{fullData.name}: %{y:.4g}<extra></extra>"


def run_color(i: int) -> str:
    """The i-th run's colour when runs are not told apart by their loss."""
    return PALETTE[i % len(PALETTE)]


def _colors(names, colors: dict[str, str | None] | None) -> dict[str, str | None]:
    return {n: (colors or {}).get(n) or run_color(i) for i, n in enumerate(names)}


def wall_times(records: list[dict], key: str) -> list[str]:
    """Hover text per point of ``series(records, key)`` (same records, same order): the wall time."""
    return [f"wall {format_seconds(r.get('elapsed_s'))}" for r in records if isinstance(r.get(key), (int, float))]


def format_seconds(s) -> str:
    if not isinstance(s, (int, float)):
        return "?"
    s = float(s)
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:02.0f} s" if s < 3600 else \
        f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _empty_note(title: str, records: list[dict], loss_label: str | None, diagnostic: str | None,
                eval_every: int | None) -> str:
    """Why panel ``title`` has nothing to draw."""
    name = loss_label or "this loss"
    if title == "Dissipation" and records and diagnostic is None and loss_label:
        return f"{name} has no positive-pair probability or hinge: nothing dissipates by design"
    if title == "STS dev Spearman":
        return f"no dev evaluation yet (every {eval_every} steps)" if eval_every else "no dev evaluation yet"
    return "waiting for the first training step" if not any("loss" in r for r in records) else \
        f"not logged for {name}"


def live_panels(records: list[dict], loss_label: str | None = None, diagnostic: str | None = "",
                log_y: bool = True, eval_every: int | None = None) -> Chart:
    """The Train page's grid: loss, gradient norms, dissipation, align/uniform, STS dev. One fixed colour per
    metric (:data:`style.METRIC_COLORS`), a compact legend and a y title in each panel, x = training step
    pinned to [0, last step]. ``diagnostic``: the loss's dissipation indicator (None: it has none, said in
    the panel; "" unknown); ``log_y``: log axes for gradient norms and dissipation."""
    last = max(10, max((r.get("step", 0) for r in records), default=0))  # step 0 alone: 0..10, not -1..1
    pad = last * 0.02
    panels = []
    for title, (ylabel, items) in PANELS.items():
        lines = []
        for key, label, fn in items:
            if title == "Dissipation" and diagnostic and key != diagnostic:
                continue
            x, y = series(records, key)
            if len(x):
                lines.append(Line(label, x, fn(y) if fn else y, color=metric_color(key), markers=len(x) < 30,
                                  text=wall_times(records, key), hovertemplate=HOVER))
        if title == "Dissipation" and diagnostic:
            ylabel = DISSIPATION_AXES.get(diagnostic, ylabel)
        note = "" if lines else _empty_note(title, records, loss_label, diagnostic, eval_every)
        panels.append(Panel(title, lines, xlabel=STEP_AXIS, ylabel=ylabel, log_y=log_y and title in LOG_PANELS,
                            note=note, x_range=(-pad, last + pad)))
    return Chart("live", "", panels, cols=2, height=900, legend="panel")


def overlay(runs_records: dict[str, list[dict]], key: str, x: str = "step", weight: float = 0.0,
            colors: dict[str, str | None] | None = None, markers: bool = False, title: str = "",
            ylabel: str | None = None, dashes: dict[str, str] | None = None, log_y: bool = False) -> Chart:
    """One line per run of metric ``key`` against ``x`` (step or elapsed_s), EMA-smoothed with ``weight``.
    ``colors``/``dashes`` per run name (e.g. the run's loss colour, and a dash per run of the same loss);
    hovering a point shows its run, step, wall time and value."""
    color = _colors(runs_records, colors)
    lines = []
    for name, recs in runs_records.items():
        xs, ys = series(recs, key, x)
        if len(xs):
            text = [f"step {r.get('step', 0)} · wall {format_seconds(r.get('elapsed_s'))}" for r in recs
                    if isinstance(r.get(key), (int, float))]
            short = markers and len(xs) == 1  # e.g. a run cancelled after its step-0 evaluation
            lines.append(Line(name, xs, smooth(ys, weight), color=color[name], markers=markers,
                              dash=(dashes or {}).get(name, "solid"), text=text,
                              size=(14 if short else 7) if markers else None, symbol="diamond-open" if short else None,
                              hovertemplate="%{fullData.name}<br>%{text}<br>value %{y:.4g}<extra></extra>"))
    lines.sort(key=lambda line: len(line.x) == 1)  # stable: one-point runs (open diamonds) drawn last, on top
    panel = Panel("", lines, xlabel=WALL_AXIS if x == "elapsed_s" else STEP_AXIS,
                  ylabel=metric_axis(key) if ylabel is None else ylabel, log_y=log_y)
    return Chart(f"overlay_{key}", title, [panel], height=None if title else 450)


def loss_dashes(run_losses: dict[str, str]) -> dict[str, str]:
    """A dash style per run so runs of the same loss (same colour) stay apart: the k-th run of a loss gets
    the k-th of :data:`style.DASHES`."""
    seen: dict[str, int] = {}
    out = {}
    for run, loss in run_losses.items():
        k = seen.get(loss, 0)
        seen[loss] = k + 1
        out[run] = DASHES[k % len(DASHES)]
    return out


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


def pair_lines(coords: np.ndarray, pairs: list[tuple[int, int]] | None) -> list[Line]:
    """Faint segments joining the two sentences of each pair on a 2-D map (N, 2); [] without pairs."""
    if not pairs:
        return []
    xs, ys = [], []
    for i, j in pairs:
        xs += [coords[i, 0], coords[j, 0], None]
        ys += [coords[i, 1], coords[j, 1], None]
    return [Line("pairs", xs, ys, color="rgba(120,120,120,0.35)", width=0.5, hover=False, legend=False,
                 webgl=needs_webgl(len(coords)))]


def scatter_2d(coords: np.ndarray, text: list[str], color, color_title: str,
               pairs: list[tuple[int, int]] | None = None, title: str = "") -> Chart:
    """A 2-D map of sentences (N, 2), coloured by ``color`` (N,); ``pairs`` joins the two sentences of a pair."""
    lines = pair_lines(coords, pairs)
    lines.append(Line("sentences", coords[:, 0], coords[:, 1], kind="points", text=text, size=5,
                      hovertemplate="%{text}<extra></extra>", color_values=color, color_title=color_title,
                      legend=False, webgl=needs_webgl(len(coords))))
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
