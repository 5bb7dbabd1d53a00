"""One rank of the 2-process equivalence test: `python -m tests._ddp_worker RANK TINY_MODEL OUT PORT...`."""
import os
import sys
from pathlib import Path

import torch

from srl_explorer.losses import LOSSES
from srl_explorer.train import train

from .test_distributed import B, cfg_for

if __name__ == "__main__":
    rank, tiny_model, out, ports = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", HF_HUB_OFFLINE="1")
    torch.set_num_threads(1)
    for loss, port in zip(LOSSES, ports):
        os.environ["MASTER_PORT"] = port
        train(cfg_for(loss, tiny_model, Path(out) / f"ddp-{loss}", B))
