"""Runs you can manage: delete (refusing a live run), rename, notes and disk use in rundir; the ``runs``
command; ``--keep``; the Home page's actions through AppTest; launched runs at a lower priority."""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_explorer import jobs, rundir
from srl_explorer.cli import main
from srl_explorer.priority import session_nice
from srl_explorer.rundir import RunDir, RunError

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- fixtures
def fake_run(root: Path, name: str, state: str = rundir.FINISHED, pid: int | None = None, mb: float = 0.1,
             **config) -> Path:
    """A run folder as the trainer leaves it, with a ``best/`` checkpoint of about ``mb`` MB."""
    d = RunDir(root / name)
    d.path.mkdir(parents=True)
    d.write_config({"loss": "mpt", "output_dir": str(d.path), **config})
    d.write_status(state=state, pid=pid or 999_999, host=socket.gethostname(), started=time.time(), step=4,
                   max_steps=4, best=71.5, last_loss=0.25)
    (d.path / "best").mkdir()
    (d.path / "best" / "config.json").write_text("{}")
    (d.path / "best" / "model.safetensors").write_bytes(os.urandom(int(mb * 2**20)))
    return d.path


def live_run(root: Path, name: str = "live-run") -> Path:
    """A run whose status says running with a process that is alive (this test's)."""
    return fake_run(root, name, state=rundir.RUNNING, pid=os.getpid())


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    r = tmp_path / "checkpoints"
    r.mkdir()
    monkeypatch.setenv("SRL_CHECKPOINTS", str(r))
    return r


# --------------------------------------------------------------------------- rundir
def test_delete_removes_a_finished_run_and_refuses_a_live_one(root):
    done, live = fake_run(root, "done"), live_run(root)
    with pytest.raises(RunError, match=r"cannot delete live-run: it is training \(pid \d+\); stop it first"):
        rundir.delete_run(live, root)
    assert live.exists()
    rundir.delete_run(done, root)
    assert not done.exists() and [r.name for r in rundir.list_runs(root)] == ["live-run"]
    assert not [p for p in root.iterdir() if p.name.startswith(".deleting")]


def test_delete_stays_inside_the_runs_folder(root, tmp_path):
    outside = fake_run(tmp_path, "elsewhere")
    with pytest.raises(RunError, match="not inside the runs folder"):
        rundir.delete_run(outside, root)
    (root / "not-a-run").mkdir()
    with pytest.raises(RunError, match="not a run folder"):
        rundir.delete_run(root / "not-a-run", root)
    with pytest.raises(RunError, match="not inside"):
        rundir.delete_run(root, root)
    assert outside.exists() and (root / "not-a-run").exists()


def test_a_killed_run_can_be_deleted(root):
    killed = fake_run(root, "killed", state=rundir.RUNNING, pid=999_999)  # running, but no such process
    assert rundir.read_status(killed)["state"] == rundir.KILLED
    rundir.delete_run(killed, root)
    assert not killed.exists()


def test_rename_sanitizes_refuses_collisions_and_live_runs_and_moves_recorded_paths(root):
    run = fake_run(root, "a", train_file=str(root / "a" / "corpus.txt"), model="packaged:x")
    rundir.atomic_write_json(RunDir(run).sts_results_file, {"best": {"model": str(run / "best")}})
    fake_run(root, "taken")
    live = live_run(root)
    with pytest.raises(RunError, match="a run named taken already exists"):
        rundir.rename_run(run, "taken", root)
    with pytest.raises(RunError, match="cannot rename live-run: it is training"):
        rundir.rename_run(live, "other", root)
    with pytest.raises(RunError, match="not a usable run name"):
        rundir.rename_run(run, "../", root)
    new = rundir.rename_run(run, "../my run!", root)  # sanitized to one component inside the root
    assert new == (root / "my-run").resolve() and not run.exists()
    config = RunDir(new).read_config()
    assert config["output_dir"] == str(new) and config["train_file"] == str(new / "corpus.txt")
    assert config["model"] == "packaged:x"
    assert rundir.read_json(RunDir(new).sts_results_file)["best"]["model"] == str(new / "best")
    assert rundir.rename_run(new, "my-run", root) == new  # same name: nothing to do


