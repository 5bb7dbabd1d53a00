"""The package installs on its own: a wheel of this checkout, installed into a fresh virtual
environment, runs ``srl-explorer train`` from another folder (runs go to ``./checkpoints``) and
``srl-explorer app`` serves the installed app, which lists that run.

The fresh venv reuses this environment's third-party packages through a .pth file (a full
dependency install is what CI's own fresh venv does), but srl_explorer itself comes only from
the wheel: the checkout is not on its path.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import pytest

from srl_explorer.app_cli import config_flags

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this checkout installed; returns its bin/ folder."""
    base = tmp_path_factory.mktemp("install")
    dist, env_dir, src = base / "dist", base / "env", base / "src"
    # Build from a clean copy of what pyproject.toml packages: setuptools leaves build/ in its source
    # folder, and stale files there would end up in the wheel.
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("srl_explorer", "pages", ".streamlit"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md", "app.py"):
        shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True, cwd=base)
    wheel, = dist.glob("srl_explorer-*.whl")
    venv.create(env_dir, with_pip=False)
    env_python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(env_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_host_packages.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, cwd=base)
    return env_dir / "bin"


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SRL_CHECKPOINTS")}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def test_installed_package_is_not_the_checkout(installed, tmp_path):
    out = subprocess.run([str(installed / "python"), "-c", "import srl_explorer; print(srl_explorer.__file__)"],
                         capture_output=True, text=True, check=True, cwd=tmp_path, env=_env()).stdout
    assert str(ROOT) not in out and "site-packages" in out
    data = Path(out.strip()).parent / "data"
    assert (data / "sample_corpus.txt").is_file() and (data / "sample_sts.tsv").is_file()
    assert (data.parent / "paper" / "default_sweep.npz").is_file()  # the Paper page's default explorer


def test_train_help_from_another_folder(installed, tmp_path):
    r = subprocess.run([str(installed / "srl-explorer"), "train", "--help"], capture_output=True, text=True,
                       cwd=tmp_path, env=_env())
    assert r.returncode == 0, r.stderr
    assert "--loss" in r.stdout and "--max-steps" in r.stdout


def test_app_command_points_at_the_installed_app(installed, tmp_path):
    r = subprocess.run([str(installed / "srl-explorer"), "app", "--print-command"], capture_output=True,
                       text=True, cwd=tmp_path, env=_env(), check=True)
    app = r.stdout.split()[4]
    assert app.endswith("share/srl-explorer/app.py") and str(ROOT) not in app, r.stdout
    assert Path(app).is_file() and (Path(app).parent / "pages" / "1_Train.py").is_file()
    assert "--server.address=localhost" in r.stdout  # the app's own config travels with it
    assert set(config_flags(ROOT / ".streamlit" / "config.toml")) <= set(r.stdout.split())


@pytest.mark.browser
def test_cli_run_is_listed_by_the_app(installed, tmp_path, tiny_model):
    """``srl-explorer train`` writes ./checkpoints/<run>; ``srl-explorer app`` started in the same
    folder lists it on its Home page (in a real headless Chromium)."""
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    from bench._browser import free_port, launch_chromium, wait_healthy, wait_idle
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run([str(installed / "srl-explorer"), "train", "--model", tiny_model, "--max-steps", "3",
                        "--batch-size", "4", "--eval-every", "3"], capture_output=True, text=True, cwd=work, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    run, = (work / "checkpoints").iterdir()
    assert (run / "metrics.jsonl").read_text().count("\n") == 4  # steps 0..3
    port = free_port()
    proc = subprocess.Popen([str(installed / "srl-explorer"), "app", "--port", str(port), "--",
                             "--server.address=127.0.0.1"], cwd=work, env=_env(SRL_UMAP_WARMUP="0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(proc, port)
        with sync_api.sync_playwright() as p:
            b = launch_chromium(p)
            pg = b.new_page()
            pg.goto(f"http://127.0.0.1:{port}")
            wait_idle(pg)
            home = pg.inner_text("body")
            tables = pg.locator("[data-testid='stDataFrame']").count()  # the runs table: a canvas, no text
            pg.goto(f"http://127.0.0.1:{port}/Train")  # the Train page opens the newest run by name
            wait_idle(pg)
            train, train_url = pg.inner_text("body"), pg.url
            b.close()
        assert "No runs yet" not in home and tables == 1, home
        assert str(work / "checkpoints") in home  # the sidebar names the runs folder
        assert f"run={run.name}" in train_url and "finished · step 3/3" in train, (train_url, train[:500])
    finally:
        proc.terminate()
        t0 = time.time()
        proc.wait(timeout=30)
        assert time.time() - t0 < 30
