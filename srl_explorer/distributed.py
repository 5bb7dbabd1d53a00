"""torch.distributed helpers for ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK set by it)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup(backend: str | None = None) -> DistInfo:
    """Initialise the process group when launched by torchrun; a no-op otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"]))
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` (B, d) from every rank in rank order -> (world*B, d).

    The other ranks' shards are constants; the local shard is put back in so that
    autograd flows to this rank's embeddings (each rank's leaf gets exactly the
    rows of the global gradient that belong to it).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    shards = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(shards, x.detach().contiguous())
    shards[dist.get_rank()] = x
    return torch.cat(shards, dim=0)


def all_reduce_max(x: Tensor) -> Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return x


def all_reduce_sum(x: Tensor) -> Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def torchrun_command(train_args: list[str], nproc_per_node: int, nnodes: int = 1,
                     rdzv_endpoint: str | None = None) -> list[str]:
    """``torchrun ... -m srl_explorer train <train_args>``; multi-node adds the c10d rendezvous
    (run the same command on every node; ``--node-rank`` is assigned by the rendezvous)."""
    cmd = ["torchrun", f"--nproc_per_node={nproc_per_node}"]
    if nnodes > 1:
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint or 'HOST:29500'}",
                "--rdzv-id=srl"]
    return cmd + ["-m", "srl_explorer", "train", *train_args]
