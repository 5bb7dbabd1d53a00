"""The loss gradient with respect to the normalized views, and the norms the trainer logs from it.

The loss is computed on a detached leaf holding this rank's L2-normalized views (2B, d): one cheap
``autograd.grad`` per part gives ∂L/∂z and its align/uniform split, and the encoder gets one backward
with ∂L/∂z (``normalize()``'s backward drops the radial part by itself).

Only the part of ∂L/∂z tangent to the unit sphere moves a normalized embedding: per row,
``g − (g·z) z``. The radial part depends on how a loss is written -- MET from ‖a‖² + ‖b‖² − 2ab or from
2 − 2ab trains identically but has different radial gradients -- so the logged ``grad_norm_z``,
``grad_norm_align`` and ``grad_norm_uniform`` are the norms of the tangential parts (the Riemannian
gradient), the same for every correct way of writing a loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .. import distributed as D
from ..losses import ContrastiveLoss

NORM_KEYS = ("grad_norm_z", "grad_norm_align", "grad_norm_uniform")


@dataclass
class ViewGrads:
    out: dict[str, Tensor]  # the loss's outputs on the global batch
    g_loss: Tensor  # (2B, d) ∂L/∂(this rank's normalized views)
    g_align: Tensor  # (2B, d) the weighted alignment part, w_align · ∂align/∂z
    g_uniform: Tensor  # (2B, d) the weighted uniformity part; g_loss = g_align + g_uniform
    z1: Tensor  # (global B, d) first views
    z2: Tensor  # (global B, d) second views


def view_gradients(loss_fn: ContrastiveLoss, leaf: Tensor, batch_size: int) -> ViewGrads:
    """The loss on ``leaf`` (2B, d; rows :B the first views, B: the second, all-gathered across ranks so
    the loss sees the global batch) and its gradient w.r.t. ``leaf``, split into the weighted parts."""
    z1 = D.all_gather_with_grad(leaf[:batch_size])  # (global B, d)
    z2 = D.all_gather_with_grad(leaf[batch_size:])  # (global B, d)
    out = loss_fn(z1, z2)
    g_align, = torch.autograd.grad(out["align"], leaf, retain_graph=True, materialize_grads=True)
    g_uniform, = torch.autograd.grad(out["uniform"], leaf, materialize_grads=True)
    w_align, w_uniform = loss_fn.part_weights
    g_align, g_uniform = w_align * g_align, w_uniform * g_uniform  # (2B, d) each
    return ViewGrads(out, g_align + g_uniform, g_align, g_uniform, z1, z2)


def tangential(g: Tensor, z: Tensor) -> Tensor:
    """``g − (g·z) z`` per row: the part of ``g`` (N, d) tangent to the unit sphere at the rows of ``z`` (N, d)."""
    return g - (g * z).sum(dim=1, keepdim=True) * z


def tangential_sq_norms(grads: ViewGrads, z: Tensor) -> Tensor:
    """Squared norms of the tangential parts of ∂L/∂z, of its align part and of its uniform part, (3,), over
    this rank's rows ``z`` (2B, d); summed over ranks they give the global batch's (then take the root)."""
    z = z.detach()
    return torch.stack([tangential(g, z).pow(2).sum() for g in (grads.g_loss, grads.g_align, grads.g_uniform)])


def logged_grad_norms(loss_fn: ContrastiveLoss, z1: Tensor, z2: Tensor) -> dict[str, float]:
    """``grad_norm_z``, ``grad_norm_align`` and ``grad_norm_uniform`` exactly as the trainer logs them, for
    two unit-norm views (B, d) in one process."""
    leaf = torch.cat([z1, z2]).detach().requires_grad_(True)  # (2B, d)
    grads = view_gradients(loss_fn, leaf, z1.shape[0])
    return dict(zip(NORM_KEYS, tangential_sq_norms(grads, leaf).sqrt().tolist(), strict=True))
