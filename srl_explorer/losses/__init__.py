"""Contrastive losses for sentence representations, one per file, registered by name.

Every loss is a :class:`~srl_explorer.losses.base.ContrastiveLoss` built from keyword hyperparameters
(named after the paper's symbols) whose ``forward(z1, z2)`` takes two ``(B, d)`` L2-normalized views
(row i of each is a positive pair) and returns a dict with a scalar ``"loss"``, its
``"align"``/``"uniform"`` parts, and detached diagnostics (``pos_prob``, ``active_frac``) where they
apply. Each class also describes itself: ``label``, ``color``, ``dissipates``, ``diagnostic`` and
``hparam_help`` -- read them here, through the registry, never from a copy.
"""
from __future__ import annotations

from .align_uniform import AlignUniform
from .base import ContrastiveLoss
from .dcl import DCL
from .dcl_hinge import DCLHinge
from .infonce import InfoNCE
from .mat import MAT
from .met import MET
from .mpt import MPT

LOSSES: dict[str, type[ContrastiveLoss]] = {
    "infonce": InfoNCE,
    "align_uniform": AlignUniform,
    "dcl": DCL,
    "dcl_hinge": DCLHinge,
    "mpt": MPT,
    "met": MET,
    "mat": MAT,
}

__all__ = ["LOSSES", "ContrastiveLoss", "InfoNCE", "AlignUniform", "DCL", "DCLHinge", "MPT", "MET", "MAT",
           "build_loss", "loss_hyperparameters", "loss_label", "loss_color", "dissipating_losses",
           "hparam_names", "hparam_cli_help"]


def loss_hyperparameters(name: str) -> dict[str, float]:
    """The hyperparameters of loss ``name`` and their defaults (the paper's values)."""
    return _get(name).defaults()


def build_loss(name: str, **hparams: float) -> ContrastiveLoss:
    """Instantiate loss ``name``; hyperparameters it does not take are ignored."""
    cls = _get(name)
    accepted = cls.defaults()
    return cls(**{k: v for k, v in hparams.items() if k in accepted and v is not None})


def loss_label(name: str) -> str:
    """Display name of loss ``name`` (``"A&U"``); an unknown name is returned as it is."""
    return LOSSES[name].label if name in LOSSES else name


def loss_color(name: str) -> str | None:
    """Chart colour of loss ``name``; None for an unknown name."""
    return LOSSES[name].color if name in LOSSES else None


def dissipating_losses() -> tuple[str, ...]:
    """Names of the losses that add gradient dissipation on purpose (the paper's claim 3)."""
    return tuple(name for name, cls in LOSSES.items() if cls.dissipates)


def hparam_names() -> tuple[str, ...]:
    """Every hyperparameter name of any registered loss, in registry order."""
    return tuple(dict.fromkeys(h for cls in LOSSES.values() for h in cls.defaults()))


def hparam_cli_help(hparam: str) -> str:
    """One help line for ``--<hparam>``: each distinct meaning with the losses that use it and their defaults."""
    by_text: dict[str, list[str]] = {}
    for name, cls in LOSSES.items():
        if hparam in cls.hparam_help:
            by_text.setdefault(cls.hparam_help[hparam], []).append(f"{name} {cls.defaults()[hparam]:g}")
    return "; ".join(f"{text} (default: {', '.join(uses)})" for text, uses in by_text.items())


def _get(name: str) -> type[ContrastiveLoss]:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]
