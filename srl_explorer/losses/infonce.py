from __future__ import annotations

import torch
from torch import Tensor

from ._common import check_views, cosines, softmax_positive_prob
from .base import TemperatureLoss


class InfoNCE(TemperatureLoss, name="infonce"):
    """InfoNCE / NT-Xent, the loss of unsupervised SimCSE.

    loss = mean_i -log( e^{s_ii/τ} / Σ_j e^{s_ij/τ} ),  s = z1 z2ᵀ.

    Its gradient on the positive is scaled by (1 - p_pos): the *gradient
    dissipation* that Nie et al. (2023) identify; ``pos_prob`` tracks p_pos.

    Args:
        temp: temperature τ (SimCSE: 0.05, i.e. scale 20).

    Returns ``loss``, ``align`` = -mean_i s_ii/τ, ``uniform`` = mean_i log Σ_j e^{s_ij/τ}
    (loss = align + uniform) and the diagnostic ``pos_prob``.

    References:
        Gao, Yao, Chen. SimCSE: Simple Contrastive Learning of Sentence Embeddings. EMNLP 2021.
        van den Oord et al. Representation Learning with Contrastive Predictive Coding. 2018.

    Relations: :class:`DCL` drops the positive from the denominator.
    """

    def forward(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        check_views(z1, z2)
        logits = cosines(z1, z2) / self.temp  # (B, B)
        align = -logits.diagonal().mean()
        uniform = torch.logsumexp(logits, dim=1).mean()
        return {"loss": align + uniform, "align": align, "uniform": uniform,
                "pos_prob": softmax_positive_prob(logits)}
