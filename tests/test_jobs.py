"""The job launcher: commands, checks, real trainer processes, stopping (STOP file and SIGTERM)."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_explorer import jobs, rundir
from srl_explorer.cli import build_parser
from srl_explorer.data import DataError


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def ended(run_dir: Path) -> bool:
    return rundir.read_status(run_dir).get("state") not in (rundir.LIVE, "unknown")


CFG = {"loss": "mat", "model": "/models/tiny bert", "pooler": "avg_top2", "train_file": "corpus.txt", "max_steps": 7,
       "batch_size": 16, "lr": 5e-05, "max_seq_length": 24, "eval_every": 3, "seed": 3, "margin": 0.2, "dev_file": None}


def test_cli_and_torchrun_commands_parse_back_to_the_config():
    cmd = shlex.split(jobs.cli_command(CFG))
    assert cmd[:4] == ["python", "-m", "srl_explorer", "train"]
    args = build_parser().parse_args(cmd[3:])
    for key, value in CFG.items():
        assert getattr(args, key) == value, key
    tr = shlex.split(jobs.torchrun_shell_command(CFG, 4))
    assert tr[:4] == ["torchrun", "--nproc_per_node=4", "-m", "srl_explorer"]
    assert tr[4:] == cmd[3:]  # the same training arguments
    multi = jobs.torchrun_shell_command(CFG, 8, nnodes=2, rdzv_endpoint="10.0.0.1:29500")
    assert "--nnodes=2" in multi and "--rdzv-endpoint=10.0.0.1:29500" in multi


def test_default_model_and_empty_values_are_left_out():
    cmd = jobs.cli_command({"loss": "infonce", "model": None, "train_file": "", "max_steps": 5})
    assert cmd == "python -m srl_explorer train --loss infonce --max-steps 5"


@pytest.mark.parametrize("cfg, message", [
    ({"batch_size": 1}, "at least 2"),
    ({"max_steps": 0}, "at least 1"),
    ({"loss": "nope"}, "unknown loss 'nope'"),
    ({"model": "/no/such/model"}, "no such model directory"),
    ({"train_file": "/no/such/corpus.txt"}, "no such file"),
    ({"dev_file": "missing-dev.csv"}, "no such file"),
])
def test_preflight_refuses_bad_configs(cfg, message):
    with pytest.raises(ValueError, match=message):
        jobs.preflight({"loss": "infonce", **cfg})


def test_uploaded_corpus_needs_a_full_batch():
    assert jobs.corpus_from_upload(b"one\ntwo\n\nthree\n", "c.txt", 3) == ["one", "two", "three"]
    with pytest.raises(DataError, match=r"c.txt: 2 sentence\(s\), fewer than the batch size 8"):
        jobs.corpus_from_upload(b"one\ntwo\n", "c.txt", 8)
    with pytest.raises(DataError, match="not valid UTF-8"):
        jobs.corpus_from_upload("caf\xe9\n".encode("latin-1"), "c.txt", 1)


def test_eta_from_mean_step_time():
    records = [{"step": 0, "elapsed_s": 0.0}, {"step": 1, "elapsed_s": 2.0, "loss": 1.0},
               {"step": 5, "elapsed_s": 10.0, "loss": 0.5}]
    assert jobs.eta_seconds(records, 5, 15) == pytest.approx(20.0)
    assert jobs.eta_seconds(records[:2], 1, 15) is None and jobs.eta_seconds(records, 15, 15) is None


def test_format_duration():
    assert [jobs.format_duration(s) for s in (5, 95, 7300, 200_000)] == ["5 s", "1 min 35 s", "2 h 01 min", "2 d 7 h"]


def test_start_run_with_an_uploaded_corpus_runs_to_the_end(tiny_model, tmp_path):
    corpus = "\n".join(f"sentence number {i} about topic {i % 7}" for i in range(40)).encode()
    registry = jobs.JobRegistry()
    run_dir = jobs.start_run({"loss": "infonce", "model": tiny_model, "max_steps": 3, "batch_size": 8,
                              "eval_every": 2}, tmp_path, (corpus, "mine.txt"), registry)
    assert run_dir.parent == tmp_path.resolve()
    assert [r.name for r in rundir.list_runs(tmp_path)] == [run_dir.name]  # listed before the trainer starts
    assert (run_dir / "corpus.txt").read_text().count("\n") == 40
    wait_for(lambda: ended(run_dir), what="the run to finish")
    status = rundir.read_status(run_dir)
    assert status["state"] == "finished" and status["step"] == 3, rundir.read_json(run_dir / "status.json")
    assert rundir.read_json(run_dir / "config.json")["train_file"] == str(run_dir / "corpus.txt")
    records, _ = rundir.read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == [0, 1, 2, 3]
    assert "--train-file" in rundir.read_json(run_dir / "launch.json")["command"]
    wait_for(lambda: registry.reap() == 0, 30, "the child to be reaped")


def test_stop_by_stop_file_and_by_sigterm(tiny_model, tmp_path):
    cfg = {"loss": "mpt", "model": tiny_model, "max_steps": 100_000, "batch_size": 8, "eval_every": 100_000}
    polite, stubborn = (jobs.start_run(cfg, tmp_path / name) for name in ("a", "b"))
    for run_dir in (polite, stubborn):  # both running, past the model load (signal handlers installed)
        wait_for(lambda d=run_dir: rundir.read_status(d).get("step", 0) >= 1, what="training steps")
    assert jobs.stop(polite, grace=120) is False  # the STOP file was enough
    assert rundir.read_status(polite)["state"] == "cancelled"
    assert jobs.stop(stubborn, grace=0) is True  # no grace: SIGTERM at once, still a clean cancel
    wait_for(lambda: ended(stubborn), what="the SIGTERMed run to end")
    status = rundir.read_status(stubborn)
    assert status["state"] == "cancelled" and "SIGTERM" in status["error"]
    assert (polite / "last" / "trainer_state.pt").exists()  # a stopped run can be resumed


def test_sigterm_fallback_when_the_process_ignores_the_stop_file(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        rundir.atomic_write_json(tmp_path / "status.json", {"state": "running", "pid": proc.pid})
        thread = jobs.stop_async(tmp_path, grace=0.5)
        assert (tmp_path / rundir.STOP_FILE).exists()
        thread.join(30)
        assert proc.wait(30) == -signal.SIGTERM
        assert rundir.read_status(tmp_path)["state"] == "killed"  # it never updated its status
    finally:
        proc.kill()


def test_a_command_line_error_is_reported_as_failed(tmp_path):
    proc = jobs.launch({"loss": "infonce", "max_steps": "many"}, tmp_path / "bad")
    assert proc.wait(120) == 2
    status = jobs.status_with_log_error(tmp_path / "bad")
    assert status["state"] == "failed"
    assert "--max-steps: invalid int value: 'many'" in status["error"]


def test_one_checkpoint_root_rule_for_the_cli_and_the_app(tmp_path, monkeypatch):
    from srl_explorer.ui import common
    monkeypatch.delenv("SRL_CHECKPOINTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert rundir.checkpoint_root() == common.checkpoint_root() == tmp_path / "checkpoints"  # not the project's
    monkeypatch.setenv("SRL_CHECKPOINTS", str(tmp_path / "elsewhere"))
    assert rundir.checkpoint_root() == common.checkpoint_root() == tmp_path / "elsewhere"


def test_launch_runs_the_trainer_in_the_callers_working_directory(tmp_path, monkeypatch):
    seen = {}

    class FakePopen:
        pid = 2**22 + 1  # above the default pid_max: never a live process

        def __init__(self, command, **kwargs):
            seen.update(kwargs, command=command)

    monkeypatch.setattr(jobs.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(jobs, "_importable_from", lambda cwd, pythonpath: False)  # a bare source checkout
    monkeypatch.chdir(tmp_path)
    jobs.launch({"loss": "mpt", "max_steps": 2, "train_file": "corpus.txt"}, "runs/r1")
    assert seen["cwd"] == tmp_path  # so "corpus.txt" and ./checkpoints mean what they mean on the command line
    assert seen["command"][1:4] == ["-m", "srl_explorer", "train"]
    assert seen["env"]["PYTHONPATH"].split(os.pathsep)[0] == str(jobs.PACKAGE_PARENT)
    assert rundir.RunDir(tmp_path / "runs" / "r1").read_config()["output_dir"] == str(tmp_path / "runs" / "r1")
    monkeypatch.setattr(jobs, "_importable_from", lambda cwd, pythonpath: True)  # installed: no PYTHONPATH added
    monkeypatch.delenv("PYTHONPATH", raising=False)
    jobs.launch({"loss": "mpt"}, tmp_path / "r2")
    assert "PYTHONPATH" not in seen["env"]
