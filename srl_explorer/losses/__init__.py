"""Contrastive losses for sentence representations, one per file, registered by name.

Every loss is an ``nn.Module`` built from keyword hyperparameters (named after the
paper's symbols) whose ``forward(z1, z2)`` takes two ``(B, d)`` L2-normalized views
(row i of each is a positive pair) and returns a dict with a scalar ``"loss"``,
its ``"align"``/``"uniform"`` parts, and detached diagnostics (``pos_prob``,
``active_frac``) where they apply.
"""
from __future__ import annotations

import inspect

from torch import nn

from .align_uniform import AlignUniform
from .dcl import DCL
from .dcl_hinge import DCLHinge
from .infonce import InfoNCE
from .mat import MAT
from .met import MET
from .mpt import MPT

LOSSES: dict[str, type[nn.Module]] = {
    "infonce": InfoNCE,
    "align_uniform": AlignUniform,
    "dcl": DCL,
    "dcl_hinge": DCLHinge,
    "mpt": MPT,
    "met": MET,
    "mat": MAT,
}

__all__ = ["LOSSES", "InfoNCE", "AlignUniform", "DCL", "DCLHinge", "MPT", "MET", "MAT",
           "build_loss", "loss_hyperparameters"]


def loss_hyperparameters(name: str) -> dict[str, float]:
    """The hyperparameters of loss ``name`` and their defaults (the paper's values)."""
    cls = _get(name)
    return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self"}


def build_loss(name: str, **hparams: float) -> nn.Module:
    """Instantiate loss ``name``; hyperparameters it does not take are ignored."""
    cls = _get(name)
    accepted = loss_hyperparameters(name)
    return cls(**{k: v for k, v in hparams.items() if k in accepted and v is not None})


def _get(name: str) -> type[nn.Module]:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]
