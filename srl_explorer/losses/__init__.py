"""Contrastive losses for sentence representations, one per file, registered by name.

Every loss is a :class:`~srl_explorer.losses.base.ContrastiveLoss` built from keyword hyperparameters
(named after the paper's symbols) whose ``forward(z1, z2)`` takes two ``(B, d)`` L2-normalized views
(row i of each is a positive pair) and returns a dict with a scalar ``"loss"``, its
``"align"``/``"uniform"`` parts, and detached diagnostics (``pos_prob``, ``active_frac``) where they
apply. What the app shows about each loss (label, colour, diagnostic, hyperparameters and their help)
is its :class:`~srl_explorer.losses.registry.LossSpec` in ``LOSSES``, which needs no torch; the classes
(``InfoNCE``, ``AlignUniform``, ...) and :func:`build_loss` import it when first asked for.
"""
from __future__ import annotations

from .registry import (
    LOSSES,
    LossSpec,
    dissipating_losses,
    get_spec,
    hparam_cli_help,
    hparam_names,
    loss_color,
    loss_hyperparameters,
    loss_label,
)

__all__ = ["LOSSES", "LossSpec", "ContrastiveLoss", "InfoNCE", "AlignUniform", "DCL", "DCLHinge", "MPT", "MET",
           "MAT", "build_loss", "loss_hyperparameters", "loss_label", "loss_color", "dissipating_losses",
           "hparam_names", "hparam_cli_help"]
_CLASSES = {spec.impl.split(":")[1]: spec for spec in LOSSES.values()}


def build_loss(name: str, **hparams: float | None):
    """Instantiate loss ``name``; hyperparameters it does not take (or given as None) are ignored."""
    spec = get_spec(name)
    return spec.load()(**{k: v for k, v in hparams.items() if k in spec.hparams and v is not None})


def __getattr__(name: str):
    """The loss classes, imported (with torch) on first use: ``from srl_explorer.losses import InfoNCE``."""
    if name in _CLASSES:
        return _CLASSES[name].load()
    if name == "ContrastiveLoss":
        from .base import ContrastiveLoss
        return ContrastiveLoss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
