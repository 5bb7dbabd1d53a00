"""The dissipation explorer checked against the closed-form gradients of each loss."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from srl_explorer.losses import LOSSES, build_loss
from srl_explorer.paper import dissipation as D

HINGES = ("dcl_hinge", "mpt", "met", "mat")


@pytest.fixture(scope="module")
def sw() -> D.Sweep:
    return D.sweep(batch_size=32, spread=0.1, neg_mean=0.0, temp=0.05, points=41)


def test_synthetic_views_have_the_requested_cosines():
    neg = torch.as_tensor(D.negative_cosines(16, 0.2, mean=0.1))
    z1, z2 = D.synthetic_views(torch.tensor(0.7), neg)
    assert torch.allclose(z1.norm(dim=1), torch.ones(16, dtype=z1.dtype))
    assert torch.allclose(z2.norm(dim=1), torch.ones(16, dtype=z2.dtype))
    s = z1 @ z2.T
    assert s[0, 0].item() == pytest.approx(0.7)
    assert torch.allclose(s[0, 1:], neg.to(s.dtype))
    assert torch.allclose(s[1:, 0], torch.zeros(15, dtype=s.dtype))  # the positive is no one else's negative


def test_negative_cosines_follow_mean_and_spread():
    n = D.negative_cosines(1001, 0.1, mean=0.2)
    assert n.shape == (1000,)
    assert n.mean() == pytest.approx(0.2, abs=1e-3) and n.std() == pytest.approx(0.1, rel=0.05)
    assert np.all(D.negative_cosines(64, 5.0) <= D.MAX_NEG_COSINE)
    with pytest.raises(ValueError, match="at least 2"):
        D.negative_cosines(1, 0.1)
    with pytest.raises(ValueError, match="spread"):
        D.negative_cosines(8, -0.1)


@pytest.mark.parametrize("batch_size,spread,temp", [(32, 0.1, 0.05), (8, 0.3, 0.1), (128, 0.05, 0.02)])
def test_infonce_pull_is_one_minus_p_pos_over_tau(batch_size, spread, temp):
    s = D.sweep(batch_size=batch_size, spread=spread, temp=temp, points=21, losses=["infonce"])
    c, n = s.pos_cos, s.neg_cos
    logits = np.concatenate([c[:, None], np.tile(n, (len(c), 1))], axis=1) / temp  # (N, B), computed here
    p = np.exp(logits[:, 0] - np.logaddexp.reduce(logits, axis=1))
    np.testing.assert_allclose(s.grad["infonce"], -(1 - p) / temp, rtol=1e-9, atol=1e-9)  # 1 - p cancels in float64
    mag = s.magnitude("infonce")
    big = mag > 1e-6
    assert np.all(np.diff(mag[big]) < 0), "the pull must fade as the positive cosine rises"
    assert np.all(np.diff(mag) < 1e-9)
    assert mag[-1] < 0.01 * mag[0]  # under 1% of its pull at c = 0


def test_dcl_and_au_do_not_dissipate(sw):
    np.testing.assert_allclose(sw.grad["dcl"], -1 / 0.05)  # DCL: exactly 1/τ at every cosine
    # A&U (λ=0.5, α=2): the alignment part is (1-λ)·d||z1-z2||²/dc = -2(1-λ) = -1 everywhere
    np.testing.assert_allclose(sw.grad_align["align_uniform"], -1.0)
    mag = sw.magnitude("align_uniform")
    assert mag.min() > 0.8 * mag[0] > 0


def _hinge_met(name: str, c: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Where each hinge is met, from the paper's definitions (margins: the defaults)."""
    if name == "dcl_hinge":
        return c > 0.05 * np.logaddexp.reduce(n / 0.05)
    if name == "mpt":
        return c > 0.09 + n.max()
    if name == "met":
        return np.sqrt(2 - 2 * c) + 0.45 < np.sqrt(2 - 2 * n).min()
    return np.arccos(c) + 0.15 * math.pi < np.arccos(n.max())  # mat


@pytest.mark.parametrize("name", HINGES)
def test_hinge_gradient_is_exactly_zero_once_the_margin_is_met(sw, name):
    met = _hinge_met(name, sw.pos_cos, sw.neg_cos)
    assert met.any() and (~met).any()
    assert np.all(sw.grad[name][met] == 0.0)
    assert np.all(sw.grad[name][~met] < 0)  # before: a real pull toward the positive
    if name == "mpt":
        np.testing.assert_allclose(sw.grad[name][~met], -1.0)
    if name == "dcl_hinge":
        np.testing.assert_allclose(sw.grad[name][~met], -1 / 0.05)


