from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import check_views, cosines, diagonal_mask, softmax_positive_prob
from .base import TemperatureLoss


def dcl_terms(z1: Tensor, z2: Tensor, temp: float) -> tuple[Tensor, Tensor, Tensor]:
    """Per-anchor DCL terms: (pos, neg, logits), each pos/neg (B,), logits (B, B).

    pos_i = -s_ii/τ ;  neg_i = log Σ_{j≠i} e^{s_ij/τ} ;  ℓ_i = pos_i + neg_i.
    """
    logits = cosines(z1, z2) / temp  # (B, B)
    pos = -logits.diagonal()
    neg = torch.logsumexp(logits.masked_fill(diagonal_mask(logits.shape[0], logits.device), -math.inf), dim=1)
    return pos, neg, logits


class DCL(TemperatureLoss, name="dcl"):
    """Decoupled Contrastive Learning: InfoNCE without the positive in the denominator.

    loss = mean_i ℓ_i,  ℓ_i = -s_ii/τ + log Σ_{j≠i} e^{s_ij/τ}.

    Removing the positive from the denominator removes InfoNCE's (1 - p_pos)
    dissipation factor, so the positive gradient never fades.

    Args:
        temp: temperature τ (0.05).

    Returns ``loss``, ``align`` = mean_i -s_ii/τ, ``uniform`` = mean_i log Σ_{j≠i} e^{s_ij/τ},
    and ``pos_prob`` (softmax over the full row, for comparison with InfoNCE).

    References:
        Yeh et al. Decoupled Contrastive Learning. ECCV 2022.
        Nie, Zhang, Mao. On the Inadequacy of Optimizing Alignment and Uniformity in
        Contrastive Learning of Sentence Representations. ICLR 2023.

    Relations: :class:`DCLHinge` adds back a dissipation through a hinge.
    """

    def forward(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        check_views(z1, z2)
        pos, neg, logits = dcl_terms(z1, z2, self.temp)
        align, uniform = pos.mean(), neg.mean()
        return {"loss": align + uniform, "align": align, "uniform": uniform,
                "pos_prob": softmax_positive_prob(logits)}
