"""Run a long job at a lower CPU priority than the app, so pages stay quick while it trains.

On Linux, niceness alone is not enough. With the kernel's autogroup scheduling (on by default on desktops
and servers, ``/proc/sys/kernel/sched_autogroup_enabled``), CPU time is first shared between *sessions*
(one per terminal, or per ``setsid``), then between the processes of a session by their niceness. A
trainer at nice 10 in its own session still takes half of the CPU from an app in another session.
Measured on the 2-core CI machine: a CPU-bound loop beside a 2-thread torch job in its own session took
2.15 s at nice 10 against 1.11 s alone, and 1.20 s once the job's session was at nice 10 too.
:func:`lower_priority` therefore lowers the session's priority as well, when the session is this job's own.

Even then a trainer slows a page's first load: a bare chart page took 2.48 s in headless Chromium beside a
training run at nice 10 (its session too) and 2.11-2.21 s with none; with the trainer in ``SCHED_IDLE`` at
nice 10, 2.35 s (medians of 5). So ``SCHED_IDLE`` is ``train``'s default (``--no-idle`` turns it off).
"""
from __future__ import annotations

import atexit
import contextlib
import os
import time
from pathlib import Path

PROC = Path("/proc")


def lower_priority(n: int, idle: bool = False) -> int:
    """Raise the niceness of this process, every thread of it, to at least ``n`` (0-19), and with ``idle``
    put it in Linux's ``SCHED_IDLE`` class (it runs only on CPU time nothing else wants); threads started
    later inherit both. Where Linux shares CPU time between sessions first, the session's niceness is raised
    to this process's too, when the session holds only this command (:func:`session_is_own`): a session
    this process leads keeps it until it ends; a terminal's session gets its old niceness back when this
    process exits.
    Returns the niceness now in force (0 where the OS has no such notion)."""
    check_nice(n)
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]  # Linux: a niceness per thread
    except OSError:
        tids = [0]
    try:
        for tid in tids:
            with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
                if os.getpriority(os.PRIO_PROCESS, tid) < n:
                    os.setpriority(os.PRIO_PROCESS, tid, n)
                if idle and hasattr(os, "SCHED_IDLE"):
                    with contextlib.suppress(PermissionError):  # a policy this user may not leave
                        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        nice = os.getpriority(os.PRIO_PROCESS, 0)
    except AttributeError:  # no setpriority (Windows)
        return 0
    lower_session_priority(nice)
    return nice


def check_nice(n: int) -> None:
    if not 0 <= n <= 19:
        raise ValueError(f"--nice must be between 0 and 19, got {n}")


def session_nice(pid: int | str = "self") -> int | None:
    """The niceness of ``pid``'s autogroup (its session's CPU share), or None where there is none."""
    try:
        if (PROC / "sys/kernel/sched_autogroup_enabled").read_text().strip() != "1":
            return None
        return int((PROC / str(pid) / "autogroup").read_text().split()[-1])  # "/autogroup-764 nice 0"
    except (OSError, ValueError, IndexError):
        return None


def lower_session_priority(n: int) -> bool:
    """Raise this process's session niceness to ``n`` if the session is this command's alone; True if
    it is now at least ``n``."""
    old = session_nice()
    if old is None:
        return False
    if old >= n:
        return True
    pid = os.getpid()
    if os.getsid(0) != pid:  # a terminal's session: only if nothing else runs in it, and only while we do
        if not session_is_own(pid, process_table()):
            return False
        atexit.register(_restore_session_nice, n, old)
    return _write_session_nice(n)


def _write_session_nice(n: int) -> bool:
    for _ in range(5):  # the kernel takes one autogroup change per 100 ms, machine-wide (EAGAIN)
        try:
            (PROC / "self/autogroup").write_text(str(n))
            return True
        except BlockingIOError:
            time.sleep(0.11)
        except OSError:
            return False
    return False


def _restore_session_nice(ours: int, old: int) -> None:
    if session_nice() == ours:  # unless somebody changed it since
        _write_session_nice(old)


def process_table() -> dict[int, tuple[int, int]]:
    """Every process: ``{pid: (parent pid, session id)}``, from ``/proc/<pid>/stat``."""
    table = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # state ppid pgrp session
                table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return table


def session_is_own(pid: int, table: dict[int, tuple[int, int]]) -> bool:
    """Whether every process in ``pid``'s session belongs to ``pid``'s own command: the session leader
    (the shell that started it, waiting), or anything under the leader's child that ``pid`` descends
    from (``torchrun`` and its other workers, say). A server started from the same terminal is not.
    ``table``: ``{pid: (parent pid, session id)}``, as :func:`process_table`."""
    if pid not in table:
        return False
    sid = table[pid][1]
    top = pid  # pid's highest ancestor in the session, below the leader
    while (parent := table[top][0]) in table and table[parent][1] == sid and parent != sid:
        top = parent

    def under_top(p: int) -> bool:
        while p in table and table[p][1] == sid:
            if p == top:
                return True
            p = table[p][0]
        return False

    return all(p == sid or under_top(p) for p, (_, s) in table.items() if s == sid)
