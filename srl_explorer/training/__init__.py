"""The trainer: :func:`train` a :class:`~srl_explorer.config.TrainConfig` into a run folder.

``setup`` (device, data, model, optimizer), ``loop`` (the step and the loop), ``lifecycle`` (run folder,
status, signals, checkpoints, resume).
"""
from ..config import TrainConfig
from .lifecycle import TrainingError
from .loop import Hooks, train
from .setup import batch_indices, linear_schedule, pick_autocast_dtype, pick_device

__all__ = ["TrainConfig", "TrainingError", "Hooks", "train", "batch_indices", "linear_schedule", "pick_autocast_dtype",
           "pick_device"]
