"""Small helpers shared by the loss modules.

All inputs are ``(B, d)`` L2-normalized views; row ``i`` of ``z1`` and row ``i``
of ``z2`` form the positive pair, every other row of ``z2`` is a negative for it.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..metrics import upcast

EPS = 1e-6  # clamp margin for sqrt/arccos so gradients stay finite as s -> 1


def check_views(z1: Tensor, z2: Tensor) -> int:
    """Validate the two views and return the batch size B."""
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"expected two (B, d) views of equal shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError(f"a contrastive loss needs at least 2 sentences per batch (got {z1.shape[0]}): "
                         "there are no negatives")
    return z1.shape[0]


def cosines(z1: Tensor, z2: Tensor) -> Tensor:
    """s = z1 z2^T, (B, B); at least float32 even under autocast."""
    return upcast(z1) @ upcast(z2).T


def diagonal_mask(b: int, device: torch.device) -> Tensor:
    """(B, B) bool, True on the diagonal (the positives)."""
    return torch.eye(b, dtype=torch.bool, device=device)


def hardest_negative_max(x: Tensor) -> Tensor:
    """max_{j != i} x_ij per row, (B,). The diagonal is masked with -inf, never zeroed."""
    return x.masked_fill(diagonal_mask(x.shape[0], x.device), -math.inf).amax(dim=1)


def hardest_negative_min(x: Tensor) -> Tensor:
    """min_{j != i} x_ij per row, (B,). The diagonal is masked with +inf, never zeroed."""
    return x.masked_fill(diagonal_mask(x.shape[0], x.device), math.inf).amin(dim=1)


def safe_sqrt(x: Tensor) -> Tensor:
    """sqrt with the argument clamped to >= EPS, so d/dx stays finite at 0."""
    return x.clamp_min(EPS).sqrt()


def safe_arccos(s: Tensor) -> Tensor:
    """arccos with the argument clamped to [-1 + EPS, 1 - EPS]."""
    return s.clamp(-1.0 + EPS, 1.0 - EPS).arccos()


def pairwise_sq_dist(a: Tensor, b: Tensor) -> Tensor:
    """||a_i - b_j||^2, (B, B), clamped at 0 against rounding."""
    a, b = upcast(a), upcast(b)
    return (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None, :] - 2.0 * a @ b.T).clamp_min(0.0)


def softmax_positive_prob(logits: Tensor) -> Tensor:
    """Mean softmax probability of the positive (diagonal) over each row; detached scalar."""
    with torch.no_grad():
        return logits.softmax(dim=1).diagonal().mean()
