"""Distributed training on CPU with gloo: 2 processes must match 1 process on the same global batch."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from srl_explorer import runs
from srl_explorer.distributed import torchrun_command
from srl_explorer.losses import LOSSES
from srl_explorer.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
B = 4  # per process; the single-process reference uses 2B
TORCHRUN = shutil.which("torchrun")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cfg_for(loss: str, tiny_model: str, out: Path, batch_size: int) -> TrainConfig:
    return TrainConfig(loss=loss, model=tiny_model, dropout=0.0, max_steps=1, batch_size=batch_size, lr=3e-5,
                       grad_clip=1e9, eval_every=100, max_train_sentences=64, output_dir=str(out),
                       margin={"mpt": 0.9, "met": 1.5, "mat": 0.6}.get(loss))  # margins large enough to be active


def test_two_processes_equal_one_process_for_every_loss(tiny_model, tmp_path):
    # Separate interpreters (not multiprocessing.spawn, which re-imports whatever __main__ the test runner has).
    ports = [str(free_port()) for _ in LOSSES]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests._ddp_worker", str(rank), tiny_model, str(tmp_path), *ports],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for rank in (0, 1)]
    for p in procs:
        out = p.communicate(timeout=600)[0].decode(errors="replace")
        assert p.returncode == 0, out[-3000:]
    worst = {}
    init = load_file(str(Path(tiny_model) / "model.safetensors"))
    for loss in LOSSES:
        single = train(cfg_for(loss, tiny_model, tmp_path / f"one-{loss}", 2 * B))
        ddp = tmp_path / f"ddp-{loss}"
        r1, r2 = runs.read_metrics(single / "metrics.jsonl")[0], runs.read_metrics(ddp / "metrics.jsonl")[0]
        assert [r["step"] for r in r2] == [0, 1]  # one file, written once, by rank 0
        for key in ("loss", "grad_norm", "grad_norm_z", "grad_norm_align", "grad_norm_uniform", "align", "uniform"):
            assert r2[1][key] == pytest.approx(r1[1][key], rel=1e-4, abs=1e-6), (loss, key)
        assert r1[1]["grad_norm"] > 0, loss  # the comparison is not vacuous
        a, b = load_file(str(single / "final" / "model.safetensors")), load_file(str(ddp / "final" / "model.safetensors"))
        worst[loss] = max((a[k] - b[k]).abs().max().item() for k in a)
        assert worst[loss] <= 1e-5, (loss, worst[loss])
        moved = max((a[k] - init[k]).abs().max().item() for k in a if k in init)
        assert moved > 1e-5, (loss, moved)  # the step really changed the parameters
        assert runs.read_status(ddp)["state"] == "finished" and runs.read_status(ddp)["world_size"] == 2
    print("max |Δparam| per loss:", {k: f"{v:.1e}" for k, v in worst.items()})


def test_torchrun_command():
    assert torchrun_command(["--loss", "mpt"], 4) == [
        "torchrun", "--nproc_per_node=4", "-m", "srl_explorer", "train", "--loss", "mpt"]
    multi = torchrun_command([], 8, nnodes=2, rdzv_endpoint="node0:29500")
    assert "--nnodes=2" in multi and "--rdzv-endpoint=node0:29500" in multi and "--rdzv-backend=c10d" in multi


def _torchrun(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = torchrun_command(args, 2)
    cmd[0:1] = [TORCHRUN, "--master-port", str(free_port())]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


@pytest.mark.slow
@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not on PATH")
def test_torchrun_cli_with_packaged_minilm(tmp_path):
    from transformers import AutoModel
    stsb = ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-train.csv"
    train_file = ["--train-file", str(stsb)] if stsb.exists() else []
    out = tmp_path / "run"
    proc = _torchrun([*train_file, "--max-steps", "3", "--batch-size", "8", "--eval-every", "3",
                      "--output-dir", str(out)])
    log = proc.communicate(timeout=600)[0].decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert [p.name for p in out.glob("**/metrics.jsonl")] == ["metrics.jsonl"]
    steps = [r["step"] for r in runs.read_metrics(out / "metrics.jsonl")[0]]
    assert steps == [0, 1, 2, 3]
    status = runs.read_status(out)
    assert status["state"] == "finished" and status["world_size"] == 2
    AutoModel.from_pretrained(out / "final")


@pytest.mark.slow
@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not on PATH")
def test_stop_request_and_rank_failure_end_every_rank(tiny_model, tmp_path):
    # A stop request (STOP file, seen by rank 0, all-reduced) ends both ranks as cancelled.
    out = tmp_path / "stop"
    proc = _torchrun(["--model", tiny_model, "--max-steps", "100000", "--batch-size", "4", "--eval-every", "1000",
                      "--output-dir", str(out)])
    deadline = time.time() + 120
    while not runs.read_metrics(out / "metrics.jsonl")[0][1:] and time.time() < deadline:
        time.sleep(0.2)
    runs.request_stop(out)
    log = proc.communicate(timeout=120)[0].decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert runs.read_status(out)["state"] == "cancelled"

    # Killing rank 1 ends rank 0 too, and the run is never left "running".
    out = tmp_path / "fail"
    proc = _torchrun(["--model", tiny_model, "--max-steps", "100000", "--batch-size", "4", "--eval-every", "1000",
                      "--output-dir", str(out)], start_new_session=True)
    deadline = time.time() + 120
    while not runs.read_metrics(out / "metrics.jsonl")[0][1:] and time.time() < deadline:
        time.sleep(0.2)
    rank1 = [p for p in _children(proc.pid) if b"\x00RANK=1\x00" in _environ(p)]
    assert rank1, "rank 1 not found"
    os.kill(rank1[0], signal.SIGKILL)
    proc.communicate(timeout=180)
    assert proc.returncode != 0
    status = runs.read_status(out)
    assert status["state"] in ("failed", "cancelled", "killed") and status.get("error"), status


def _children(pid: int) -> list[int]:
    import psutil
    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


def _environ(pid: int) -> bytes:
    try:
        return b"\x00" + Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_autocast_step(tiny_model, tmp_path):
    for precision in ("bf16", "fp16", "fp32"):
        run = train(TrainConfig(model=tiny_model, device="cuda", precision=precision, max_steps=2, batch_size=8,
                                max_train_sentences=64, output_dir=str(tmp_path / precision)))
        assert runs.read_status(run)["state"] == "finished"
