"""Distributed training: 2 processes (gloo on CPU) match 1 process on the same global batch for every
loss; the torchrun CLI, stop requests and rank failures; the CUDA paths (skipped without a GPU)."""
from __future__ import annotations

import collections
import linecache
import os
import re
import shlex
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

from srl_explorer import distributed as D
from srl_explorer import rundir
from srl_explorer.config import TrainConfig
from srl_explorer.jobs import torchrun_command
from srl_explorer.losses import LOSSES
from srl_explorer.training import pick_autocast_dtype, pick_device, train

ROOT = Path(__file__).resolve().parents[1]
B = 4  # per process; the single-process reference uses 2B
TORCHRUN = shutil.which("torchrun")
STEP_KEYS = ("loss", "loss_align", "loss_uniform", "grad_norm", "grad_norm_z", "grad_norm_align", "grad_norm_uniform",
             "align", "uniform", "pos_prob", "active_frac")
needs_two_gpus = pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                                    reason="needs 2 CUDA GPUs")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cfg_for(loss: str, tiny_model: str, out: Path, batch_size: int, device: str = "cpu") -> TrainConfig:
    """One step, no dropout, no clipping (grad_clip huge), fp32 without TF32: the runs must agree."""
    return TrainConfig(loss=loss, model=tiny_model, dropout=0.0, max_steps=1, batch_size=batch_size, lr=3e-5,
                       grad_clip=1e9, eval_every=100, max_train_sentences=64, output_dir=str(out), device=device,
                       precision="fp32", tf32=False, keep="all",  # adam_first_moments reads last/
                       pooler="avg", mlp_only_train=False,  # the pooler is not what these tests are about
                       margin={"mpt": 0.9, "met": 1.5, "mat": 0.6}.get(loss))  # margins large enough to be active


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def adam_first_moments(run: Path) -> dict[str, torch.Tensor]:
    """exp_avg of every parameter after one AdamW step = (1 - β1) × its gradient."""
    state = torch.load(run / "last" / "trainer_state.pt", map_location="cpu", weights_only=True)["optimizer"]["state"]
    return {str(i): s["exp_avg"] for i, s in state.items()}


