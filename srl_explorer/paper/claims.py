"""The paper's three claims, judged from runs' metrics: dev-STS summaries, gradient fade, verdicts.

- :func:`summarize_run` / :func:`summary_table`: each run's best, last and drop in dev STS and its final
  alignment/uniformity;
- :func:`fade`: how much a logged value (a gradient norm) shrank from the early to the late steps;
- :func:`evaluate_claims`: whether the runs agree with each claim of :data:`CLAIMS`, and by how much.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..losses import dissipating_losses, loss_label
from .evidence import RunMetrics, by_loss

# Thresholds of the verdicts
STS_TOL = 0.5       # Spearman points (x100): smaller differences count as a tie
FADE = 0.8          # a gradient fades when its late median is below 80% of its early median
WINDOW = 0.2        # early/late = the first/last 20% of the logged steps
DISSIPATED = 0.05   # 1 - p_pos below this: InfoNCE's positive gradient is at most 5% of its undissipated size

INF, AU = loss_label("infonce"), loss_label("align_uniform")
CLAIMS = {
    "au_vs_infonce": "Optimizing alignment and uniformity directly (A&U) scores lower on STS than InfoNCE, "
                     "and it overfits: its dev STS rises to a peak, then falls.",
    "dissipation": "InfoNCE's gradient fades as training goes on, because its pull on the positive pair is "
                   "scaled by 1 − p_pos (gradient dissipation); A&U's gradient has no such factor and does not fade.",
    "dissipating_losses": "Losses built to dissipate on purpose (DCL with a hinge, MPT, MET and MAT) do as well "
                          "as InfoNCE on STS, or better.",
}


def summarize_run(run: RunMetrics) -> dict:
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
    by = by_loss(metrics)
    return [_claim_au(by), _claim_dissipation(by), _claim_dissipating_losses(by)]


def _missing(key: str, by: dict, needed: Sequence[str]) -> ClaimResult | None:
    absent = [loss_label(n) for n in needed if n not in by or summarize_run(by[n])["best"] is None]
    if absent:
        return ClaimResult(key, CLAIMS[key], "not enough evidence",
                           f"needs an evaluated run of {', '.join(absent)}")
    return None


def _claim_au(by: dict) -> ClaimResult:
    key = "au_vs_infonce"
    if (r := _missing(key, by, ["infonce", "align_uniform"])) is not None:
        return r
    inf, au = summarize_run(by["infonce"]), summarize_run(by["align_uniform"])
    gap = inf["best"] - au["best"]
    falls_short = gap > STS_TOL
    rose = au["start"] is None or au["best"] > au["start"]
    overfits = rose and au["drop"] > STS_TOL
    verdict = _verdict([falls_short, overfits])
    text = (f"{AU}'s best dev STS is {abs(gap):.2f} points {'below' if gap >= 0 else 'above'} {INF}'s "
            f"({au['best']:.2f} vs {inf['best']:.2f}). {AU} ended {au['drop']:.2f} points below its peak "
            f"(step {au['best_step']}); {INF} ended {inf['drop']:.2f} below its own.")
    if not rose:
        text += (f" {AU} never rose above the starting model ({au['start']:.2f} at step 0): it lost ground from "
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
    text = (f"{INF}'s gradient on the embeddings kept {100 * inf_f['ratio']:.0f}% of its early size "
            f"({inf_f['early']:.3g} → {inf_f['late']:.3g}); {AU}'s kept {100 * au_f['ratio']:.0f}% "
            f"({au_f['early']:.3g} → {au_f['late']:.3g}). {INF}'s 1 − p_pos went "
            f"{one_minus_p[0]:.2g} → {one_minus_p[1]:.2g}.")
    if not inf_fades and one_minus_p[0] < DISSIPATED:
        text += (f" {INF}'s gradient was already dissipated at the start (1 − p_pos near 0), "
                 "so there was little left to fade.")
    return ClaimResult(key, CLAIMS[key], verdict, text,
                       {"infonce_ratio": inf_f["ratio"], "au_ratio": au_f["ratio"],
                        "infonce_one_minus_p_early": one_minus_p[0], "infonce_one_minus_p_late": one_minus_p[1]})


def _claim_dissipating_losses(by: dict) -> ClaimResult:
    key = "dissipating_losses"
    present = [n for n in dissipating_losses() if n in by and summarize_run(by[n])["best"] is not None]
    if (r := _missing(key, by, ["infonce"])) is not None or not present:
        return r or ClaimResult(key, CLAIMS[key], "not enough evidence",
                                f"needs an evaluated run of {' or '.join(map(loss_label, dissipating_losses()))}")
    inf_best = summarize_run(by["infonce"])["best"]
    diffs = {n: summarize_run(by[n])["best"] - inf_best for n in present}
    verdict = _verdict([d >= -STS_TOL for d in diffs.values()])
    parts = ", ".join(f"{loss_label(n)} {d:+.2f}" for n, d in diffs.items())
    text = (f"Best dev STS minus {INF}'s ({inf_best:.2f}): {parts}. "
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
