"""The one place chart colours and axis titles are defined, so a metric looks the same on every page and run.

Metric colours are fixed per metric (never by trace order); a *loss* has its own colour in the loss
registry (``srl_explorer.losses.loss_color``), used where runs are compared (Compare, Paper). The two sets
do not overlap: metric colours are darker/lighter shades that no loss uses.
"""
from __future__ import annotations

METRIC_COLORS: dict[str, str] = {
    "loss": "#222222",
    "grad_norm": "#6b6b6b",            # params (total)
    "grad_norm_z": "#222222",          # ‖∂L/∂z‖ tangential, the one that moves the embeddings
    "grad_norm_align": "#17becf",      # the same colours as the report's gradient-part charts
    "grad_norm_uniform": "#bcbd22",
    "pos_prob": "#e377c2",             # drawn as 1 − p_pos
    "active_frac": "#8e44ad",
    "align": "#17becf",
    "uniform": "#bcbd22",
    "dev_align": "#0b6e79",
    "dev_uniform": "#7a7a10",
    "stsb_dev_spearman": "#c0392b",
    "lr": "#555555",
}
FALLBACK_COLOR = "#444444"  # a metric this table does not know (Compare can plot any numeric key)

METRIC_AXES: dict[str, str] = {  # y-axis title, with units, of a metric drawn on its own
    "loss": "loss (nats)",
    "grad_norm": "‖∂L/∂θ‖",
    "grad_norm_z": "‖∂L/∂z‖ (tangential)",
    "grad_norm_align": "‖∂L_align/∂z‖ (tangential)",
    "grad_norm_uniform": "‖∂L_uniform/∂z‖ (tangential)",
    "pos_prob": "p_pos",
    "active_frac": "fraction of active hinges",
    "align": "alignment (‖z₁ − z₂‖², batch)",
    "uniform": "uniformity (log E e^(−2‖Δz‖²), batch)",
    "dev_align": "dev alignment (lower = better)",
    "dev_uniform": "dev uniformity (lower = more uniform)",
    "stsb_dev_spearman": "Spearman × 100",
    "lr": "learning rate",
    "elapsed_s": "wall time (s)",
}
STEP_AXIS = "training step"
WALL_AXIS = "wall time (s)"
LOG_METRICS = ("grad_norm", "grad_norm_z", "grad_norm_align", "grad_norm_uniform", "pos_prob", "active_frac")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")  # runs of the same loss on one chart


def metric_color(key: str) -> str:
    return METRIC_COLORS.get(key, FALLBACK_COLOR)


def metric_axis(key: str) -> str:
    return METRIC_AXES.get(key, key)
