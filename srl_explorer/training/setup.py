"""What the loop needs before its first step: the device and precision, the data, the model, the
optimizer and schedule, and the order in which sentences are drawn. Every helper here is a pure
function of the config (and the rank), so resumed and distributed runs draw exactly the same batches."""
from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass

import numpy as np
import torch

from .. import distributed as D
from ..config import TrainConfig
from ..data import DataError, load_corpus, read_pairs
from ..dev import DevEvaluator
from ..encoder import Encoder
from ..metrics import align_loss, uniform_loss


# --------------------------------------------------------------------------- hardware
def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: this process's GPU (``cuda:LOCAL_RANK``) if there is one, else the CPU.
    A bare ``cuda`` also means ``cuda:LOCAL_RANK``, so every torchrun process gets its own GPU."""
    try:
        dev = torch.device(f"cuda:{local_rank}" if name in ("auto", "cuda") else name)
    except RuntimeError as e:
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        if name == "auto":
            return torch.device("cpu")
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available")
    return dev


def pick_autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None means plain fp32. Autocast is used on CUDA only."""
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def set_tf32(device: torch.device, enabled: bool) -> None:
    """TF32 matmuls (Ampere and newer) on or off; nothing to do off CUDA."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU batch tensor to ``device``; pinned memory makes the CUDA copy asynchronous."""
    return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t


# --------------------------------------------------------------------------- data
@dataclass
class Data:
    sentences: list[str]
    global_batch: int  # world_size * batch_size sentences per step
    steps_per_epoch: int
    max_steps: int
    evaluator: DevEvaluator | None  # rank 0 only


def load_data(cfg: TrainConfig, world_size: int, master: bool) -> Data:
    sentences = load_corpus(cfg.train_file, cfg.max_train_sentences)
    global_batch = cfg.batch_size * world_size
    if len(sentences) < global_batch:
        raise DataError(f"the corpus has {len(sentences)} sentences, fewer than the global batch size "
                        f"{global_batch}; use a larger corpus or a smaller --batch-size")
    steps_per_epoch = len(sentences) // global_batch
    max_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    evaluator = DevEvaluator(read_pairs(cfg.dev_file), cfg.eval_batch_size) if master else None
    return Data(sentences, global_batch, steps_per_epoch, max_steps, evaluator)


def batch_indices(step: int, n: int, global_batch: int, seed: int) -> torch.Tensor:
    """Indices of the global batch for ``step`` (0-based): a fresh seeded permutation per epoch,
    dropping the incomplete last batch. A pure function of the step, so resuming is exact."""
    epoch, k = divmod(step, n // global_batch)
    return _epoch_permutation(n, seed, epoch)[k * global_batch:(k + 1) * global_batch]


@functools.lru_cache(maxsize=2)
def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded order of one epoch, (n,); cached, so a step slices it instead of redrawing all n."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


# --------------------------------------------------------------------------- model and optimizer
def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def build_model(cfg: TrainConfig, device: torch.device, dist_info: D.DistInfo) -> tuple[Encoder, torch.nn.Module]:
    """The encoder in training mode on ``device``, and the module to call: the encoder itself, or its
    DDP wrapper when several processes train."""
    encoder = Encoder.from_pretrained(cfg.model, pooler=cfg.pooler, mlp_only_train=cfg.mlp_only_train,
                                      max_seq_length=cfg.max_seq_length)
    if cfg.dropout is not None:
        for m in encoder.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = cfg.dropout
    encoder.to(device).train()
    if not dist_info.enabled:
        return encoder, encoder
    return encoder, torch.nn.parallel.DistributedDataParallel(
        encoder, device_ids=[device.index] if device.type == "cuda" else None)


@dataclass
class Optim:
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler  # enabled only under fp16 autocast


def build_optimizer(cfg: TrainConfig, encoder: Encoder, device: torch.device, max_steps: int,
                    amp_dtype: torch.dtype | None) -> Optim:
    """AdamW (weight decay on matrices only), linear warm-up and decay, and the fp16 gradient scaler."""
    params = [p for p in encoder.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr,
                                  fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(linear_schedule, warmup=cfg.warmup_steps, total=max_steps))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    return Optim(params, optimizer, scheduler, scaler)


def linear_schedule(step: int, warmup: int, total: int) -> float:
    """LR multiplier: linear warm-up, then linear decay to 0 at ``total`` (HF's default, as SimCSE)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def batch_metrics(z1: torch.Tensor, z2: torch.Tensor) -> dict[str, float]:
    """Wang & Isola's alignment (α=2) and uniformity (t=2, averaged over both views) of a batch."""
    with torch.no_grad():
        return {"align": align_loss(z1, z2).item(),
                "uniform": (0.5 * (uniform_loss(z1) + uniform_loss(z2))).item()}
