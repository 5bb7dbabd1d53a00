"""Unsupervised SimCSE training with any registered loss, streaming metrics to a run directory.

One process:          python -m srl_explorer train --loss infonce --max-steps 500
Several GPUs / nodes: torchrun --nproc_per_node 4 -m srl_explorer train --loss mpt ...

Reads top to bottom: :func:`train` sets up (device, run folder, data, model, optimizer), then
:func:`run_loop` resumes if asked and loops: forward and backward (:func:`forward_backward`), the
check-step agreement between ranks, the optimizer step, then on rank 0 logging, evaluation and
checkpoints. Embeddings are all-gathered across ranks, so every loss sees the global batch; only
rank 0 writes files and evaluates. Status, signals and checkpoints live in :mod:`.lifecycle`.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import distributed as D
from ..config import TrainConfig
from ..encoder import Encoder
from ..losses import ContrastiveLoss, build_loss
from ..provenance import run_facts
from ..rundir import RunDir
from ..st_format import card_info
from .gradients import NORM_KEYS, tangential_sq_norms, view_gradients
from .lifecycle import (
    Checkpoints,
    Progress,
    RunGuard,
    TrainingError,
    end_state,
    last_elapsed,
    open_run_dir,
    progress_bar,
)
from .setup import (
    Data,
    Optim,
    batch_indices,
    batch_metrics,
    build_model,
    build_optimizer,
    load_data,
    pick_autocast_dtype,
    pick_device,
    seed_everything,
    set_tf32,
    to_device,
)


@dataclass
class Setup:
    """Everything the loop reads and nothing it changes (the optimizer's state aside)."""

    cfg: TrainConfig
    data: Data
    encoder: Encoder
    model: torch.nn.Module  # the encoder, or its DDP wrapper
    loss_fn: ContrastiveLoss
    optim: Optim
    device: torch.device
    dist_info: D.DistInfo
    amp_dtype: torch.dtype | None  # None: no autocast


@dataclass
class StepResult:
    out: dict[str, Tensor]  # the loss's outputs on the global batch
    grad_norm: Tensor  # parameter gradient norm, before clipping
    sq_norms: Tensor  # (3,) this rank's squared tangential norms of dL/dz and its parts (see .gradients)
    z1: Tensor  # (global B, d) first views
    z2: Tensor  # (global B, d) second views


@dataclass
class StopFlags:
    """What every rank agrees on at a check step."""

    stop: bool = False  # a STOP file (rank 0) or --stop-after: end as cancelled after this step
    non_finite: bool = False  # a non-finite loss or gradient on some rank: fail


@dataclass
class Hooks:
    """Optional links to a caller (``reproduce``): ``start_record`` is a step-0 record to reuse instead of
    evaluating the starting model again (same model, pooler and dev set give the same numbers);
    ``on_record`` is called with every metric record rank 0 writes."""

    start_record: dict | None = None
    on_record: Callable[[dict], None] | None = None


def train(cfg: TrainConfig, run_dir: str | os.PathLike | None = None, resume: bool = False,
          hooks: Hooks | None = None) -> Path:
    """Train; returns the run directory. ``resume=True`` continues ``run_dir`` from its ``last/`` checkpoint."""
    cfg.validate()
    device = pick_device(cfg.device, D.local_rank())
    dist_info = D.setup(device)  # torchrun: nccl on CUDA, gloo on CPU; a no-op in one process
    amp_dtype = pick_autocast_dtype(cfg.precision, device)
    set_tf32(device, cfg.tf32)
    run = open_run_dir(cfg, run_dir, resume, dist_info)
    with RunGuard(run, dist_info) as guard:
        data = load_data(cfg, dist_info.world_size, dist_info.master)
        seed_everything(cfg.seed)
        encoder, model = build_model(cfg, device, dist_info)
        loss_fn = build_loss(cfg.loss, **cfg.loss_hparams())
        optim = build_optimizer(cfg, encoder, device, data.max_steps, amp_dtype)
        setup = Setup(cfg, data, encoder, model, loss_fn, optim, device, dist_info, amp_dtype)
        run_loop(setup, run, guard, resume, hooks or Hooks())
    return run.path


def run_loop(s: Setup, run: RunDir, guard: RunGuard, resume: bool, hooks: Hooks) -> None:
    cfg, data, master, p = s.cfg, s.data, s.dist_info.master, guard.progress
    ckpt = Checkpoints(run, s.encoder, s.optim, s.device, cfg.keep)
    if resume:
        ckpt.resume(p, master)
    D.barrier()
    if master and not resume:  # config.json also records the evaluation length and the provenance
        run.write_config({**run.read_config(), **run_facts(s.encoder, s.device, s.dist_info.world_size, s.amp_dtype)})
    writer = guard.open_metrics(hooks.on_record) if master else None
    if master:
        run.write_status(max_steps=data.max_steps, step=p.step, steps_per_epoch=data.steps_per_epoch,
                         n_train_sentences=len(data.sentences))
    bar = progress_bar(master, p.step, data.max_steps)
    t0 = time.time() - (last_elapsed(run) if resume and master else 0.0)
    last_status, save_every, flags = 0.0, cfg.save_every or cfg.eval_every, StopFlags()
    if p.step == 0 and master:  # the start: reported on its own, never the best (see srl_explorer.runstats)
        record = {"step": 0, "elapsed_s": 0.0, "lr": s.optim.scheduler.get_last_lr()[0]}
        if hooks.start_record is not None:
            record.update({k: v for k, v in hooks.start_record.items() if k not in record})
        else:
            evaluate(s, record, p, ckpt)
        writer.write(record)
        start = record.get(s.data.evaluator.primary_metric)
        run.write_status(start=start if isinstance(start, float) and math.isfinite(start) else None)
    D.barrier()
    # On CUDA the loop queues work without waiting for the GPU. Checks, logs, evals and saves happen
    # together at "check" steps (--log-every, eval, save, stop-after, end): the loop's only CPU-GPU
    # sync points (every step with the default --log-every 1).
    while p.step < data.max_steps:
        result = forward_backward(s, p.step)
        p.step += 1
        step = p.step
        check_now = (step % cfg.log_every == 0 or step == data.max_steps or step % cfg.eval_every == 0
                     or step % save_every == 0 or step == cfg.stop_after)
        if check_now:
            flags = agree_flags(s, result, stop=(master and run.stop_requested()) or step == cfg.stop_after)
            if flags.non_finite:
                raise TrainingError(f"non-finite loss or gradient at step {step}: "
                                    f"loss={result.out['loss'].item():.6g}, grad_norm={result.grad_norm.item():.6g}; "
                                    "no checkpoint was written for this step")
        lr = s.optim.scheduler.get_last_lr()[0]
        optimizer_step(s.optim)
        if not check_now:
            continue

        norms = D.all_reduce_sum(result.sq_norms)  # every rank: each holds the rows of its own shard
        if master:
            record = step_record(s, result, norms, step, lr, time.time() - t0)
            if step % cfg.eval_every == 0 or step == data.max_steps:
                evaluate(s, record, p, ckpt)
            writer.write(record)
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)
            if step % save_every == 0 or step == data.max_steps or flags.stop:
                ckpt.save_resumable(p)  # a stopped run can always be resumed
            if time.time() - last_status > 1.0 or step == data.max_steps or flags.stop:
                run.write_status(step=step, best=p.best_or_none, best_step=p.best_step, last_loss=record["loss"])
                last_status = time.time()
        if flags.stop:
            break
        if step % cfg.eval_every == 0:
            D.barrier()  # the other ranks wait while rank 0 evaluates

    p.state = end_state(flags.stop)
    if master:
        ckpt.finish(p)  # final/ and last/ as --keep says
    bar.close()
    D.barrier()


