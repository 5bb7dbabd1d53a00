"""The paper's three claims, judged from runs' metrics: dev-STS summaries, gradient fade, verdicts over seeds.

- :func:`summarize_run` / :func:`summary_table`: each run's start, best (after training began), last and drop
  in dev STS, its gradient fade, whether it trained at all, and its final alignment/uniformity;
- :func:`loss_table`: mean ± sd of those over the seeds of each loss;
- :func:`fade`: how much a logged value (the tangential gradient norm) shrank from the early to the late steps;
- :func:`evaluate_claims`: whether the runs agree with each claim of :data:`CLAIMS`.

A verdict is ``agrees`` or ``disagrees`` only when the difference it rests on is larger than both the seed
spread (the standard deviations over seeds, combined) and a fixed tolerance; otherwise ``inconclusive``, with
the numbers. A run that did not train (:func:`srl_explorer.runstats.did_not_train`) is left out of every
comparison, so it never counts as a tie.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..fmt import fmt_num
from ..losses import LOSSES, dissipating_losses, loss_label
from ..runstats import best_eval, did_not_train, start_eval
from .evidence import RunMetrics, by_loss

# Thresholds of the verdicts
STS_TOL = 0.5       # Spearman points (x100): smaller differences are never decisive, whatever the spread
FADE = 0.8          # a gradient fades when its late median is below 80% of its early median
RATIO_TOL = 0.1     # fade ratios closer than this are never decisive
WINDOW = 0.2        # early/late = the first/last 20% of the logged steps
DISSIPATED = 0.05   # 1 - p_pos below this: InfoNCE's positive gradient is at most 5% of its undissipated size
AGREES, DISAGREES, PARTLY, INCONCLUSIVE, NO_EVIDENCE = (
    "agrees", "disagrees", "partly agrees", "inconclusive", "not enough evidence")
VERDICTS = (AGREES, PARTLY, INCONCLUSIVE, DISAGREES, NO_EVIDENCE)

INF, AU = loss_label("infonce"), loss_label("align_uniform")
CLAIMS = {
    "au_vs_infonce": "Optimizing alignment and uniformity directly (A&U) scores lower on STS than InfoNCE, "
                     "and it overfits: its dev STS rises to a peak, then falls.",
    "dissipation": "InfoNCE's gradient fades as training goes on, because its pull on the positive pair is "
                   "scaled by 1 − p_pos (gradient dissipation); A&U's gradient has no such factor and does not fade.",
    "dissipating_losses": "Losses built to dissipate on purpose (DCL with a hinge, MPT, MET and MAT) do as well "
                          "as InfoNCE on STS, or better.",
}


# --------------------------------------------------------------------------- one run
def summarize_run(run: RunMetrics) -> dict:
    """One run: ``start`` (dev STS at step 0, the untrained model), ``best`` (+ step) over the evaluations after
    training began (step > 0), ``last`` (+ step), ``drop`` = best - last, ``fade`` (the ratio of :func:`fade`
    on ``grad_norm_z``), ``trained`` (False: :func:`~srl_explorer.runstats.did_not_train`) and the last dev
    alignment and uniformity. Values are None when there is no such evaluation."""
    steps, sts = run.series("stsb_dev_spearman", start=1)
    f = fade(run)
    row = {"label": run.label, "loss": run.loss, "seed": run.seed, "state": run.state,
           "steps": int(max((r.get("step", 0) for r in run.records), default=0)),
           "trained": not did_not_train(run.records), "start": start_eval(run.records),
           "best": None, "best_step": None, "last": None, "last_step": None, "drop": None,
           "fade": f["ratio"] if f else None,
           "dev_align": _last(run, "dev_align"), "dev_uniform": _last(run, "dev_uniform")}
    best = best_eval(run.records)
    if best is not None:
        row.update(best=best[0], best_step=best[1], last=float(sts[-1]), last_step=int(steps[-1]),
                   drop=best[0] - float(sts[-1]))
    return row


def _last(run: RunMetrics, key: str) -> float | None:
    _, v = run.series(key)
    return float(v[-1]) if len(v) else None


def summary_table(metrics: Sequence[RunMetrics]) -> list[dict]:
    return [summarize_run(m) for m in metrics]


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


# --------------------------------------------------------------------------- over seeds
@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation over seeds (sd 0 for one seed: no spread measured)."""

    mean: float
    sd: float
    n: int

    def __str__(self) -> str:
        return fmt_num(self.mean) if self.n == 1 else f"{fmt_num(self.mean)} ± {fmt_num(self.sd)}"

    def fmt(self, spec: str = ".2f") -> str:
        return fmt_num(self.mean, spec) if self.n == 1 else f"{fmt_num(self.mean, spec)} ± {fmt_num(self.sd, spec)}"


def stat(values) -> Stat | None:
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None
    return Stat(float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v))


