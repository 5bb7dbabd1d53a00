from __future__ import annotations

from torch import Tensor

from ._common import check_views, hardest_negative_min, pairwise_sq_dist, safe_sqrt
from .base import HingeLoss


class MET(HingeLoss, name="met"):
    """Margin-based Euclidean Triplet loss with the hardest in-batch negative.

    loss = mean_i max(0, m + d_ii - min_{j≠i} d_ij),  d_ij = ||z1_i - z2_j||.

    The square root is taken of a clamped argument, so the gradient stays finite
    when a positive pair collapses (d_ii -> 0, s_ii -> 1); the official code is not.

    Args:
        margin: m, in Euclidean units on the unit sphere (paper: 0.45).

    Returns ``loss``; ``align`` = mean_i a_i·d_ii, ``uniform`` = mean_i a_i·(-min_{j≠i} d_ij)
    with a_i = [hinge active] held constant, and ``active_frac``.

    References:
        Nie, Zhang, Mao. On the Inadequacy of Optimizing Alignment and Uniformity in
        Contrastive Learning of Sentence Representations. ICLR 2023, Sec. 5.

    Relations: :class:`MPT` (cosine), :class:`MAT` (angle).
    """

    def __init__(self, margin: float | None = None):
        super().__init__(margin=margin)

    def forward(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        check_views(z1, z2)
        d = safe_sqrt(pairwise_sq_dist(z1, z2))  # (B, B)
        pos, neg = d.diagonal(), -hardest_negative_min(d)  # (B,), (B,)
        hinge = (self.margin + pos + neg).clamp_min(0.0)
        active = (hinge > 0).to(d.dtype).detach()
        return {"loss": hinge.mean(), "align": (active * pos).mean(), "uniform": (active * neg).mean(),
                "active_frac": active.mean()}
