"""The loss registry, by name: what the CLI, the app and the charts show about each loss, without torch.

The pages read it before torch is loaded (importing torch is 1.3-1.5 s of a page's first load on a 2-core
machine); the maths is in one file per loss, which :meth:`LossSpec.load` imports. Each loss class names
its entry (``class InfoNCE(TemperatureLoss, name="infonce")``) and takes its label, colour, diagnostic and
hyperparameter defaults from it, so every fact here has this one owner.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

DIAGNOSTICS = ("pos_prob", "active_frac")
TEMP_HELP = "temperature τ: divides the cosines before the softmax; lower sharpens it onto the hardest negatives"


@dataclass(frozen=True)
class LossSpec:
    """One registered loss.

    ``hparams`` maps each hyperparameter (the paper's symbol) to the paper's value and ``hparam_help`` to
    one line about it; ``diagnostic`` is the dissipation indicator the loss logs (``pos_prob``,
    ``active_frac`` or None); ``dissipates``: it adds gradient dissipation on purpose (the paper's claim 3);
    ``impl``: ``"module:Class"`` in this package.
    """

    name: str
    label: str
    color: str
    impl: str
    hparams: dict[str, float]
    hparam_help: dict[str, str] = field(repr=False)
    diagnostic: str | None = None
    dissipates: bool = False

    def __post_init__(self) -> None:
        if set(self.hparam_help) != set(self.hparams):
            raise TypeError(f"{self.name}: hparam_help must describe exactly {sorted(self.hparams)}")
        if self.diagnostic is not None and self.diagnostic not in DIAGNOSTICS:
            raise TypeError(f"{self.name}: diagnostic must be one of {DIAGNOSTICS} or None")

    def defaults(self) -> dict[str, float]:
        """The hyperparameters and their defaults (the paper's values)."""
        return dict(self.hparams)

    def load(self) -> Any:
        """The loss's ``nn.Module`` class (imports torch)."""
        module, cls = self.impl.split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)


LOSSES: dict[str, LossSpec] = {s.name: s for s in (
    LossSpec("infonce", "InfoNCE", "#1f77b4", "infonce:InfoNCE", {"temp": 0.05}, {"temp": TEMP_HELP},
             diagnostic="pos_prob"),
    LossSpec("align_uniform", "A&U", "#d62728", "align_uniform:AlignUniform",
             {"lam": 0.5, "alpha": 2.0, "t": 2.0},
             {"lam": "λ: weight of uniformity against alignment, loss = (1−λ)·align + λ·uniform",
              "alpha": "α: exponent of the positive-pair distance in alignment (2 = squared distance)",
              "t": "t: sharpness of the Gaussian potential in uniformity; higher focuses on close pairs"}),
    LossSpec("dcl", "DCL", "#7f7f7f", "dcl:DCL", {"temp": 0.05}, {"temp": TEMP_HELP}, diagnostic="pos_prob"),
    LossSpec("dcl_hinge", "DCL-hinge", "#9467bd", "dcl_hinge:DCLHinge", {"temp": 0.05}, {"temp": TEMP_HELP},
             diagnostic="active_frac", dissipates=True),
    LossSpec("mpt", "MPT", "#2ca02c", "mpt:MPT", {"margin": 0.09},
             {"margin": "m (cosine): the positive's cosine must beat the hardest negative's by m; "
                        "no gradient once it does"},
             diagnostic="active_frac", dissipates=True),
    LossSpec("met", "MET", "#ff7f0e", "met:MET", {"margin": 0.45},
             {"margin": "m (Euclidean): the positive's distance must be m below the hardest negative's"},
             diagnostic="active_frac", dissipates=True),
    LossSpec("mat", "MAT", "#8c564b", "mat:MAT", {"margin": 0.15},
             {"margin": "m (× π radians): the positive's angle must be m·π below the hardest negative's"},
             diagnostic="active_frac", dissipates=True),
)}


def get_spec(name: str) -> LossSpec:
    """The registry entry of loss ``name``; a clear error for an unknown one."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]


def loss_hyperparameters(name: str) -> dict[str, float]:
    """The hyperparameters of loss ``name`` and their defaults (the paper's values)."""
    return get_spec(name).defaults()


def loss_label(name: str) -> str:
    """Display name of loss ``name`` (``"A&U"``); an unknown name is returned as it is."""
    return LOSSES[name].label if name in LOSSES else name


def loss_color(name: str) -> str | None:
    """Chart colour of loss ``name``; None for an unknown name."""
    return LOSSES[name].color if name in LOSSES else None


def dissipating_losses() -> tuple[str, ...]:
    """Names of the losses that add gradient dissipation on purpose (the paper's claim 3)."""
    return tuple(name for name, spec in LOSSES.items() if spec.dissipates)


def hparam_names() -> tuple[str, ...]:
    """Every hyperparameter name of any registered loss, in registry order."""
    return tuple(dict.fromkeys(h for spec in LOSSES.values() for h in spec.hparams))


def hparam_cli_help(hparam: str) -> str:
    """One help line for ``--<hparam>``: each distinct meaning with the losses that use it and their defaults."""
    by_text: dict[str, list[str]] = {}
    for name, spec in LOSSES.items():
        if hparam in spec.hparam_help:
            by_text.setdefault(spec.hparam_help[hparam], []).append(f"{name} {spec.hparams[hparam]:g}")
    return "; ".join(f"{text} (default: {', '.join(uses)})" for text, uses in by_text.items())