def test_runs_of_a_reproduction_are_listed_and_renamed_as_a_group(root):
    repro = root / "repro-1"
    repro.mkdir()
    rundir.atomic_write_json(RunDir(repro).reproduction_file, {"losses": ["mpt"]})
    fake_run(repro, "mpt")
    assert [r.name for r in rundir.list_runs(root)] == ["repro-1/mpt"]
    with pytest.raises(RunError, match="rename the reproduction repro-1 instead"):
        rundir.rename_run(repro / "mpt", "x", root)
    moved = rundir.rename_run(repro, "paper-cpu", root)
    assert RunDir(moved / "mpt").read_config()["output_dir"] == str(moved / "mpt")
    live_run(moved, "met")
    with pytest.raises(RunError, match="cannot delete paper-cpu/met: it is training"):
        rundir.delete_run(moved, root)
    rundir.delete_run(moved / "mpt", root)  # one finished run of it can go
    assert [r.name for r in rundir.list_runs(root)] == ["paper-cpu/met"]


def test_notes_are_kept_in_the_run_folder(root):
    run = fake_run(root, "a")
    assert rundir.read_note(run) == ""
    rundir.write_note(run, "lr 3e-5\nthe reference run  ")
    assert (run / rundir.NOTE).read_text() == "lr 3e-5\nthe reference run\n"
    assert rundir.run_summary(rundir.list_runs(root)[0])["note"] == "lr 3e-5"
    rundir.write_note(run, "   ")
    assert not (run / rundir.NOTE).exists()
    rundir.write_note(live_run(root), "a live run can be annotated")


def test_disk_usage_counts_blocks_and_hard_links_once(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"x" * 300_000)
    one = rundir.disk_usage(tmp_path)
    assert 300_000 <= one < 300_000 + 64 * 1024
    rundir.link_tree(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "w.bin").read_bytes() == b"x" * 300_000
    assert rundir.disk_usage(tmp_path) == one  # linked, not copied
    assert rundir.disk_usage(tmp_path / "missing") == 0
    assert rundir.format_bytes(93_400_000) == "89.1 MB" and rundir.format_bytes(512) == "512 B"


# --------------------------------------------------------------------------- the runs command
def runs_cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    import contextlib
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["runs", *argv])
            except SystemExit as e:  # argparse
                code = e.code
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def test_runs_list_shows_state_scores_note_and_disk(root):
    fake_run(root, "done", mb=1.0)
    rundir.write_note(root / "done", "baseline")
    code, out, _ = runs_cli("list")
    assert code == 0
    header, row, total = out.strip().splitlines()
    for col in ("run", "state", "loss", "steps", "best STS dev", "disk", "note"):
        assert col in header
    assert row.split()[:5] == ["done", "finished", "mpt", "4/4", "0.25"] and "71.50" in row
    assert "1.0 MB" in row and row.endswith("baseline")
    assert total.startswith("1 run(s), 1.0 MB on disk")


def test_runs_rm_asks_first_and_refuses_a_live_run(root):
    done, live = fake_run(root, "done"), live_run(root)
    code, _, err = runs_cli("rm", "done", stdin="n\n")
    assert code == 1 and "nothing deleted" in err and done.exists()
    code, out, _ = runs_cli("rm", "done", stdin="")  # no answer (EOF) is a no
    assert code == 1 and done.exists() and "Delete done" in out
    code, _, err = runs_cli("rm", "done", "live-run", "--yes")
    assert code == 2 and err.strip().startswith("error: cannot delete live-run: it is training")
    assert len(err.strip().splitlines()) == 1 and done.exists()  # nothing deleted when one is refused
    code, out, _ = runs_cli("rm", "done", stdin="y\n")
    assert code == 0 and not done.exists() and "deleted done" in out
    code, _, err = runs_cli("rm", "nope", "--yes")
    assert code == 2 and "no run named 'nope'" in err and live.exists()


def test_runs_rename_and_note(root):
    fake_run(root, "a")
    fake_run(root, "b")
    code, out, _ = runs_cli("rename", "a", "baseline")
    assert code == 0 and (root / "baseline").is_dir() and "baseline" in out
    code, _, err = runs_cli("rename", "baseline", "b")
    assert code == 2 and err.strip() == "error: a run named b already exists"
    assert runs_cli("note", "baseline", "first try")[0] == 0
    assert runs_cli("note", "baseline")[1] == "first try\n"
    assert runs_cli("note", "baseline", "-", stdin="from stdin\n")[0] == 0
    assert rundir.read_note(root / "baseline") == "from stdin\n"
    assert runs_cli("note", "baseline", "--clear")[0] == 0 and runs_cli("note", "baseline")[1] == ""
    assert runs_cli("--root", str(root), "list")[0] == 0
    assert runs_cli("frobnicate")[0] == 2


