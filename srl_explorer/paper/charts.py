"""The evidence as charts, built with the app's chart layer (:mod:`srl_explorer.viz`): the report's
figures and the Paper page's are the same :class:`~srl_explorer.viz.Chart` s."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..losses import dissipating_losses, loss_color, loss_label
from ..viz import Chart, Line, Panel, align_uniform_plane, overlay, smooth
from .claims import CLAIMS, fade
from .evidence import RunMetrics

PART_STYLE = {"total": ("#000000", "solid"), "align": ("#17becf", "dash"), "uniform": ("#bcbd22", "dot")}


def _name(m: RunMetrics) -> str:
    return loss_label(m.label)


def _color(m: RunMetrics) -> str | None:
    """The loss's colour when runs are labelled by loss (a reproduction); else the run palette."""
    return loss_color(m.loss) if m.label == m.loss else None


def _pick(metrics: Sequence[RunMetrics], losses: Sequence[str] | None) -> list[RunMetrics]:
    return [m for m in metrics if losses is None or m.loss in losses]


def _records(metrics: Sequence[RunMetrics]) -> tuple[dict[str, list[dict]], dict[str, str | None]]:
    """({legend name: records}, {legend name: colour}) of ``metrics``."""
    return {_name(m): m.records for m in metrics}, {_name(m): _color(m) for m in metrics}


def _smoothing(m: RunMetrics) -> float:
    """EMA weight for per-step curves: about a 5%-of-the-run window (0 for short runs)."""
    n = max(1, len(m.series("loss")[0]) // 20)
    return 1 - 2 / (n + 1)


def dev_sts_chart(metrics: Sequence[RunMetrics], losses: Sequence[str] | None = None) -> Chart:
    records, colors = _records(_pick(metrics, losses))
    chart = overlay(records, "stsb_dev_spearman", colors=colors, markers=True,
                    title="STS-B dev Spearman (×100) during training", ylabel="dev Spearman × 100")
    return replace(chart, key="dev_sts")


def grad_norm_chart(metrics: Sequence[RunMetrics], losses: Sequence[str] | None = None) -> Chart:
    """One panel per run: ‖∂L/∂z‖ and its align/uniform parts (smoothed, log scale)."""
    panels = []
    for m in _pick(metrics, losses):
        w = _smoothing(m)
        lines = []
        for part, key in (("total", "grad_norm_z"), ("align", "grad_norm_align"), ("uniform", "grad_norm_uniform")):
            x, y = m.series(key, start=1)
            color, dash = PART_STYLE[part]
            lines.append(Line(part, x, smooth(y, w), color=color, dash=dash))
        panels.append(Panel(_name(m), lines, ylabel="‖∂L/∂z‖", log_y=True))
    return Chart("grad_norm", "Gradient of the loss w.r.t. the embeddings: total and its align/uniform parts "
                 "(smoothed)", panels)


def dissipation_chart(metrics: Sequence[RunMetrics], losses: Sequence[str] | None = None) -> Chart:
    """1 − pos_prob (InfoNCE family) and active_frac (hinge losses) against step."""
    pos, act = [], []
    for m in _pick(metrics, losses):
        w = _smoothing(m)
        color = _color(m)
        x, p = m.series("pos_prob", start=1)
        if len(x):
            pos.append(Line(_name(m), x, smooth(1 - p, w), color=color))
        x, a = m.series("active_frac", start=1)
        if len(x):
            act.append(Line(_name(m), x, smooth(a, w), color=color))
    return Chart("dissipation", "Dissipation factors during training (smoothed)",
                 [Panel("1 − p_pos (InfoNCE's factor on the positive's gradient)", pos, ylabel="1 − p_pos",
                        log_y=True),
                  Panel("active_frac (share of anchors whose hinge is not yet met)", act, ylabel="active_frac")])


def au_plane_chart(metrics: Sequence[RunMetrics], losses: Sequence[str] | None = None) -> Chart:
    records, colors = _records(_pick(metrics, losses))
    return align_uniform_plane(records, colors, title="Alignment–uniformity plane on STS-B dev (each point an "
                                                      "evaluation; lower left is better)")


def claim_chart(key: str, metrics: Sequence[RunMetrics]) -> Chart:
    """The chart that goes with claim ``key`` of :data:`~srl_explorer.paper.claims.CLAIMS`."""
    if key == "au_vs_infonce":
        return dev_sts_chart(metrics, ["infonce", "align_uniform"])
    if key == "dissipation":
        lines = []
        for m in _pick(metrics, ["infonce", "align_uniform"]):
            f = fade(m)
            x, y = m.series("grad_norm_z", start=1)
            if f and f["early"] > 0:
                lines.append(Line(_name(m), x, smooth(y, _smoothing(m)) / f["early"], color=_color(m)))
        relative = Panel("‖∂L/∂z‖ relative to its early median (smoothed)", lines, ylabel="relative gradient",
                         log_y=True)
        one_minus_p = dissipation_chart(metrics, ["infonce"]).panels[0]
        return Chart("claim_dissipation", "InfoNCE's gradient fades, A&U's does not?", [relative, one_minus_p], cols=1)
    if key == "dissipating_losses":
        return dev_sts_chart(metrics, ["infonce", *dissipating_losses()])
    raise ValueError(f"unknown claim {key!r}; choose one of: {', '.join(CLAIMS)}")


def report_charts(metrics: Sequence[RunMetrics]) -> list[Chart]:
    return [dev_sts_chart(metrics), grad_norm_chart(metrics), dissipation_chart(metrics), au_plane_chart(metrics)]
