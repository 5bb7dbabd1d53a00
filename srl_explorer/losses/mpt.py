from __future__ import annotations

from torch import Tensor

from ._common import check_views, cosines, hardest_negative_max
from .base import HingeLoss


class MPT(HingeLoss, name="mpt"):
    """Margin-based Product Triplet loss with the hardest in-batch negative.

    loss = mean_i max(0, m - s_ii + max_{j≠i} s_ij),  s = z1 z2ᵀ.

    Args:
        margin: m, in cosine units (paper: 0.09).

    Returns ``loss``; ``align`` = mean_i a_i·(-s_ii), ``uniform`` = mean_i a_i·max_{j≠i} s_ij with
    a_i = [hinge active] held constant (so their gradients sum to the loss gradient), and ``active_frac``.

    References:
        Nie, Zhang, Mao. On the Inadequacy of Optimizing Alignment and Uniformity in
        Contrastive Learning of Sentence Representations. ICLR 2023, Sec. 5.

    Relations: :class:`MET` (Euclidean distance), :class:`MAT` (angle).
    """

    def __init__(self, margin: float | None = None):
        super().__init__(margin=margin)

    def forward(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        check_views(z1, z2)
        s = cosines(z1, z2)  # (B, B)
        pos, neg = -s.diagonal(), hardest_negative_max(s)  # (B,), (B,)
        hinge = (self.margin + pos + neg).clamp_min(0.0)
        active = (hinge > 0).to(s.dtype).detach()
        return {"loss": hinge.mean(), "align": (active * pos).mean(), "uniform": (active * neg).mean(),
                "active_frac": active.mean()}
