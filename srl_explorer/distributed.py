"""torch.distributed helpers for ``torchrun`` (it sets RANK, LOCAL_RANK and WORLD_SIZE).

Launch (see docs/scaling.md):
    torchrun --nproc_per_node 4 -m srl_explorer train --loss mpt --batch-size 16 ...   # global batch 64

Every helper is a no-op in a single process, so the trainer calls them unconditionally.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when setup() created the process group (so teardown() destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def master(self) -> bool:
        return self.rank == 0


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def local_rank() -> int:
    """This process's index on its node (torchrun's LOCAL_RANK; 0 outside torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def setup(device: torch.device | None = None) -> DistInfo:
    """Join the process group when launched by torchrun; a no-op in a single process.

    Backend: nccl when ``device`` is a CUDA device (which becomes this process's current
    device), gloo otherwise. A group the caller initialised already is used as it is and
    left for the caller to destroy.
    """
    if _active():
        return DistInfo(dist.get_rank(), local_rank(), dist.get_world_size(), owns_group=False)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), local_rank(), int(os.environ["WORLD_SIZE"]), owns_group=True)
    if device is not None and device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
    else:
        dist.init_process_group(backend="gloo")
    return info


def teardown(info: DistInfo | None = None) -> None:
    """Destroy the process group if ``setup`` created it."""
    if _active() and (info is None or info.owns_group):
        dist.destroy_process_group()


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` (B, d) from every rank in rank order -> (world*B, d), differentiable
    w.r.t. this rank's rows.

    The other ranks' shards arrive as constants and the local shard is put back in, so
    autograd flows to this rank's embeddings. Every rank then computes the same loss over
    the global batch (row ``i`` of the gathered views pairs with row ``i``: the positives of
    rank r sit at r*B + i, no label offset is needed), and each rank's backward yields exactly
    the global gradient's rows for its own shard. No communication happens in backward.
    """
    if not _active() or dist.get_world_size() == 1:
        return x
    shards = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(shards, x.detach().contiguous())
    shards[dist.get_rank()] = x
    return torch.cat(shards, dim=0)


def all_reduce_max(x: Tensor) -> Tensor:
    """In place: the element-wise max over ranks (used for stop / non-finite flags)."""
    if _active():
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return x


def all_reduce_sum(x: Tensor) -> Tensor:
    """In place: the element-wise sum over ranks."""
    if _active():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier() -> None:
    if _active():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s (picklable) ``obj`` on every rank."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def seed_step(seed: int, step: int, rank: int) -> None:
    """Seed the dropout RNG for ``step`` on ``rank`` (CPU and every GPU; no sync).

    Ranks draw different dropout masks, as the sentences of one global batch would in a
    single process, and the seed is a pure function of the step, so a resumed run draws
    the same masks as an uninterrupted one.
    """
    torch.manual_seed((seed * 1_000_003 + step) * 1_009 + rank)
