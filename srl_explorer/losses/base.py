"""The base class of every loss: hyperparameters, part weights, and what the app shows about it.

A loss subclass names its registry entry (:mod:`srl_explorer.losses.registry`, which holds its label,
colour, diagnostic and the paper's hyperparameter values) and passes its hyperparameters on::

    class MyLoss(ContrastiveLoss, name="my_loss"):
        def __init__(self, margin: float | None = None):   # None: the paper's value, from the registry
            super().__init__(margin=margin)

``super().__init__(**hparams)`` fills in the defaults, checks the values and stores them.
"""
from __future__ import annotations

import inspect
from typing import ClassVar

from torch import nn

from .registry import LOSSES, LossSpec

# A hyperparameter name means the same symbol in every loss, so its valid range is checked by name.
HPARAM_CHECKS = {
    "temp": (lambda v: v > 0, "must be > 0"),
    "lam": (lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]"),
}


class ContrastiveLoss(nn.Module):
    """``forward(z1, z2)`` on two (B, d) L2-normalized views returns ``loss``, its ``align`` and
    ``uniform`` parts (loss = w_align·align + w_uniform·uniform, see :attr:`part_weights`) and the
    detached diagnostic named by :attr:`diagnostic`, if any. ``label``, ``color``, ``diagnostic``,
    ``dissipates`` and ``hparam_help`` are the registry entry's (``spec``)."""

    spec: ClassVar[LossSpec]
    label: ClassVar[str]
    color: ClassVar[str]
    dissipates: ClassVar[bool]
    diagnostic: ClassVar[str | None]
    hparam_help: ClassVar[dict[str, str]]

    def __init_subclass__(cls, name: str | None = None, abstract: bool = False, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:  # a family base (TemperatureLoss, HingeLoss): its concrete losses are checked
            return
        if name is None and hasattr(cls, "spec"):  # a variant of a registered loss keeps its entry
            return
        if name not in LOSSES:
            raise TypeError(f"{cls.__name__} must name its registry entry: class {cls.__name__}(..., name=...)")
        spec = cls.spec = LOSSES[name]
        cls.label, cls.color, cls.dissipates = spec.label, spec.color, spec.dissipates
        cls.diagnostic, cls.hparam_help = spec.diagnostic, spec.hparam_help
        taken = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                 if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
        if taken != list(spec.hparams):
            raise TypeError(f"{cls.__name__}.__init__ must take exactly {list(spec.hparams)}, takes {taken}")

    def __init__(self, **hparams: float | None):
        super().__init__()
        defaults = self.spec.hparams
        for name, value in hparams.items():
            value = defaults[name] if value is None else value
            check = HPARAM_CHECKS.get(name)
            if check is not None and not check[0](value):
                raise ValueError(f"{name} {check[1]}, got {value}")
            setattr(self, name, value)

    @classmethod
    def defaults(cls) -> dict[str, float]:
        """The hyperparameters and their defaults (the paper's values)."""
        return cls.spec.defaults()

    @property
    def part_weights(self) -> tuple[float, float]:
        """(w_align, w_uniform): loss = w_align * align + w_uniform * uniform, so the loss gradient is the
        same weighted sum of the parts' gradients."""
        return 1.0, 1.0

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.defaults())


class TemperatureLoss(ContrastiveLoss, abstract=True):
    """The InfoNCE family: logits s/τ with one hyperparameter, the temperature τ."""

    def __init__(self, temp: float | None = None):
        super().__init__(temp=temp)


class HingeLoss(ContrastiveLoss, abstract=True):
    """A hinge per anchor: no gradient once it is met, which adds gradient dissipation on purpose
    (the paper's claim 3); logs the fraction of active hinges, ``active_frac``."""
