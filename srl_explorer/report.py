"""The evidence for the paper's three claims, from the metrics of finished runs.

- :func:`load_reproduction` / :func:`load_run` read runs' ``metrics.jsonl``;
- :func:`summary_table` gives each loss's best, last and drop in dev STS, and its final alignment/uniformity;
- :func:`evaluate_claims` says whether the runs agree with each claim, and by how much;
- chart builders (:func:`dev_sts_chart`, ...) return a renderer-neutral :class:`Chart`,
  drawn by :func:`to_plotly` (HTML, the app) and :func:`save_png` (matplotlib, Agg);
- :func:`write_report` writes ``report.md`` with PNG and HTML plots into a reproduction directory.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import runs
from .plots import series as record_series
from .plots import smooth

MANIFEST = "reproduction.json"
REPORT = "report.md"

LABELS = {"infonce": "InfoNCE", "align_uniform": "A&U", "dcl": "DCL", "dcl_hinge": "DCL-hinge",
          "mpt": "MPT", "met": "MET", "mat": "MAT"}
COLORS = {"infonce": "#1f77b4", "align_uniform": "#d62728", "dcl": "#7f7f7f", "dcl_hinge": "#9467bd",
          "mpt": "#2ca02c", "met": "#ff7f0e", "mat": "#8c564b"}
DISSIPATING = ("dcl_hinge", "mpt", "met", "mat")  # losses that add dissipation on purpose (claim 3)
PART_STYLE = {"total": ("#000000", "solid"), "align": ("#1f77b4", "dash"), "uniform": ("#ff7f0e", "dot")}

# Thresholds of the verdicts
STS_TOL = 0.5       # Spearman points (x100): smaller differences count as a tie
FADE = 0.8          # a gradient fades when its late median is below 80% of its early median
WINDOW = 0.2        # early/late = the first/last 20% of the logged steps
DISSIPATED = 0.05   # 1 - p_pos below this: InfoNCE's positive gradient is at most 5% of its undissipated size

CLAIMS = {
    "au_vs_infonce": "Optimizing alignment and uniformity directly (A&U) scores lower on STS than InfoNCE, "
                     "and it overfits: its dev STS rises to a peak, then falls.",
    "dissipation": "InfoNCE's gradient fades as training goes on, because its pull on the positive pair is "
                   "scaled by 1 − p_pos (gradient dissipation); A&U's gradient has no such factor and does not fade.",
    "dissipating_losses": "Losses built to dissipate on purpose (DCL with a hinge, MPT, MET and MAT) do as well "
                          "as InfoNCE on STS, or better.",
}

STARTING_MODEL_NOTE = (
    "The paper fine-tunes BERT-base, pretrained with masked language modelling "
    "only, on a million Wikipedia sentences: its sentence embeddings start poor, every loss has much to gain, "
    "and InfoNCE's p_pos starts low and rises during training, which is when its gradient dissipates. "
    "The `cpu-small` preset starts from all-MiniLM-L6-v2, which was already trained on about a billion "
    "sentence pairs: it scores high on STS-B dev before any training here, InfoNCE's p_pos is close to 1 "
    "from the first step (its gradient is dissipated before training begins), and more unsupervised "
    "training can easily move it away from where it was tuned. Small-scale results may therefore differ "
    "from the paper's; the `paper` preset (BERT, wiki1m, a GPU) compares like with like.")


def loss_label(loss: str) -> str:
    return LABELS.get(loss, loss)


def loss_color(loss: str) -> str | None:
    return COLORS.get(loss)


# --------------------------------------------------------------------------- loading
@dataclass
class RunMetrics:
    """One run's metric records; ``label`` names it in tables and legends."""

    label: str
    loss: str
    path: Path
    records: list[dict]
    state: str = "unknown"

    def series(self, key: str, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the finite values of ``key`` at steps >= ``start``; (N,) each."""
        steps, values = record_series(self.records, key)
        keep = (steps >= start) & np.isfinite(values)
        return steps[keep], values[keep]


def load_run(path: str | os.PathLike, label: str | None = None) -> RunMetrics:
    path = Path(path)
    config = runs.read_json(path / "config.json", {}) or {}
    records, _ = runs.read_metrics(path / "metrics.jsonl")
    loss = str(config.get("loss", "?"))
    return RunMetrics(label or path.name, loss, path, records, runs.read_status(path).get("state", "unknown"))


def read_manifest(repro_dir: str | os.PathLike) -> dict:
    manifest = runs.read_json(Path(repro_dir) / MANIFEST)
    if not isinstance(manifest, dict):
        raise FileNotFoundError(f"{repro_dir}: not a reproduction directory (no readable {MANIFEST})")
    return manifest


def load_reproduction(repro_dir: str | os.PathLike) -> list[RunMetrics]:
    """The runs of a reproduction that have started, in the manifest's order, labelled by loss."""
    repro_dir = Path(repro_dir)
    manifest = read_manifest(repro_dir)
    out = []
    for loss in manifest.get("losses", []):
        run_dir = repro_dir / manifest.get("runs", {}).get(loss, {}).get("dir", loss)
        if (run_dir / "config.json").exists():
            out.append(load_run(run_dir, label=loss))
    return out


def find_reproductions(root: str | os.PathLike) -> list[Path]:
    """Reproduction directories directly under ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [d for d in root.iterdir() if d.is_dir() and (d / MANIFEST).exists()]
    return sorted(found, key=lambda d: (runs.read_json(d / MANIFEST, {}) or {}).get("created", d.stat().st_mtime),
                  reverse=True)


def _by_loss(metrics: Sequence[RunMetrics]) -> dict[str, RunMetrics]:
    """The first run of each loss (a reproduction has one per loss)."""
    out: dict[str, RunMetrics] = {}
    for m in metrics:
        out.setdefault(m.loss, m)
    return out


# --------------------------------------------------------------------------- numbers
def summarize(run: RunMetrics) -> dict:
    """Dev-STS summary of one run: ``start`` (step 0, the untrained model), ``best`` (+ step) over the
    trained evaluations (step > 0), ``last`` (+ step), ``drop`` = best - last, and the last dev alignment
    and uniformity. Values are None when there is no such evaluation."""
    steps, sts = run.series("stsb_dev_spearman")
    row = {"label": run.label, "loss": run.loss, "state": run.state,
           "steps": int(max((r.get("step", 0) for r in run.records), default=0)),
           "start": float(sts[0]) if len(sts) and steps[0] == 0 else None,
           "best": None, "best_step": None, "last": None, "last_step": None, "drop": None,
           "dev_align": _last(run, "dev_align"), "dev_uniform": _last(run, "dev_uniform")}
    trained = steps > 0
    if trained.any():
        steps, sts = steps[trained], sts[trained]
        i = int(np.argmax(sts))
        row.update(best=float(sts[i]), best_step=int(steps[i]), last=float(sts[-1]), last_step=int(steps[-1]),
                   drop=float(sts[i] - sts[-1]))
    return row


def _last(run: RunMetrics, key: str) -> float | None:
    _, v = run.series(key)
    return float(v[-1]) if len(v) else None


def summary_table(metrics: Sequence[RunMetrics]) -> list[dict]:
    return [summarize(m) for m in metrics]


def fade(run: RunMetrics, key: str = "grad_norm_z") -> dict | None:
    """Median of ``key`` over the first and the last :data:`WINDOW` of the logged steps (>= 1; medians,
    as per-step gradients are spiky), and their ratio (late / early; below 1: the value faded).
    None with fewer than 2 values."""
    _, v = run.series(key, start=1)
    if len(v) < 2:
        return None
    k = max(1, int(round(WINDOW * len(v))))
    early, late = float(np.median(v[:k])), float(np.median(v[-k:]))
    return {"early": early, "late": late, "ratio": late / early if early > 0 else math.nan}


# --------------------------------------------------------------------------- claims
@dataclass
class ClaimResult:
    """Whether the runs agree with one claim: ``verdict`` is agrees | partly agrees | disagrees |
    not enough evidence; ``evidence`` says by how much; ``numbers`` holds the measured values."""

    key: str
    claim: str
    verdict: str
    evidence: str
    numbers: dict = field(default_factory=dict)


def _verdict(checks: Sequence[bool]) -> str:
    if all(checks):
        return "agrees"
    return "partly agrees" if any(checks) else "disagrees"


def evaluate_claims(metrics: Sequence[RunMetrics]) -> list[ClaimResult]:
    """The three claims of :data:`CLAIMS`, judged from the runs' metrics."""
    by = _by_loss(metrics)
    return [_claim_au(by), _claim_dissipation(by), _claim_dissipating_losses(by)]


def _missing(key: str, by: dict, needed: Sequence[str]) -> ClaimResult | None:
    absent = [loss_label(n) for n in needed if n not in by or summarize(by[n])["best"] is None]
    if absent:
        return ClaimResult(key, CLAIMS[key], "not enough evidence",
                           f"needs an evaluated run of {', '.join(absent)}")
    return None


def _claim_au(by: dict) -> ClaimResult:
    key = "au_vs_infonce"
    if (r := _missing(key, by, ["infonce", "align_uniform"])) is not None:
        return r
    inf, au = summarize(by["infonce"]), summarize(by["align_uniform"])
    gap = inf["best"] - au["best"]
    falls_short = gap > STS_TOL
    rose = au["start"] is None or au["best"] > au["start"]
    overfits = rose and au["drop"] > STS_TOL
    verdict = _verdict([falls_short, overfits])
    text = (f"A&U's best dev STS is {abs(gap):.2f} points {'below' if gap >= 0 else 'above'} InfoNCE's "
            f"({au['best']:.2f} vs {inf['best']:.2f}). A&U ended {au['drop']:.2f} points below its peak "
            f"(step {au['best_step']}); InfoNCE ended {inf['drop']:.2f} below its own.")
    if not rose:
        text += (f" A&U never rose above the starting model ({au['start']:.2f} at step 0): it lost ground from "
                 f"the start rather than rising to a peak and then overfitting.")
    return ClaimResult(key, CLAIMS[key], verdict, text,
                       {"gap": gap, "au_drop": au["drop"], "infonce_drop": inf["drop"], "au_best_step": au["best_step"],
                        "au_start": au["start"]})


def _claim_dissipation(by: dict) -> ClaimResult:
    key = "dissipation"
    inf_f = fade(by["infonce"]) if "infonce" in by else None
    au_f = fade(by["align_uniform"]) if "align_uniform" in by else None
    if inf_f is None or au_f is None:
        absent = [loss_label(n) for n, f in (("infonce", inf_f), ("align_uniform", au_f)) if f is None]
        return ClaimResult(key, CLAIMS[key], "not enough evidence",
                           f"needs logged training steps of {', '.join(absent)}")
    p = fade(by["infonce"], "pos_prob")
    one_minus_p = (1 - p["early"], 1 - p["late"]) if p else (math.nan, math.nan)
    inf_fades, au_holds = inf_f["ratio"] < FADE, au_f["ratio"] >= FADE
    checks = [inf_fades, au_holds]
    verdict = _verdict(checks)
    text = (f"InfoNCE's gradient on the embeddings kept {100 * inf_f['ratio']:.0f}% of its early size "
            f"({inf_f['early']:.3g} → {inf_f['late']:.3g}); A&U's kept {100 * au_f['ratio']:.0f}% "
            f"({au_f['early']:.3g} → {au_f['late']:.3g}). InfoNCE's 1 − p_pos went "
            f"{one_minus_p[0]:.2g} → {one_minus_p[1]:.2g}.")
    if not inf_fades and one_minus_p[0] < DISSIPATED:
        text += (" InfoNCE's gradient was already dissipated at the start (1 − p_pos near 0), "
                 "so there was little left to fade.")
        if au_holds:
            verdict = "partly agrees"
    return ClaimResult(key, CLAIMS[key], verdict, text,
                       {"infonce_ratio": inf_f["ratio"], "au_ratio": au_f["ratio"],
                        "infonce_one_minus_p_early": one_minus_p[0], "infonce_one_minus_p_late": one_minus_p[1]})


def _claim_dissipating_losses(by: dict) -> ClaimResult:
    key = "dissipating_losses"
    present = [n for n in DISSIPATING if n in by and summarize(by[n])["best"] is not None]
    if (r := _missing(key, by, ["infonce"])) is not None or not present:
        return r or ClaimResult(key, CLAIMS[key], "not enough evidence",
                                "needs an evaluated run of DCL-hinge, MPT, MET or MAT")
    inf_best = summarize(by["infonce"])["best"]
    diffs = {n: summarize(by[n])["best"] - inf_best for n in present}
    verdict = _verdict([d >= -STS_TOL for d in diffs.values()])
    parts = ", ".join(f"{loss_label(n)} {d:+.2f}" for n, d in diffs.items())
    text = (f"Best dev STS minus InfoNCE's ({inf_best:.2f}): {parts}. "
            f"{sum(d >= -STS_TOL for d in diffs.values())} of {len(diffs)} match or beat it "
            f"(within {STS_TOL} points).")
    idle = [n for n in present if _never_active(by[n])]
    if idle:
        text += (f" {', '.join(map(loss_label, idle))}: the hinge was met for every anchor at every step, so "
                 f"there was no gradient and the model did not change (a tie by standing still).")
    return ClaimResult(key, CLAIMS[key], verdict, text, {"diffs": diffs, "never_active": idle})


def _never_active(run: RunMetrics) -> bool:
    """A hinge loss whose active_frac was 0 at every logged step."""
    _, a = run.series("active_frac", start=1)
    return len(a) > 0 and not a.any()


# --------------------------------------------------------------------------- charts
@dataclass
class Line:
    name: str
    x: Sequence[float]
    y: Sequence[float]
    color: str | None = None
    dash: str = "solid"      # solid | dash | dot
    markers: bool = False


@dataclass
class Panel:
    title: str
    lines: list[Line]
    xlabel: str = "step"
    ylabel: str = ""
    log_y: bool = False
    vlines: list[float] = field(default_factory=list)


@dataclass
class Chart:
    """A renderer-neutral figure: ``key`` is its file stem, panels are drawn in a grid."""

    key: str
    title: str
    panels: list[Panel]
    cols: int | None = None  # grid columns; None: 1 panel -> 1, up to 4 -> 2, more -> 3

    @property
    def empty(self) -> bool:
        return not any(len(line.x) for p in self.panels for line in p.lines)


def _name(m: RunMetrics) -> str:
    return loss_label(m.label)


def _color(m: RunMetrics) -> str | None:
    """The loss's colour when runs are labelled by loss (a reproduction); else plotly's cycle."""
    return loss_color(m.loss) if m.label == m.loss else None


def _pick(metrics: Sequence[RunMetrics], losses: Sequence[str] | None) -> list[RunMetrics]:
    return [m for m in metrics if losses is None or m.loss in losses]


def _smoothing(m: RunMetrics) -> float:
    """EMA weight for per-step curves: about a 5%-of-the-run window (0 for short runs)."""
    n = max(1, len(m.series("loss")[0]) // 20)
    return 1 - 2 / (n + 1)


def dev_sts_chart(metrics: Sequence[RunMetrics], losses: Sequence[str] | None = None) -> Chart:
    lines = [Line(_name(m), *m.series("stsb_dev_spearman"), color=_color(m),
                  markers=True) for m in _pick(metrics, losses)]
    return Chart("dev_sts", "STS-B dev Spearman (×100) during training",
                 [Panel("", lines, ylabel="dev Spearman × 100")])


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
                 [Panel("1 − p_pos (InfoNCE's factor on the positive's gradient)", pos, ylabel="1 − p_pos", log_y=True),
                  Panel("active_frac (share of anchors whose hinge is not yet met)", act, ylabel="active_frac")])


def au_plane_chart(metrics: Sequence[RunMetrics], losses: Sequence[str] | None = None) -> Chart:
    lines = []
    for m in _pick(metrics, losses):
        steps_u, u = m.series("dev_uniform")
        steps_a, a = m.series("dev_align")
        common = sorted(set(steps_u) & set(steps_a))
        lu, la = dict(zip(steps_u, u)), dict(zip(steps_a, a))
        lines.append(Line(_name(m), [lu[s] for s in common], [la[s] for s in common],
                          color=_color(m), markers=True))
    return Chart("au_plane", "Alignment–uniformity plane on STS-B dev (each point an evaluation; lower left is better)",
                 [Panel("", lines, xlabel="uniformity (dev_uniform)", ylabel="alignment (dev_align)")])


def claim_chart(key: str, metrics: Sequence[RunMetrics]) -> Chart:
    """The chart that goes with claim ``key`` of :data:`CLAIMS`."""
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
        return dev_sts_chart(metrics, ["infonce", *DISSIPATING])
    raise ValueError(f"unknown claim {key!r}; choose one of: {', '.join(CLAIMS)}")


def report_charts(metrics: Sequence[RunMetrics]) -> list[Chart]:
    return [dev_sts_chart(metrics), grad_norm_chart(metrics), dissipation_chart(metrics), au_plane_chart(metrics)]


# --------------------------------------------------------------------------- rendering
_MPL_DASH = {"solid": "-", "dash": "--", "dot": ":"}


def _grid(chart: Chart) -> tuple[int, int]:
    n = len(chart.panels)
    cols = chart.cols or (1 if n <= 1 else 2 if n <= 4 else 3)
    return math.ceil(max(n, 1) / cols), cols


def to_plotly(chart: Chart):
    """A plotly Figure of ``chart`` (subplots in a grid, one legend entry per name)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    rows, cols = _grid(chart)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p.title for p in chart.panels] or None,
                        vertical_spacing=min(0.12, 0.5 / rows))
    shown = set()
    for k, p in enumerate(chart.panels):
        r, c = divmod(k, cols)
        for line in p.lines:
            fig.add_trace(go.Scatter(
                x=list(line.x), y=list(line.y), name=line.name, legendgroup=line.name,
                showlegend=line.name not in shown, mode="lines+markers" if line.markers else "lines",
                line=dict(color=line.color, dash=line.dash)), row=r + 1, col=c + 1)
            shown.add(line.name)
        if k + cols >= len(chart.panels):  # x title on the bottom panel of each column only
            fig.update_xaxes(title_text=p.xlabel, row=r + 1, col=c + 1)
        fig.update_yaxes(title_text=p.ylabel, type="log" if p.log_y else "linear", row=r + 1, col=c + 1)
        for x in p.vlines:
            fig.add_vline(x=x, line_dash="dot", line_color="grey", row=r + 1, col=c + 1)
    fig.update_layout(title=chart.title, height=max(380, 300 * rows), template="plotly_white",
                      margin=dict(t=80, l=60, r=20, b=50))
    return fig


def save_html(chart: Chart, path: str | os.PathLike) -> Path:
    """Interactive HTML; plotly.js is written once beside it (works offline)."""
    path = Path(path)
    to_plotly(chart).write_html(path, include_plotlyjs="directory", full_html=True)
    return path


def save_png(chart: Chart, path: str | os.PathLike) -> Path:
    """A static PNG drawn with matplotlib's Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    rows, cols = _grid(chart)
    fig = Figure(figsize=(6.4 * cols, 4.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    handles = {}
    for ax, p in zip(axes, chart.panels):
        for line in p.lines:
            h, = ax.plot(line.x, line.y, _MPL_DASH.get(line.dash, "-"), color=line.color, label=line.name,
                         marker="o" if line.markers else None, markersize=3, linewidth=1.3)
            handles.setdefault(line.name, h)
        if p.log_y and any(np.any(np.asarray(line.y) > 0) for line in p.lines):
            ax.set_yscale("log", nonpositive="mask")
        for x in p.vlines:
            ax.axvline(x, color="grey", linestyle=":")
        ax.set_title(p.title, fontsize=9)
        ax.set_xlabel(p.xlabel)
        ax.set_ylabel(p.ylabel)
        ax.grid(alpha=0.3)
        if not p.lines:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    for ax in axes[len(chart.panels):]:
        ax.set_visible(False)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=8)
    fig.suptitle(chart.title, fontsize=11)
    fig.savefig(Path(path), dpi=110)
    return Path(path)


# --------------------------------------------------------------------------- the report
def _fmt(x, spec: str = ".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def table_markdown(rows: Sequence[dict]) -> str:
    out = ["| loss | state | steps | dev STS at step 0 | best trained dev STS (step) | last dev STS | drop from peak "
           "| final dev alignment | final dev uniformity |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        best = f"{_fmt(r['best'])} ({r['best_step']})" if r["best"] is not None else "–"
        out.append(f"| {loss_label(r['label'])} | {r['state']} | {r['steps']} | {_fmt(r['start'])} | {best} "
                   f"| {_fmt(r['last'])} | {_fmt(r['drop'])} | {_fmt(r['dev_align'], '.3f')} "
                   f"| {_fmt(r['dev_uniform'], '.3f')} |")
    return "\n".join(out)


def _settings_markdown(manifest: dict) -> str:
    s = manifest.get("settings", {})
    keys = ("model", "pooler", "mlp_only_train", "train_file", "dev_file", "max_steps", "epochs", "batch_size",
            "lr", "max_seq_length", "eval_every", "seed")
    lines = [f"- `{k}`: {s[k] if s.get(k) is not None else 'default'}" for k in keys if k in s]
    for loss, info in manifest.get("runs", {}).items():
        if info.get("seconds") is not None:
            lines.append(f"- {loss_label(loss)}: {info.get('state')} in {info['seconds'] / 60:.1f} min")
    if manifest.get("seconds") is not None:
        lines.append(f"- total wall time: {manifest['seconds'] / 60:.1f} min")
    return "\n".join(lines)


def write_report(repro_dir: str | os.PathLike, metrics: Sequence[RunMetrics] | None = None) -> Path:
    """Write ``report.md`` plus ``<chart>.png`` and ``<chart>.html`` for each chart; returns the report path."""
    repro_dir = Path(repro_dir)
    manifest = runs.read_json(repro_dir / MANIFEST, {}) or {}
    metrics = load_reproduction(repro_dir) if metrics is None else list(metrics)
    md = [f"# Reproduction `{repro_dir.name}`" + (f" (preset `{manifest['preset']}`)" if manifest.get("preset") else ""),
          "", f"Written {time.strftime('%Y-%m-%d %H:%M')}. "
          + (f"Command: `{manifest['command']}`" if manifest.get("command") else ""), "",
          "## Settings (the same for every loss)", "", _settings_markdown(manifest), "",
          "## Results", "", table_markdown(summary_table(metrics)), "",
          "Dev STS is the Spearman correlation (×100) on the dev pairs. Step 0 is the starting model, shared by "
          "every loss; *best* is over the evaluations after training began, and *drop from peak* = best − last "
          "is the overfitting indicator. Dev alignment and uniformity are Wang & Isola's (lower is better) at the last "
          "evaluation.", "", "## The paper's claims", ""]
    for i, c in enumerate(evaluate_claims(metrics), 1):
        md += [f"{i}. **{c.claim}**  ", f"   Verdict: **{c.verdict}**. {c.evidence}", ""]
    md += [f"Verdict thresholds: dev-STS differences under {STS_TOL} points count as ties; a gradient fades when "
           f"its median over the last {WINDOW:.0%} of steps is under {FADE:.0%} of its median over the first {WINDOW:.0%}.",
           "", "## Charts", ""]
    for chart in report_charts(metrics):
        save_png(chart, repro_dir / f"{chart.key}.png")
        save_html(chart, repro_dir / f"{chart.key}.html")
        md += [f"### {chart.title}", "", f"![{chart.key}]({chart.key}.png)  ",
               f"[interactive version]({chart.key}.html)", ""]
    md += ["## The starting model", "", STARTING_MODEL_NOTE, ""]
    path = repro_dir / REPORT
    path.write_text("\n".join(md), encoding="utf-8")
    return path


__all__ = ["CLAIMS", "Chart", "ClaimResult", "Line", "Panel", "RunMetrics", "STARTING_MODEL_NOTE",
           "au_plane_chart", "claim_chart", "dev_sts_chart", "dissipation_chart", "evaluate_claims",
           "find_reproductions", "grad_norm_chart", "load_reproduction", "load_run", "loss_color", "loss_label",
           "read_manifest", "save_html", "save_png", "summary_table", "summarize", "to_plotly", "write_report"]
