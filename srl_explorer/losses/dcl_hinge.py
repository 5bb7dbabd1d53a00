from __future__ import annotations

from torch import Tensor

from ._common import check_views, softmax_positive_prob
from .base import HingeLoss, TemperatureLoss
from .dcl import dcl_terms


class DCLHinge(HingeLoss, TemperatureLoss, name="dcl_hinge"):
    """DCL with a hinge at zero: the paper's way of adding gradient dissipation to DCL.

    loss = mean_i max(0, ℓ_i),  ℓ_i = -s_ii/τ + log Σ_{j≠i} e^{s_ij/τ}.

    Anchors whose term is clipped to zero stay in the mean (they contribute 0), so
    the gradient fades as more positives beat their negatives.

    Args:
        temp: temperature τ (0.05).

    Returns ``loss``; ``align`` = mean_i a_i·(-s_ii/τ) and ``uniform`` = mean_i a_i·log Σ_{j≠i} e^{s_ij/τ},
    where a_i = [ℓ_i > 0] is treated as a constant, so loss = align + uniform and the
    parts' gradients add up to the loss gradient; ``active_frac`` = mean_i a_i and ``pos_prob``.

    References:
        Nie, Zhang, Mao. On the Inadequacy of Optimizing Alignment and Uniformity in
        Contrastive Learning of Sentence Representations. ICLR 2023, Sec. 5.

    Relations: :class:`DCL` without the hinge; :class:`MPT`, :class:`MET`, :class:`MAT`.
    """

    def forward(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        check_views(z1, z2)
        pos, neg, logits = dcl_terms(z1, z2, self.temp)
        active = ((pos + neg) > 0).to(pos.dtype).detach()  # (B,)
        align, uniform = (active * pos).mean(), (active * neg).mean()
        return {"loss": align + uniform, "align": align, "uniform": uniform,
                "active_frac": active.mean(), "pos_prob": softmax_positive_prob(logits)}