def loss_stats(runs: Sequence[RunMetrics]) -> dict:
    """The runs of one loss: how many, how many did not train, and mean ± sd over the trained ones of the
    start, best, last, drop and fade ratio (:class:`Stat`, None without values)."""
    rows = [summarize_run(r) for r in runs]
    trained = [r for r in rows if r["trained"]]
    out = {"loss": runs[0].loss, "runs": len(rows), "did_not_train": len(rows) - len(trained),
           "seeds": [r["seed"] for r in rows], "best_steps": [r["best_step"] for r in trained]}
    for key in ("start", "best", "last", "drop", "fade"):
        out[key] = stat(r[key] for r in trained)
    diagnostic = LOSSES[out["loss"]].diagnostic if out["loss"] in LOSSES else None
    out["diagnostic"] = diagnostic  # at step 1 over every run (an idle run shows its 0 here)
    out["diagnostic_step1"] = stat(_at_step(r, diagnostic, 1) for r in runs) if diagnostic else None
    return out


def _at_step(run: RunMetrics, key: str, step: int) -> float | None:
    steps, values = run.series(key, start=step)
    return float(values[0]) if len(steps) and steps[0] == step else None


def loss_table(metrics: Sequence[RunMetrics]) -> list[dict]:
    """:func:`loss_stats` of each loss, in order."""
    return [loss_stats(runs) for runs in by_loss(metrics).values()]


def compare(a: Stat, b: Stat, tol: float) -> tuple[str, float, float]:
    """Is ``a`` above ``b``? (``above`` | ``below`` | ``tie``, a - b, threshold), where the threshold is the
    larger of ``tol`` and the combined seed spread sqrt(sd_a² + sd_b²)."""
    d, thr = a.mean - b.mean, max(tol, math.hypot(a.sd, b.sd))
    return ("above" if d > thr else "below" if d < -thr else "tie"), d, thr


def combine(parts: Sequence[str]) -> str:
    """One verdict from the verdicts of a claim's parts (a conjunction): all equal -> that; an agreeing and a
    disagreeing part -> partly agrees; a disagreeing part otherwise -> disagrees; else inconclusive."""
    kinds = set(parts)
    if len(kinds) == 1:
        return parts[0]
    if AGREES in kinds and DISAGREES in kinds:
        return PARTLY
    return DISAGREES if DISAGREES in kinds else INCONCLUSIVE


# --------------------------------------------------------------------------- claims
@dataclass
class ClaimResult:
    """Whether the runs agree with one claim: ``verdict`` is one of :data:`VERDICTS`; ``evidence`` says by how
    much; ``numbers`` holds the measured values."""

    key: str
    claim: str
    verdict: str
    evidence: str
    numbers: dict = field(default_factory=dict)


def evaluate_claims(metrics: Sequence[RunMetrics]) -> list[ClaimResult]:
    """The three claims of :data:`CLAIMS`, judged from the runs' metrics (all seeds of each loss)."""
    stats = {s["loss"]: s for s in loss_table(metrics)}
    by = by_loss(metrics)
    return [_claim_au(stats), _claim_dissipation(stats, by), _claim_dissipating_losses(stats)]


def _missing(key: str, stats: dict, needed: Sequence[str], what: str = "best") -> ClaimResult | None:
    absent = [n for n in needed if n not in stats or stats[n][what] is None]
    if not absent:
        return None
    idle = [loss_label(n) for n in absent if n in stats and stats[n]["did_not_train"]]
    text = f"needs a trained, evaluated run of {', '.join(map(loss_label, absent))}"
    if idle:
        text += f" ({', '.join(idle)}: did not train)"
    return ClaimResult(key, CLAIMS[key], NO_EVIDENCE, text)


def _seeds_note(*stats: dict) -> str:
    n = min(s["runs"] - s["did_not_train"] for s in stats)
    return (" One seed: no seed spread measured, so only the fixed tolerances apply." if n == 1 else
            f" Means ± sd over {n} seeds; a difference counts only when it exceeds the seed spread.")


def _claim_au(stats: dict) -> ClaimResult:
    key = "au_vs_infonce"
    if (r := _missing(key, stats, ["infonce", "align_uniform"])) is not None:
        return r
    inf, au = stats["infonce"], stats["align_uniform"]
    side, gap, thr = compare(inf["best"], au["best"], STS_TOL)
    lower = {"above": AGREES, "below": DISAGREES, "tie": INCONCLUSIVE}[side]
    drop = au["drop"]
    rose = au["start"] is None or au["best"].mean > au["start"].mean
    overfits = (DISAGREES if not rose or drop.mean <= STS_TOL else
                AGREES if drop.mean > max(STS_TOL, drop.sd) else INCONCLUSIVE)
    text = (f"{AU}'s best dev STS is {abs(gap):.2f} points {'below' if gap >= 0 else 'above'} {INF}'s "
            f"({au['best']} vs {inf['best']}; decisive beyond {thr:.2f}). {AU} ended {drop} points below its "
            f"peak (step {_steps(au)}); {INF} ended {inf['drop']} below its own.")
    if not rose:
        text += (f" {AU} never rose above the starting model ({au['start']} at step 0): it lost ground from "
                 f"the start rather than rising to a peak and then overfitting.")
    return ClaimResult(key, CLAIMS[key], combine([lower, overfits]), text + _seeds_note(inf, au),
                       {"gap": gap, "threshold": thr, "au_drop": drop.mean, "infonce_drop": inf["drop"].mean,
                        "au_best_step": au["best_steps"][0] if au["best_steps"] else None,
                        "au_start": au["start"].mean if au["start"] else None})


