"""Provenance: versions, git commit, device, world size and precision; never fails."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess

import torch
import transformers

import srl_explorer
from srl_explorer import provenance as P


def test_provenance_records_versions_device_world_size_and_precision():
    p = P.provenance(torch.device("cpu"), world_size=4, precision=P.precision_name(None))
    assert p["versions"]["torch"] == torch.__version__.split("+")[0] or p["versions"]["torch"] == torch.__version__
    assert p["versions"]["transformers"] == transformers.__version__
    assert p["versions"]["srl_explorer"]
    assert p["world_size"] == 4 and p["precision"] == "fp32" and p["device"] == "cpu"
    assert isinstance(p["device_name"], str) and p["device_name"]
    json.dumps(p)  # goes into config.json as is


def test_git_commit_of_the_checkout_or_none(tmp_path):
    commit = P.git_commit()
    try:
        expected = subprocess.run(["git", "rev-parse", "HEAD"], cwd=srl_explorer.__path__[0], capture_output=True,
                                  text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        expected = None
    assert commit == expected
    assert P.git_commit(tmp_path) is None  # not a git checkout
    assert P.git_commit(tmp_path / "missing") is None  # not even a directory


def test_never_fails_without_git_or_installed_metadata(monkeypatch):
    def no_git(*a, **k):
        raise FileNotFoundError("git")

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(P.subprocess, "run", no_git)
    monkeypatch.setattr(P.importlib.metadata, "version", not_installed)
    p = P.provenance()
    assert p["git_commit"] is None and p["git_dirty"] is None
    assert p["versions"]["srl_explorer"] == srl_explorer.__version__  # the fallback
    assert p["versions"]["torch"] is None


def test_precision_names():
    assert P.precision_name(torch.bfloat16) == "bf16" and P.precision_name(torch.float16) == "fp16"
