"""Gradient dissipation on a synthetic batch, without training.

For one anchor (row 0) we set the cosine of its positive pair, c = s_00, and the cosines
of its B-1 negatives, n_j = s_0j, then ask each of the package's loss modules, through
autograd, how hard it pulls the positive pair together: B · dL/dc (the loss is a mean
over B anchors, so B · dL/dc is the gradient of the anchor's own term).

This shows the mechanism of Nie et al. (ICLR 2023, Sec. 4) directly: InfoNCE's pull is
(1 - p_pos)/τ and fades as the positive stands out; DCL and A&U keep pulling; a hinge
(dcl_hinge, MPT, MET, MAT) pulls at full strength until its margin is met, then not at all.

Geometry (orthonormal e_0, e_1 and a subspace W ⊥ e_0, e_1)::

    z1_0 = e_0                          the anchor
    z2_0 = c·e_0 + sqrt(1-c²)·e_1       its positive:  s_00 = c
    z2_j = n_j·e_0 + sqrt(1-n_j²)·w_j   negatives:     s_0j = n_j   (w_j ∈ W, unit)
    z1_j = w_j                          the other anchors: s_j0 = 0 whatever c is

so c reaches the loss through s_00 (and, for A&U, through the uniformity of the z2 views).

The sweep at the explorer's default settings ships with the package (``default_sweep.npz``, written by
``python -m srl_explorer.paper.dissipation``; a test checks it against a fresh computation), so the Paper
page's first load needs neither torch nor the 7 × 101 autograd calls; other settings are computed.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from ..losses import LOSSES, build_loss, loss_color, loss_label
from ..viz import Chart, Line, Panel

if TYPE_CHECKING:  # torch is imported by the functions that compute gradients
    import torch

SUBSPACE_DIM = 30     # dimension of W; the views live in 2 + SUBSPACE_DIM dimensions
MAX_COSINE = 0.999    # the sweep stops just short of c = 1 (MET/MAT have 1/sqrt(1-c) factors)
MAX_NEG_COSINE = 0.99
DTYPE = "float64"     # of the synthetic views (a torch dtype name)
DEFAULT_SWEEP_FILE = Path(__file__).with_name("default_sweep.npz")
SWEEP_KEYS = ("grad", "grad_align", "grad_uniform", "tangent")
_THREADS_LOCK = threading.Lock()


def negative_cosines(batch_size: int, spread: float, mean: float = 0.0) -> np.ndarray:
    """Cosines of the anchor's B-1 negatives, (B-1,): normal quantiles mean ± spread, clipped to ±0.99.

    Deterministic (no sampling), so the same sliders always give the same curves.
    """
    if batch_size < 2:
        raise ValueError(f"the batch size must be at least 2 (in-batch negatives), got {batch_size}")
    if spread < 0:
        raise ValueError(f"the spread of the negatives' cosines must be >= 0, got {spread}")
    inv_cdf = NormalDist().inv_cdf
    q = np.array([inv_cdf((i + 0.5) / (batch_size - 1)) for i in range(batch_size - 1)])  # (B-1,)
    return np.clip(mean + spread * q, -MAX_NEG_COSINE, MAX_NEG_COSINE)


def synthetic_views(pos_cos: torch.Tensor, neg_cos: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The two (B, 2 + SUBSPACE_DIM) unit-norm views described in the module docstring.

    ``pos_cos`` is a scalar tensor (gradients flow through it), ``neg_cos`` is (B-1,).
    """
    import torch
    dtype = getattr(torch, DTYPE)
    b = neg_cos.shape[0] + 1
    gen = torch.Generator().manual_seed(seed)
    w = torch.nn.functional.normalize(torch.randn(b - 1, SUBSPACE_DIM, generator=gen, dtype=dtype), dim=1)  # (B-1, k)
    zeros = torch.zeros(b - 1, 1, dtype=dtype)
    anchor = torch.zeros(1, 2 + SUBSPACE_DIM, dtype=dtype)
    anchor[0, 0] = 1.0
    z1 = torch.cat([anchor, torch.cat([zeros, zeros, w], dim=1)])  # (B, 2+k)
    c = pos_cos.to(dtype).reshape(1)
    positive = torch.cat([c, (1 - c * c).sqrt(), torch.zeros(SUBSPACE_DIM, dtype=dtype)])  # (2+k,)
    n = neg_cos.to(dtype)[:, None]  # (B-1, 1)
    negatives = torch.cat([n, zeros, (1 - n * n).sqrt() * w], dim=1)  # (B-1, 2+k)
    z2 = torch.cat([positive[None], negatives])  # (B, 2+k)
    return z1, z2