def check_ddp_equals_single(tiny_model: str, tmp_path: Path, device: str) -> dict[str, tuple[float, float]]:
    """Run both ranks (one process group, every loss), then the 1-process references; compare."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, "-m", "tests._ddp_worker", str(rank), port, device, tiny_model,
                               str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for rank in (0, 1)]
    for p in procs:
        out = p.communicate(timeout=600)[0].decode(errors="replace")
        assert p.returncode == 0, out[-3000:]
    init = load_file(str(Path(tiny_model) / "model.safetensors"))
    worst = {}
    for loss in LOSSES:
        single = train(cfg_for(loss, tiny_model, tmp_path / f"one-{loss}", 2 * B, device))
        ddp = tmp_path / f"ddp-{loss}"
        r1, r2 = rundir.read_metrics(single / "metrics.jsonl")[0], rundir.read_metrics(ddp / "metrics.jsonl")[0]
        assert [r["step"] for r in r2] == [0, 1]  # one file, each step written once, by rank 0
        assert r2[1].keys() == r1[1].keys(), loss
        for key in STEP_KEYS:
            if key in r1[1]:
                assert r2[1][key] == pytest.approx(r1[1][key], rel=1e-5, abs=1e-7), (loss, key)
        assert r1[1]["grad_norm"] > 1e-3, loss  # the loss is active: the comparison is not vacuous
        # AdamW's first step is ≈ lr·sign(grad) and blind to the gradient's scale, so compare the
        # gradients themselves (through exp_avg) as well as the updated parameters.
        m1, m2 = adam_first_moments(single), adam_first_moments(ddp)
        grad_diff = max_abs_diff(m1, m2) / max(v.abs().max().item() for v in m1.values())
        assert grad_diff <= 1e-5, (loss, grad_diff)
        p1 = load_file(str(single / "final" / "model.safetensors"))
        param_diff = max_abs_diff(p1, load_file(str(ddp / "final" / "model.safetensors")))
        assert param_diff <= 1e-5, (loss, param_diff)
        assert max((p1[k] - init[k]).abs().max().item() for k in p1) > 1e-5, loss  # the step moved the weights
        status = rundir.read_status(ddp)
        assert status["state"] == "finished" and status["world_size"] == 2, status
        worst[loss] = (param_diff, grad_diff)
    print("\nmax |Δparam|, max |Δgrad|/max|grad| per loss:",
          {k: f"{p:.1e}, {g:.1e}" for k, (p, g) in worst.items()})
    return worst


def test_two_processes_equal_one_process_for_every_loss(tiny_model, tmp_path):
    check_ddp_equals_single(tiny_model, tmp_path, "cpu")


def test_torchrun_command():
    assert torchrun_command(["--loss", "mpt"], 4) == [
        "torchrun", "--nproc_per_node=4", "-m", "srl_explorer", "train", "--loss", "mpt"]
    multi = torchrun_command(["--batch-size", "4"], 8, nnodes=2, rdzv_endpoint="node0:29500")
    assert multi[:5] == ["torchrun", "--nproc_per_node=8", "--nnodes=2", "--rdzv-backend=c10d",
                         "--rdzv-endpoint=node0:29500"]
    assert multi[-5:] == ["-m", "srl_explorer", "train", "--batch-size", "4"]
    with pytest.raises(ValueError, match="at least 1"):
        torchrun_command([], 0)


def test_torchrun_command_is_accepted_by_torchrun():
    from torch.distributed.run import get_args_parser
    args = get_args_parser().parse_args(torchrun_command(["--loss", "mat"], 8, 2, "node0:29500")[1:])
    assert (args.nproc_per_node, args.nnodes, args.rdzv_backend, args.rdzv_endpoint) == \
        ("8", "2", "c10d", "node0:29500")
    assert args.module and args.training_script == "srl_explorer"
    assert args.training_script_args == ["train", "--loss", "mat"]


def documented_commands(path: Path) -> list[list[str]]:
    """The ``torchrun``/``python -m srl_explorer`` commands in the bash blocks of a markdown file."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(("torchrun", "python -m srl_explorer")):
                commands.append(shlex.split(line))
    return commands


def test_documented_commands_parse():
    from torch.distributed.run import get_args_parser

    from srl_explorer.cli import build_parser
    commands = documented_commands(ROOT / "docs" / "scaling.md")
    assert sum(c[0] == "torchrun" for c in commands) >= 4
    for cmd in commands:
        if cmd[0] == "torchrun":
            args = get_args_parser().parse_args(cmd[1:])
            assert args.module and args.training_script == "srl_explorer", cmd
            cmd = ["python", "-m", args.training_script, *args.training_script_args]
        if cmd[3] == "train":
            build_parser().parse_args(cmd[3:])  # exits (SystemExit) on an unknown flag


def test_dropout_masks_differ_between_ranks_and_repeat_per_step():
    def mask(step: int, rank: int) -> torch.Tensor:
        D.seed_step(42, step, rank)
        return torch.nn.functional.dropout(torch.ones(256), 0.5)
    assert torch.equal(mask(3, 0), mask(3, 0))  # a pure function of (seed, step, rank): resume is exact
    assert not torch.equal(mask(3, 0), mask(3, 1)) and not torch.equal(mask(3, 0), mask(4, 0))


