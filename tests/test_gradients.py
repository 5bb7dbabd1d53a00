"""The logged gradient norms are tangential to the sphere: every correct way of writing a loss logs the same."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srl_explorer.losses import LOSSES, MET, AlignUniform, build_loss
from srl_explorer.losses._common import safe_sqrt
from srl_explorer.metrics import uniform_loss
from srl_explorer.training.gradients import NORM_KEYS, logged_grad_norms, tangential, view_gradients


def views(b: int = 8, d: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z1 = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    z2 = F.normalize(z1 + 0.6 * torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    return z1, z2


class Reparam(torch.nn.Module):
    """The same loss on f(z), where f is the identity on the sphere but not off it."""

    def __init__(self, base, f):
        super().__init__()
        self.base, self.f, self.part_weights = base, f, base.part_weights

    def forward(self, z1, z2):
        return self.base(self.f(z1), self.f(z2))


class PlusRadial(torch.nn.Module):
    """The same loss plus c·(‖z‖² − 1) terms, which are 0 on the sphere, in both parts."""

    def __init__(self, base, c_align: float = 0.7, c_uniform: float = -1.3):
        super().__init__()
        self.base, self.part_weights, self.c = base, base.part_weights, (c_align, c_uniform)

    def forward(self, z1, z2):
        out = dict(self.base(z1, z2))
        radial = (z1.pow(2).sum(1) + z2.pow(2).sum(1) - 2).mean()
        out["align"] = out["align"] + self.c[0] * radial
        out["uniform"] = out["uniform"] + self.c[1] * radial
        return out


class METFromCosine(MET):
    """MET with d_ij = sqrt(2 − 2 z1_i·z2_j) instead of sqrt(‖a‖² + ‖b‖² − 2ab)."""

    def forward(self, z1, z2):
        d = safe_sqrt(2 - 2 * z1 @ z2.T)  # (B, B)
        pos = d.diagonal()
        neg = -d.masked_fill(torch.eye(len(d), dtype=torch.bool), float("inf")).amin(1)
        hinge = (self.margin + pos + neg).clamp_min(0.0)
        active = (hinge > 0).to(d.dtype)
        return {"loss": hinge.mean(), "align": (active * pos).mean(), "uniform": (active * neg).mean()}


class AUFromCosine(AlignUniform):
    """A&U with ‖a − b‖² = 2 − 2ab and ‖a_i − a_j‖² = 2 − 2 a_i·a_j."""

    def forward(self, z1, z2):
        align = (2 - 2 * (z1 * z2).sum(1)).mean()
        sq = [(2 - 2 * z @ z.T)[torch.triu(torch.ones(len(z), len(z), dtype=torch.bool), 1)] for z in (z1, z2)]
        uniform = 0.5 * sum(torch.log(torch.exp(-self.t * s).mean()) for s in sq)
        return {"loss": (1 - self.lam) * align + self.lam * uniform, "align": align, "uniform": uniform}


FORMS = {
    "renormalized": lambda base: Reparam(base, lambda z: z / z.norm(dim=1, keepdim=True)),
    "z(2 - |z|^2)": lambda base: Reparam(base, lambda z: z * (2 - z.pow(2).sum(1, keepdim=True))),
    "plus c(|z|^2 - 1)": PlusRadial,
}


def raw_norms(loss_fn, z1, z2) -> list[float]:
    """The norms of dL/dz itself, radial part included (what used to be logged)."""
    leaf = torch.cat([z1, z2]).requires_grad_(True)
    g = view_gradients(loss_fn, leaf, len(z1))
    return [float(x.norm()) for x in (g.g_loss, g.g_align, g.g_uniform)]


@pytest.mark.parametrize("name", list(LOSSES))
def test_equivalent_forms_on_the_sphere_log_the_same_gradient_norms(name):
    z1, z2 = views()
    base = build_loss(name)
    expected = logged_grad_norms(base, z1, z2)
    assert expected["grad_norm_z"] > 1e-3  # a live gradient, so the comparison is not 0 == 0
    for form, make in FORMS.items():
        alt = make(build_loss(name))
        assert float(alt(z1, z2)["loss"]) == pytest.approx(float(base(z1, z2)["loss"]), rel=1e-9)
        got = logged_grad_norms(alt, z1, z2)
        for key in NORM_KEYS:
            assert got[key] == pytest.approx(expected[key], rel=1e-7, abs=1e-12), (form, key)
    # guard: the forms really differ off the sphere, so the untangled norms would not agree
    assert raw_norms(PlusRadial(build_loss(name)), z1, z2)[1] != pytest.approx(raw_norms(base, z1, z2)[1], rel=1e-3)


@pytest.mark.parametrize("alt,name", [(METFromCosine(), "met"), (AUFromCosine(), "align_uniform")])
def test_hand_written_alternative_forms_log_the_same_gradient_norms(alt, name):
    z1, z2 = views(seed=3)
    base = build_loss(name)
    assert float(alt(z1, z2)["loss"]) == pytest.approx(float(base(z1, z2)["loss"]), rel=1e-9)
    assert float(uniform_loss(z1)) == pytest.approx(float(torch.log(torch.exp(-2 * torch.pdist(z1).pow(2)).mean())))
    got, expected = logged_grad_norms(alt, z1, z2), logged_grad_norms(base, z1, z2)
    for key in NORM_KEYS:
        assert got[key] == pytest.approx(expected[key], rel=1e-7), key
    assert raw_norms(alt, z1, z2)[0] != pytest.approx(raw_norms(base, z1, z2)[0], rel=1e-3)  # the radial parts differ


def test_tangential_part_is_orthogonal_to_z_and_keeps_tangent_vectors():
    z1, z2 = views()
    g = torch.randn_like(z1)
    t = tangential(g, z1)
    assert torch.allclose((t * z1).sum(1), torch.zeros(len(z1), dtype=z1.dtype), atol=1e-12)
    assert torch.allclose(tangential(t, z1), t)
