"""``python -m srl_explorer train``: the flags come from :class:`~srl_explorer.config.TrainConfig`."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import config, jobs, rundir
from ..fmt import fmt_num


def add_arguments(p: argparse.ArgumentParser, cls: type[config.TrainConfig] | None = None) -> None:
    """The ``train`` flags: one per :class:`~srl_explorer.config.TrainConfig` field, plus ``--resume``."""
    config.add_arguments(p, cls)
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue RUN_DIR from its last checkpoint (optimizer, scheduler and RNG state included)")
    add_nice_argument(p)


DEFAULT_NICE = jobs.TRAINER_NICE  # as runs the app launches: the app and the desktop stay responsive


def add_nice_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--idle", action=argparse.BooleanOptionalAction, default=True,
                   help="run in Linux's SCHED_IDLE class: only on CPU time nothing else wants, so the app's "
                        "pages and the desktop stay quick (default; an otherwise idle machine still gives it every "
                        "core). --no-idle on a dedicated or busy machine, where other work could starve it")
    p.add_argument("--nice", type=int, default=DEFAULT_NICE, metavar="N",
                   help=f"run at CPU niceness N or lower priority, as `nice -n N` (default {DEFAULT_NICE}; an "
                        f"otherwise idle machine still gives it every core; 0: leave the priority as it is). On "
                        f"Linux, a terminal session that runs nothing else gets niceness N too while it runs, "
                        f"since Linux shares CPU time between sessions first")


def run(args: argparse.Namespace) -> int:
    from .loop import train
    if args.resume:
        run_dir = rundir.RunDir(args.resume)
        cfg_dict = rundir.read_json(run_dir.config_file)
        if not isinstance(cfg_dict, dict):
            raise FileNotFoundError(f"{run_dir.path}: not a run directory (no readable {rundir.CONFIG})")
        cfg = config.TrainConfig.from_dict(cfg_dict)
        if args.max_steps:
            cfg.max_steps = args.max_steps
        cfg.stop_after = args.stop_after
        out = train(cfg, run_dir=run_dir.path, resume=True)
    else:
        cfg = config.from_args(args)
        if cfg.output_dir:
            cfg.output_dir = str(Path(cfg.output_dir))
        out = train(cfg)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    status = rundir.read_status(out)
    if rank0:
        print(f"{status.get('state')}: {out} (step {status.get('step')}, best dev Spearman "
              f"{fmt_num(status.get('best'))})")
    return 0 if status.get("state") in (rundir.FINISHED, rundir.CANCELLED) or not rank0 else 1