def positive_pull(loss: torch.nn.Module, pos_cos: float, neg_cos: np.ndarray) -> dict[str, float]:
    """B · dL/dc at one positive cosine c: ``grad`` (total), ``grad_align`` and ``grad_uniform``
    (the loss's weighted parts; they sum to ``grad``). Negative values pull the pair together.

    ``tangent`` is B · ‖g − (g·z)z‖ for g = ∂L/∂z at the positive view z: the part of the gradient that moves it
    on the sphere, the metric the trainer logs as ``grad_norm_z`` (one row of it; see
    :mod:`srl_explorer.training.gradients`). c moves z along the sphere, so dL/dc sees only that part too."""
    import torch

    from ..training.gradients import tangential
    dtype = getattr(torch, DTYPE)
    c = torch.tensor(float(pos_cos), dtype=dtype, requires_grad=True)
    z1, z2 = synthetic_views(c, torch.as_tensor(neg_cos, dtype=dtype))
    out = loss(z1, z2)
    w_align, w_uniform = getattr(loss, "part_weights", (1.0, 1.0))
    b = z1.shape[0]
    grads = {}
    parts = (("grad", "loss", 1.0), ("grad_align", "align", w_align), ("grad_uniform", "uniform", w_uniform))
    for key, part, w in parts:
        g, g_z2 = torch.autograd.grad(out[part], [c, z2], retain_graph=True, allow_unused=True)
        grads[key] = 0.0 if g is None else float(b * w * g)
        if key == "grad":
            g_pos = torch.zeros_like(z2[0]) if g_z2 is None else g_z2[0]  # (2+k,) dL/d(positive view)
            grads["tangent"] = float(b * tangential(g_pos[None], z2[0].detach()[None]).norm())
    return grads


def infonce_pos_prob(pos_cos: np.ndarray, neg_cos: np.ndarray, temp: float) -> np.ndarray:
    """p_pos of the anchor, e^{c/τ} / (e^{c/τ} + Σ_j e^{n_j/τ}), for each c in ``pos_cos`` (N,) -> (N,)."""
    logits = np.concatenate([np.asarray(pos_cos, float)[:, None],
                             np.broadcast_to(neg_cos, (len(pos_cos), len(neg_cos)))], axis=1) / temp
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e[:, 0] / e.sum(axis=1)


@dataclass
class Sweep:
    """Pull on the positive pair as its cosine goes 0 -> 1, for several losses.

    ``grad[loss]``, ``grad_align[loss]``, ``grad_uniform[loss]``: (N,) arrays of B · dL/dc
    at each ``pos_cos`` (N,); ``tangent[loss]``: B · the tangential gradient norm at the positive view;
    ``neg_cos``: (B-1,); ``settings``: the sliders' values.
    """

    pos_cos: np.ndarray
    neg_cos: np.ndarray
    settings: dict
    grad: dict[str, np.ndarray] = field(default_factory=dict)
    grad_align: dict[str, np.ndarray] = field(default_factory=dict)
    grad_uniform: dict[str, np.ndarray] = field(default_factory=dict)
    tangent: dict[str, np.ndarray] = field(default_factory=dict)

    def magnitude(self, loss: str) -> np.ndarray:
        """|B · dL/dc|, (N,)."""
        return np.abs(self.grad[loss])


def sweep(batch_size: int = 64, spread: float = 0.1, neg_mean: float = 0.0, temp: float = 0.05,
          margins: dict[str, float] | None = None, lam: float = 0.5, points: int = 101,
          losses: list[str] | None = None, shipped: bool = True) -> Sweep:
    """Evaluate :func:`positive_pull` on ``points`` cosines in [0, MAX_COSINE] for each loss.

    ``temp`` is τ of infonce/dcl/dcl_hinge; ``margins`` maps mpt/met/mat to their margin
    (missing: the paper's default); ``lam`` is A&U's λ. With ``shipped``, the default settings are read
    from :data:`DEFAULT_SWEEP_FILE` instead of computed (the same numbers).
    """
    if not temp > 0:
        raise ValueError(f"τ must be > 0, got {temp}")
    losses = list(losses or LOSSES)
    paper_margins = {name: spec.hparams["margin"] for name, spec in LOSSES.items() if "margin" in spec.hparams}
    margins = paper_margins | {name: m for name, m in (margins or {}).items() if m is not None}
    neg = negative_cosines(batch_size, spread, neg_mean)
    grid = np.linspace(0.0, MAX_COSINE, points)
    settings = dict(batch_size=batch_size, spread=spread, neg_mean=neg_mean, temp=temp, lam=lam,
                    margins=margins)
    if shipped and _is_default(settings, points, losses):
        return load_sweep(DEFAULT_SWEEP_FILE, settings)
    out = Sweep(grid, neg, settings)
    with _single_thread():
        for name in losses:
            fn = build_loss(name, temp=temp, lam=lam, margin=margins.get(name))
            rows = [positive_pull(fn, c, neg) for c in grid]
            for key in SWEEP_KEYS:
                getattr(out, key)[name] = np.array([r[key] for r in rows])
    return out


