"""The base class of every loss: hyperparameters, part weights, and what the app shows about it.

A loss subclass declares, next to its maths::

    label = "My loss"              # name in charts, tables and the report
    color = "#123456"              # its colour in every chart
    dissipates = False             # adds gradient dissipation on purpose (the paper's claim 3)
    diagnostic = "pos_prob"        # the dissipation indicator it logs: pos_prob, active_frac or None
    hparam_help = {"temp": "..."}  # one line per hyperparameter of __init__ (names are the paper's symbols)

and passes its hyperparameters to ``super().__init__(**hparams)``, which checks and stores them.
"""
from __future__ import annotations

import inspect
from typing import ClassVar

from torch import nn

DIAGNOSTICS = ("pos_prob", "active_frac")
TEMP_HELP = "temperature τ: divides the cosines before the softmax; lower sharpens it onto the hardest negatives"

# A hyperparameter name means the same symbol in every loss, so its valid range is checked by name.
HPARAM_CHECKS = {
    "temp": (lambda v: v > 0, "must be > 0"),
    "lam": (lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]"),
}


class ContrastiveLoss(nn.Module):
    """``forward(z1, z2)`` on two (B, d) L2-normalized views returns ``loss``, its ``align`` and
    ``uniform`` parts (loss = w_align·align + w_uniform·uniform, see :attr:`part_weights`) and the
    detached diagnostic named by :attr:`diagnostic`, if any."""

    label: ClassVar[str]
    color: ClassVar[str]
    dissipates: ClassVar[bool] = False
    diagnostic: ClassVar[str | None] = None
    hparam_help: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, abstract: bool = False, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:  # a family base (TemperatureLoss, HingeLoss): its concrete losses are checked
            return
        for attr in ("label", "color"):
            if not isinstance(getattr(cls, attr, None), str):
                raise TypeError(f"{cls.__name__} must set the class attribute {attr!r}")
        if cls.diagnostic is not None and cls.diagnostic not in DIAGNOSTICS:
            raise TypeError(f"{cls.__name__}.diagnostic must be one of {DIAGNOSTICS} or None")
        if set(cls.hparam_help) != set(cls.defaults()):
            raise TypeError(f"{cls.__name__}.hparam_help must describe exactly {sorted(cls.defaults())}")

    def __init__(self, **hparams: float):
        super().__init__()
        for name, value in hparams.items():
            check = HPARAM_CHECKS.get(name)
            if check is not None and not check[0](value):
                raise ValueError(f"{name} {check[1]}, got {value}")
            setattr(self, name, value)

    @classmethod
    def defaults(cls) -> dict[str, float]:
        """The hyperparameters of ``__init__`` and their defaults (the paper's values)."""
        return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}

    @property
    def part_weights(self) -> tuple[float, float]:
        """(w_align, w_uniform): loss = w_align * align + w_uniform * uniform, so the loss gradient is the
        same weighted sum of the parts' gradients."""
        return 1.0, 1.0

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.defaults())


class TemperatureLoss(ContrastiveLoss, abstract=True):
    """The InfoNCE family: logits s/τ with one hyperparameter, the temperature τ; logs ``pos_prob``."""

    diagnostic = "pos_prob"
    hparam_help = {"temp": TEMP_HELP}

    def __init__(self, temp: float = 0.05):
        super().__init__(temp=temp)


class HingeLoss(ContrastiveLoss, abstract=True):
    """A hinge per anchor: no gradient once it is met, which adds gradient dissipation on purpose
    (the paper's claim 3); logs the fraction of active hinges, ``active_frac``."""

    dissipates = True
    diagnostic = "active_frac"
