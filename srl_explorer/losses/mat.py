from __future__ import annotations

import math

from torch import Tensor

from ._common import check_views, cosines, hardest_negative_min, safe_arccos
from .base import HingeLoss


class MAT(HingeLoss, name="mat"):
    """Margin-based Angular Triplet loss with the hardest in-batch negative.

    loss = mean_i max(0, m·π + θ_ii - min_{j≠i} θ_ij),  θ = arccos(z1 z2ᵀ).

    The cosine is clamped to [-1+ε, 1-ε] before arccos, so the gradient stays
    finite as s -> 1; the official code is not.

    Args:
        margin: m, in units of π (paper: 0.15, i.e. 27°).

    Returns ``loss``; ``align`` = mean_i a_i·θ_ii, ``uniform`` = mean_i a_i·(-min_{j≠i} θ_ij)
    with a_i = [hinge active] held constant, and ``active_frac``.

    References:
        Nie, Zhang, Mao. On the Inadequacy of Optimizing Alignment and Uniformity in
        Contrastive Learning of Sentence Representations. ICLR 2023, Sec. 5.

    Relations: :class:`MPT` (cosine), :class:`MET` (Euclidean distance).
    """

    def __init__(self, margin: float | None = None):
        super().__init__(margin=margin)

    def forward(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        check_views(z1, z2)
        theta = safe_arccos(cosines(z1, z2))  # (B, B), radians
        pos, neg = theta.diagonal(), -hardest_negative_min(theta)  # (B,), (B,)
        hinge = (self.margin * math.pi + pos + neg).clamp_min(0.0)
        active = (hinge > 0).to(theta.dtype).detach()
        return {"loss": hinge.mean(), "align": (active * pos).mean(), "uniform": (active * neg).mean(),
                "active_frac": active.mean()}
