"""Every command the README shows is exercised, exactly as written, shortened with extra flags at most.

Commands are read from the README's ```bash blocks. Each is either *run* (in a scratch folder holding
``stsbenchmark/``, a paused tiny run ``checkpoints/run`` for ``<run>``, and ``my_pairs.csv``) or, when it
needs a GPU, the hub, a cluster or data that cannot be had here, *parsed* by the real CLI parser. A command
that matches no rule fails the test, so a new example cannot go unchecked.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from srl_explorer.cli import build_parser
from srl_explorer.data import read_pairs, sample_pairs_path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PARSE_ONLY = ("torchrun", "bert-base-uncased", "wiki1m", "SentEval/", "--preset paper", "--repo-id")
SHORT = {  # extra flags that keep a run to seconds on a tiny model (argparse keeps the last value)
    "train": ["--max-steps", "2", "--batch-size", "4", "--eval-every", "2", "--max-train-sentences", "64"],
    "reproduce": ["--max-steps", "2", "--batch-size", "4", "--eval-every", "2", "--losses", "infonce,mpt",
                  "--seeds", "1", "--max-train-sentences", "64"],
}


def readme_commands() -> list[str]:
    """The commands of the README's bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.split(r"\s+#", line)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def srl_argv(command: str) -> list[str] | None:
    """The srl_explorer arguments of a command (after ``python -m srl_explorer``, ``srl-explorer`` or
    ``torchrun ... -m srl_explorer``), with ``...`` dropped; None when it is not one of ours."""
    words = shlex.split(command.replace("<run>", "run"))
    for i, w in enumerate(words):
        if w == "srl-explorer" or (w == "srl_explorer" and i and words[i - 1] == "-m"):
            return [a for a in words[i + 1:] if a != "..."]
    return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_model) -> Path:
    """A scratch folder with STS-B (real when available, else the shipped pairs in STS-B's format),
    a paused tiny run at checkpoints/run and my_pairs.csv."""
    work = tmp_path_factory.mktemp("readme")
    stsb = Path(os.environ.get("SRL_DATA_DIR", ""))
    if (stsb / "sts-dev.csv").is_file():
        (work / "stsbenchmark").symlink_to(stsb.resolve())
    else:
        (work / "stsbenchmark").mkdir()
        pairs = read_pairs(sample_pairs_path())
        triples = zip(pairs.s1, pairs.s2, pairs.scores)
        rows = [f"g\tf\ty\t{i:04d}\t{sc:.3f}\t{a}\t{b}" for i, (a, b, sc) in enumerate(triples)]
        for name in ("sts-train.csv", "sts-dev.csv"):
            (work / "stsbenchmark" / name).write_text("\n".join(rows) + "\n")
    pairs = read_pairs(sample_pairs_path())
    (work / "my_pairs.csv").write_text("sentence1,sentence2,score\n" + "".join(
        f'"{a}","{b}",{sc}\n' for a, b, sc in zip(pairs.s1[:20], pairs.s2[:20], pairs.scores[:20])))
    # <run>: paused after step 3 of 4 (resumable), with a best checkpoint from its step-2 evaluation
    run_srl(work, ["train", "--model", tiny_model, "--output-dir", "checkpoints/run", *SHORT["train"],
                   "--max-steps", "4", "--stop-after", "3"])
    return work


def run_srl(cwd: Path, argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SRL_CHECKPOINTS": str(cwd / "checkpoints"),
           "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "srl_explorer", *argv], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"{shlex.join(argv)}\n{r.stderr[-3000:]}"
    return r


def shortened(argv: list[str], tiny_model: str) -> list[str]:
    command = argv[0]
    if command in SHORT and "--resume" not in argv:
        return [*argv, "--model", tiny_model, *SHORT[command]]
    if command == "eval" and "--model" not in argv:
        return [*argv, "--model", "checkpoints/run"]
    if command == "app":
        return [*argv, "--print-command"]
    return argv


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command(command, workdir, tiny_model):
    for part in command.split(" && "):
        check_command(part.strip(), workdir, tiny_model)


def check_command(command: str, workdir: Path, tiny_model: str) -> None:
    argv = srl_argv(command)
    if argv is not None and any(m in command for m in PARSE_ONLY):
        args = build_parser().parse_args(argv)  # a GPU, the hub, a cluster or BERT-base: parsed, not run
        assert callable(args.func)
    elif argv is not None:
        if argv[0] == "export-tb":
            shutil.rmtree(workdir / "checkpoints" / "run" / "tb", ignore_errors=True)
        run_srl(workdir, shortened(argv, tiny_model))
    elif command.startswith("pip install"):
        words = shlex.split(command)[2:]
        targets = [w for w in words if not w.startswith("-")]
        assert targets and all((ROOT / t.split("[")[0]).exists() for t in targets), command
    elif command.startswith("touch "):
        subprocess.run(command.replace("<run>", "checkpoints/run"), shell=True, cwd=workdir, check=True)
    elif command in ("streamlit run app.py", "python -m pytest -q"):
        assert (ROOT / "app.py").is_file()  # run by the browser tests (bench/_browser.start_app) / this suite
    elif command.startswith("tensorboard "):
        assert shutil.which("tensorboard"), "tensorboard is not installed"
    elif command.startswith("python bench/run.py"):
        r = subprocess.run([sys.executable, "bench/run.py", "--help"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr  # the full harness runs in tests/test_bench.py (--quick)
    else:
        pytest.fail(f"no rule for README command {command!r}: add one to tests/test_readme.py")
