"""Deprecated alias: the trainer is :mod:`srl_explorer.training` and its config :mod:`srl_explorer.config`.

Kept only while modules outside the trainer still import it; this file goes once
``grep -rn "srl_explorer.train import\\|from .train import"`` finds nothing.
"""
from .config import TrainConfig
from .training import TrainingError, batch_indices, linear_schedule, pick_autocast_dtype, pick_device, train

__all__ = ["TrainConfig", "TrainingError", "batch_indices", "linear_schedule", "pick_autocast_dtype", "pick_device",
           "train"]
