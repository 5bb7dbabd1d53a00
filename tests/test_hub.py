"""push: the folder it would upload (files, card), and one clear line when the hub is unreachable."""
from __future__ import annotations

import json

import pytest
import torch

from srl_explorer import hub
from srl_explorer.cli import main
from srl_explorer.encoder import Encoder
from srl_explorer.st_format import card_info, read_front_matter


@pytest.fixture
def run_dir(tiny_model, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"loss": "infonce", "model": "bert-base-uncased", "pooler": "cls", "mlp_only_train": False,
           "max_steps": 4, "batch_size": 8}
    (run / "config.json").write_text(json.dumps(cfg))
    (run / "status.json").write_text(json.dumps({"state": "finished"}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"step": 0, "stsb_dev_spearman": 50.0}, {"step": 2, "stsb_dev_spearman": 55.5},
        {"step": 4, "stsb_dev_spearman": 54.0})))
    enc = Encoder.from_pretrained(tiny_model, pooler="cls")
    enc.save(run / "best", card=card_info(cfg, 2, 55.5))
    enc.save(run / "last", card=card_info(cfg, 4, 54.0))
    torch.save({"optimizer": {}}, run / "last" / "trainer_state.pt")
    return run


def test_dry_run_lists_a_complete_sentence_transformers_folder(run_dir, capsys):
    assert main(["push", "--run", str(run_dir), "--repo-id", "me/model", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for f in ("config.json", "model.safetensors", "tokenizer.json", "srl_pooling.json", "modules.json",
              "sentence_bert_config.json", "1_Pooling/config.json", "2_Dense/model.safetensors",
              "3_Normalize/config.json", "README.md"):
        assert f"  {f}\n" in out, f
    meta = read_front_matter(run_dir / "best" / "README.md")
    assert meta["library_name"] == "sentence-transformers" and meta["base_model"] == "bert-base-uncased"
    assert "infonce" in meta["tags"]


def test_resumable_state_is_never_uploaded(run_dir):
    files = hub.prepare(hub.checkpoint_dir(run_dir, "last"))
    assert "trainer_state.pt" not in files and "model.safetensors" in files


def test_old_checkpoint_gets_its_card_and_modules(run_dir):
    best = run_dir / "best"
    for f in ("README.md", "modules.json"):
        (best / f).unlink()
    files = hub.prepare(best)
    assert {"README.md", "modules.json"} <= set(files)
    card = (best / "README.md").read_text()
    assert "55.50" in card and "**Steps:** 2 of 4" in card  # the best eval of metrics.jsonl


def test_offline_push_is_one_line_exit_2(run_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["push", "--run", str(run_dir), "--repo-id", "me/model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "offline" in err and "me/model" in err


def test_hub_failures_become_one_line(run_dir, monkeypatch):
    """Past the offline check, whatever huggingface_hub raises (DNS, auth) is one HubError line."""
    import huggingface_hub

    class Boom:
        def __init__(self, token=None):
            pass

        def create_repo(self, *a, **k):
            raise RuntimeError("401 Client Error:\nUnauthorized")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "HfApi", Boom)
    with pytest.raises(hub.HubError, match="cannot push to 'me/model': RuntimeError: 401 Client Error: Unauthorized"):
        hub.push(run_dir, "me/model")


def test_missing_run_or_checkpoint(run_dir, tmp_path, capsys):
    assert main(["push", "--run", str(tmp_path / "nope"), "--repo-id", "me/m"]) == 2
    assert main(["push", "--run", str(run_dir), "--repo-id", "me/m", "--checkpoint", "final"]) == 2
    assert "it has: best, last" in capsys.readouterr().err