def forward_backward(s: Setup, step: int) -> StepResult:
    """One step's forward pass, loss and backward on this rank's shard of the global batch; the
    parameter gradient ends up clipped (and unscaled under fp16), ready for the optimizer."""
    cfg, rank, world = s.cfg, s.dist_info.rank, s.dist_info.world_size
    if s.dist_info.enabled:  # each rank its own dropout masks, a pure function of the step
        D.seed_step(cfg.seed, step, rank)
    # SimCSE: each sentence twice in one forward pass; dropout makes the two views differ
    idx = batch_indices(step, len(s.data.sentences), s.data.global_batch, cfg.seed)  # CPU tensor: no sync
    local = idx[rank * cfg.batch_size:(rank + 1) * cfg.batch_size]  # this rank's shard
    tok = s.encoder.tokenize([s.data.sentences[i] for i in local.tolist()])
    tok = {k: to_device(torch.cat([v, v]), s.device) for k, v in tok.items()}  # (2B, L)
    with torch.autocast(s.device.type, dtype=s.amp_dtype or torch.float32, enabled=s.amp_dtype is not None):
        z = s.model(**tok)  # (2B, d)
    zn = F.normalize(z.float(), dim=-1)
    # The loss on a detached leaf: its gradient w.r.t. the views (and the align/uniform split) comes from
    # cheap autograd.grad calls; the encoder gets one backward (see .gradients).
    leaf = zn.detach().requires_grad_(True)
    grads = view_gradients(s.loss_fn, leaf, cfg.batch_size)
    # DDP averages parameter grads over ranks; the global loss needs their sum.
    scaler = s.optim.scaler
    zn.backward(scaler.scale(grads.g_loss * world) if scaler.is_enabled() else grads.g_loss * world)
    if scaler.is_enabled():
        scaler.unscale_(s.optim.optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(s.optim.params, cfg.grad_clip)
    return StepResult(grads.out, grad_norm, tangential_sq_norms(grads, leaf), grads.z1, grads.z2)


def agree_flags(s: Setup, result: StepResult, stop: bool) -> StopFlags:
    """Check step only: this rank's stop request and non-finite values, max-reduced over ranks."""
    non_finite = (not torch.isfinite(result.out["loss"]).item()
                  or (not s.optim.scaler.is_enabled() and not torch.isfinite(result.grad_norm).item()))
    flags = D.all_reduce_max(torch.tensor([float(stop), float(non_finite)], device=s.device))
    agreed_stop, agreed_non_finite = (flags > 0).tolist()
    return StopFlags(stop=agreed_stop, non_finite=agreed_non_finite)


def optimizer_step(optim: Optim) -> None:
    if optim.scaler.is_enabled():  # fp16: fused AdamW reads the scaler's inf flag on the GPU, no sync
        optim.scaler.step(optim.optimizer)
        optim.scaler.update()
    else:
        optim.optimizer.step()
    optim.scheduler.step()
    optim.optimizer.zero_grad(set_to_none=True)


def step_record(s: Setup, result: StepResult, sq_norms: Tensor, step: int, lr: float, elapsed: float) -> dict:
    """The metrics line of a check step: the loss and its parts, gradient norms (tangential on the sphere
    for the views), the loss's dissipation
    diagnostic, and the batch's alignment and uniformity."""
    out = result.out
    record = {"step": step, "elapsed_s": round(elapsed, 4), "lr": lr,
              "loss": out["loss"].item(), "loss_align": out["align"].item(),
              "loss_uniform": out["uniform"].item(), "grad_norm": result.grad_norm.item(),
              **dict(zip(NORM_KEYS, sq_norms.sqrt().tolist(), strict=True))}
    for k in ("pos_prob", "active_frac"):
        if k in out:
            record[k] = out[k].item()
    record.update(batch_metrics(result.z1.detach(), result.z2.detach()))
    return record


def evaluate(s: Setup, record: dict, progress: Progress, ckpt: Checkpoints) -> None:
    """Rank 0: dev metrics into ``record``; keep the best checkpoint."""
    evaluator = s.data.evaluator
    record.update(evaluator(s.encoder))
    s.encoder.card = card_info(ckpt.run.read_config(), progress.step, record[evaluator.primary_metric])  # model cards
    if progress.improves(record[evaluator.primary_metric]):
        ckpt.save_best()
    s.encoder.train()
