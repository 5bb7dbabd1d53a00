"""Unsupervised SimCSE training with any registered loss, streaming metrics to a run directory.

One process:          python -m srl_explorer train --loss infonce --max-steps 500
Several GPUs / nodes: torchrun --nproc_per_node 4 -m srl_explorer train --loss mpt ...

Reads top to bottom: config -> setup -> data -> model -> optimizer -> (resume) -> loop
(lr schedule, eval + checkpoint on the master process, forward, loss, backward,
clip, step, log). Embeddings are all-gathered across ranks, so every loss sees the
global batch; only rank 0 writes files and evaluates.
"""
from __future__ import annotations

import functools
import json
import math
import os
import random
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import distributed as D
from . import runs
from .data import DataError, load_corpus, read_pairs
from .dev import DevEvaluator
from .encoder import DEFAULT_MODEL, Encoder
from .losses import LOSSES, build_loss
from .metrics import align_loss, uniform_loss


@dataclass
class TrainConfig:
    # what to train
    loss: str = "infonce"            # one of srl_explorer.losses.LOSSES
    model: str = DEFAULT_MODEL       # HF id, local path, or the packaged all-MiniLM-L6-v2
    pooler: str = "avg"              # cls | cls_before_pooler | avg | avg_first_last | avg_top2
    mlp_only_train: bool = False     # cls pooler: use the MLP head in training only (SimCSE unsup)
    train_file: str | None = None    # .txt (one sentence a line), STS .csv/.tsv, or HF dataset id; None: sample
    dev_file: str | None = None      # STS-format scored pairs; None: the shipped sample pairs
    max_train_sentences: int | None = None
    # loss hyperparameters (None: the paper's default for the chosen loss)
    temp: float | None = None
    margin: float | None = None
    lam: float | None = None
    alpha: float | None = None
    t: float | None = None
    # schedule
    max_steps: int | None = None     # None: `epochs` passes over the corpus
    epochs: float = 1.0
    batch_size: int = 64             # per process; the global batch is world_size * batch_size
    lr: float = 3e-5
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0           # max L2 norm of the parameter gradient
    max_seq_length: int = 32
    dropout: float | None = None     # override the model's dropout (the SimCSE augmentation)
    seed: int = 42
    # evaluation, checkpoints, logging
    eval_every: int = 125
    save_every: int | None = None    # resumable checkpoint interval; None: eval_every
    eval_batch_size: int = 128
    log_every: int = 1               # metric lines (and CPU-GPU sync points) every N steps
    stop_after: int | None = None    # pause after this step (resumable, e.g. for job time limits)
    output_dir: str | None = None    # default checkpoints/<generated name>
    # hardware
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    precision: str = "auto"          # auto (bf16 on capable GPUs, else fp32) | fp32 | bf16 | fp16
    tf32: bool = True

    def loss_hparams(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("temp", "margin", "lam", "alpha", "t") if getattr(self, k) is not None}

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.batch_size < 2:
            raise ValueError(f"--batch-size must be at least 2 (in-batch negatives), got {self.batch_size}")
        for name in ("lr", "epochs", "max_seq_length", "eval_every", "log_every", "eval_batch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"--precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class TrainingError(RuntimeError):
    """A run that must stop as failed (non-finite loss or gradient, ...)."""


class _Terminated(Exception):
    """SIGTERM/SIGINT received: end as cancelled."""


def _on_signal(signum, frame):  # noqa: ARG001
    _hold_signals()  # a second SIGTERM (torchrun sends one to every rank) must not cut the status write short
    raise _Terminated(f"terminated by signal {signal.Signals(signum).name}")


def _hold_signals() -> None:
    """Ignore SIGTERM/SIGINT while the final status is written; train() restores the handlers."""
    if _main_thread():
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)


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


def linear_schedule(step: int, warmup: int, total: int) -> float:
    """LR multiplier: linear warm-up, then linear decay to 0 at ``total`` (HF's default, as SimCSE)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def batch_indices(step: int, n: int, global_batch: int, seed: int) -> torch.Tensor:
    """Indices of the global batch for ``step`` (0-based): a fresh seeded permutation per epoch,
    dropping the incomplete last batch. A pure function of the step, so resuming is exact."""
    epoch, k = divmod(step, n // global_batch)
    return _epoch_permutation(n, seed, epoch)[k * global_batch:(k + 1) * global_batch]


@functools.lru_cache(maxsize=2)
def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded order of one epoch, (n,); cached, so a step slices it instead of redrawing all n."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batch_metrics(z1: torch.Tensor, z2: torch.Tensor) -> dict[str, float]:
    """Wang & Isola's alignment (α=2) and uniformity (t=2, averaged over both views) of a batch."""
    with torch.no_grad():
        return {"align": align_loss(z1, z2).item(),
                "uniform": (0.5 * (uniform_loss(z1) + uniform_loss(z2))).item()}