def test_single_process_needs_no_process_group(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = D.setup(torch.device("cpu"))
    assert (info.rank, info.world_size, info.master, info.enabled) == (0, 1, True, False)
    x = torch.randn(3, 4, requires_grad=True)
    assert D.all_gather_with_grad(x) is x and D.broadcast_object("a") == "a"
    D.barrier()
    D.teardown(info)


# ------------------------------------------------------------------------- the real CLI under torchrun
def _torchrun(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = torchrun_command(args, 2)
    cmd[0:1] = [TORCHRUN, "--master-port", str(free_port())]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def _wait_for_a_training_step(run: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 180
    while not rundir.read_metrics(run / "metrics.jsonl")[0][1:]:
        assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")[-3000:]
        assert time.time() < deadline, "no training step within 180 s"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not on PATH")
def test_torchrun_cli_with_packaged_minilm(tmp_path):
    from transformers import AutoModel
    stsb = ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-train.csv"
    train_file = ["--train-file", str(stsb)] if stsb.exists() else []  # else the shipped sample corpus
    out = tmp_path / "run"
    proc = _torchrun([*train_file, "--max-steps", "3", "--batch-size", "8", "--eval-every", "3", "--device", "cpu",
                      "--output-dir", str(out)])
    log = proc.communicate(timeout=600)[0].decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert [p.relative_to(tmp_path) for p in tmp_path.glob("**/metrics.jsonl")] == [Path("run/metrics.jsonl")]
    records = rundir.read_metrics(out / "metrics.jsonl")[0]
    assert [r["step"] for r in records] == [0, 1, 2, 3]  # no step logged twice
    assert "stsb_dev_spearman" in records[0] and "stsb_dev_spearman" in records[3]
    status = rundir.read_json(out / "status.json")
    assert status["state"] == "finished" and status["error"] is None and status["world_size"] == 2, status
    config = rundir.read_json(out / "config.json")
    assert config["world_size"] == 2 and config["batch_size"] == 8 and config["model"].startswith("packaged:")
    assert status["n_train_sentences"] // status["steps_per_epoch"] == 16  # global batch = 2 × 8
    AutoModel.from_pretrained(out / "final")


@pytest.mark.slow
@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not on PATH")
def test_stop_request_ends_every_rank_cleanly(tiny_model, tmp_path):
    out = tmp_path / "stop"
    proc = _torchrun(["--model", tiny_model, "--max-steps", "100000", "--batch-size", "4", "--eval-every", "1000",
                      "--device", "cpu", "--output-dir", str(out)])
    _wait_for_a_training_step(out, proc)
    rundir.request_stop(out)  # seen by rank 0, all-reduced to rank 1 at the next step
    log = proc.communicate(timeout=120)[0].decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]  # torchrun exits 0 only if both ranks did
    status = rundir.read_json(out / "status.json")
    assert status["state"] == "cancelled" and status["error"] is None, status
    steps = [r["step"] for r in rundir.read_metrics(out / "metrics.jsonl")[0]]
    assert steps == list(range(status["step"] + 1))
    assert (out / "last" / "trainer_state.pt").exists() and (out / "final" / "model.safetensors").exists()


@pytest.mark.slow
@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not on PATH")
def test_a_failing_rank_ends_every_rank_and_the_run_is_marked(tiny_model, tmp_path):
    import psutil
    out = tmp_path / "fail"
    proc = _torchrun(["--model", tiny_model, "--max-steps", "100000", "--batch-size", "4", "--eval-every", "1000",
                      "--device", "cpu", "--output-dir", str(out)], start_new_session=True)
    _wait_for_a_training_step(out, proc)
    workers = {p.pid: _environ(p.pid) for p in psutil.Process(proc.pid).children(recursive=True)}
    rank1 = [pid for pid, env in workers.items() if b"\x00RANK=1\x00" in env]
    rank0 = [pid for pid, env in workers.items() if b"\x00RANK=0\x00" in env]
    assert rank1 and rank0, "workers not found"
    os.kill(rank1[0], signal.SIGKILL)
    proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert not psutil.pid_exists(rank0[0]) or psutil.Process(rank0[0]).status() == psutil.STATUS_ZOMBIE
    status = rundir.read_json(out / "status.json")  # as rank 0 wrote it, not read_status's "killed" guess
    assert status["state"] in ("failed", "cancelled") and status["error"], status


def _environ(pid: int) -> bytes:
    try:
        return b"\x00" + Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


# ------------------------------------------------------------------------- device, precision, sync points
def test_device_and_precision_selection():
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="--device must be"):
        pick_device("gpu")
    gpu = torch.device("cuda", 0)  # a device object needs no GPU
    assert pick_autocast_dtype("fp16", gpu) == torch.float16
    assert pick_autocast_dtype("bf16", gpu) == torch.bfloat16
    assert pick_autocast_dtype("fp32", gpu) is None
    assert all(pick_autocast_dtype(p, torch.device("cpu")) is None for p in ("auto", "bf16", "fp16", "fp32"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")
        assert pick_device("auto", local_rank=1) == torch.device("cpu")


SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


def host_reads_by_line(cfg: TrainConfig, monkeypatch) -> collections.Counter:
    """Count the tensor reads by the host (``.item()``, ``bool(t)``, ...; on CUDA each is a CPU-GPU sync)
    made directly from srl_explorer's code during ``train(cfg)``, by source line."""
    seen: collections.Counter = collections.Counter()
    package = str(ROOT / "srl_explorer")
    for name in SYNC_METHODS:
        original = getattr(torch.Tensor, name)

        def wrapped(self, *a, __original=original, **k):
            caller = sys._getframe(1)
            if caller.f_code.co_filename.startswith(package):
                seen[linecache.getline(caller.f_code.co_filename, caller.f_lineno).strip()] += 1
            return __original(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, wrapped)
    train(cfg)
    monkeypatch.undo()
    return seen


def test_loop_reads_tensors_only_at_check_steps(tiny_model, tmp_path, monkeypatch):
    def cfg(steps: int) -> TrainConfig:
        return TrainConfig(model=tiny_model, max_steps=steps, batch_size=4, max_train_sentences=64, device="cpu",
                           eval_every=1000, save_every=1000, log_every=1000, output_dir=str(tmp_path / f"s{steps}"))
    short, long = host_reads_by_line(cfg(2), monkeypatch), host_reads_by_line(cfg(6), monkeypatch)
    extra = long - short  # reads made by the 4 extra steps, none of which is a check step
    assert short, "the instrumentation saw nothing"
    assert all("local.tolist()" in line for line in extra) and extra.total() == 4, extra  # CPU indices only


@needs_gpu
def test_cuda_autocast_and_tf32(tiny_model, tmp_path):
    for precision, tf32 in (("bf16", True), ("fp16", True), ("fp32", False)):
        run = train(TrainConfig(model=tiny_model, device="cuda", precision=precision, tf32=tf32, max_steps=3,
                                batch_size=8, max_train_sentences=64, eval_every=2,
                                output_dir=str(tmp_path / precision)))
        assert rundir.read_status(run)["state"] == "finished"
        assert torch.backends.cuda.matmul.allow_tf32 is tf32
        records = rundir.read_metrics(run / "metrics.jsonl")[0]
        assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records[1:])
        from srl_explorer.encoder import Encoder
        Encoder.from_pretrained(run / "final")


@needs_gpu
def test_cuda_loop_syncs_only_at_check_steps(tiny_model, tmp_path):
    import warnings

    def syncs(steps: int, precision: str, log_every: int = 1000) -> int:
        """CPU-GPU syncs reported by CUDA's sync debug mode from srl_explorer's own lines."""
        cfg = TrainConfig(model=tiny_model, device="cuda", precision=precision, max_steps=steps, batch_size=8,
                          max_train_sentences=64, eval_every=1000, save_every=1000, log_every=log_every,
                          output_dir=str(tmp_path / f"{precision}-{steps}-{log_every}"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                train(cfg)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("srl_explorer" in w.filename for w in caught)
    for precision in ("fp32", "fp16"):
        short, long = syncs(2, precision), syncs(6, precision)
        assert short > 0, f"{precision}: sync debug mode reported nothing (the check would pass vacuously)"
        assert long == short, (precision, short, long)  # the 4 extra steps are not check steps: no sync
        # one more check step (log_every=3 makes step 3 one) must add syncs, so the counter does see the loop
        assert syncs(6, precision, log_every=3) > long, precision


@needs_two_gpus
def test_two_gpus_equal_one_gpu_for_every_loss(tiny_model, tmp_path):
    check_ddp_equals_single(tiny_model, tmp_path, "cuda")
