"""``srl-explorer app``: start the Streamlit app wherever the package is installed.

The app (``app.py``, ``pages/``, ``.streamlit/config.toml``) sits next to the package in a source
checkout and in ``<prefix>/share/srl-explorer`` after ``pip install .``. Streamlit reads its config
from the current directory, so the app's own settings (localhost only, upload limit) are passed as
flags; flags given after ``--`` win. The server runs in the current directory, so it lists the same
runs as the CLI started there (``./checkpoints`` or ``$SRL_CHECKPOINTS``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path

APP_FILE = "app.py"


def app_dir() -> Path:
    """The folder holding app.py and pages/: the source checkout, else the installed copy."""
    candidates = (Path(__file__).resolve().parents[1], Path(sys.prefix) / "share" / "srl-explorer")
    for d in candidates:
        if (d / APP_FILE).is_file() and (d / "pages").is_dir():
            return d
    raise FileNotFoundError("the Streamlit app files were not found (looked in "
                            + ", ".join(str(d) for d in candidates) + "); reinstall with `pip install .`")


def config_flags(config: Path) -> list[str]:
    """``--section.key=value`` for every option of a Streamlit config.toml."""
    if not config.is_file():
        return []
    flags = []
    for section, options in tomllib.loads(config.read_text()).items():
        for key, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{section}.{key}={text}")
    return flags


def streamlit_command(extra: list[str], port: int | None = None) -> list[str]:
    d = app_dir()
    cmd = [sys.executable, "-m", "streamlit", "run", str(d / APP_FILE), *config_flags(d / ".streamlit" / "config.toml")]
    if port is not None:
        cmd.append(f"--server.port={port}")
    return cmd + extra


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None, help="port to serve on (default: Streamlit's, 8501)")
    p.add_argument("--print-command", action="store_true", help="print the streamlit command instead of running it")
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER,
                   help="after --: more streamlit flags, e.g. -- --server.address=0.0.0.0")


def run(args: argparse.Namespace) -> int:
    extra = [a for a in args.streamlit_args if a != "--"]
    cmd = streamlit_command(extra, args.port)
    if args.print_command:
        print(" ".join(cmd))
        return 0
    sys.stdout.flush()
    os.execv(cmd[0], cmd)  # replaces this process: Ctrl-C and SIGTERM go straight to streamlit
    return 0  # pragma: no cover