def train(cfg: TrainConfig, run_dir: str | os.PathLike | None = None, resume: bool = False) -> Path:
    """Train; returns the run directory. ``resume=True`` continues ``run_dir`` from its ``last/`` checkpoint."""
    cfg.validate()
    device = pick_device(cfg.device, D.local_rank())
    dist_info = D.setup(device)  # torchrun: nccl on CUDA, gloo on CPU; a no-op in one process
    master = dist_info.master
    amp_dtype = pick_autocast_dtype(cfg.precision, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32

    # ---------------------------------------------------------------- run directory
    if run_dir is None:
        root = Path(cfg.output_dir).parent if cfg.output_dir else runs.DEFAULT_ROOT
        name = Path(cfg.output_dir).name if cfg.output_dir else runs.new_run_name(cfg.loss)
        run_dir = D.broadcast_object(str(Path(root) / name))
    run_dir = Path(run_dir)
    if master:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / runs.STOP_FILE).unlink(missing_ok=True)
        if not resume:
            runs.atomic_write_json(run_dir / "config.json", {**asdict(cfg), "world_size": dist_info.world_size})
        runs.write_status(run_dir, state="running", pid=os.getpid(), host=socket.gethostname(),
                          started=time.time(), step=0, max_steps=cfg.max_steps, error=None,
                          loss_name=cfg.loss, world_size=dist_info.world_size)
    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)} \
        if _main_thread() else {}
    writer, state, step, error = None, "failed", 0, None
    best, best_step = -math.inf, None
    try:
        # ------------------------------------------------------------ data
        sentences = load_corpus(cfg.train_file, cfg.max_train_sentences)
        global_batch = cfg.batch_size * dist_info.world_size
        if len(sentences) < global_batch:
            raise DataError(f"the corpus has {len(sentences)} sentences, fewer than the global batch size "
                            f"{global_batch}; use a larger corpus or a smaller --batch-size")
        steps_per_epoch = len(sentences) // global_batch
        max_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
        evaluator = DevEvaluator(read_pairs(cfg.dev_file), cfg.eval_batch_size) if master else None
        save_every = cfg.save_every or cfg.eval_every

        # ------------------------------------------------------------ model, loss, optimizer
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        encoder = Encoder.from_pretrained(cfg.model, pooler=cfg.pooler, mlp_only_train=cfg.mlp_only_train,
                                          max_seq_length=cfg.max_seq_length)
        if cfg.dropout is not None:
            for m in encoder.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.p = cfg.dropout
        encoder.to(device).train()
        model = encoder
        if dist_info.enabled:
            model = torch.nn.parallel.DistributedDataParallel(
                encoder, device_ids=[device.index] if device.type == "cuda" else None)
        loss_fn = build_loss(cfg.loss, **cfg.loss_hparams())
        w_align, w_uniform = getattr(loss_fn, "part_weights", (1.0, 1.0))
        params = [p for p in encoder.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr,
                                      fused=device.type == "cuda")
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: linear_schedule(s, cfg.warmup_steps, max_steps))
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

        # ------------------------------------------------------------ resume
        if resume:
            last = D.broadcast_object(runs.recover_dir(run_dir / "last") if master else None)  # rank 0 repairs
            if last is None or not (last / "trainer_state.pt").exists():
                raise FileNotFoundError(f"{run_dir}: no resumable checkpoint (last/) to resume from")
            ckpt_encoder = Encoder.from_pretrained(last)
            encoder.load_state_dict(ckpt_encoder.state_dict())
            del ckpt_encoder
            ts = torch.load(last / "trainer_state.pt", map_location="cpu", weights_only=True)
            optimizer.load_state_dict(ts["optimizer"])
            scheduler.load_state_dict(ts["scheduler"])
            torch.set_rng_state(ts["rng_cpu"])
            if device.type == "cuda" and "rng_cuda" in ts:
                torch.cuda.set_rng_state(ts["rng_cuda"], device)
            step, best, best_step = int(ts["step"]), float(ts["best"]), ts.get("best_step")
            if master:
                _truncate_metrics_after(run_dir, step)
        D.barrier()

        def save_resumable() -> None:
            def write(d: Path) -> None:
                encoder.save(d)
                torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                            "rng_cpu": torch.get_rng_state(), "step": step, "best": best, "best_step": best_step,
                            **({"rng_cuda": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
                           d / "trainer_state.pt")
            runs.atomic_save_dir(run_dir / "last", write)

        def evaluate_and_checkpoint(record: dict) -> None:
            """Master only: dev metrics into ``record``; keep the best checkpoint."""
            nonlocal best, best_step
            record.update(evaluator(encoder))
            score = record["stsb_dev_spearman"]
            if math.isfinite(score) and score > best:
                best, best_step = score, step
                runs.atomic_save_dir(run_dir / "best", encoder.save)
            encoder.train()

        # ------------------------------------------------------------ loop
        if master:
            writer = runs.MetricsWriter(run_dir / "metrics.jsonl")
            runs.write_status(run_dir, max_steps=max_steps, step=step, steps_per_epoch=steps_per_epoch,
                              n_train_sentences=len(sentences))
        progress = _progress_bar(master, step, max_steps)
        t0 = time.time() - (_last_elapsed(run_dir) if resume and master else 0.0)
        last_status = 0.0
        if step == 0 and master:
            record = {"step": 0, "elapsed_s": 0.0, "lr": scheduler.get_last_lr()[0]}
            evaluate_and_checkpoint(record)
            writer.write(record)
        D.barrier()
        stop = torch.zeros(2, device=device)  # [stop requested, non-finite] shared by all ranks
        # On CUDA the loop queues work without waiting for the GPU, except at the "CPU-GPU sync
        # point"s below, which only run at check steps (--log-every, eval, save, end).
        while step < max_steps:
            if dist_info.enabled:  # each rank its own dropout masks, a pure function of the step
                D.seed_step(cfg.seed, step, dist_info.rank)
            # SimCSE: each sentence twice in one forward pass; dropout makes the two views differ
            idx = batch_indices(step, len(sentences), global_batch, cfg.seed)  # CPU tensor: no sync
            local = idx[dist_info.rank * cfg.batch_size:(dist_info.rank + 1) * cfg.batch_size]  # this rank's shard
            tok = encoder.tokenize([sentences[i] for i in local.tolist()])
            tok = {k: _to_device(torch.cat([v, v]), device) for k, v in tok.items()}  # (2B, L)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                z = model(**tok)  # (2B, d)
            zn = F.normalize(z.float(), dim=-1)
            # The loss is computed on a detached leaf: one cheap autograd.grad per part gives the
            # gradient w.r.t. the views (and its align/uniform split); the encoder gets one backward.
            leaf = zn.detach().requires_grad_(True)
            z1_local, z2_local = leaf[:cfg.batch_size], leaf[cfg.batch_size:]
            z1, z2 = D.all_gather_with_grad(z1_local), D.all_gather_with_grad(z2_local)  # (global B, d)
            out = loss_fn(z1, z2)
            g_align, g_uniform = _part_grads(out, leaf)  # (2B, d) each
            g_loss = w_align * g_align + w_uniform * g_uniform  # == d loss / d leaf
            # DDP averages parameter grads over ranks; the global loss needs their sum.
            zn.backward(scaler.scale(g_loss * dist_info.world_size) if scaler.is_enabled() else g_loss * dist_info.world_size)
            if scaler.is_enabled():
                scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            step += 1
            # Checks, logs, evals and saves happen together at "check" steps, the loop's only
            # CPU-GPU sync points (every step with the default --log-every 1).
            check_now = (step % cfg.log_every == 0 or step == max_steps or step % cfg.eval_every == 0
                         or step % save_every == 0 or step == cfg.stop_after)
            if check_now:  # CPU-GPU sync point: stop request and non-finite values, agreed by every rank
                stop[0] = float((master and runs.stop_requested(run_dir)) or step == cfg.stop_after)
                stop[1] = float(not torch.isfinite(out["loss"]).item()
                                or (not scaler.is_enabled() and not torch.isfinite(grad_norm).item()))
                D.all_reduce_max(stop)
                if stop[1] > 0:
                    raise TrainingError(f"non-finite loss or gradient at step {step}: loss={out['loss'].item():.6g}, "
                                        f"grad_norm={grad_norm.item():.6g}; no checkpoint was written for this step")
            lr = scheduler.get_last_lr()[0]
            if scaler.is_enabled():  # fp16: fused AdamW reads the scaler's inf flag on the GPU, no sync
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if not check_now:
                continue

            # ------------------------------------------------------------ logging (CPU-GPU sync point)
            sq = torch.stack([g_loss.pow(2).sum(), g_align.pow(2).sum(), g_uniform.pow(2).sum()])
            D.all_reduce_sum(sq)  # each rank holds the gradient rows of its own shard
            if master:
                gz, ga, gu = sq.sqrt().tolist()
                record = {"step": step, "elapsed_s": round(time.time() - t0, 4), "lr": lr,
                          "loss": out["loss"].item(), "loss_align": out["align"].item(),
                          "loss_uniform": out["uniform"].item(), "grad_norm": grad_norm.item(),
                          "grad_norm_z": gz, "grad_norm_align": ga * abs(w_align),
                          "grad_norm_uniform": gu * abs(w_uniform)}
                for k in ("pos_prob", "active_frac"):
                    if k in out:
                        record[k] = out[k].item()
                record.update(batch_metrics(z1.detach(), z2.detach()))
                if step % cfg.eval_every == 0 or step == max_steps:
                    evaluate_and_checkpoint(record)
                writer.write(record)
                progress.update(step - progress.n)
                progress.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)
                if step % save_every == 0 or step == max_steps or stop[0] > 0:
                    save_resumable()  # a stopped run can always be resumed
                if time.time() - last_status > 1.0 or step == max_steps or stop[0] > 0:
                    runs.write_status(run_dir, step=step, best=best if best > -math.inf else None,
                                      best_step=best_step, last_loss=record["loss"])
                    last_status = time.time()
            if stop[0] > 0:
                state = "cancelled"
                break
            if step % cfg.eval_every == 0:
                D.barrier()  # the other ranks wait while rank 0 evaluates

        # ------------------------------------------------------------ finish
        if master:
            if state != "cancelled":
                state = "finished"
            runs.atomic_save_dir(run_dir / "final", encoder.save)
        else:
            state = "cancelled" if stop[0] > 0 else "finished"
        progress.close()
        D.barrier()
    except _Terminated as e:
        state, error = "cancelled", str(e)
    except BaseException as e:  # noqa: BLE001 - recorded in status.json, then re-raised
        _hold_signals()  # under torchrun a failure here is followed by SIGTERM: write the status first
        state, error = "failed", f"{type(e).__name__}: {e}" if not isinstance(e, (DataError, TrainingError)) else str(e)
        if master:
            runs.write_status(run_dir, state=state, step=step, error=error)
        raise
    finally:
        _hold_signals()
        if writer is not None:
            writer.close()
        if master and state != "failed":
            runs.write_status(run_dir, state=state, step=step, error=error,
                              best=best if best > -math.inf else None)
        for s, h in old_handlers.items():
            signal.signal(s, h)
        D.teardown(dist_info)
    return run_dir


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU batch tensor to ``device``; pinned memory makes the CUDA copy asynchronous."""
    return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t


def _part_grads(out: dict, leaf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of the loss's align and uniform parts w.r.t. the normalized views (2B, d).

    The loss gradient is their weighted sum (``part_weights``), so no third pass is needed.
    """
    g_align, = torch.autograd.grad(out["align"], leaf, retain_graph=True, materialize_grads=True)
    g_uniform, = torch.autograd.grad(out["uniform"], leaf, materialize_grads=True)
    return g_align, g_uniform


def _progress_bar(master: bool, initial: int, total: int):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True,
                disable=not (master and sys.stderr.isatty()))


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _last_elapsed(run_dir: Path) -> float:
    records, _ = runs.read_metrics(run_dir / "metrics.jsonl")
    return float(records[-1].get("elapsed_s", 0.0)) if records else 0.0


def _truncate_metrics_after(run_dir: Path, step: int) -> None:
    """On resume, keep metric lines up to the checkpointed step; later lines (of steps that will
    be redone) move to metrics.superseded.jsonl, so nothing is lost."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return
    runs.repair_jsonl(path)
    keep, drop = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            drop.append(line)
            continue
        (keep if isinstance(rec, dict) and rec.get("step", 0) <= step else drop).append(line)
    if drop:
        with open(run_dir / "metrics.superseded.jsonl", "a", encoding="utf-8") as f:
            f.write("\n".join(drop) + "\n")
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(x + "\n" for x in keep), encoding="utf-8")
    os.replace(tmp, path)