# --------------------------------------------------------------------------- --keep
def test_keep_parsing():
    assert rundir.parse_keep("best,final") == {"best", "final"}
    assert rundir.parse_keep("all") == {"best", "final", "last"}
    assert rundir.parse_keep(" last ") == {"last"}
    for bad in ("", "best,nope", "all,best"):
        with pytest.raises(ValueError, match="--keep must be"):
            rundir.parse_keep(bad)
    assert runs_cli()[0] == 2  # `runs` alone is an argument error
    assert main(["train", "--keep", "everything", "--max-steps", "1"]) == 2


def _train(tiny_model, out: Path, **kw) -> Path:
    from srl_explorer.config import TrainConfig
    from srl_explorer.training import train
    cfg = dict(model=tiny_model, loss="mpt", max_steps=4, batch_size=8, eval_every=2, max_train_sentences=64,
               output_dir=str(out))
    return Path(train(TrainConfig(**{**cfg, **kw})))


def test_keep_default_drops_the_resumable_checkpoint_of_a_finished_run(tiny_model, tmp_path):
    run = _train(tiny_model, tmp_path / "default")
    assert set(rundir.checkpoints_of(run)) == {"best", "final"}
    best, final = run / "best" / "model.safetensors", run / "final" / "model.safetensors"
    if rundir.read_status(run)["best_step"] == 4:  # the best is the last step: one copy on disk
        assert best.stat().st_ino == final.stat().st_ino
    everything = _train(tiny_model, tmp_path / "all", keep="all")
    assert set(rundir.checkpoints_of(everything)) == {"best", "final", "last"}
    assert rundir.disk_usage(run) < rundir.disk_usage(everything)


def test_keep_best_still_resumes_a_stopped_run(tiny_model, tmp_path):
    run = _train(tiny_model, tmp_path / "r", keep="best", stop_after=2)
    assert rundir.read_status(run)["state"] == rundir.CANCELLED
    assert RunDir.trainer_state(run / "last").exists()  # a run that did not finish keeps last/
    before = os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0), session_nice()
    assert main(["train", "--resume", str(run)]) == 0
    assert (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0), session_nice()) == before  # a caller's
    status = rundir.read_status(run)  # process keeps its priority: only `python -m srl_explorer` lowers its own
    assert status["state"] == rundir.FINISHED and status["step"] == 4
    assert set(rundir.checkpoints_of(run)) == {"best"}  # exactly what --keep asked for
    assert main(["train", "--resume", str(run)]) == 2  # finished without last/: one line, exit 2


def test_keep_writes_final_when_a_finished_run_has_no_other_model(tiny_model, tmp_path):
    from srl_explorer.training.lifecycle import Checkpoints, Progress
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    (run.path / "last").mkdir()

    class Enc:
        def save(self, folder):
            (Path(folder) / "config.json").write_text("{}")

    Checkpoints(run, Enc(), None, None, keep="best").finish(Progress(step=4, state=rundir.FINISHED))
    assert set(run.checkpoints()) == {"final"} and not (run.path / "last").exists()


# --------------------------------------------------------------------------- priority of launched runs
def test_trainer_threads_leave_a_core_on_small_machines():
    assert jobs.trainer_threads(2, {}) == 1 and jobs.trainer_threads(4, {}) == 3
    assert jobs.trainer_threads(1, {}) == 1
    assert jobs.trainer_threads(16, {}) is None  # a big machine: torch decides
    assert jobs.trainer_threads(2, {"OMP_NUM_THREADS": "2"}) is None  # the user's choice wins


def test_a_launched_run_is_nicer_than_the_server(tiny_model, tmp_path, monkeypatch):
    import psutil
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    run_dir = tmp_path / "run"
    proc = jobs.launch({"model": tiny_model, "loss": "mpt", "max_steps": 200, "batch_size": 8, "eval_every": 1000,
                        "max_train_sentences": 64}, run_dir)
    try:
        child = psutil.Process(proc.pid)
        assert child.nice() > psutil.Process().nice()
        assert child.nice() == min(19, psutil.Process().nice() + jobs.TRAINER_NICE)
        launched = rundir.read_json(run_dir / "launch.json")
        assert launched["nice"] == child.nice() - psutil.Process().nice()
        assert launched["command"].startswith(f"nice -n {launched['nice']} ")
        threads = jobs.trainer_threads()
        if threads is not None:
            assert child.environ().get("OMP_NUM_THREADS") == str(threads)
            assert f"OMP_NUM_THREADS={threads}" in launched["command"]
        if session_nice() is not None:  # its own session, so its CPU share against the app's session drops too
            deadline = time.time() + 60
            while session_nice(proc.pid) != child.nice() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            assert session_nice(proc.pid) == child.nice() > 0  # the session runs at the trainer's niceness
            assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE  # set just before the session's niceness
    finally:
        jobs.stop(run_dir, grace=0.0)
        proc.wait(timeout=60)