def test_margins_move_the_point_where_the_hinge_stops():
    small = D.sweep(batch_size=16, margins={"mpt": 0.05}, losses=["mpt"], points=101)
    large = D.sweep(batch_size=16, margins={"mpt": 0.3}, losses=["mpt"], points=101)
    first_zero = [float(s.pos_cos[np.argmax(s.grad["mpt"] == 0)]) for s in (small, large)]
    assert first_zero[1] - first_zero[0] == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize("name", list(LOSSES))
def test_parts_add_up_to_the_total(sw, name):
    np.testing.assert_allclose(sw.grad_align[name] + sw.grad_uniform[name], sw.grad[name], atol=1e-9)


def test_positive_pull_matches_a_finite_difference():
    neg = D.negative_cosines(16, 0.2)
    for name in LOSSES:
        fn, c, h = build_loss(name), 0.31, 1e-6

        def loss_at(x, fn=fn):
            z1, z2 = D.synthetic_views(torch.tensor(x, dtype=torch.float64), torch.as_tensor(neg))
            return fn(z1, z2)["loss"].item()
        fd = 16 * (loss_at(c + h) - loss_at(c - h)) / (2 * h)
        assert D.positive_pull(fn, c, neg)["grad"] == pytest.approx(fd, rel=1e-4, abs=1e-6), name


def test_explain_and_chart(sw):
    rows = D.explain_at(sw, 0.95)
    assert [r["loss"] for r in rows] == list(LOSSES)
    by = {r["loss"]: r for r in rows}
    assert "1 − p_pos" in by["infonce"]["why"]
    assert all(by[h]["why"] == "margin met: no gradient" and by[h]["pull"] == 0 for h in HINGES)
    assert by["dcl"]["relative to c = 0"] == pytest.approx(1.0)
    chart = D.sweep_chart(sw, normalize=True, mark=0.5)
    lines = chart.panels[0].lines
    assert len(lines) == 7 and chart.panels[0].vlines == [0.5]
    assert all(line.y[0] == pytest.approx(1.0) for line in lines)


def test_bad_tau_is_refused():
    with pytest.raises(ValueError, match="τ"):
        D.sweep(temp=0.0)


def test_explorer_reports_the_tangential_gradient_the_trainer_logs(sw):
    """dL/dc = g_t · dz/dc with |dz/dc| = 1/sqrt(1 - c²), so the pull never exceeds the tangential norm
    times that; a radial term added to a loss leaves the tangential norm as it is (issue 14)."""
    c = sw.pos_cos
    for name in LOSSES:
        assert np.all(np.abs(sw.grad[name]) <= sw.tangent[name] / np.sqrt(1 - c ** 2) + 1e-9), name
    assert sw.tangent["dcl"].min() > 0 and sw.tangent["mpt"][-1] == 0  # a live gradient; a met hinge
    neg = D.negative_cosines(16, 0.2)

    class PlusRadial(torch.nn.Module):
        def forward(self, z1, z2):
            out = dict(build_loss("infonce")(z1, z2))
            out["loss"] = out["loss"] + 3.0 * (z2.pow(2).sum(1) - 1).sum()  # 0 on the sphere
            return out
    assert D.positive_pull(PlusRadial(), 0.4, neg)["tangent"] == pytest.approx(
        D.positive_pull(build_loss("infonce"), 0.4, neg)["tangent"], rel=1e-9)


def test_the_shipped_default_sweep_is_a_fresh_computation():
    """default_sweep.npz is what `python -m srl_explorer.paper.dissipation` computes today: regenerate it
    after changing a loss or this module, or this fails."""
    shipped, fresh = D.sweep(), D.sweep(shipped=False)
    assert D.DEFAULT_SWEEP_FILE.is_file() and shipped.settings == fresh.settings
    np.testing.assert_array_equal(shipped.pos_cos, fresh.pos_cos)
    np.testing.assert_allclose(shipped.neg_cos, fresh.neg_cos, rtol=0, atol=1e-15)
    for key in D.SWEEP_KEYS:
        assert list(getattr(shipped, key)) == list(LOSSES)
        for name in LOSSES:
            np.testing.assert_allclose(getattr(shipped, key)[name], getattr(fresh, key)[name], rtol=1e-9, atol=1e-12)
    # the Paper page's slider values give the shipped sweep; any other setting is computed
    margins = {n: s.hparams["margin"] for n, s in LOSSES.items() if "margin" in s.hparams}
    assert D._is_default(D.sweep(margins=margins).settings, 101, list(LOSSES))
    assert not D._is_default(D.sweep(temp=0.1, points=5).settings, 101, list(LOSSES))


def test_the_explorer_loads_without_torch():
    import subprocess
    import sys
    code = ("import sys; from srl_explorer.paper.dissipation import sweep, explain_at, sweep_chart; "
            "sw = sweep(); explain_at(sw, 0.5); sweep_chart(sw); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
