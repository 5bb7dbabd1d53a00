"""Killed runs, resume, and concurrent runs: nothing lost, nothing half-written."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from srl_explorer import rundir
from srl_explorer.encoder import Encoder

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the a cat dog runs sleeps under over red blue quickly slowly house tree river city".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    lines = {" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(600)}
    (d / "train.txt").write_text("\n".join(sorted(lines)) + "\n")
    rows = ["sentence1\tsentence2\tscore"] + [
        f"{' '.join(rng.choice(WORDS) for _ in range(6))}\t{' '.join(rng.choice(WORDS) for _ in range(6))}\t"
        f"{rng.uniform(0, 5):.1f}" for _ in range(60)]
    (d / "dev.tsv").write_text("\n".join(rows) + "\n")
    return d / "train.txt", d / "dev.tsv"


def start(tiny_model: str, corpus, run_dir: Path, *extra: str) -> subprocess.Popen:
    train, dev = corpus
    cmd = [sys.executable, "-m", "srl_explorer", "train", "--model", tiny_model, "--train-file", str(train),
           "--dev-file", str(dev), "--batch-size", "8", "--eval-every", "4", "--save-every", "3",
           "--output-dir", str(run_dir), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def check_consistent(run_dir: Path) -> list[dict]:
    """Every complete metrics line parses, the reader copes with a torn tail, checkpoints are whole."""
    raw = (run_dir / "metrics.jsonl").read_bytes() if (run_dir / "metrics.jsonl").exists() else b""
    complete = raw[: raw.rfind(b"\n") + 1]
    parsed = [json.loads(line) for line in complete.splitlines()]
    records, offset = rundir.read_metrics(run_dir / "metrics.jsonl")
    assert records == parsed and offset == len(complete)
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps)), "steps must be unique and increasing"
    for name, path in rundir.checkpoints_of(run_dir).items():
        assert {"config.json", "model.safetensors", "srl_pooling.json"} <= {p.name for p in path.iterdir()}, name
        Encoder.from_pretrained(path)
    return records


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tiny_model, corpus, tmp_path):
    rng = random.Random(1234)
    survived, resumed = 0, 0
    for trial in range(12):
        run_dir = tmp_path / f"run{trial}"
        proc = start(tiny_model, corpus, run_dir, "--max-steps", "100000")
        if trial < 2:  # during start-up
            time.sleep(rng.uniform(0.5, 3.0))
        else:  # once the run exists: lands in evaluation, checkpointing, a metrics write or a step
            # two trials first wait for a resumable checkpoint, so a busy machine cannot leave none to resume
            marker = run_dir / "last" / "trainer_state.pt" if trial in (2, 3) else run_dir / "status.json"
            deadline = time.time() + 240
            while not marker.exists() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.2, 5.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if not (run_dir / "status.json").exists():
            continue  # killed before the run directory existed: nothing to lose
        records = check_consistent(run_dir)
        status = rundir.read_status(run_dir)
        assert status["state"] == "killed", status  # the pid is checked; the stale "running" is not trusted
        assert "killed" in status["error"]
        survived += 1
        last = rundir.recover_dir(run_dir / "last")
        if last is not None and resumed < 3:
            from_step = int(torch.load(last / "trainer_state.pt", weights_only=True)["step"])
            target = from_step + 2
            done = subprocess.run([sys.executable, "-m", "srl_explorer", "train", "--resume", str(run_dir),
                                   "--max-steps", str(target)], cwd=ROOT, capture_output=True, text=True,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
            after = check_consistent(run_dir)
            assert rundir.read_status(run_dir)["state"] == "finished"
            assert after[-1]["step"] == target
            assert [r["step"] for r in after if r["step"] <= from_step] == \
                   [r["step"] for r in records if r["step"] <= from_step]  # logged history kept
            resumed += 1
    assert survived >= 10 and resumed >= 1, (survived, resumed)


@pytest.mark.slow
def test_two_concurrent_runs_and_stopping_one(tiny_model, corpus, tmp_path):
    a = start(tiny_model, corpus, tmp_path / "a", "--max-steps", "100000")
    b = start(tiny_model, corpus, tmp_path / "b", "--max-steps", "12", "--seed", "7")
    deadline = time.time() + 120
    while not rundir.read_metrics(tmp_path / "a" / "metrics.jsonl")[0] and time.time() < deadline:
        time.sleep(0.2)
    rundir.request_stop(tmp_path / "a")
    assert a.wait(timeout=120) == 0, a.stderr.read().decode()[-2000:]
    assert b.wait(timeout=300) == 0, b.stderr.read().decode()[-2000:]
    assert rundir.read_status(tmp_path / "a")["state"] == "cancelled"
    assert rundir.read_status(tmp_path / "b")["state"] == "finished"
    ra, rb = check_consistent(tmp_path / "a"), check_consistent(tmp_path / "b")
    assert rb[-1]["step"] == 12 and ra[-1]["step"] < 100000
    assert json.loads((tmp_path / "b" / "config.json").read_text())["seed"] == 7


def test_torn_last_line_is_tolerated_and_repaired(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1, "loss": 0.5}\n{"step": 2, "lo')
    records, offset = rundir.read_metrics(path)
    assert records == [{"step": 1, "loss": 0.5}] and offset == 25
    writer = rundir.MetricsWriter(path)  # appending repairs the torn tail first
    writer.write({"step": 2, "loss": 0.4})
    writer.close()
    assert rundir.read_metrics(path)[0] == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.4}]


def test_atomic_checkpoint_survives_a_crash_mid_write(tmp_path):
    rundir.atomic_save_dir(tmp_path / "best", lambda d: (d / "config.json").write_text("{}"))

    def crash(d: Path) -> None:
        (d / "config.json").write_text("{half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rundir.atomic_save_dir(tmp_path / "best", crash)
    assert (tmp_path / "best" / "config.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["best"]


def test_run_names_cannot_escape_the_checkpoint_root(tmp_path):
    assert rundir.run_dir_for("../../etc/passwd", tmp_path).parent == tmp_path.resolve()
    assert rundir.sanitize_name("my run/../x") == "my-run-..-x"
    with pytest.raises(ValueError):
        rundir.sanitize_name("../..")


def test_stale_running_status_is_reported_as_killed(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    rundir.atomic_write_json(tmp_path / "status.json", {"state": "running", "pid": proc.pid, "step": 3})
    status = rundir.read_status(tmp_path)
    assert status["state"] == "killed" and str(proc.pid) in status["error"]
