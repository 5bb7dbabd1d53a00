"""Where a run came from: package versions, git commit, device, world size, precision.

``provenance(...)`` never fails: anything it cannot find is ``None``. The trainer stores the
dict under ``"provenance"`` in the run's ``config.json``.
"""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "transformers", "srl_explorer")
_DISTRIBUTIONS = {"srl_explorer": ("srl-explorer", "srl_explorer")}


def package_version(name: str) -> str | None:
    """The installed version of ``name``; for this project, ``srl_explorer.__version__`` when it is
    run from a checkout without being installed."""
    for dist in _DISTRIBUTIONS.get(name, (name,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if name == "srl_explorer":
        from . import __version__
        return __version__
    return None


def git_commit(directory: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` in the package's directory (or ``directory``); None when it is not a
    git checkout, git is missing or slow."""
    directory = Path(directory or Path(__file__).resolve().parent)
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def git_dirty(directory: str | Path | None = None) -> bool | None:
    """Whether the checkout has uncommitted changes to tracked files (None when unknown)."""
    directory = Path(directory or Path(__file__).resolve().parent)
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def device_name(device: Any = None) -> str:
    """The GPU's name for a CUDA device, else the CPU model (from /proc/cpuinfo on Linux)."""
    try:
        import torch
        dev = torch.device(device) if device is not None else torch.device("cpu")
        if dev.type == "cuda" and torch.cuda.is_available():
            return torch.cuda.get_device_name(dev)
    except Exception:  # noqa: BLE001 - provenance never fails a run
        pass
    return cpu_name()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def provenance(device: Any = None, world_size: int = 1, precision: str | None = None) -> dict[str, Any]:
    """``{"versions": {torch, transformers, srl_explorer}, "python", "git_commit", "git_dirty",
    "device", "device_name", "world_size", "precision"}``.

    ``precision`` is what the run computes in (``"fp32"``, ``"bf16"``, ``"fp16"``), not the
    ``auto`` request.
    """
    return {"versions": {name: package_version(name) for name in PACKAGES},
            "python": sys.version.split()[0],
            "git_commit": git_commit(),
            "git_dirty": git_dirty(),
            "device": str(device) if device is not None else "cpu",
            "device_name": device_name(device),
            "world_size": int(world_size),
            "precision": precision}


def precision_name(amp_dtype: Any) -> str:
    """The precision a run computes in, from its autocast dtype (None: plain fp32)."""
    if amp_dtype is None:
        return "fp32"
    return {"torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(str(amp_dtype), str(amp_dtype))


def run_facts(encoder, device: Any, world_size: int, amp_dtype: Any) -> dict[str, Any]:
    """What the trainer adds to ``config.json`` once the encoder exists: the evaluation length next to
    the training ``max_seq_length``, and the provenance."""
    return {"eval_max_seq_length": encoder.eval_max_length,
            "provenance": provenance(device, world_size, precision_name(amp_dtype))}