def test_cli_runs_lower_their_priority_and_torch_threads_inherit_it():
    """`train` and `reproduce` run at niceness >= --nice (default 10) and in SCHED_IDLE (default; --no-idle),
    set before torch starts its threads."""
    from srl_explorer.training.cli import DEFAULT_NICE
    script = (
        "import glob, os, sys, torch\n"
        "from srl_explorer.priority import lower_priority\n"
        "print(lower_priority(7, idle=sys.argv[1] == 'idle'))\n"
        "torch.set_num_threads(2); torch.randn(512, 512) @ torch.randn(512, 512)\n"
        "stats = [open(t).read().rsplit(')', 1)[1].split() for t in glob.glob('/proc/self/task/*/stat')]\n"
        "print(len(stats), sorted({int(f[16]) for f in stats}), sorted({int(f[38]) for f in stats}))\n"
    )  # fields 19 and 41 of stat: the thread's niceness and scheduling policy

    def threads(mode: str) -> tuple[str, str, str]:
        out = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True)
        ret, n, nice, policy = out.stdout.replace("[", "").replace("]", "").split()
        assert int(n) >= 2  # torch's thread too
        return ret, nice, policy

    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert threads("idle") == (str(max(7, own)), str(max(7, own)), str(os.SCHED_IDLE))  # every thread
    assert threads("normal") == (str(max(7, own)), str(max(7, own)), str(os.sched_getscheduler(0)))  # as it was
    from srl_explorer.cli import build_parser
    for cmd in ("train", "reproduce"):
        args = build_parser().parse_args([cmd])
        assert args.nice == DEFAULT_NICE == 10 and args.idle is True
        assert build_parser().parse_args([cmd, "--no-idle"]).idle is False
    assert main(["train", "--nice", "20"]) == 2


# --------------------------------------------------------------------------- the Home page
def home(root: Path):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_page_renames_annotates_and_deletes_with_confirmation(root, monkeypatch):
    monkeypatch.setenv("SRL_UMAP_WARMUP", "0")
    fake_run(root, "old-name", mb=0.5)
    at = home(root)
    table = at.dataframe[0].value
    assert list(table["run"]) == ["old-name"] and table["disk (MB)"][0] == pytest.approx(0.5, abs=0.05)
    assert any("on disk" in c.value for c in at.caption)

    at.text_input(key="runs-new-name").set_value("renamed").run()
    at.button(key="runs-rename").click().run()
    assert not at.exception and (root / "renamed").is_dir() and not (root / "old-name").exists()
    assert at.selectbox(key="runs-selected").value == "renamed"
    assert list(at.dataframe[0].value["run"]) == ["renamed"]

    at.text_area(key="runs-note-renamed").set_value("the baseline").run()
    at.button(key="runs-save-note").click().run()
    assert rundir.read_note(root / "renamed") == "the baseline\n"
    assert list(at.dataframe[0].value["note"]) == ["the baseline"]

    at.button(key="runs-delete").click().run()  # asks first
    assert (root / "renamed").is_dir() and any("cannot be undone" in w.value for w in at.warning)
    at.button(key="runs-cancel").click().run()
    assert (root / "renamed").is_dir() and not at.warning
    at.button(key="runs-delete").click().run()
    at.button(key="runs-yes").click().run()
    assert not at.exception and not (root / "renamed").exists()
    assert any("Deleted renamed" in s.value for s in at.success)
    assert any("No runs yet" in i.value for i in at.info)


def test_home_page_refuses_to_delete_or_rename_a_live_run(root, monkeypatch):
    monkeypatch.setenv("SRL_UMAP_WARMUP", "0")
    live = live_run(root)
    at = home(root)
    at.button(key="runs-delete").click().run()
    assert any("cannot delete live-run: it is training" in e.value for e in at.error)
    assert not at.warning and live.is_dir()
    at.text_input(key="runs-new-name").set_value("x").run()
    at.button(key="runs-rename").click().run()
    assert any("cannot rename live-run" in e.value for e in at.error) and live.is_dir()
    json.dumps(rundir.read_status(live))  # still readable, untouched
