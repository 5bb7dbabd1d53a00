"""Wang & Isola's alignment and uniformity, and other tiny embedding metrics.

All inputs are L2-normalized embeddings.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def upcast(x: Tensor) -> Tensor:
    """Half/bfloat16 -> float32 (losses and metrics need at least float32); other dtypes unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def align_loss(x: Tensor, y: Tensor, alpha: float = 2.0) -> Tensor:
    """mean_i ||x_i - y_i||^α.  x, y: (N, d) positive pairs. Returns a scalar.

    The squared norm is clamped before the power so α < 2 keeps finite gradients.
    """
    sq = (upcast(x) - upcast(y)).pow(2).sum(dim=1)  # (N,)
    return sq.pow(alpha / 2).mean() if alpha == 2 else sq.clamp_min(1e-12).pow(alpha / 2).mean()


def uniform_loss(x: Tensor, t: float = 2.0) -> Tensor:
    """log mean_{i<j} e^{-t ||x_i - x_j||²}.  x: (N, d), N >= 2. Returns a scalar."""
    n = x.shape[0]
    x = upcast(x)
    norms = x.pow(2).sum(dim=1)  # (N,)
    sq = (norms[:, None] + norms[None, :] - 2.0 * x @ x.T).clamp_min(0.0)  # (N, N) squared distances
    i, j = torch.triu_indices(n, n, offset=1, device=x.device)
    return torch.logsumexp(-t * sq[i, j], dim=0) - np.log(i.numel())

