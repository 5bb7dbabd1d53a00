"""One rank of the 2-process equivalence test: `python -m tests._ddp_worker RANK PORT DEVICE TINY_MODEL OUT`.

Joins one process group (gloo on CPU, nccl on CUDA) and trains one step with every loss in it;
train() uses the group as it is and leaves it alone.
"""
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from srl_explorer.losses import LOSSES
from srl_explorer.training import train

from .test_distributed import B, cfg_for

if __name__ == "__main__":
    rank, port, device, tiny_model, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=port, HF_HUB_OFFLINE="1")
    torch.set_num_threads(1)
    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    try:
        for loss in LOSSES:
            train(cfg_for(loss, tiny_model, out / f"ddp-{loss}", B, device))
            assert dist.is_initialized(), "train() destroyed a process group it did not create"
    finally:
        dist.destroy_process_group()
