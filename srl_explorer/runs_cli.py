"""``python -m srl_explorer runs {list,rm,rename,note}``: manage the runs of the runs folder.

    srl-explorer runs list                        # name, state, loss, steps, best dev STS, note, disk
    srl-explorer runs rm 20260101-120000-mpt      # asks first; --yes to skip; a training run is refused
    srl-explorer runs rename 20260101-120000-mpt mpt-baseline
    srl-explorer runs note mpt-baseline "lr 3e-5, the reference"   # set; without text: show; --clear

A run is named as ``runs list`` shows it (``<reproduction>/<run>`` inside a reproduction, whose folder
name alone means the whole reproduction) or by its path. The runs folder is ``$SRL_CHECKPOINTS`` or
``./checkpoints`` (``--root`` overrides). Refusals are one line on stderr with exit code 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import rundir
from .fmt import fmt_num
from .rundir import RunError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, help="runs folder (default: $SRL_CHECKPOINTS, else ./checkpoints)")
    sub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    sub.add_parser("list", help="one line per run, and the total disk used")
    rm = sub.add_parser("rm", help="delete runs (asks for confirmation; refuses a run that is training)")
    rm.add_argument("names", nargs="+", metavar="RUN")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    mv = sub.add_parser("rename", help="rename a run")
    mv.add_argument("name", metavar="RUN")
    mv.add_argument("new_name", metavar="NEW_NAME")
    note = sub.add_parser("note", help="show a run's note, or set it")
    note.add_argument("name", metavar="RUN")
    note.add_argument("text", nargs="?", default=None, help="the new note ('-' reads it from stdin)")
    note.add_argument("--clear", action="store_true", help="remove the note")


def resolve(name: str, root: Path) -> Path:
    """The folder of run ``name`` (as listed, or a path)."""
    for candidate in (root / name, Path(name)):
        d = rundir.RunDir(candidate)
        if d.is_run() or d.is_reproduction():
            return candidate.resolve()
    raise RunError(f"no run named {name!r} in {root} (see `runs list`)")


def run(args: argparse.Namespace) -> int:
    root = Path(args.root) if args.root else rundir.checkpoint_root()
    return {"list": _list, "rm": _rm, "rename": _rename, "note": _note}[args.action](args, root)


def _list(args: argparse.Namespace, root: Path) -> int:
    rows = [rundir.run_summary(r) for r in rundir.list_runs(root)]
    if not rows:
        print(f"no runs in {root}")
        return 0
    header = ("run", "state", "loss", "steps", "last loss", "best STS dev", "disk", "started", "note")
    table = [header] + [(r["run"], r["state"], r["loss"] or "", f"{r['step']}/{r['max_steps'] or '?'}",
                         fmt_num(r["last_loss"], ".4g"), fmt_num(r["best"]), rundir.format_bytes(r["disk"]),
                         time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"])) if r["started"] else "",
                         r["note"]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    print(f"{len(rows)} run(s), {rundir.format_bytes(rundir.disk_usage(root))} on disk in {root}")
    return 0


def _rm(args: argparse.Namespace, root: Path) -> int:
    paths = [resolve(n, root) for n in args.names]
    for path in paths:  # refuse before deleting anything
        rundir.refuse_live(path, "delete")  # the same check delete_run makes
    if not args.yes:
        listing = ", ".join(f"{p.relative_to(root.resolve())} ({rundir.format_bytes(rundir.disk_usage(p))})"
                            for p in paths)
        try:
            answer = input(f"Delete {listing}? This cannot be undone [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    for path in paths:
        rundir.delete_run(path, root)
        print(f"deleted {path.relative_to(root.resolve())}")
    return 0


def _rename(args: argparse.Namespace, root: Path) -> int:
    new = rundir.rename_run(resolve(args.name, root), args.new_name, root)
    print(f"renamed {args.name} -> {new.relative_to(root.resolve())}")
    return 0


def _note(args: argparse.Namespace, root: Path) -> int:
    path = resolve(args.name, root)
    if args.clear:
        rundir.write_note(path, "")
    elif args.text is not None:
        rundir.write_note(path, sys.stdin.read() if args.text == "-" else args.text)
    else:
        print(rundir.read_note(path), end="")
    return 0