def _steps(s: dict) -> str:
    return ", ".join(str(x) for x in s["best_steps"])


def _claim_dissipation(stats: dict, by: dict) -> ClaimResult:
    key = "dissipation"
    if (r := _missing(key, stats, ["infonce", "align_uniform"], "fade")) is not None:
        return r
    inf, au = stats["infonce"]["fade"], stats["align_uniform"]["fade"]
    fades = (AGREES if FADE - inf.mean > inf.sd else DISAGREES if inf.mean - FADE > inf.sd else INCONCLUSIVE)
    side, diff, thr = compare(au, inf, RATIO_TOL)
    less = {"above": AGREES, "below": DISAGREES, "tie": INCONCLUSIVE}[side]
    p = [f for f in (fade(m, "pos_prob") for m in by["infonce"]) if f]
    one_minus_p = (stat(1 - f["early"] for f in p), stat(1 - f["late"] for f in p))
    text = (f"Tangential gradient on the embeddings, median of the last {WINDOW:.0%} of steps ÷ the first "
            f"{WINDOW:.0%}: {INF} {inf.fmt('.2f')}, {AU} {au.fmt('.2f')} (fades below {FADE}; the two differ "
            f"decisively beyond {thr:.2f}).")
    p1 = stats["infonce"]["diagnostic_step1"]  # InfoNCE's diagnostic is pos_prob
    at_start = Stat(1 - p1.mean, p1.sd, p1.n) if p1 else None
    if one_minus_p[0] is not None:
        text += (f" {INF}'s 1 − p_pos: {at_start.fmt('.2g') if at_start else '–'} at step 1, median "
                 f"{one_minus_p[0].fmt('.2g')} over the first {WINDOW:.0%} of steps and "
                 f"{one_minus_p[1].fmt('.2g')} over the last.")
        if fades != AGREES and at_start is not None and at_start.mean < DISSIPATED:
            text += (f" {INF}'s gradient was already dissipated at the start (1 − p_pos near 0 at step 1), "
                     "so there was little left to fade.")
    return ClaimResult(key, CLAIMS[key], combine([fades, less]), text + _seeds_note(*(stats[n] for n in (
        "infonce", "align_uniform"))),
                       {"infonce_ratio": inf.mean, "au_ratio": au.mean, "infonce_ratio_sd": inf.sd,
                        "au_ratio_sd": au.sd,
                        "infonce_one_minus_p_early": one_minus_p[0].mean if one_minus_p[0] else math.nan,
                        "infonce_one_minus_p_late": one_minus_p[1].mean if one_minus_p[1] else math.nan})


def _claim_dissipating_losses(stats: dict) -> ClaimResult:
    key = "dissipating_losses"
    if (r := _missing(key, stats, ["infonce"])) is not None:
        return r
    present = [n for n in dissipating_losses() if n in stats]
    idle = [n for n in present if stats[n]["best"] is None and stats[n]["did_not_train"]]
    usable = [n for n in present if stats[n]["best"] is not None]
    note = (f" {', '.join(map(loss_label, idle))}: did not train — the hinge was met for every anchor at every "
            f"step, so there was no gradient and the model did not change; left out, never a tie." if idle else "")
    if not usable:
        return ClaimResult(key, CLAIMS[key], NO_EVIDENCE, "needs a trained, evaluated run of "
                           f"{' or '.join(map(loss_label, dissipating_losses()))}.{note}",
                           {"never_active": idle, "did_not_train": idle})
    inf = stats["infonce"]
    parts, diffs, texts = [], {}, []
    for n in usable:
        side, d, thr = compare(stats[n]["best"], inf["best"], STS_TOL)
        parts.append(DISAGREES if side == "below" else AGREES)  # as well (within the spread) or better
        diffs[n] = d
        how = {"below": "worse beyond", "above": "better beyond", "tie": "a tie within"}[side]
        texts.append(f"{loss_label(n)} {d:+.2f} ({how} ±{thr:.2f})")
    text = (f"Best dev STS minus {INF}'s ({inf['best']}): {', '.join(texts)}. "
            f"{parts.count(AGREES)} of {len(parts)} match or beat it.{note}")
    return ClaimResult(key, CLAIMS[key], combine(parts), text + _seeds_note(inf, *(stats[n] for n in usable)),
                       {"diffs": diffs, "never_active": idle, "did_not_train": idle})
