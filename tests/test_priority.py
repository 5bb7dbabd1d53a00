"""The trainer's lower priority holds against an app in another session (Linux autogroup scheduling)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from srl_explorer.priority import session_is_own, session_nice

ROOT = Path(__file__).resolve().parents[1]
SHELL, CMD, WORKER, OTHER_WORKER, SERVER, ELSEWHERE = 100, 101, 102, 103, 104, 200


def table(*extra: tuple[int, int, int]) -> dict[int, tuple[int, int]]:
    """A shell leading session 100 that runs CMD (``torchrun``) with WORKER under it; rows (pid, ppid, sid)."""
    rows = [(1, 0, 1), (SHELL, 1, SHELL), (CMD, SHELL, SHELL), (WORKER, CMD, SHELL), (ELSEWHERE, 1, ELSEWHERE),
            *extra]
    return {pid: (ppid, sid) for pid, ppid, sid in rows}


def test_a_session_is_own_when_it_holds_only_the_shell_and_this_command():
    assert session_is_own(WORKER, table())
    assert session_is_own(WORKER, table((OTHER_WORKER, CMD, SHELL)))  # torchrun's other ranks
    assert session_is_own(CMD, table())
    assert not session_is_own(WORKER, table((SERVER, SHELL, SHELL)))  # `streamlit run app.py &` in that terminal
    assert not session_is_own(ELSEWHERE + 1, table())  # unknown process
    nohup = table()
    del nohup[SHELL]  # the terminal has closed under a `nohup` run: the session holds only this command
    nohup[CMD] = (1, SHELL)
    assert session_is_own(WORKER, nohup)
    assert not session_is_own(WORKER, {**nohup, SERVER: (1, SHELL)})


PROBE = "from srl_explorer.priority import lower_priority, session_nice; print(lower_priority(10), session_nice())"


def run(argv: list[str]) -> list[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(session_nice() is None, reason="no autogroup scheduling here (not Linux, or it is off)")
def test_the_session_priority_is_lowered_only_when_the_session_is_the_commands_own():
    python = sys.executable
    # Its own session (the app's launched runs, `setsid`): lowered, and kept until the session ends.
    assert run(["setsid", "--wait", python, "-c", PROBE]) == ["10", "10"]
    # A terminal's session: lowered while the command runs, then given back to the shell.
    out = run(["setsid", "--wait", "bash", "-c", f"{python} -c '{PROBE}'; cat /proc/self/autogroup"])
    assert out[:2] == ["10", "10"] and out[-1] == "0"
    # A terminal that also runs something else (the app, say): left alone.
    out = run(["setsid", "--wait", "bash", "-c", f"sleep 30 & {python} -c '{PROBE}'; kill %1"])
    assert out == ["10", "0"]
