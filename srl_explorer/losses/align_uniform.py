from __future__ import annotations

from torch import Tensor

from ..metrics import align_loss, uniform_loss
from ._common import check_views
from .base import ContrastiveLoss


class AlignUniform(ContrastiveLoss, name="align_uniform"):
    """Joint alignment and uniformity (A&U) of Wang & Isola, weighted by λ.

    loss = (1-λ)·mean_i ||z1_i - z2_i||^α + λ·½[log mean_{i<j} e^{-t||z1_i - z1_j||²} + (same on z2)].

    No constant offset is added. Its gradient has no dissipation factor: the paper
    shows this makes it overfit (dev STS peaks, then falls).

    Args:
        lam: λ, weight of the uniformity term (0.5).
        alpha: α, exponent of the alignment distance (2).
        t: t, temperature of the Gaussian potential in uniformity (2).

    Returns ``loss``, and the unweighted ``align`` and ``uniform`` parts.

    References:
        Wang, Isola. Understanding Contrastive Representation Learning through Alignment
        and Uniformity on the Hypersphere. ICML 2020.
        Nie, Zhang, Mao. ICLR 2023, Sec. 3.

    Relations: :func:`srl_explorer.metrics.align_loss`, :func:`srl_explorer.metrics.uniform_loss`.
    """

    def __init__(self, lam: float | None = None, alpha: float | None = None, t: float | None = None):
        super().__init__(lam=lam, alpha=alpha, t=t)

    @property
    def part_weights(self) -> tuple[float, float]:
        """loss = w_align * align + w_uniform * uniform."""
        return 1 - self.lam, self.lam

    def forward(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        check_views(z1, z2)
        align = align_loss(z1, z2, alpha=self.alpha)
        uniform = 0.5 * (uniform_loss(z1, t=self.t) + uniform_loss(z2, t=self.t))
        return {"loss": (1 - self.lam) * align + self.lam * uniform, "align": align, "uniform": uniform}
