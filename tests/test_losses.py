"""Every loss against hand-computed values, scalar-loop references, and autograd gradients."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from srl_explorer.losses import LOSSES, build_loss, loss_hyperparameters
from srl_explorer.metrics import align_loss, uniform_loss

PAPER_DEFAULTS = {
    "infonce": {"temp": 0.05}, "align_uniform": {"lam": 0.5, "alpha": 2, "t": 2}, "dcl": {"temp": 0.05},
    "dcl_hinge": {"temp": 0.05}, "mpt": {"margin": 0.09}, "met": {"margin": 0.45}, "mat": {"margin": 0.15},
}


def unit(*angles_deg: float) -> torch.Tensor:
    """2-D unit vectors at the given angles, (B, 2) float64."""
    a = torch.tensor(angles_deg, dtype=torch.float64) * math.pi / 180
    return torch.stack([a.cos(), a.sin()], dim=1)


def views(b: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    z2 = F.normalize(z1 + 0.4 * torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    return z1, z2


# ----------------------------------------------------------------------------- scalar-loop references
def ref(name: str, z1: torch.Tensor, z2: torch.Tensor, **hp) -> float:
    """Direct transcription of each formula with Python scalars (no masking tricks)."""
    z1, z2 = z1.tolist(), z2.tolist()
    b = len(z1)
    dot = lambda u, v: sum(x * y for x, y in zip(u, v, strict=True))  # noqa: E731
    dist = lambda u, v: math.sqrt(sum((x - y) ** 2 for x, y in zip(u, v, strict=True)))  # noqa: E731
    s = [[dot(z1[i], z2[j]) for j in range(b)] for i in range(b)]
    if name == "infonce":
        tau = hp.get("temp", 0.05)
        return sum(-math.log(math.exp(s[i][i] / tau) / sum(math.exp(s[i][j] / tau) for j in range(b)))
                   for i in range(b)) / b
    if name in ("dcl", "dcl_hinge"):
        tau = hp.get("temp", 0.05)
        terms = [-s[i][i] / tau + math.log(sum(math.exp(s[i][j] / tau) for j in range(b) if j != i)) for i in range(b)]
        return sum(max(0.0, t) if name == "dcl_hinge" else t for t in terms) / b
    if name == "align_uniform":
        lam, alpha, t = hp.get("lam", 0.5), hp.get("alpha", 2), hp.get("t", 2)
        align = sum(dist(z1[i], z2[i]) ** alpha for i in range(b)) / b

        def unif(z):
            vals = [math.exp(-t * dist(z[i], z[j]) ** 2) for i in range(b) for j in range(i + 1, b)]
            return math.log(sum(vals) / len(vals))
        return (1 - lam) * align + lam * 0.5 * (unif(z1) + unif(z2))
    if name == "mpt":
        m = hp.get("margin", 0.09)
        return sum(max(0.0, m - s[i][i] + max(s[i][j] for j in range(b) if j != i)) for i in range(b)) / b
    if name == "met":
        m = hp.get("margin", 0.45)
        d = [[dist(z1[i], z2[j]) for j in range(b)] for i in range(b)]
        return sum(max(0.0, m + d[i][i] - min(d[i][j] for j in range(b) if j != i)) for i in range(b)) / b
    if name == "mat":
        m = hp.get("margin", 0.15)
        th = [[math.acos(max(-1.0, min(1.0, s[i][j]))) for j in range(b)] for i in range(b)]
        return sum(max(0.0, m * math.pi + th[i][i] - min(th[i][j] for j in range(b) if j != i)) for i in range(b)) / b
    raise KeyError(name)


def test_registry_has_exactly_the_seven_losses_with_paper_defaults():
    assert list(LOSSES) == ["infonce", "align_uniform", "dcl", "dcl_hinge", "mpt", "met", "mat"]
    for name, defaults in PAPER_DEFAULTS.items():
        assert loss_hyperparameters(name) == pytest.approx(defaults)
        cls = LOSSES[name].load()
        assert cls.__doc__ and "References" in cls.__doc__
        assert cls.spec is LOSSES[name] and cls().defaults() == loss_hyperparameters(name)  # one owner: the registry
        assert all(getattr(cls(), h) == v for h, v in defaults.items())  # no argument: the paper's value


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown loss 'nce'"):
        build_loss("nce")


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("hp", [{}, {"temp": 0.2, "margin": 0.3, "lam": 0.3, "alpha": 1.5, "t": 1.0}])
def test_loss_matches_scalar_reference(name, hp):
    z1, z2 = views()
    got = build_loss(name, **hp)(z1, z2)["loss"].item()
    accepted = {k: v for k, v in hp.items() if k in loss_hyperparameters(name)}
    assert got == pytest.approx(ref(name, z1, z2, **accepted), rel=1e-9, abs=1e-9)


def test_hand_computed_values():
    # z1 = z2 = I_2: s = I. InfoNCE (τ=1): -log(e / (e + 1)) = log(1 + 1/e).
    eye = torch.eye(2, dtype=torch.float64)
    assert build_loss("infonce", temp=1.0)(eye, eye)["loss"].item() == pytest.approx(math.log(1 + math.exp(-1)))
    # DCL (τ=1): -1 + log(e^0) = -1 per anchor.
    assert build_loss("dcl", temp=1.0)(eye, eye)["loss"].item() == pytest.approx(-1.0)
    assert build_loss("dcl_hinge", temp=1.0)(eye, eye)["loss"].item() == 0.0
    # A&U (λ=0.5): align 0; uniform: ||e1 - e2||^2 = 2 -> log e^{-4} = -4 on each view -> 0.5 * -4.
    assert build_loss("align_uniform")(eye, eye)["loss"].item() == pytest.approx(-2.0)
    # Angles 0°, 90° vs 30°, 120°: s_ii = cos 30°, s_12 = cos 120° = -0.5, s_21 = cos(-60°) = 0.5.
    z1, z2 = unit(0, 90), unit(30, 120)
    c30 = math.cos(math.radians(30))
    mpt = (max(0, 0.09 - c30 - 0.5) + max(0, 0.09 - c30 + 0.5)) / 2
    assert build_loss("mpt")(z1, z2)["loss"].item() == pytest.approx(mpt)
    # MAT: θ_ii = 30°, min_{j≠i} θ: 120° for anchor 0, 60° for anchor 1; margin 0.15π = 27°.
    mat = (max(0, math.radians(27 + 30 - 120)) + max(0, math.radians(27 + 30 - 60))) / 2
    assert build_loss("mat")(z1, z2)["loss"].item() == pytest.approx(mat)
    assert mat == pytest.approx(0.0)  # both margins met, so the loss is exactly zero
    # MET: chord lengths 2 sin(θ/2): d_ii = 2 sin 15°, d_01 = 2 sin 60°, d_10 = 2 sin 30°.
    ch = lambda deg: 2 * math.sin(math.radians(deg) / 2)  # noqa: E731
    met = (max(0, 0.45 + ch(30) - ch(120)) + max(0, 0.45 + ch(30) - ch(60))) / 2
    assert build_loss("met")(z1, z2)["loss"].item() == pytest.approx(met)


def test_hardest_negative_is_masked_not_zeroed():
    # Anchors at 0° and 180°: each negative cosine is about -0.98, so the hardest negative is negative;
    # zeroing the diagonal instead of masking it would make it 0.
    z1, z2 = unit(0, 180), unit(10, 170)
    s = (z1 @ z2.T).tolist()
    assert s[0][1] < 0 and s[1][0] < 0
    out = build_loss("mpt", margin=1.9)(z1, z2)
    expected = (max(0, 1.9 - s[0][0] + s[0][1]) + max(0, 1.9 - s[1][1] + s[1][0])) / 2
    zeroed = (max(0, 1.9 - s[0][0]) + max(0, 1.9 - s[1][1])) / 2
    assert out["loss"].item() == pytest.approx(expected)
    assert abs(expected - zeroed) > 0.5


def test_dcl_hinge_keeps_inactive_anchors_in_the_mean():
    z1, _ = views(b=8, d=3, seed=3)
    z2 = z1.clone()
    z2[4:] = F.normalize(torch.randn(4, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64), dim=1)
    tau = 0.1
    pos = -(z1 * z2).sum(1) / tau
    s = z1 @ z2.T / tau
    neg = torch.logsumexp(s.masked_fill(torch.eye(8, dtype=torch.bool), -math.inf), dim=1)
    terms = pos + neg
    assert (terms > 0).any() and (terms <= 0).any(), "fixture must mix active and inactive anchors"
    out = build_loss("dcl_hinge", temp=tau)(z1, z2)
    assert out["loss"].item() == pytest.approx(terms.clamp_min(0).sum().item() / 8)
    assert out["active_frac"].item() == pytest.approx((terms > 0).double().mean().item())


@pytest.mark.parametrize("name", list(LOSSES))
def test_autograd_gradcheck(name):
    z1, z2 = views(b=5, d=4, seed=1)
    loss = build_loss(name, margin=0.8)  # a large margin keeps every hinge active (away from kinks)
    torch.autograd.gradcheck(lambda a, b: loss(a, b)["loss"], (z1.requires_grad_(), z2.requires_grad_()))


@pytest.mark.parametrize("name", list(LOSSES))
def test_parts_gradients_add_up_to_the_loss_gradient(name):
    z1, z2 = views(b=7, d=6, seed=2)
    z1.requires_grad_()
    z2.requires_grad_()
    loss = build_loss(name)
    out = loss(z1, z2)
    g = torch.autograd.grad(out["loss"], (z1, z2), retain_graph=True)
    ga = torch.autograd.grad(out["align"], (z1, z2), retain_graph=True, materialize_grads=True)
    gu = torch.autograd.grad(out["uniform"], (z1, z2), materialize_grads=True)
    wa, wu = loss.part_weights
    for full, a, u in zip(g, ga, gu, strict=True):
        torch.testing.assert_close(full, wa * a + wu * u)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_as_positive_cosine_tends_to_one(name, dtype):
    z1, _ = views(b=6, d=8, seed=4)
    z1 = z1.to(dtype)
    for z2 in (z1.clone(), F.normalize(z1 + 1e-7, dim=1)):  # s_ii == 1 and s_ii -> 1
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        out = build_loss(name, margin=1.0)(a, b)
        out["loss"].backward()
        assert torch.isfinite(out["loss"])
        assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_package_infonce_positive_gradient_is_scaled_by_one_minus_p_pos():
    """The package's InfoNCE, not a copy: with z2 = I the cosines are z1 itself (s = z1 Iᵀ), so the
    gradient w.r.t. z1 is dL/ds, whose diagonal must be -(1 - p_pos)/τ/B (the dissipation factor)."""
    b, tau = 6, 0.1
    z1, _ = views(b=b, d=b, seed=5)
    s = z1.clone().requires_grad_()
    out = build_loss("infonce", temp=tau)(s, torch.eye(b, dtype=s.dtype))
    (g,) = torch.autograd.grad(out["loss"], s)
    p = (z1 / tau).softmax(1).diagonal()  # hand computation
    torch.testing.assert_close(g.diagonal(), -(1 - p) / tau / b)
    off = ~torch.eye(b, dtype=torch.bool)
    torch.testing.assert_close(g[off], ((z1 / tau).softmax(1) / tau / b)[off])  # negatives: +p_ij/τ/B
    assert out["pos_prob"].item() == pytest.approx(p.mean().item())


def test_pos_prob_and_active_frac_reported():
    z1, z2 = views()
    for name in ("infonce", "dcl", "dcl_hinge"):
        assert 0 < build_loss(name)(z1, z2)["pos_prob"].item() < 1
    for name in ("dcl_hinge", "mpt", "met", "mat"):
        assert 0 <= build_loss(name)(z1, z2)["active_frac"].item() <= 1


def test_batch_of_one_has_no_negatives():
    z = torch.ones(1, 3) / math.sqrt(3)
    for name in LOSSES:
        with pytest.raises(ValueError, match="at least 2"):
            build_loss(name)(z, z)


def test_wang_isola_metrics():
    x = unit(0, 90, 180)
    assert align_loss(x, x).item() == 0.0
    # pairs: (0,90): ||.||^2 = 2, (0,180): 4, (90,180): 2 -> log mean(e^-4, e^-8, e^-4)
    expected = math.log((2 * math.exp(-4) + math.exp(-8)) / 3)
    assert uniform_loss(x).item() == pytest.approx(expected)
    assert align_loss(unit(0), unit(90), alpha=1).item() == pytest.approx(math.sqrt(2))


def test_every_loss_describes_itself():
    from srl_explorer.losses import ContrastiveLoss, dissipating_losses, loss_color, loss_label
    z1, z2 = views()
    labels = [loss_label(n) for n in LOSSES]
    colors = [loss_color(n) for n in LOSSES]
    assert len(set(labels)) == len(labels) and len(set(colors)) == len(colors)
    assert all(c.startswith("#") and len(c) == 7 for c in colors)
    assert dissipating_losses() == ("dcl_hinge", "mpt", "met", "mat")  # the paper's claim-3 losses
    for name, spec in LOSSES.items():
        cls = spec.load()
        out = build_loss(name)(z1, z2)
        assert cls.diagnostic is None or cls.diagnostic in out, name  # the diagnostic it names is logged
        assert set(cls.hparam_help) == set(cls.defaults()), name
        assert repr(build_loss(name)).endswith(", ".join(f"{k}={v}" for k, v in cls.defaults().items()) + ")")
    assert loss_label("nope") == "nope" and loss_color("nope") is None
    with pytest.raises(TypeError, match="must name its registry entry"):
        type("Nameless", (ContrastiveLoss,), {})
    with pytest.raises(TypeError, match=r"must take exactly \['temp'\]"):
        type("Mismatched", (ContrastiveLoss,), {"__init__": lambda self, margin=None: None}, name="infonce")
    with pytest.raises(ValueError, match="temp must be > 0"):
        build_loss("infonce", temp=0.0)
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\]"):
        build_loss("align_uniform", lam=1.5)


def test_the_registry_needs_no_torch():
    """The pages read the registry before torch is loaded (its import is most of a cold page load)."""
    code = ("import sys; from srl_explorer import config; from srl_explorer.losses import LOSSES, loss_label, "
            "hparam_names; assert 'torch' not in sys.modules, 'torch imported'; "
            "from srl_explorer.losses import InfoNCE; assert 'torch' in sys.modules and InfoNCE.label == 'InfoNCE'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