def _is_default(settings: dict, points: int, losses: list[str]) -> bool:
    """The shipped sweep (:data:`DEFAULT_SWEEP_FILE`) was computed at these settings, points and losses."""
    try:
        with np.load(DEFAULT_SWEEP_FILE) as data:
            shipped = json.loads(str(data["settings"]))
            return shipped == settings and len(data["pos_cos"]) == points and list(data["losses"]) == losses
    except (OSError, KeyError, ValueError):  # absent or unreadable: compute
        return False


def save_sweep(sw: Sweep, path: Path) -> None:
    """Write a sweep's arrays and the settings it was computed at to ``path`` (.npz); :func:`load_sweep`
    reads them back."""
    arrays = {f"{key}/{name}": values for key in SWEEP_KEYS for name, values in getattr(sw, key).items()}
    np.savez_compressed(path, pos_cos=sw.pos_cos, neg_cos=sw.neg_cos, settings=json.dumps(sw.settings),
                        losses=np.array(list(sw.grad)), **arrays)


def load_sweep(path: Path, settings: dict) -> Sweep:
    """A sweep saved by :func:`save_sweep`, with the ``settings`` it was computed at."""
    with np.load(path) as data:
        out = Sweep(data["pos_cos"], data["neg_cos"], settings)
        for entry in data.files:
            if "/" in entry:
                key, name = entry.split("/")
                getattr(out, key)[name] = data[entry]
    return out


@contextmanager
def _single_thread():
    """Tiny tensors: one intra-op thread is ~50x faster than two on a busy 2-core CPU (measured)."""
    import torch
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def explain_at(sw: Sweep, cosine: float) -> list[dict]:
    """One row per loss at the grid point nearest ``cosine``: its pull, the pull relative to
    c = 0, and what limits it (InfoNCE's 1 - p_pos, or whether a hinge is met)."""
    i = int(np.abs(sw.pos_cos - cosine).argmin())
    c = float(sw.pos_cos[i])
    rows = []
    for name, g in sw.grad.items():
        pull, start = abs(float(g[i])), abs(float(g[0]))
        diagnostic = LOSSES[name].diagnostic if name in LOSSES else None
        if name == "infonce":
            p = float(infonce_pos_prob(np.array([c]), sw.neg_cos, sw.settings["temp"])[0])
            note = f"scaled by 1 − p_pos = {1 - p:.3g}"
        elif diagnostic == "active_frac":  # a hinge loss
            note = "margin met: no gradient" if pull == 0 else "hinge active: full pull"
        else:
            note = "no dissipation factor"
        rows.append({"loss": name, "cosine": c, "pull": pull,
                     "relative to c = 0": pull / start if start > 0 else float("nan"),
                     "tangential ‖∂L/∂z₊‖ × B": float(sw.tangent[name][i]) if name in sw.tangent else float("nan"),
                     "why": note})
    return rows


def sweep_chart(sw: Sweep, normalize: bool = False, mark: float | None = None):
    """A :class:`srl_explorer.viz.Chart` of |B · dL/dc| against c, one line per loss.

    ``normalize`` divides each curve by its value at c = 0; ``mark`` draws a vertical line there.
    """
    lines = []
    for name in sw.grad:
        y = sw.magnitude(name)
        if normalize:
            y = y / y[0] if y[0] > 0 else y
        lines.append(Line(loss_label(name), sw.pos_cos, y, color=loss_color(name)))
    ylabel = "pull relative to c = 0" if normalize else "|B · dL/ds₊| (pull on the positive)"
    s = sw.settings
    title = (f"Gradient on the positive pair vs its cosine (B={s['batch_size']}, negatives' cosines "
             f"{s['neg_mean']:.2f} ± {s['spread']:.2f}, τ={s['temp']:g})")
    return Chart("dissipation_explorer", title,
                 [Panel("", lines, "cosine of the positive pair", ylabel, vlines=[mark] if mark is not None else [])])


if __name__ == "__main__":  # regenerate the shipped default sweep (after a change to a loss or to this module)
    save_sweep(sweep(shipped=False), DEFAULT_SWEEP_FILE)
    print(f"wrote {DEFAULT_SWEEP_FILE}")
